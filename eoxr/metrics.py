"""Scores shared by every workflow's tests and benchmarks.

All functions take numpy arrays or xarray objects of the same shape, ignore pixels where either side is
NaN, and return plain floats (or dicts of floats). Units follow the inputs: ``rmse`` of temperatures in K
is in K.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def _pair(pred, truth) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction shape {p.shape} differs from truth shape {t.shape}")
    ok = np.isfinite(p) & np.isfinite(t)
    if not ok.any():
        raise ValueError("no pixel where both prediction and truth are finite")
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


def radial_spectrum(field, spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic power spectrum of a 2-D field: (wavenumber in cycles per unit of ``spacing``, power).

    NaNs are replaced by the field mean; the mean is removed and a Hann window applied against leakage.
    """
    a = np.asarray(field, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"radial_spectrum needs a 2-D field, got shape {a.shape}")
    a = np.where(np.isfinite(a), a, np.nanmean(a))
    a = (a - a.mean()) * np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(a))) ** 2
    ky = np.fft.fftshift(np.fft.fftfreq(a.shape[0], spacing))
    kx = np.fft.fftshift(np.fft.fftfreq(a.shape[1], spacing))
    k = np.hypot(*np.meshgrid(ky, kx, indexing="ij"))
    dk = max(abs(ky[1] - ky[0]), abs(kx[1] - kx[0]))
    bins = np.arange(dk, k.max() + dk, dk)
    idx = np.digitize(k.ravel(), bins)
    sums = np.bincount(idx, power.ravel(), minlength=len(bins) + 1)
    counts = np.bincount(idx, minlength=len(bins) + 1)
    keep = counts[1:len(bins)] > 0
    centres = 0.5 * (bins[:-1] + bins[1:])
    return centres[keep], sums[1:len(bins)][keep] / counts[1:len(bins)][keep]


def spectral_slope(field, spacing: float = 1.0, kmin: float | None = None, kmax: float | None = None) -> float:
    """Slope beta of log power vs log wavenumber (P ~ k^beta) over [kmin, kmax] (default: whole band
    above the two lowest wavenumbers and below 0.8 of Nyquist, where windowing and aliasing distort)."""
    k, p = radial_spectrum(field, spacing)
    nyq = 0.5 / spacing
    lo = k[1] if kmin is None else kmin
    hi = 0.8 * nyq if kmax is None else kmax
    sel = (k >= lo) & (k <= hi) & (p > 0)
    if sel.sum() < 3:
        raise ValueError("fewer than 3 wavenumbers in the fit range: use a larger field or widen kmin/kmax")
    return float(np.polyfit(np.log(k[sel]), np.log(p[sel]), 1)[0])
