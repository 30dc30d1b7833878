"""How much of the coarse LST a guide explains, and how much DISR follows the guide accordingly.

A guided method adds the fine detail that the guide predicts. Where the guide explains little of the LST
(winter, snow, bare soil, a guide of another physics such as emissivity over moist vegetation) that detail
is noise and the guided output is worse than bicubic interpolation plus the conservation step. The skill
of the guide is measured where both are known, on the coarse grid: the cross-validated coefficient of
determination R2_cv of the LST on the block-averaged guide, a straight line fitted on half of the coarse
grid (a checkerboard of ``tile`` x ``tile`` blocks) and scored on the other half, and the other way round
(spatial cross-validation, Roberts et al. 2017, Ecography 40, 913-929, doi:10.1111/ecog.02881). R2_cv is
negative when the line predicts worse than the mean.

DISR then weighs its detail (network output minus the bicubic upsampling) by

    w = clip((R2_cv - R2_IGNORE) / (R2_TRUST - R2_IGNORE), 0, 1)

so a guide that explains less than :data:`R2_IGNORE` of the coarse variance gives bicubic plus the
conservation step exactly, one that explains :data:`R2_TRUST` or more the network's full detail.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..arrays import block_mean, check_factor, linear_fit, namespace
from ..attrs import cf
from ..units import declare_units
from ._grid import align_guide, checked_lst, spatial

#: below this cross-validated R2 of the coarse LST on the guide, DISR adds no guided detail (the MODIS band 31/32
#: emissivity of the real tiles: -0.01 and 0.12, where TsHARP with it is 28-34 % worse than bicubic)
R2_IGNORE = 0.15
#: from this R2 on, DISR adds the network's full detail (synthetic NDVI scenes: 0.39-0.41, where the full
#: detail gives 0.94 K at x4 against 1.11 K at weight 0.73; the airborne vegetation cover: 0.77)
R2_TRUST = 0.35
#: coarse pixels per side of the cross-validation blocks (the fit never sees its neighbours' block)
TILE = 8


def _checkerboard(shape: tuple[int, int], tile: int) -> np.ndarray:
    iy, ix = np.indices(shape) // tile
    return (iy + ix) % 2 == 0


def _cv_r2(t, g, fold):
    """R2 of ``t`` predicted by a line in ``g`` fitted on the other fold, over both folds (lazy on dask)."""
    xp = namespace(t, g)
    ok = xp.isfinite(t) & xp.isfinite(g)
    sse = 0.0
    for part in (fold, ~fold):
        a, b, _ = linear_fit(xp.where(~part, g, np.nan), t)
        sse = sse + xp.where(part & ok, (t - (a + b * g)) ** 2, 0.0).sum()
    n = ok.sum()
    mean = xp.where(ok, t, 0.0).sum() / n
    sst = xp.where(ok, (t - mean) ** 2, 0.0).sum()
    return 1.0 - sse / sst


@declare_units(lst="K", guide="1")
def guide_skill(lst: xr.DataArray, guide: xr.DataArray, factor: int, tile: int = TILE) -> xr.DataArray:
    """Cross-validated R2 (1) of the coarse ``lst`` (K) on ``guide`` (1, on the grid ``factor`` times finer)
    block-averaged to the coarse grid, over every leading index together. 0-d, lazy for dask input."""
    factor = check_factor(factor)
    lst = checked_lst(spatial(lst))
    g = align_guide(guide, lst, factor).transpose(*lst.dims).data
    g_c = block_mean(g, factor, min_valid=0.5)
    fold = _checkerboard(lst.shape[-2:], tile)
    r2 = _cv_r2(lst.data, g_c, np.broadcast_to(fold, lst.shape))
    return cf(xr.DataArray(r2, name="guide_r2"), "1",
              "cross-validated R2 of the coarse LST on the block-averaged guide")


def guide_weight(r2):
    """DISR's weight on its guided detail (0..1) for a guide of cross-validated R2 ``r2`` (NaN: 0)."""
    xp = namespace(getattr(r2, "data", r2))
    w = xp.clip((r2 - R2_IGNORE) / (R2_TRUST - R2_IGNORE), 0.0, 1.0)
    return xp.where(xp.isfinite(w), w, 0.0)
