"""Scores of the pivot's methods on real data, as small functions a test or a benchmark calls.

- Yanco (``lst_fusion_yanco_ubestarfm``: Landsat 8 and MODIS LST on one 100 m grid, 2016-02-05 and 2016-03-08):
  one date's Landsat predicted from the other date's Landsat-MODIS pair and the target date's MODIS
  (:func:`eoxr.pivot.starfm.predict_fine`), scored against the real Landsat, beside the persistence baseline
  (the other date's Landsat) and MODIS itself (:func:`yanco_scores`);
- MODIS NDVI (``modis_modistsp``: 23 MOD13A1 16-day composites of 2016): dates hidden, the series rebuilt
  daily by :func:`eoxr.pivot.gapfill.gapfill` from the others, scored at the hidden dates beside linear
  interpolation (:func:`ndvi_reconstruction_scores`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import cf
from ..errors import ParameterError
from .gapfill import gapfill
from .starfm import predict_fine

YANCO = "lst_fusion_yanco_ubestarfm"
YANCO_DATES = ("2016-02-05", "2016-03-08")
NDVI_SERIES = "modis_modistsp/MOD13A1_NDVI_2016_tifs"
#: MOD13A1 NDVI: int16 x 1e4 with 32767 as fill (the last files of the series are already scaled floats)
_NDVI_SCALE, _NDVI_FILL = 1e-4, 32767


def _read_tif(path: Path) -> xr.DataArray:
    import rioxarray

    return rioxarray.open_rasterio(path).squeeze("band", drop=True)


def rmse(a, b) -> float:
    """Root mean square difference over the pixels where both are finite."""
    d = np.asarray(a, dtype="f8") - np.asarray(b, dtype="f8")
    return float(np.sqrt(np.nanmean(d * d)))


def read_yanco(root: str | Path) -> xr.Dataset:
    """Landsat (``landsat``) and MODIS (``modis``) LST (K) of Yanco on its dates of both sensors, one grid."""
    folder = Path(root) / YANCO

    def read(prefix):
        fields = [_read_tif(folder / f"{prefix}_{d.replace('-', '')}.tif") for d in YANCO_DATES]
        da = xr.concat([f.where(f > 150.0) for f in fields], dim="time")  # a -3.4e38 fill pixel
        return da.assign_coords(time=pd.to_datetime(list(YANCO_DATES))).astype("f8")

    ds = xr.Dataset({"landsat": read("Landsat_LST_cloudrm"), "modis": read("MOD11A1_LST_cloudrm")})
    for name, sensor in (("landsat", "Landsat 8 TIRS, 100 m"), ("modis", "MOD11A1, 1 km")):
        ds[name] = cf(ds[name], "K", f"land surface temperature, {sensor}", standard_name="surface_temperature")
    return ds


def yanco_scores(root: str | Path, half_window: int = 5) -> list[dict]:
    """RMSE (K) of each date's Landsat predicted from the other date (STARFM), of persistence and of MODIS."""
    ds = read_yanco(root)
    scores = []
    for target, source in ((1, 0), (0, 1)):
        truth = ds.landsat.isel(time=target)
        predicted = predict_fine(ds.landsat.isel(time=source), ds.modis.isel(time=source),
                                 ds.modis.isel(time=target), half_window=half_window)
        row = {"target": YANCO_DATES[target], "from": YANCO_DATES[source],
               "rmse_starfm_K": rmse(predicted, truth), "rmse_persistence_K": rmse(ds.landsat.isel(time=source), truth),
               "rmse_modis_K": rmse(ds.modis.isel(time=target), truth)}
        row["ratio_to_persistence"] = row["rmse_starfm_K"] / row["rmse_persistence_K"]
        scores.append(row)
    return scores


def read_ndvi_series(root: str | Path) -> xr.DataArray:
    """The 23 MOD13A1 NDVI composites of 2016 (time, y, x), scaled, fill values NaN, dated by their first day."""
    files = sorted((Path(root) / NDVI_SERIES).glob("MOD13A1_NDVI_2016_*.tif"))
    if not files:
        raise ParameterError(f"no MOD13A1_NDVI_2016_*.tif under {Path(root) / NDVI_SERIES}")
    fields = [_scaled_ndvi(_read_tif(f)) for f in files]
    days = [pd.Timestamp("2016-01-01") + pd.Timedelta(days=int(f.stem.rsplit("_", 1)[1]) - 1) for f in files]
    # the float files' x differ from the integer ones' in the 13th digit: one grid, the first file's
    da = xr.concat(fields, dim="time", join="override").assign_coords(time=days)
    return cf(da.rename("ndvi"), "1", "normalized difference vegetation index, MOD13A1 16-day composite")


def _scaled_ndvi(da: xr.DataArray) -> xr.DataArray:
    if np.issubdtype(da.dtype, np.integer):
        return da.where(da != _NDVI_FILL) * _NDVI_SCALE
    return da.where(np.abs(da) <= 1.0).astype("f8")


def ndvi_reconstruction_scores(ndvi: xr.DataArray, every: int = 2, *, obs_std: float = 0.02,
                               process_std: float = 0.01) -> dict:
    """Hide one date in ``every`` (not the first nor the last), rebuild the series daily from the others with
    :func:`gapfill`, and score at the hidden dates: RMSE of the smoother and of linear interpolation."""
    if not (isinstance(every, int) and every >= 2):
        raise ParameterError(f"every must be an integer >= 2 (hide one date in every), not {every!r}")
    index = np.arange(ndvi.sizes["time"])
    hidden = (index % every == 1) & (index < index[-1])
    kept = ndvi.isel(time=~hidden)
    filled = gapfill(kept, obs_std=obs_std, process_std=process_std, time=(ndvi.time[0].values, ndvi.time[-1].values))
    truth = ndvi.isel(time=hidden)
    rebuilt = filled[ndvi.name].sel(time=truth.time)
    linear = kept.interpolate_na("time").interp(time=truth.time)
    return {"hidden_dates": int(hidden.sum()), "kept_dates": int((~hidden).sum()),
            "rmse_smoother": rmse(rebuilt, truth), "rmse_linear": rmse(linear, truth),
            "mean_std_smoother": float(filled[f"{ndvi.name}_std"].sel(time=truth.time).mean())}
