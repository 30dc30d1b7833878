"""Scores shared by every workflow's tests and benchmarks.

All functions take numpy arrays or xarray objects of the same shape, ignore pixels where either side is
NaN, and return plain floats (or dicts of floats). Units follow the inputs: ``rmse`` of temperatures in K
is in K.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .errors import NoDataError, ParameterError


def _pair(pred, truth) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if p.shape != t.shape:
        raise ParameterError(f"prediction shape {p.shape} differs from truth shape {t.shape}: "
                             "compare them on the same grid (e.g. pred.interp_like(truth))")
    ok = np.isfinite(p) & np.isfinite(t)
    if not ok.any():
        raise NoDataError("no pixel where both prediction and truth are finite: check their masks and grids")
    return p[ok], t[ok]


def rmse(pred, truth) -> float:
    p, t = _pair(pred, truth)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def bias(pred, truth) -> float:
    p, t = _pair(pred, truth)
    return float(np.mean(p - t))


def mae(pred, truth) -> float:
    p, t = _pair(pred, truth)
    return float(np.mean(np.abs(p - t)))


def correlation(pred, truth) -> float:
    p, t = _pair(pred, truth)
    if p.std() == 0 or t.std() == 0:
        return float("nan")
    return float(np.corrcoef(p, t)[0, 1])


def psnr(pred, truth, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the truth's max - min."""
    p, t = _pair(pred, truth)
    rng = float(t.max() - t.min()) if data_range is None else float(data_range)
    mse = np.mean((p - t) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(rng**2 / mse))


def ssim(pred, truth, data_range: float | None = None, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004, doi:10.1109/TIP.2003.819861), Gaussian window.

    NaN pixels are filled with the truth's mean before filtering and left out of the mean.
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    ok = np.isfinite(p) & np.isfinite(t)
    fill = t[ok].mean()
    p, t = np.where(ok, p, fill), np.where(ok, t, fill)
    rng = float(t[ok].max() - t[ok].min()) if data_range is None else float(data_range)
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2

    def f(a):
        return gaussian_filter(a, sigma)

    mp, mt = f(p), f(t)
    vp, vt, cov = f(p * p) - mp**2, f(t * t) - mt**2, f(p * t) - mp * mt
    s = ((2 * mp * mt + c1) * (2 * cov + c2)) / ((mp**2 + mt**2 + c1) * (vp + vt + c2))
    return float(s[ok].mean())


def contingency(pred, truth, threshold: float) -> dict[str, float]:
    """Detection scores of the event ``value >= threshold``: POD, FAR, CSI and Heidke skill score."""
    p, t = _pair(pred, truth)
    pe, te = p >= threshold, t >= threshold
    hits = float(np.sum(pe & te))
    false = float(np.sum(pe & ~te))
    miss = float(np.sum(~pe & te))
    neg = float(np.sum(~pe & ~te))
    n = hits + false + miss + neg
    expected = ((hits + miss) * (hits + false) + (neg + miss) * (neg + false)) / n
    return {
        "pod": hits / (hits + miss) if hits + miss else float("nan"),
        "far": false / (hits + false) if hits + false else float("nan"),
        "csi": hits / (hits + false + miss) if hits + false + miss else float("nan"),
        "hss": (hits + neg - expected) / (n - expected) if n != expected else float("nan"),
    }
