"""Synthetic GMI brightness temperatures against the statistics of real ones.

The reference is ``obs_gmi.nc`` of the IPWG Satellite Precipitation Retrieval benchmark (Pfreundschuh et al.,
ipwgml, github.com/simonpf/ipwgml; GMI over the contiguous United States, MRMS reference): per-channel mean,
standard deviation, correlation matrix and 100-bin histograms of the 13 GMI channels, in the order of
:data:`eoxr.rain.radiometers.GMI` (10.65V, 10.65H, 18.7V, 18.7H, 23.8V, 36.64V, 36.64H, 89V, 89H, 166V, 166H,
183.31+-3V, 183.31+-7V). In that file the entries of rows 10-13 left of the diagonal of ``corr`` are not
correlations (their magnitude exceeds 1); the matrix is rebuilt from its upper triangle.

:func:`compare` gives, per channel, the ratio synthetic / real of the mean and of the standard deviation, the
histogram overlap (sum of the minimum of the two normalised histograms on the file's bins: 1 = identical) and
the mean absolute difference of the channel's correlations with the other channels.

The scene climate of :mod:`eoxr.rain.synth` was tuned with it on 62 scenes (seeds 900000-900029, 48 scans, and
930000-930031, 24 scans): the ratios of the means lie within 0.97-1.01, those of the standard deviations
within 0.89-1.11 (183.31+-3V lowest, 36.64H and 183.31+-7V highest), histogram overlaps 0.82-0.95.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import MissingVariableError, ReadError
from .radiometers import GMI

#: the IPWG GMI statistics file within the real data folder (:func:`eoxr.sample.real_data_dir`)
REFERENCE = Path("ipwg_stats") / "obs_gmi.nc"


def reference_statistics(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """``mean``, ``std`` (K), ``corr`` (13 x 13), ``edges`` (13 x 101, K) and ``counts`` (13 x 100) of real GMI
    (``path``: default :data:`REFERENCE` in the real data folder, the setting ``EOXR_REAL_DATA``)."""
    if path is None:
        from ..sample import real_data_dir

        folder = real_data_dir()
        if folder is None:
            raise ReadError("no real data folder: set EOXR_REAL_DATA to the folder holding ipwg_stats/obs_gmi.nc, "
                            "or pass path= the obs_gmi.nc of the ipwgml package")
        path = folder / REFERENCE
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no IPWG GMI statistics file; pass path= the obs_gmi.nc of the ipwgml package "
                        "(src/ipwgml/files/stats/obs_gmi.nc)")
    with xr.open_dataset(path) as ds:
        missing = [v for v in ("mean", "std_dev", "corr", "counts", "bin_boundaries") if v not in ds]
        if missing:
            raise MissingVariableError(f"{path} lacks {missing}: it is not the ipwgml obs_gmi.nc statistics file")
        corr = ds["corr"].values.astype(np.float64)
        upper = np.triu(corr)
        return {"mean": ds["mean"].values.astype(np.float64), "std": ds["std_dev"].values.astype(np.float64),
                "corr": upper + np.triu(corr, 1).T, "edges": ds["bin_boundaries"].values.astype(np.float64),
                "counts": ds["counts"].values.astype(np.float64)}


def _pixels(tb) -> np.ndarray:
    """``(n, 13)`` finite GMI brightness temperatures from a DataArray (``channel`` dim) or an array."""
    if isinstance(tb, xr.DataArray):
        tb = tb.transpose(..., "channel").values
    a = np.asarray(tb, dtype=np.float64).reshape(-1, len(GMI.channels))
    return a[np.isfinite(a).all(axis=1)]


def statistics(tb, edges: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics of :func:`reference_statistics` for brightness temperatures ``tb`` (K, GMI channels last)."""
    a = _pixels(tb)
    counts = np.stack([np.histogram(a[:, i], bins=edges[i])[0] for i in range(a.shape[1])]).astype(np.float64)
    return {"mean": a.mean(axis=0), "std": a.std(axis=0), "corr": np.corrcoef(a, rowvar=False), "counts": counts}


def compare(tb, reference: dict | None = None) -> pd.DataFrame:
    """Per-channel match of synthetic GMI ``tb`` to the real statistics (one row per channel).

    Columns: ``mean_K``, ``mean_real_K``, ``mean_ratio``, ``std_K``, ``std_real_K``, ``std_ratio``,
    ``histogram_overlap`` (0..1) and ``corr_mad`` (mean |difference| of the channel's correlations).
    """
    ref = reference_statistics() if reference is None else reference
    syn = statistics(tb, ref["edges"])
    p = syn["counts"] / syn["counts"].sum(axis=1, keepdims=True)
    q = ref["counts"] / ref["counts"].sum(axis=1, keepdims=True)
    off = ~np.eye(len(GMI.channels), dtype=bool)
    corr_mad = np.array([np.abs(syn["corr"][i, off[i]] - ref["corr"][i, off[i]]).mean() for i in range(len(off))])
    return pd.DataFrame({
        "mean_K": syn["mean"], "mean_real_K": ref["mean"], "mean_ratio": syn["mean"] / ref["mean"],
        "std_K": syn["std"], "std_real_K": ref["std"], "std_ratio": syn["std"] / ref["std"],
        "histogram_overlap": np.minimum(p, q).sum(axis=1), "corr_mad": corr_mad,
    }, index=pd.Index(GMI.channel_names, name="channel"))
