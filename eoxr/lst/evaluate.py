"""Scores of a super-resolved LST against a truth, and Wald's protocol on real MODIS LST.

- RMSE, bias (K), Pearson correlation, PSNR (dB, peak = the truth's range), SSIM (Wang, Bovik, Sheikh &
  Simoncelli 2004, IEEE TIP, doi:10.1109/TIP.2003.819861, Gaussian window sigma 1.5 px);
- spectral-slope error: |slope(prediction) - slope(truth)| of the log-log power spectra;
- coarse-consistency error: RMS of (prediction aggregated back in radiance) - observation (K).

Real data (Wald, Ranchin & Mangolini 1997): the real LST (MODIS 1 km, Landsat 100 m, ECOSTRESS 70 m, airborne
3.6 m) is degraded ``factor`` times by the sensor model, super-resolved back and scored against the real LST on
clear pixels (:func:`score_scene`, on the test blocks only when a network trained on the others).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .. import metrics
from ..units import declare_units
from .degrade import aggregate
from .scaling import spectral_slope


@declare_units(pred="K", truth="K", coarse="K")
def scores(pred: xr.DataArray, truth: xr.DataArray, coarse: xr.DataArray | None = None, factor: int | None = None,
           slope: bool = True) -> dict:
    """Metric dict (names carry units) of ``pred`` against ``truth`` on pixels finite in both."""
    p, t = np.asarray(pred.values, dtype="f8"), np.asarray(truth.values, dtype="f8")
    ok = np.isfinite(p) & np.isfinite(t)
    out = {"rmse_K": metrics.rmse(p, t), "bias_K": metrics.bias(p, t), "correlation": metrics.correlation(p, t),
           "psnr_dB": metrics.psnr(p, t), "ssim": metrics.ssim(p, t), "n_pixels": int(ok.sum())}
    if slope:
        out["spectral_slope_error"] = abs(float(spectral_slope(pred.fillna(float(np.nanmean(p)))))
                                          - float(spectral_slope(truth.fillna(float(np.nanmean(t))))))
    if coarse is not None and factor:
        back = aggregate(pred, factor).values
        c = np.asarray(coarse.values, dtype="f8")
        okc = np.isfinite(back) & np.isfinite(c)
        out["coarse_consistency_K"] = float(np.sqrt(np.mean((back[okc] - c[okc]) ** 2)))
    return out


#: 0-d outputs of superres that say how much of a network's detail it kept
WEIGHTS = ("guide_r2", "guide_weight", "detail_weight")


def _trimmed(da: xr.DataArray, factor: int) -> xr.DataArray:
    return da.isel(y=slice(0, da.sizes["y"] // factor * factor), x=slice(0, da.sizes["x"] // factor * factor))


def score_scene(scene: xr.Dataset, factor: int, methods: dict, test: xr.DataArray | None = None,
                device: str = "auto") -> dict:
    """Wald's protocol on a real scene (:func:`eoxr.lst.scenes.open_scene`): each date's ``lst`` degraded
    ``factor`` times, super-resolved back by each of ``methods`` (label -> keywords of
    :func:`eoxr.lst.superres`; ``guide`` is the scene's) and scored on the pixels where ``test`` is True
    (every clear pixel without it), all dates pooled.

    Returns {label: {"rmse_K", "bias_K", "n_pixels"} and the mean over dates of what the method says of its own
    weighting (``guide_r2``, ``guide_weight``, ``detail_weight``)}.
    """
    from .degrade import degrade
    from .superres import superres

    diffs: dict[str, list] = {}
    r2: dict[tuple, list] = {}
    for t in range(scene.sizes.get("time", 1)):
        truth = _trimmed(scene["lst"].isel(time=t) if "time" in scene["lst"].dims else scene["lst"], factor)
        coarse = degrade(truth, factor)
        keep = np.ones(truth.shape, bool) if test is None else _trimmed(test, factor).values
        for label, kw in methods.items():
            guide = {"guide": _trimmed(scene["guide"], factor)} if kw.get("method") in ("tsharp", "distrad", "disr") \
                else {}
            out = superres(coarse, factor, device=device, **guide, **kw)
            d = (out["lst"].values - truth.values)[keep]
            diffs.setdefault(label, []).append(d[np.isfinite(d)])
            for name in WEIGHTS:
                if name in out:
                    r2.setdefault((label, name), []).append(float(out[name]))
    result = {}
    for label, parts in diffs.items():
        d = np.concatenate(parts)
        result[label] = {"rmse_K": float(np.sqrt(np.mean(d ** 2))), "bias_K": float(d.mean()), "n_pixels": int(d.size)}
        result[label].update({name: float(np.mean(v)) for (lab, name), v in r2.items() if lab == label})
    return result


def clear_windows(lst: xr.DataArray, size: int = 64, min_clear: float = 0.9, limit: int | None = None) -> list[dict]:
    """Non-overlapping ``size`` x ``size`` windows of ``lst`` with at least ``min_clear`` finite pixels,
    clearest first, as ``isel`` selectors."""
    ok = np.isfinite(lst.values)
    ny, nx = ok.shape[-2] // size, ok.shape[-1] // size
    frac = ok[..., : ny * size, : nx * size].reshape(ny, size, nx, size).mean(axis=(1, 3))
    order = np.argsort(-frac, axis=None)
    wins = []
    for k in order:
        i, j = divmod(int(k), nx)
        if frac[i, j] < min_clear:
            break
        wins.append({"y": slice(i * size, (i + 1) * size), "x": slice(j * size, (j + 1) * size)})
    return wins[:limit] if limit else wins


def modis_emissivity(ds: xr.Dataset) -> xr.DataArray:
    """Mean of MOD11 band 31 and 32 emissivities (1): the 1 km guide available in every MOD11A1 file."""
    e = 0.5 * (ds["emissivity_31"] + ds["emissivity_32"])
    return e.assign_attrs(units="1", long_name="mean MODIS band 31/32 emissivity")
