"""Arrays in blocks: one numpy / dask dispatch for every eoxr method.

Every method of eoxr takes arrays shaped (..., y, x), numpy or dask, and must give the same numbers for
both (chunked == unchunked), staying lazy on dask. This module holds what they share:

- :func:`namespace` / :func:`is_lazy`: the array module of an array (numpy, ``dask.array``; cupy and
  torch when such arrays are passed, imported only then), so a function is written once as ``xp.where(...)``;
- :func:`halo_map`: a neighbourhood kernel over the last two axes with an explicit halo ``depth``: numpy
  data are padded as dask pads the array's edges, dask data go through ``map_overlap`` after a rechunk
  that gives every chunk at least ``depth`` pixels (:func:`ensure_depth`); the halo is what makes
  chunked == unchunked;
- :func:`halo_depth`, :func:`round_up`: the halo a network or kernel of a given receptive field needs,
  rounded up (to a multiple of the network's pooling factor);
- block (coarse-grid) helpers: :func:`block_sum`, :func:`block_mean` (NaN-aware: a partly-cloudy
  block is the mean of its valid pixels), :func:`repeat_blocks`, :func:`rechunk_multiple`, and the
  coordinates of the coarse or fine grid (:func:`coarse_coord`, :func:`fine_coord`, :func:`pixel_size`,
  :func:`check_factor`);
- :func:`as_float`, :func:`linear_fit`: floating-point data; least squares y = a + b x over the pixels
  where both are finite (lazy on dask).

A kernel for :func:`halo_map` takes a numpy block padded by ``depth`` on y and x (and the keywords
given to ``halo_map``) and returns the padded block's result (``trim=True``, the halo is cut off) or
only its core (``trim=False``, e.g. when the kernel changes the block's size)::

    def _smooth(block, sigma):
        return ndimage.gaussian_filter(block, (0,) * (block.ndim - 2) + (sigma, sigma))

    out = halo_map(_smooth, data, depth=int(4 * sigma + 0.5), boundary="reflect", sigma=sigma)
"""
from __future__ import annotations

import importlib
import math
import numbers

import dask.array as dsa
import numpy as np
import xarray as xr
from dask.array.overlap import ensure_minimum_chunksize
from dask.array.utils import meta_from_array
from dask.utils import has_keyword

from .errors import DtypeError, GridError, ParameterError

#: dask ``map_overlap`` boundary -> the ``numpy.pad`` mode that pads the same values
_PAD_MODES = {"reflect": "symmetric", "nearest": "edge", "periodic": "wrap"}
BOUNDARIES = (*_PAD_MODES, "none")


# ------------------------------------------------------------------------------------------ dispatch


def _raw(a):
    """The array inside an xarray object, else ``a``."""
    return a.data if isinstance(a, (xr.DataArray, xr.Variable)) else a


def _library(a) -> str:
    a = _raw(a)
    if isinstance(a, dsa.Array):
        return "dask"
    top = type(a).__module__.split(".", 1)[0]
    return top if top in ("cupy", "torch") else "numpy"


def is_lazy(a) -> bool:
    """Whether ``a`` (an array or an xarray object) is a dask array: nothing is computed until asked."""
    return isinstance(_raw(a), dsa.Array)


def namespace(*arrays):
    """The array module for ``arrays``: ``dask.array`` if any is a dask array, else ``cupy`` or ``torch``
    for their arrays (imported only then: ``import eoxr`` imports neither), else ``numpy``.

    Scalars and xarray objects are accepted (an xarray object counts as its data).
    """
    kinds = [_library(a) for a in arrays]
    if "dask" in kinds:
        return dsa
    for kind in kinds:
        if kind != "numpy":
            return importlib.import_module(kind)
    return np


# ----------------------------------------------------------------------------------------- halos


def round_up(n: int, step: int) -> int:
    """``n`` rounded up to a multiple of ``step`` (>= 1)."""
    if step < 1:
        raise ParameterError(f"step must be a positive number of pixels, not {step}: pass 1 (no alignment) or more")
    return step * math.ceil(n / step)


def halo_depth(receptive_field: int, align: int = 1) -> int:
    """Halo (pixels on each side) for a kernel whose output pixel sees ``receptive_field`` input pixels.

    Half the receptive field, rounded UP, then up to a multiple of ``align`` (a network's pooling factor,
    so chunk origins stay on its grid): rounding down would leave chunk edges without the context the
    kernel needs, and seams would show.
    """
    if receptive_field < 0:
        raise ParameterError(f"receptive_field must be >= 0 pixels, not {receptive_field}: pass the width of "
                             "the input window one output pixel depends on (eoxr.ml.nets.receptive_field)")
    return round_up(math.ceil(receptive_field / 2), align)


def _check_halo_args(data, depth, boundary) -> int:
    if data.ndim < 2 or 0 in data.shape[-2:]:
        raise GridError(f"halo_map works on (..., y, x) arrays with pixels; this one has shape {data.shape}: pass "
                        "data with y and x dimensions of at least one pixel")
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 0:
        raise ParameterError(f"depth is the halo in pixels on y and x, an integer >= 0, not {depth!r}: pass "
                             "the kernel's reach, e.g. int(4 * sigma + 0.5) for a Gaussian")
    if not (boundary in BOUNDARIES or (isinstance(boundary, numbers.Number) and not isinstance(boundary, bool))):
        raise ParameterError(f"boundary must be one of {BOUNDARIES} or a number (constant padding), not "
                             f"{boundary!r}: e.g. boundary='reflect' to mirror the edges")
    return int(depth)


def ensure_depth(data, depth: int):
    """``data`` (dask) rechunked on y and x so that every chunk holds at least ``depth`` pixels: each chunk
    must hold the halo it lends its neighbours (chunks too thin are merged into their neighbours)."""
    if not is_lazy(data) or depth == 0:
        return data
    new = {}
    for ax in (data.ndim - 2, data.ndim - 1):
        chunks = data.chunks[ax]
        if len(chunks) > 1 and min(chunks) < depth:
            new[ax] = ensure_minimum_chunksize(min(depth, data.shape[ax]), chunks)
    return data.rechunk(new) if new else data


def _pad(data: np.ndarray, depth: int, boundary) -> np.ndarray:
    """``data`` padded on y and x by ``depth`` with the values dask's ``map_overlap`` gives the array's edges."""
    if boundary == "none" or depth == 0:
        return data
    pad = [(0, 0)] * (data.ndim - 2) + [(depth, depth)] * 2
    if boundary in _PAD_MODES:
        return np.pad(data, pad, mode=_PAD_MODES[boundary])
    return np.pad(data, pad, mode="constant", constant_values=boundary)


def halo_map(kernel, data, depth: int, boundary="reflect", *, dtype=None, chunks=None, trim: bool = True, **kw):
    """Apply a neighbourhood ``kernel`` over the last two axes (y, x) of numpy or dask ``data``.

    Parameters
    ----------
    kernel : callable
        ``kernel(block, **kw)`` on a numpy block padded by ``depth`` pixels on y and x. A kernel with a
        ``block_id`` parameter is told its block's index (all zeros for numpy data).
    data : numpy.ndarray or dask.array.Array
        Shaped (..., y, x).
    depth : int
        Halo in pixels on each side of y and x (the leading axes get none).
    boundary : {"reflect", "nearest", "periodic", "none"} or number
        Values beyond the array's edges: mirrored (edge pixel included), repeated edge, wrapped, absent
        (edge blocks get no padding on their outer sides: the kernel must cope), or a constant.
    dtype : dtype, optional
        Of the kernel's output (default: ``data``'s).
    chunks : tuple or callable, optional
        Output chunks of dask data when the kernel changes the block size (with ``trim=False``): a tuple
        as ``map_overlap``'s, or a function of the input chunks after the rechunk to ``depth``.
    trim : bool
        True: the kernel returns the padded block's shape and the halo is cut off. False: the kernel
        returns its block's core only.
    **kw
        Passed to ``kernel``.

    Returns
    -------
    The kernel's result, numpy for numpy data, lazy for dask data. By construction the two are equal for
    every chunking when the kernel's output at a pixel depends only on the inputs within ``depth`` of it.
    """
    depth = _check_halo_args(data, depth, boundary)
    dtype = np.dtype(dtype if dtype is not None else data.dtype)
    if not is_lazy(data):
        if has_keyword(kernel, "block_id"):
            kw = dict(kw, block_id=(0,) * data.ndim)
        out = kernel(_pad(data, depth, boundary), **kw)
        if trim and boundary != "none" and depth:
            out = out[..., depth:-depth, depth:-depth]
        return out
    if boundary != "none" and depth > min(data.shape[-2:]):
        raise ParameterError(f"a halo of {depth} px is wider than the array's y/x size {data.shape[-2:]}: pass a "
                             "larger array or a smaller depth, or compute it as numpy")
    data = ensure_depth(data, depth)
    extra = {}
    if chunks is not None:
        extra["chunks"] = chunks(data.chunks) if callable(chunks) else chunks
    depths = {ax: 0 for ax in range(data.ndim)}
    for ax in (data.ndim - 2, data.ndim - 1):
        # with boundary "none" an axis in one chunk has no neighbour to borrow from, whatever its size
        depths[ax] = 0 if boundary == "none" and len(data.chunks[ax]) == 1 else depth
    return dsa.map_overlap(kernel, data, depth=depths, boundary=boundary, trim=trim, dtype=dtype,
                           meta=meta_from_array(data, ndim=data.ndim, dtype=dtype), **extra, **kw)


# ------------------------------------------------------------------------------------ coarse grids


def check_factor(factor) -> int:
    """Return ``factor`` as an int >= 1, or raise :class:`~eoxr.errors.ParameterError`."""
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor) \
            or float(factor) != int(factor) or int(factor) < 1:
        raise ParameterError(
            f"factor must be a positive integer (the ratio of coarse to fine pixel size), not {factor!r}; "
            "for 1 km -> 250 m pass factor=4, for 1 km -> 500 m pass factor=2."
        )
    return int(factor)


def pixel_size(coord: xr.DataArray) -> float:
    """Signed pixel spacing of a regular 1-D coordinate (CRS units)."""
    if coord.size < 2:
        raise GridError(f"coordinate {coord.name!r} has {coord.size} value(s): at least 2 pixels are needed; "
                        "pass a larger area")
    return float(coord.values[1] - coord.values[0])


def coarse_coord(coord: xr.DataArray, factor: int) -> np.ndarray:
    """Centres of the coarse pixels made of ``factor`` consecutive fine pixels (excess trimmed)."""
    n = coord.size // factor
    return np.asarray(coord.values[: n * factor], dtype="f8").reshape(n, factor).mean(axis=1)


def fine_coord(coord: xr.DataArray, factor: int) -> np.ndarray:
    """Centres of the ``factor`` fine pixels inside each coarse pixel."""
    step = pixel_size(coord) / factor
    offsets = (np.arange(factor) + 0.5 - factor / 2.0) * step
    return (np.asarray(coord.values, dtype="f8")[:, None] + offsets[None, :]).ravel()


def rechunk_multiple(a, factor: int):
    """Rechunk the last two axes of a dask array so every chunk is a multiple of ``factor`` (numpy: as is)."""
    if not is_lazy(a):
        return a
    sizes = [max(factor, (max(a.chunks[ax]) // factor) * factor) for ax in (-2, -1)]
    return a.rechunk({a.ndim - 2: sizes[0], a.ndim - 1: sizes[1]})


def block_sum(a, factor: int):
    """Sum over non-overlapping ``factor`` x ``factor`` blocks of the last two axes (excess trimmed)."""
    if factor == 1:
        return a
    ny, nx = a.shape[-2] // factor, a.shape[-1] // factor
    if ny == 0 or nx == 0:  # no whole block: an empty result (dask cannot coarsen an empty axis)
        return a[..., :ny, :nx]
    a = a[..., : ny * factor, : nx * factor]
    if is_lazy(a):
        a = rechunk_multiple(a, factor)
        return dsa.coarsen(np.sum, a, {a.ndim - 2: factor, a.ndim - 1: factor})
    return a.reshape(*a.shape[:-2], ny, factor, nx, factor).sum(axis=(-3, -1))


def block_mean(a, factor: int, min_valid: float = 1.0):
    """Mean of the finite pixels of each ``factor`` x ``factor`` block of the last two axes (excess trimmed).

    A partly-cloudy block is the mean of its valid pixels (their sum divided by their count, not by
    factor^2); a block with fewer than ``min_valid`` x factor^2 valid pixels, or none, is NaN.
    """
    xp = namespace(a)
    valid = xp.isfinite(a)
    total = block_sum(xp.where(valid, a, 0.0), factor)
    count = block_sum(valid.astype(a.dtype), factor)
    mean = total / xp.where(count > 0, count, 1.0)  # no 0/0 warnings from empty blocks
    return xp.where((count > 0) & (count >= min_valid * factor * factor - 1e-9), mean, np.nan)


def repeat_blocks(a, factor: int):
    """Each coarse pixel repeated ``factor`` x ``factor`` times (nearest-neighbour upsampling)."""
    if factor == 1:
        return a
    xp = namespace(a)
    return xp.repeat(xp.repeat(a, factor, axis=-2), factor, axis=-1)


# ------------------------------------------------------------------------------------------ statistics


def check_real(a, what: str = "the data"):
    """``a`` once its dtype is checked to be boolean, integer or floating point, else
    :class:`~eoxr.errors.DtypeError` naming the dtype and the cast that fixes it."""
    if np.dtype(a.dtype).kind not in "biuf":
        raise DtypeError(f"{what} has dtype {a.dtype}, which holds no physical quantity: cast it to a float type "
                         "(.astype('float32')), taking the real part of complex data first if that is what it is")
    return a


def as_float(a):
    """``a`` as floating point: integers and booleans become float64, floats stay as they are (lazy on dask).
    Complex, object and string data raise :class:`~eoxr.errors.DtypeError` (:func:`check_real`)."""
    return a if np.issubdtype(check_real(a).dtype, np.floating) else a.astype("f8")


def linear_fit(x, y):
    """Intercept ``a``, slope ``b`` and pair count ``n`` of the least-squares fit y = a + b x over the
    pairs where both are finite (0-d dask arrays for dask input: nothing is computed).

    Where no line is defined, ``a`` and ``b`` are NaN: fewer than two pairs, or ``x`` without spread (constant, to
    the rounding of its dtype, whose mean differs from its values by that rounding).
    """
    xp = namespace(x, y)
    ok = xp.isfinite(x) & xp.isfinite(y)
    n = ok.sum()
    xm = xp.where(ok, x, 0.0).sum() / n
    ym = xp.where(ok, y, 0.0).sum() / n
    sxy = xp.where(ok, (x - xm) * (y - ym), 0.0).sum()
    sxx = xp.where(ok, (x - xm) ** 2, 0.0).sum()
    eps = float(np.finfo(x.dtype if np.issubdtype(x.dtype, np.floating) else "f8").eps)
    largest = xp.where(ok, abs(x), 0.0).max().astype("f8")  # in float64: its square must not underflow
    rounding = 16 * n * (eps * largest) ** 2  # the sxx of a constant x, from rounding alone
    b = xp.where(sxx > rounding, sxy / xp.where(sxx > 0, sxx, 1.0), np.nan)
    return ym - b * xm, b, n
