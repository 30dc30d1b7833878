"""Classical LST sharpening: bicubic interpolation, TsHARP and DisTrad, and the coarse-conservation step.

- bicubic: cubic convolution (Keys 1981, "Cubic convolution interpolation for digital image processing",
  IEEE TASSP, doi:10.1109/TASSP.1981.1163711, a = -0.5) from coarse to fine pixel centres.
- TsHARP: T = a + b NDVI fitted on the coarse pixels, applied to the fine NDVI, and the coarse residual
  added back (Agam, Kustas, Anderson, Li & Neale 2007, Remote Sens. Environ., doi:10.1016/j.rse.2006.10.006).
- DisTrad: the same with fractional vegetation cover fc = 1 - ((NDVImax - NDVI)/(NDVImax - NDVImin))^0.625
  as predictor (Kustas, Norman, Anderson & French 2003, "Estimating subpixel surface temperatures and
  energy fluxes from the vegetation index-radiometric temperature relationship", Remote Sens. Environ. 85;
  the fc form as in Agam et al. 2007).

Both regression methods *conserve* the observation: their output aggregated back (radiance domain) equals
the coarse LST. Fine pixels under a cloudy (NaN) coarse pixel stay NaN. A guide without spread (one NDVI over
the scene) predicts no detail: each fine pixel then holds its coarse pixel's LST.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..arrays import as_float, block_mean, block_sum, check_factor, fine_coord, halo_map, is_lazy, linear_fit, namespace, \
    repeat_blocks
from ..attrs import stamp
from ..errors import NoDataError
from ..units import declare_units, when
from ._grid import align_guide, checked_lst, like, spatial
from .degrade import aggregate, from_radiance, to_radiance

HALO = 2  # coarse pixels of context the cubic kernel needs on each side


def _keys(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                    np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))


def _weights(factor: int, kind: str) -> np.ndarray:
    """(factor, 5) weights on coarse neighbours -2..+2 of each fine sub-pixel phase."""
    d = (np.arange(factor) + 0.5) / factor - 0.5  # sub-pixel offset from the coarse centre, coarse units
    m = np.arange(-2, 3)
    dist = m[None, :] - d[:, None]
    if kind == "cubic":
        return _keys(dist)
    return np.clip(1.0 - np.abs(dist), 0.0, None)  # bilinear


def _upsample_axis(a: np.ndarray, w: np.ndarray, axis: int, halo: int) -> np.ndarray:
    """Upsample a padded block along ``axis`` (padding ``halo``) with phase weights ``w``."""
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1] - 2 * halo
    f = w.shape[0]
    out = np.zeros(a.shape[:-1] + (n, f), dtype=a.dtype)
    for j, off in enumerate(range(-2, 3)):
        seg = a[..., halo + off: halo + off + n]
        out += seg[..., None] * w[:, j]
    return np.moveaxis(out.reshape(a.shape[:-1] + (n * f,)), -1, axis)


def _upsample_block(block: np.ndarray, factor: int, halo: int = HALO) -> np.ndarray:
    """Bicubic upsampling of a (..., y, x) block padded by ``halo``; NaN-aware.

    Where the 4x4 cubic support touches a NaN, a bilinear interpolation normalised over the valid
    neighbours is used (its weight on the pixel's own coarse parent is >= 0.5, so it is defined);
    fine pixels whose coarse parent is NaN stay NaN.
    """
    wc, wl = _weights(factor, "cubic"), _weights(factor, "linear")
    cubic = _upsample_axis(_upsample_axis(block, wc, -2, halo), wc, -1, halo)
    valid = np.isfinite(block)
    filled = np.where(valid, block, 0.0)
    v = valid.astype(block.dtype)
    num = _upsample_axis(_upsample_axis(filled, wl, -2, halo), wl, -1, halo)
    den = _upsample_axis(_upsample_axis(v, wl, -2, halo), wl, -1, halo)
    with np.errstate(invalid="ignore", divide="ignore"):
        linear = num / den
    out = np.where(np.isfinite(cubic), cubic, linear)
    inner = valid[..., halo: valid.shape[-2] - halo, halo: valid.shape[-1] - halo]
    parent = np.repeat(np.repeat(inner, factor, axis=-2), factor, axis=-1)
    return np.where(parent, out, np.nan)


def _upsampled_chunks(chunks: tuple, factor: int) -> tuple:
    return chunks[:-2] + tuple(tuple(c * factor for c in axis) for axis in chunks[-2:])


def upsample_data(data, factor: int):
    """Bicubic upsampling of (..., y, x) numpy or dask data: one kernel with a halo of 2 coarse pixels
    (edges repeated), lazy for dask."""
    data = as_float(data)
    if factor == 1:
        return data
    return halo_map(_upsample_block, data, HALO, boundary="nearest", trim=False, dtype=data.dtype,
                    chunks=lambda chunks: _upsampled_chunks(chunks, factor), factor=factor)


@declare_units(lst="K")
def bicubic(lst: xr.DataArray, factor: int) -> xr.DataArray:
    """LST (K) interpolated by cubic convolution onto the grid ``factor`` times finer. Lazy for dask input."""
    factor = check_factor(factor)
    lst = checked_lst(spatial(lst))
    out = like(upsample_data(lst.data, factor), lst, fine_coord(lst.y, factor), fine_coord(lst.x, factor),
               "lst", "K", "land surface temperature, bicubic interpolation")
    return stamp(out, "lst.bicubic", factor=factor)


# iterations of back-projection in the conservation step of the learned methods: the coarse residual is
# spread smoothly (cubic convolution) instead of as a flat offset per coarse pixel; converged by 3-5
# iterations on synthetic scenes 21000 and 22000 (DISR x4 RMSE 2 % lower than one flat step)
BACKPROJECTIONS = 5


def _coarse_residual(xf, xc, factor: int):
    """Coarse observation minus the block mean of the valid fine pixels (NaN where a block has none)."""
    return xc - block_mean(xf, factor, min_valid=0.0)


def _on_chunks_of(a, like_):
    return a.rechunk(like_.chunks) if is_lazy(a) and is_lazy(like_) else a


@declare_units(fine=when("domain", radiance="K"), coarse=when("domain", radiance="K"))
def conserve(fine: xr.DataArray, coarse: xr.DataArray, factor: int, domain: str = "radiance",
             backprojections: int = 0) -> xr.DataArray:
    """Add the coarse residual back so that ``aggregate(result, factor, domain) == coarse``.

    In the radiance domain the residual is added to T^4 (the quantity a coarse pixel averages), so the
    constraint holds exactly for the sensor model of :func:`eoxr.lst.degrade.aggregate`. Fine pixels under a
    NaN coarse pixel become NaN; fine NaN pixels stay NaN and the block mean uses the valid ones. A block where
    the residual would leave a radiance <= 0 (a first guess far from the observation) is scaled instead: its
    T^4 times the coarse T^4 over their block mean, conserved and positive.

    ``backprojections``: first add the residual upsampled by cubic convolution that many times (iterative
    back-projection, Irani & Peleg 1991, CVGIP: Graphical Models and Image Processing 53(3), 231-239,
    doi:10.1016/1049-9652(91)90045-L), so the correction varies smoothly across coarse pixel edges; the
    small remainder is then added flat per coarse pixel, which keeps the constraint exact. Lazy for dask input.
    """
    factor = check_factor(factor)
    fine, coarse = spatial(fine), spatial(coarse)
    f, c = fine.data, coarse.data
    lin = domain != "radiance"
    xf = f if lin else to_radiance(f)
    xc = c if lin else to_radiance(c)
    xp = namespace(xf, xc)
    for _ in range(backprojections):
        residual = _coarse_residual(xf, xc, factor)
        smooth = upsample_data(xp.where(xp.isfinite(residual), residual, 0.0), factor)
        xf = xf + _on_chunks_of(smooth, xf)
    rep = _on_chunks_of(repeat_blocks(_coarse_residual(xf, xc, factor), factor), xf)
    out = xf + rep
    if not lin:
        out = _scaled_where_not_positive(out, to_radiance(f), xc, factor)
        out = from_radiance(xp.where(out > 0, out, np.nan))
    return fine.copy(data=out)


def _scaled_where_not_positive(out, first, coarse, factor: int):
    """Radiances ``out`` whose blocks that the added residual left with a radiance <= 0 (a first guess far from
    the observation) are the first guess scaled instead: ``first`` x coarse / its block mean, conserved too, and
    positive."""
    xp = namespace(out, first)
    bad = block_sum(xp.where(out <= 0, 1.0, 0.0), factor) > 0
    scaled = first * _on_chunks_of(repeat_blocks(coarse / block_mean(first, factor, min_valid=0.0), factor), first)
    return xp.where(_on_chunks_of(repeat_blocks(bad, factor), out), scaled, out)


def fractional_cover(ndvi, ndvi_min, ndvi_max, exponent: float = 0.625):
    """fc = 1 - ((NDVImax - NDVI) / (NDVImax - NDVImin)) ** 0.625, clipped to [0, 1] (1 where NDVImax = NDVImin:
    a scene of one NDVI has no bare end to scale from)."""
    xp = namespace(ndvi)
    span = ndvi_max - ndvi_min
    s = xp.clip((ndvi_max - ndvi) / xp.where(span > 0, span, 1.0), 0.0, 1.0)
    return 1.0 - s ** exponent


def regression_sharpen(lst: xr.DataArray, guide: xr.DataArray, factor: int, predictor: str = "linear",
                       domain: str = "radiance") -> xr.DataArray:
    """Shared TsHARP / DisTrad core. ``guide`` must already be on the fine grid (see ``align_guide``)."""
    lst = spatial(lst)
    g_f = as_float(guide.data)
    g_c = aggregate(guide, factor, domain="linear", min_valid=0.5).data
    if predictor == "fc":
        xp = namespace(g_f)
        lo, hi = xp.nanmin(g_f), xp.nanmax(g_f)
        p_f, p_c = fractional_cover(g_f, lo, hi), fractional_cover(g_c, lo, hi)
    else:
        p_f, p_c = g_f, g_c
    t_c = as_float(lst.data)
    a, b, n = linear_fit(p_c, t_c)
    if not is_lazy(n) and n < 3:
        raise NoDataError(f"{int(n)} coarse pixel(s) have both a clear LST and a guide valid over half their "
                          "fine pixels, fewer than the 3 the regression needs: pass a larger or clearer scene, or "
                          "fill the clouds first (superres(..., fill='mean'))")
    # a guide without spread over the fitted pixels predicts no detail: the first guess is the scene's mean
    # LST, and the conservation step gives each fine pixel its coarse pixel's value
    xp = namespace(b, t_c)
    flat = ~xp.isfinite(b)
    a, b = xp.where(flat, xp.nanmean(xp.where(xp.isfinite(p_c), t_c, np.nan)), a), xp.where(flat, 0.0, b)
    first = like(a + b * p_f, guide, guide.y.values, guide.x.values, "lst", "K", "first guess")
    coarse = lst.copy(data=t_c)
    return conserve(first, coarse, factor, domain)


@declare_units(lst="K", guide="1")
def tsharp(lst: xr.DataArray, guide: xr.DataArray, factor: int, domain: str = "radiance") -> xr.DataArray:
    """TsHARP (Agam et al. 2007): LST = a + b * guide fitted on coarse pixels, coarse residual added back.

    lst: coarse LST (K). guide: NDVI (1) or another fine predictor on the grid ``factor`` times finer
    (or finer still by an integer ratio: it is block-averaged). Returns fine LST (K), lazy for dask input.
    """
    factor = check_factor(factor)
    lst = checked_lst(spatial(lst))
    g = align_guide(guide, lst, factor)
    out = regression_sharpen(lst, g, factor, "linear", domain)
    out = like(out.data, g, g.y.values, g.x.values, "lst", "K", "land surface temperature, TsHARP sharpened",
               crs=lst.rio.crs)
    return stamp(out, "lst.tsharp", factor=factor, domain=domain)


@declare_units(lst="K", guide="1")
def distrad(lst: xr.DataArray, guide: xr.DataArray, factor: int, domain: str = "radiance") -> xr.DataArray:
    """DisTrad (Kustas et al. 2003), fractional-cover variant: LST = a + b fc(NDVI), residual added back."""
    factor = check_factor(factor)
    lst = checked_lst(spatial(lst))
    g = align_guide(guide, lst, factor)
    out = regression_sharpen(lst, g, factor, "fc", domain)
    out = like(out.data, g, g.y.values, g.x.values, "lst", "K", "land surface temperature, DisTrad sharpened",
               crs=lst.rio.crs)
    return stamp(out, "lst.distrad", factor=factor, domain=domain)
