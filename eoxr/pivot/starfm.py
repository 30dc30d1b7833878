"""A fine image on a date with only a coarse one: the STARFM prediction from one fine-coarse pair.

STARFM (Gao, Masek, Schwaller and Hall 2006, doi:10.1109/TGRS.2006.872081) predicts the fine value of pixel
``x`` on date t1 from a fine image F0 and a coarse image C0 of date t0 and the coarse image C1 of t1, all on the
fine grid, as a weighted mean over the neighbours ``k`` of a window around ``x`` that are spectrally similar to
``x`` on t0::

    F1(x) = sum_k w_k (F0(k) + C1(k) - C0(k))
    w_k ~ 1 / (S_k T_k D_k),  S_k = |F0(k) - C0(k)| + u,  T_k = |C1(k) - C0(k)| + u,  D_k = 1 + d_k / h

where ``d_k`` is the distance to ``x`` in pixels, ``h`` the window's half size and ``u`` a small uncertainty
that keeps the weights finite. A neighbour is similar when ``|F0(k) - F0(x)| <= 2 sigma / classes``, with
``sigma`` the standard deviation of F0 in the window (Gao et al.'s threshold, here local so that it is computed
from the window alone: chunked and unchunked data give the same result). The centre pixel is always similar.
Neighbours where the fine and coarse images agree (small S) and where the coarse image changes little (small
T) weigh most: the coarse change is carried to the fine scale where the coarse pixel is a good model of it.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from ..arrays import as_float, halo_map, is_lazy
from ..attrs import cf, georeference, stamp
from ..errors import GridError, ParameterError


def predict_fine(fine_t0: xr.DataArray, coarse_t0: xr.DataArray, coarse_t1: xr.DataArray, *, half_window: int = 10,
                 classes: int = 4, uncertainty: float = 0.1) -> xr.DataArray:
    """Predict the fine image of date t1 from the fine-coarse pair of t0 and the coarse image of t1 (STARFM).

    Parameters
    ----------
    fine_t0, coarse_t0, coarse_t1 : xarray.DataArray
        (y, x) fields of one quantity (LST in K, a reflectance band) on one grid: the coarse images resampled to
        the fine grid (nearest neighbour or bilinear). NaN where missing.
    half_window : int
        Half size of the moving window, in fine pixels (the window is ``2 half_window + 1`` wide); it should
        span a coarse pixel or more.
    classes : int
        Number of land-cover classes assumed in the window; a neighbour is similar to the centre when their
        fine values on t0 differ by at most ``2 sigma / classes``.
    uncertainty : float
        The ``u`` added to the spectral and temporal differences, as a fraction of the window's standard
        deviation of the fine image.

    Returns
    -------
    xarray.DataArray
        The predicted fine field on the fine grid, with ``fine_t0``'s units and CRS and ``coarse_t1``'s time
        (lazy on dask input).
    """
    if not (isinstance(half_window, (int, np.integer)) and half_window >= 1):
        raise ParameterError(f"half_window must be a positive integer of fine pixels, not {half_window!r}")
    if not classes >= 1 or not uncertainty > 0:
        raise ParameterError(f"classes must be >= 1 and uncertainty > 0, not {classes!r} and {uncertainty!r}")
    fields = _on_one_grid(fine_t0, coarse_t0, coarse_t1)
    stack = xr.concat(fields, dim="image", coords="minimal", compat="override", join="override")
    if is_lazy(stack.data):
        stack = stack.chunk({"image": -1})  # a kernel sees the three images of its pixels together
    data = halo_map(_starfm_block, as_float(stack.data), half_window, boundary="reflect", half_window=half_window,
                    classes=classes, uncertainty=uncertainty)
    out = xr.DataArray(data[0], dims=fine_t0.dims, coords={d: fine_t0[d] for d in fine_t0.dims}, name=fine_t0.name)
    if "time" in coarse_t1.coords and coarse_t1["time"].ndim == 0:
        out = out.assign_coords(time=coarse_t1["time"])
    out = cf(out, fine_t0.attrs.get("units", "1"), f"{fine_t0.attrs.get('long_name', 'fine field')}, "
             "predicted by STARFM")
    out = georeference(out, like=fine_t0)
    return stamp(out, "pivot.predict_fine", made_from=[fine_t0, coarse_t0, coarse_t1], half_window=half_window,
                 classes=classes, uncertainty=uncertainty)


def _on_one_grid(*fields: xr.DataArray) -> list[xr.DataArray]:
    """The three fields as (y, x), checked to share one grid."""
    names = ("fine_t0", "coarse_t0", "coarse_t1")
    out = []
    for name, da in zip(names, fields):
        da = da.squeeze(drop=True) if da.ndim > 2 else da
        if set(da.dims) != {"y", "x"}:
            raise GridError(f"{name} must be one (y, x) field; it has dims {da.dims}: select one date with .isel(time=i)")
        out.append(da.transpose("y", "x").drop_vars([c for c in da.coords if c not in ("y", "x")]))
    for name, da in zip(names[1:], out[1:]):
        if da.shape != out[0].shape or not (np.allclose(da.x, out[0].x) and np.allclose(da.y, out[0].y)):
            raise GridError(f"{name} is not on fine_t0's grid ({da.shape} vs {out[0].shape} pixels, or other x/y): "
                            "resample the coarse images to the fine grid first, e.g. coarse.interp_like(fine_t0, "
                            "method='nearest')")
    return out


def _window_std(a: np.ndarray, size: int) -> np.ndarray:
    """Standard deviation of ``a`` in a ``size`` x ``size`` window around each pixel (NaN-free input)."""
    mean = ndimage.uniform_filter(a, size, mode="reflect")
    mean_sq = ndimage.uniform_filter(a * a, size, mode="reflect")
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def _starfm_block(block: np.ndarray, half_window: int, classes: int, uncertainty: float) -> np.ndarray:
    """STARFM on a (3, y, x) block (F0, C0, C1) padded by ``half_window``; the prediction is the first image of
    the (3, y, x) result (the block's shape, as map_overlap wants it; the halo is trimmed by the caller)."""
    f0, c0, c1 = (np.asarray(b, dtype="f8") for b in block)
    h = half_window
    valid = np.isfinite(f0) & np.isfinite(c0) & np.isfinite(c1)
    sigma = _window_std(np.where(valid, f0, np.nanmean(f0) if valid.any() else 0.0), 2 * h + 1)
    u = uncertainty * sigma + 1e-9
    candidate = np.where(valid, f0 + c1 - c0, np.nan)
    spectral = np.abs(f0 - c0)
    temporal = np.abs(c1 - c0)
    ny, nx = f0.shape
    num, den = np.zeros((ny - 2 * h, nx - 2 * h)), np.zeros((ny - 2 * h, nx - 2 * h))
    core = (slice(h, ny - h), slice(h, nx - h))
    threshold = 2.0 * sigma[core] / classes
    for dy in range(-h, h + 1):
        for dx in range(-h, h + 1):
            near = (slice(h + dy, ny - h + dy), slice(h + dx, nx - h + dx))
            similar = np.abs(f0[near] - f0[core]) <= threshold
            similar |= (dy == 0) & (dx == 0)
            distance = 1.0 + np.hypot(dy, dx) / h
            weight = 1.0 / ((spectral[near] + u[core]) * (temporal[near] + u[core]) * distance)
            weight = np.where(similar & valid[near], weight, 0.0)
            num += weight * np.nan_to_num(candidate[near])
            den += weight
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = np.where(den > 0, num / den, np.nan)
    out = np.full((3, ny, nx), np.nan)
    out[0][core] = pred
    return out
