"""Scores shared by every workflow's tests and benchmarks.

All functions take numpy arrays or xarray objects of the same shape, ignore pixels where either side is
NaN, and return plain floats (or dicts of floats). Units follow the inputs: ``rmse`` of temperatures in K
is in K. Complex, object and string data raise DtypeError, arrays of different shapes ParameterError, a pair
with no pixel finite on both sides NoDataError.
"""
from __future__ import annotations

import numpy as np
from .arrays import check_real
from .errors import NoDataError, ParameterError


def _float64(x, what: str) -> np.ndarray:
    """``x`` as a float64 numpy array; complex, object and string data raise DtypeError."""
    return np.asarray(check_real(np.asarray(x), what), dtype=np.float64)


def _aligned(pred, truth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pred`` and ``truth`` as float64 arrays of one shape, and where both are finite (some pixel is)."""
    p, t = _float64(pred, "the prediction"), _float64(truth, "the truth")
    if p.shape != t.shape:
        raise ParameterError(f"prediction shape {p.shape} differs from truth shape {t.shape}: "
                             "compare them on the same grid (e.g. pred.interp_like(truth))")
    ok = np.isfinite(p) & np.isfinite(t)
    if not ok.any():
        raise NoDataError("no pixel where both prediction and truth are finite: check their masks and grids")
    return p, t, ok


def _pair(pred, truth) -> tuple[np.ndarray, np.ndarray]:
    p, t, ok = _aligned(pred, truth)
    return p[ok], t[ok]


def _data_range(t: np.ndarray, data_range: float | None) -> float:
    """``data_range``, or the spread of the truth ``t``; a range of zero defines no score."""
    rng = float(t.max() - t.min()) if data_range is None else float(data_range)
    if not rng > 0:
        raise ParameterError(f"the data range is {rng:g} (the truth is constant where compared, or data_range "
                             "was given so): pass data_range=, the span of valid values, as a positive number")
    return rng


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
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the truth's max - min.

    Identical fields score inf; otherwise a data range of zero (a constant truth) raises ParameterError.
    Written out rather than scikit-image's ``peak_signal_noise_ratio``, which squares the range: a range of
    1.2e-189 underflows to 0 there and scores -inf, in logarithms here it does not.
    """
    p, t = _pair(pred, truth)
    mse = np.mean((p - t) ** 2)
    if mse == 0:
        return float("inf")
    return float(20 * np.log10(_data_range(t, data_range)) - 10 * np.log10(mse))


def ssim(pred, truth, data_range: float | None = None, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004, doi:10.1109/TIP.2003.819861).

    scikit-image's ``structural_similarity`` with the paper's settings: a Gaussian window of ``sigma`` px
    (11 taps for 1.5), population (co)variances, K1 = 0.01, K2 = 0.03; the mean leaves out the half-window
    along the edges, as scikit-image does. ``data_range`` defaults to the truth's max - min. NaN pixels (clouds)
    are filled with the truth's mean before filtering and left out of the mean; without NaN the value is
    scikit-image's.
    """
    from skimage.metrics import structural_similarity

    p, t, ok = _aligned(pred, truth)
    radius = int(3.5 * sigma + 0.5)  # scikit-image's window for gaussian_weights=True (truncate 3.5)
    if min(p.shape) <= 2 * radius:
        raise ParameterError(f"ssim needs images larger than its {2 * radius + 1}-pixel window (sigma={sigma}); "
                             f"these are {p.shape}: score them with rmse, or pass a smaller sigma")
    fill = t[ok].mean()
    rng = _data_range(t[ok], data_range)
    _, local = structural_similarity(np.where(ok, p, fill), np.where(ok, t, fill), data_range=rng,
                                     gaussian_weights=True, sigma=sigma, use_sample_covariance=False,
                                     win_size=2 * radius + 1, full=True)
    inner = (slice(radius, -radius),) * p.ndim
    if not ok[inner].any():
        raise NoDataError(f"ssim: no pixel finite on both sides lies {radius} px or more inside the edges: "
                          "score these images with rmse, or pass a smaller sigma")
    return float(local[inner][ok[inner]].mean())


# Plain numpy, not xskillscore: xskillscore 0.0.29's Contingency gives the same POD, FAR, CSI and HSS
# (to 1e-16 on 200 000 rain-like samples, values at the threshold included), but installing it brings
# statsmodels, patsy, formulaic, narwhals, xhistogram and properscoring (77 MB) into the core install for
# four ratios of a 2x2 table. tests/test_metrics.py pins the numbers on hand-computed tables instead.
def contingency(pred, truth, threshold: float) -> dict[str, float]:
    """Detection scores of the event ``value >= threshold``: POD, FAR, CSI and Heidke skill score.

    POD = hits / (hits + misses), FAR = false alarms / (hits + false alarms), CSI = hits / (hits + misses +
    false alarms), HSS = (correct - expected correct) / (n - expected correct), the expected number of
    correct forecasts being that of a random forecast with the same event frequencies (Wilks 2011,
    "Statistical Methods in the Atmospheric Sciences", 3rd ed., sec. 8.2).
    """
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


#: Rain-rate units :func:`precip` reads from an xarray input's ``units``, and the factor to mm h-1.
RAIN_RATE_UNITS = {"mm h-1": 1.0, "mm/h": 1.0, "mm hr-1": 1.0, "mm/hr": 1.0, "mm h^-1": 1.0,
                   "kg m-2 s-1": 3600.0, "mm s-1": 3600.0}


def _mm_per_hour(x, what: str):
    """``x`` in mm h-1: an xarray input's ``units`` is checked and converted; numpy input is taken as mm h-1."""
    units = getattr(x, "attrs", {}).get("units")
    if units is None:
        return x
    if units not in RAIN_RATE_UNITS:
        raise ParameterError(f"{what} has units {units!r}; precip reads rain rates in {sorted(RAIN_RATE_UNITS)}. "
                             f"Convert it (e.g. {what} * 3600 for kg m-2 s-1) and set attrs['units'] = 'mm h-1'.")
    return _float64(x, what) * RAIN_RATE_UNITS[units]


def precip(pred, reference, threshold: float = 0.1) -> dict[str, float]:
    """Scores of a rain-rate estimate against a reference, as the IPWG SPR benchmark defines them.

    The IPWG Satellite Precipitation Retrieval (SPR) benchmark (Pfreundschuh et al. 2025; the metrics of
    its ``ipwgml`` package), over the pixels where both are finite:

    * ``bias_percent`` = 100 (sum pred - sum reference) / sum reference,
    * ``mae_mm_h`` = mean |pred - reference|, ``mse_mm2_h2`` = mean (pred - reference)^2,
    * ``correlation``: Pearson r,
    * ``pod``, ``far``, ``csi``, ``hss``: detection of ``rain rate >= threshold`` (mm h-1), as
      :func:`contingency` (the standard Heidke skill score),
    * ``n``: the number of pixels compared.

    Parameters
    ----------
    pred, reference : numpy array or xarray.DataArray
        Rain rates on the same grid; NaN where unknown. An xarray input's ``units`` (``mm h-1``,
        ``kg m-2 s-1``, ...) is converted to mm h-1; numpy input is taken as mm h-1.
    threshold : float
        Rain / no-rain threshold (mm h-1) of the detection scores; 0.1 in the benchmark.
    """
    p, t = _pair(_mm_per_hour(pred, "pred"), _mm_per_hour(reference, "reference"))
    total = t.sum()
    scores = {
        "bias_percent": float(100.0 * (p.sum() - total) / total) if total > 0 else float("nan"),
        "mae_mm_h": float(np.mean(np.abs(p - t))),
        "mse_mm2_h2": float(np.mean((p - t) ** 2)),
        "correlation": correlation(p, t),
    }
    scores.update(contingency(p, t, threshold))
    scores["n"] = int(p.size)
    return scores
