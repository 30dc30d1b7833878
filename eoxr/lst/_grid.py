"""Grid helpers of the lst methods: (..., y, x) order, CRS, outputs on a given grid, guides on the fine grid.

The block and coarse-grid helpers they use (factors, block sums and means, coordinates) are the spine's,
in :mod:`eoxr.arrays`.
"""
from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from ..arrays import fine_coord, pixel_size
from ..attrs import require_dims
from ..errors import CRSError, GridError
from ..units import check_range

#: physical range of land surface temperature (K): the coldest polar night to the hottest desert, with margin
LST_RANGE_K = (150.0, 400.0)
#: range of the guides (NDVI, reflectance, emissivity: dimensionless)
GUIDE_RANGE = (-1.0, 1.0)


def spatial(da: xr.DataArray, what: str = "lst") -> xr.DataArray:
    """``da`` with dims ordered (..., y, x)."""
    require_dims(da, ("y", "x"), what)
    return da.transpose(..., "y", "x")


def checked_lst(lst: xr.DataArray, name: str = "lst") -> xr.DataArray:
    """``lst`` (K) once its values are checked to lie in :data:`LST_RANGE_K` (lazy on dask)."""
    return check_range(lst, *LST_RANGE_K, name=name)


def checked_guide(guide: xr.DataArray, name: str = "guide") -> xr.DataArray:
    """A guide (NDVI, reflectance or emissivity, 1) once its values are checked to lie in :data:`GUIDE_RANGE`."""
    return check_range(guide, *GUIDE_RANGE, name=name)


def crs_of(obj):
    try:
        return obj.rio.crs
    except Exception:  # noqa: BLE001  (rioxarray raises several kinds on odd grids)
        return None


def like(data, template: xr.DataArray, y: np.ndarray, x: np.ndarray, name: str, units: str,
         long_name: str, crs=None) -> xr.DataArray:
    """A DataArray on (template's leading dims, y, x) with CF attrs, the CRS of ``crs`` (default: the template's) and
    the template's x/y coordinate attributes."""
    from ..attrs import cf, georeference

    lead = {d: template[d] for d in template.dims[:-2] if d in template.coords}
    coords = dict(lead, y=("y", y), x=("x", x))
    out = xr.DataArray(data, dims=template.dims, coords=coords, name=name)
    for c in template.coords:  # scalar coords such as time
        if c not in out.coords and template[c].ndim == 0 and c != "spatial_ref":
            out = out.assign_coords({c: template[c]})
    return georeference(cf(out, units, long_name), crs, like=template)


def align_guide(guide: xr.DataArray, lst: xr.DataArray, factor: int) -> xr.DataArray:
    """``guide`` on the fine grid of ``lst`` (its grid refined ``factor`` times), as (..., y, x).

    A guide finer than the target by an integer ratio is block-averaged to it. Raises
    :class:`CRSError` for another CRS, :class:`GridError` for a coarser or shifted grid and
    :class:`~eoxr.errors.PhysicalRangeError` for values outside :data:`GUIDE_RANGE` (lazily on dask).
    """
    guide = checked_guide(spatial(guide, "guide"))
    c_lst, c_guide = crs_of(lst), crs_of(guide)
    if c_lst is not None and c_guide is not None and c_lst != c_guide:
        raise CRSError(
            f"guide is on CRS {c_guide.to_string()} but lst on {c_lst.to_string()}: reproject the guide with "
            f"guide.rio.reproject_match(...) onto the fine grid of the LST, or lst.rio.reproject(...)."
        )
    dx_t = abs(pixel_size(lst.x)) / factor
    dy_t = abs(pixel_size(lst.y)) / factor
    dx_g, dy_g = abs(pixel_size(guide.x)), abs(pixel_size(guide.y))
    if dx_g > dx_t * 1.001 or dy_g > dy_t * 1.001:
        raise GridError(
            f"guide pixels ({dx_g:g} x {dy_g:g}) are coarser than the target pixels ({dx_t:g} x {dy_t:g}) "
            f"of factor={factor}: pass a guide at {dx_t:g} CRS units or finer, or a smaller factor."
        )
    ratio = dx_t / dx_g
    m = int(round(ratio))
    if abs(ratio - m) > 1e-3 or abs(dy_t / dy_g - m) > 1e-3:
        raise GridError(
            f"guide pixel size {dx_g:g} does not divide the target pixel size {dx_t:g} by an integer: "
            "resample the guide onto the target grid with guide.rio.reproject_match(...)."
        )
    if m > 1:
        from .degrade import aggregate

        guide = aggregate(guide, m, domain="linear", min_valid=0.5)
    yf, xf = fine_coord(lst.y, factor), fine_coord(lst.x, factor)
    tol_x, tol_y = 0.05 * dx_t, 0.05 * dy_t
    try:
        out = guide.sel(x=xf, method="nearest", tolerance=tol_x).sel(y=yf, method="nearest", tolerance=tol_y)
    except KeyError as exc:
        raise GridError(
            f"guide grid does not contain the fine grid of the LST at factor={factor} (fine x from {xf[0]:g} "
            f"to {xf[-1]:g}, y from {yf[0]:g} to {yf[-1]:g}, spacing {dx_t:g}): guide pixels are shifted or do "
            "not cover the LST; resample with guide.rio.reproject_match(...)."
        ) from exc
    return out.assign_coords(x=xf, y=yf)
