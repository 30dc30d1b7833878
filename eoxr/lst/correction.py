"""Scale-invariance correction of a super-resolved LST field.

A network trained one scale coarser (Wald's protocol, 4 km -> 1 km) assumes the field's statistics are
the same one scale finer (1 km -> 250 m). When they are not (vegetation patches, soil moisture and relief
each act at their own scales), the detail it adds has the wrong energy. The correction:

1. measures the *detail energy* E(L) = var(T_L - bicubic(T_{factor L})), the variance a factor-``factor``
   super-resolution must restore at scale L, at the scales where data exist (the observation aggregated
   by 1, 2, 4: for 1 km MODIS and factor 4, the steps 4 km -> 1 km, 8 km -> 2 km, 16 km -> 4 km);
2. extrapolates log E against log L to the target scale (250 m) with a least-squares straight line (a
   power law), its exponent clipped to >= 0 and the result clipped to the energy at the finest measured
   scale: the extrapolation never predicts more fine-scale detail than the coarser scales imply (a
   quadratic in log L, ``order=2``, follows the drift of the exponent but overshoots on short, noisy
   ranges of scales);
3. rescales the predicted detail d = prediction - bicubic by g = sqrt(E_target / var(d)), g in
   [0, ``max_gain``]. With the default ``max_gain=1`` the correction only shrinks detail that carries
   more energy than the extrapolated bound: a least-squares estimate of the detail never has more variance
   than the true detail, so amplifying it (``max_gain > 1``, "match" mode) matches the texture (spectral
   slope) at the cost of RMSE;
4. enforces energy conservation: the output aggregated back in the radiance domain equals the observation
   (the residual of T^4 added back by iterative back-projection, then flat per coarse pixel,
   ``baselines.conserve``).

Multiscale statistics of remote-sensing fields: Lovejoy & Schertzer 2013, doi:10.1017/CBO9781139093811;
the scale-invariance hypothesis of Wald's protocol: Wald, Ranchin & Mangolini 1997; residual
redistribution: Agam et al. 2007, doi:10.1016/j.rse.2006.10.006.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..arrays import check_factor, namespace, pixel_size
from ..attrs import cf
from ..errors import ParameterError
from ..units import declare_units
from ._grid import spatial
from .baselines import BACKPROJECTIONS, conserve, upsample_data
from .degrade import aggregate
from .scaling import extrapolate

SCALES = (1, 2, 4)
ORDER = 1
MAX_GAIN = 1.0
# scale_correction modes: max gain on the detail (None: no energy step, coarse-consistency only)
MODES = {"shrink": 1.0, "match": 2.0, "conserve": None}


def _variance(a):
    xp = namespace(a)
    ok = xp.isfinite(a)
    n = ok.sum()
    m = xp.where(ok, a, 0.0).sum() / n
    return xp.where(ok, (a - m) ** 2, 0.0).sum() / n


@declare_units(lst="K")
def detail_energy(lst: xr.DataArray, factor: int, scales=SCALES, min_pixels: int = 4) -> xr.DataArray:
    """E(L) (K2): variance of T_L minus the bicubic upsampling of T_{factor L}, over dim ``scale`` (CRS units).

    L runs over ``lst``'s pixel size times ``scales``; scales leaving fewer than ``min_pixels`` coarse
    pixels per side are skipped.
    """
    factor = check_factor(factor)
    lst = spatial(lst)
    step = abs(pixel_size(lst.x))
    values, kept = [], []
    for s in scales:
        t = aggregate(lst, s) if s > 1 else lst
        if min(t.sizes["y"], t.sizes["x"]) // factor < min_pixels:
            continue
        coarse = aggregate(t, factor)
        up = upsample_data(coarse.data, factor)
        ny, nx = up.shape[-2:]
        values.append(_variance(t.data[..., :ny, :nx] - up))
        kept.append(s * step)
    xp = namespace(lst.data)
    out = xr.DataArray(xp.stack([xp.asarray(v, dtype="f8") for v in values]), dims="scale",
                       coords={"scale": kept}, name="detail_energy")
    return cf(out, "K2", f"variance of the x{factor} super-resolution detail")


def target_detail_energy(lst: xr.DataArray, factor: int, scales=SCALES, order: int = ORDER,
                         clip: bool = True):
    """E (K2) expected at the target scale (pixel / factor), extrapolated from :func:`detail_energy`.

    ``order=1``: power law fitted by least squares in log-log; with ``clip`` its exponent is >= 0 and the
    result at most the energy at the finest measured scale (the fine scale gets no more detail than the
    coarser ones). ``order=2``: quadratic in log-log (unclipped unless ``clip``).
    """
    e = detail_energy(lst, factor, scales)
    order = min(order, e.sizes["scale"] - 1)
    step = abs(pixel_size(spatial(lst).x))
    target = step / factor
    if order == 1 and clip:
        return extrapolate_detail_energy(e, target)
    out = extrapolate(e, target, order=order, log_value=True)
    if clip:
        out = np.minimum(out, e.isel(scale=int(np.argmin(e.scale.values))))
    return out


def extrapolate_detail_energy(e: xr.DataArray, to_scale: float) -> xr.DataArray:
    """Detail energy (K2) at ``to_scale`` from E(L) (K2, dim ``scale``): log E = a + b log L fitted by least
    squares and evaluated at ``to_scale``, capped at E(finest measured L); for b <= 0 (energy not falling
    towards small scales) E(finest measured L) itself."""
    ls = np.log(e.scale.values.astype("f8"))
    finest = int(np.argmin(ls))

    def fit(v):
        v = np.asarray(v, dtype="f8")
        ok = np.isfinite(v) & (v > 0)
        if ok.sum() == 0:
            return np.nan
        if ok.sum() == 1:
            return float(v[ok][0])
        b, a = np.polyfit(ls[ok], np.log(v[ok]), 1)
        cap = v[finest] if ok[finest] else v[ok][np.argmin(ls[ok])]
        if b <= 0:  # energy not decreasing towards small scales: carry the finest measured one down
            return float(cap)
        return float(min(np.exp(a + b * np.log(to_scale)), cap))

    if e.chunks is not None:
        e = e.chunk({"scale": -1})
    out = xr.apply_ufunc(fit, e, input_core_dims=[["scale"]], vectorize=True, dask="parallelized",
                         output_dtypes=["f8"])
    return out.assign_attrs(dict(e.attrs, long_name=f"{e.attrs.get('long_name')} extrapolated to {to_scale:g} "
                                                    "(power law, clipped)"))


def detail_gain(detail, target_energy, max_gain: float = MAX_GAIN):
    """Gain g in [0, max_gain] with var(g detail) = target_energy (g = 1 where undefined)."""
    xp = namespace(detail, target_energy)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = xp.sqrt(target_energy / _variance(detail))
    return xp.clip(xp.where(xp.isfinite(g), g, 1.0), 0.0, max_gain)


@declare_units(fine="K", base="K", lst="K")
def scale_correct(fine: xr.DataArray, base: xr.DataArray, lst: xr.DataArray, factor: int,
                  scales=SCALES, order: int = ORDER, domain: str = "radiance", mode: str = "shrink",
                  clip: bool = True) -> tuple[xr.DataArray, xr.DataArray]:
    """Correct super-resolved ``fine`` (K) made from coarse ``lst`` (K) with bicubic ``base`` (K).

    mode: "shrink" (gain <= 1: only detail above the extrapolated energy is damped), "match" (gain in
    [0, 2]: the detail energy is matched to the extrapolation), "conserve" (no energy step: the
    coarse-consistency constraint only). Returns (corrected fine LST, the detail gain as a 0-d DataArray).
    Lazy for dask input.
    """
    if mode not in MODES:
        raise ParameterError(f"scale-correction mode must be one of {list(MODES)}, not {mode!r}")
    max_gain = MODES[mode]
    factor = check_factor(factor)
    fine, base, lst = spatial(fine), spatial(base), spatial(lst)
    detail = fine.data - base.data
    if max_gain is not None:
        target = target_detail_energy(lst, factor, scales, order, clip).data
        g = detail_gain(detail, target, max_gain)
    else:
        g = namespace(detail).asarray(1.0)
    adjusted = fine.copy(data=base.data + g * detail)
    out = conserve(adjusted, lst, factor, domain, backprojections=BACKPROJECTIONS)
    gain = cf(xr.DataArray(g, name="detail_gain"), "1",
              "gain on the super-resolution detail matching the extrapolated detail energy")
    return out, gain
