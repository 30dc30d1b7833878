"""Scores of a rain retrieval against its reference: the IPWG metrics, effective resolution, uncertainty.

- :func:`eoxr.metrics.precip`: bias (%), MAE, MSE, correlation, POD, FAR, CSI, HSS at 0.1 mm h-1;
- :func:`effective_resolution`: the smallest scale at which the retrieval is coherent with the reference,
  as the IPWG benchmark defines it (ipwgml's spectral coherence: DCT of windows, coherence above 1/sqrt(2));
  here along the scan (the swath's finest sampling), in km;
- calibration of ``rain_rate_std``: the ratio of the RMS predicted spread to the RMS error (1 when the
  spread is right on average) and the share of raining pixels whose error lies within one spread
  (about 0.68 for Gaussian errors);
- ``brier``: Brier score of ``rain_probability`` for rain >= 0.1 mm h-1.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.fft import dct

from .. import metrics
from ..errors import GridError

COHERENT = np.sqrt(0.5)


def _flat(items, name: str | None = None) -> np.ndarray:
    arrays = [np.asarray(i[name].values if name else i.values, dtype=np.float64).ravel() for i in items]
    return np.concatenate(arrays)


def _lines(field: xr.DataArray) -> np.ndarray:
    """Rows along the scan: ``(n, pixels)``; the scan dim is the last spatial one."""
    a = np.asarray(field.values, dtype=np.float64)
    return a.reshape(-1, a.shape[-1])


def effective_resolution(pred, reference, spacing_km: float, window: int = 32) -> float:
    """Smallest scale (km, half the wavelength) at which ``pred`` is coherent with ``reference`` (coherence of
    their DCT coefficients over ``window``-pixel pieces of every scan line, above 1/sqrt(2)); inf if none.

    ``pred`` and ``reference``: DataArrays (or lists of them) whose last dim runs along the scan with
    ``spacing_km`` between pixels; pieces holding a NaN are left out.
    """
    preds = pred if isinstance(pred, list) else [pred]
    refs = reference if isinstance(reference, list) else [reference]
    cross = np.zeros(window)
    power_p = np.zeros(window)
    power_r = np.zeros(window)
    for p, r in zip(preds, refs):
        a, b = _lines(p), _lines(r)
        if a.shape != b.shape:
            raise GridError(f"retrieval {a.shape} and reference {b.shape} differ in size: compare them on one swath")
        n = a.shape[1] // window
        a = a[:, : n * window].reshape(-1, window)
        b = b[:, : n * window].reshape(-1, window)
        ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
        wa, wb = dct(a[ok], norm="ortho", axis=1), dct(b[ok], norm="ortho", axis=1)
        cross += (wa * wb).sum(axis=0)
        power_p += (wa**2).sum(axis=0)
        power_r += (wb**2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        coherence = np.abs(cross) / np.sqrt(power_p * power_r)
    k = np.arange(1, window)
    scales = window * spacing_km / k
    order = np.argsort(scales)
    resolved = np.flatnonzero(coherence[1:][order] > COHERENT)
    return float(scales[order][resolved[0]]) if resolved.size else float("inf")


def scores(retrieved, reference, threshold: float = 0.1, spacing_km: float | None = None) -> dict:
    """Metrics (names carry units) of ``retrieved`` (a Dataset of :func:`eoxr.rain.retrieve`, or a list of
    them) against ``reference`` rain rates (DataArray or list, mm h-1, on the same pixels).

    ``spacing_km``: the pixel spacing along the scan, for the effective resolution (left out when None).
    """
    outs = retrieved if isinstance(retrieved, list) else [retrieved]
    refs = reference if isinstance(reference, list) else [reference]
    p, r = _flat(outs, "rain_rate"), _flat(refs)
    s = metrics.precip(p, r, threshold=threshold)
    out = {"bias_percent": s["bias_percent"], "mae_mm_h": s["mae_mm_h"], "mse_mm2_h2": s["mse_mm2_h2"],
           "correlation": s["correlation"], "pod": s["pod"], "far": s["far"], "csi": s["csi"], "hss": s["hss"]}
    std, prob = _flat(outs, "rain_rate_std"), _flat(outs, "rain_probability")
    ok = np.isfinite(p) & np.isfinite(r) & np.isfinite(std)
    err = p[ok] - r[ok]
    out["spread_skill_ratio"] = float(np.sqrt(np.mean(std[ok] ** 2)) / np.sqrt(np.mean(err**2)))
    wet = (p[ok] >= threshold) | (r[ok] >= threshold)
    out["coverage_1sd_rain"] = float(np.mean(np.abs(err[wet]) <= std[ok][wet])) if wet.any() else float("nan")
    out["brier"] = float(np.mean((prob[ok] - (r[ok] >= threshold)) ** 2))
    if spacing_km is not None:
        out["effective_resolution_km"] = effective_resolution([o["rain_rate"] for o in outs], refs, spacing_km)
    out["n_pixels"] = int(ok.sum())
    return out
