"""City models from the rasters cities publish: surface heights and element classes on one grid.

Heights come as a DSM (ground, buildings; absolute, m) with a DEM (the ground), or as an nDSM (heights above the
ground) with an optional DEM; vegetation as a canopy height model (heights above the ground, as UMEP's CDSM),
which becomes the element "tree" where it rises above ``tree_height`` outside buildings, and raises the surface
there. Classes come from a land cover raster (``elements`` with ``element_names``; :data:`UMEP_LAND_COVER` for
UMEP's) or, without one, from thresholds: "roof" where the ground is ``building_height`` m below the surface,
"tree" from the canopy, ``ground`` elsewhere. Rasters on other grids, or on a grid that is not square (LiDAR
products often are, by a fraction of a millimetre per cell), are resampled onto one square grid of ``res`` m cells
whose edges fall on multiples of ``res`` (the grids of Sentinel-2 and Landsat): heights bilinear for the DEM,
nearest for the rest, classes nearest. Rasters in another CRS than the heights' (a raster without one is taken to
be in theirs), or grids that disagree without ``res``, raise an error that names the fix.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import CRSError, GridError, MissingVariableError
from ..units import convert

# UMEP land cover codes (Lindberg et al. 2018, Environ. Model. Softw. 99, 70-87): paved, buildings, evergreen
# trees, deciduous trees, grass, bare soil, water
UMEP_LAND_COVER = {1: "road", 2: "roof", 3: "tree", 4: "tree", 5: "grass", 6: "soil", 7: "water"}

Raster = str | Path | xr.DataArray


def open_raster(src: Raster, what: str, height: bool = True) -> xr.DataArray:
    """A single-band raster (y, x) as float with NaN for nodata; heights in m (converted where their ``units``
    say another length)."""
    import rioxarray

    if not isinstance(src, xr.DataArray):
        src = rioxarray.open_rasterio(src, masked=True)
    if "band" in src.dims:
        if src.sizes["band"] != 1:
            raise GridError(f"the {what} raster has {src.sizes['band']} bands: pass one (e.g. da.sel(band=1))")
        src = src.squeeze("band", drop=True)
    crs = src.rio.crs
    src = src.drop_vars([c for c in src.coords if c not in ("x", "y")]).astype(float)  # band, time labels
    if height:
        src = convert(src, "m", what=f"the {what} raster")
    return src.rio.write_crs(crs) if crs is not None else src


def _same_crs(rasters: dict[str, xr.DataArray]):
    """The CRS of the first raster (the heights), which the others without one are taken to share, or an error
    naming the ones that differ."""
    first = next(iter(rasters))
    crs = {k: v.rio.crs for k, v in rasters.items() if v.rio.crs is not None}
    if first not in crs:
        raise CRSError(f"the {first} raster has no CRS: set it with da.rio.write_crs('EPSG:....')")
    other = {k: c for k, c in crs.items() if c != crs[first]}
    if other:
        raise CRSError(f"the {first} raster is in {crs[first]} but {', '.join(f'{k} in {c}' for k, c in other.items())}"
                       f": reproject them onto one CRS (da.rio.reproject('{crs[first]}'))")
    return crs[first]


def _on_grid(a: xr.DataArray, b: xr.DataArray) -> bool:
    """Whether ``a`` and ``b`` have the same cells (to a thousandth of a cell: coordinates are large numbers)."""
    tol = 1e-3 * abs(float(a.x[1] - a.x[0]))
    return a.shape == b.shape and np.allclose(a.x, b.x, rtol=0, atol=tol) and np.allclose(a.y, b.y, rtol=0, atol=tol)


def _square(a: xr.DataArray) -> bool:
    dx, dy = np.diff(a.x.values), np.diff(a.y.values)
    return len(dx) > 0 and len(dy) > 0 and np.allclose(dx, dx[0]) and np.allclose(dy, -dx[0])


def _common_grid(rasters: dict[str, xr.DataArray], res: float, crs):
    """The shape and transform of the square grid of ``res`` m cells, edges on multiples of ``res``, inside every
    raster."""
    from affine import Affine

    bounds = np.array([v.rio.bounds() for v in rasters.values()])  # left, bottom, right, top
    left, bottom = np.ceil(bounds[:, 0].max() / res - 1e-6) * res, np.ceil(bounds[:, 1].max() / res - 1e-6) * res
    right, top = np.floor(bounds[:, 2].min() / res + 1e-6) * res, np.floor(bounds[:, 3].min() / res + 1e-6) * res
    nx, ny = int(round((right - left) / res)), int(round((top - bottom) / res))
    if nx < 2 or ny < 2:
        raise GridError(f"the rasters {list(rasters)} overlap on less than 2 x 2 cells of {res} m: pass rasters of "
                        "one area")
    return (ny, nx), Affine(res, 0.0, left, 0.0, -res, top)


def _resampled(rasters: dict[str, xr.DataArray], res: float | None, crs) -> dict[str, xr.DataArray]:
    """The rasters on one grid: as they are when they share a square one and ``res`` is None, else resampled
    (see module doc)."""
    from rasterio.enums import Resampling

    first = next(iter(rasters))
    if res is None:
        apart = [k for k, v in rasters.items() if not _on_grid(v, rasters[first])]
        if apart:
            raise GridError(f"the {', '.join(apart)} raster(s) are not on the grid of the {first} raster: pass res= "
                            "(m) to resample them all onto one square grid")
        if not _square(rasters[first]):
            raise GridError(f"the {first} raster's cells are {rasters[first].rio.resolution()} m, not square: pass "
                            "res= (m) to resample the rasters onto a square grid")
        return rasters
    shape, transform = _common_grid(rasters, float(res), crs)
    out = {}
    for k, v in rasters.items():
        how = Resampling.bilinear if k == "dem" else Resampling.nearest
        out[k] = v.rio.write_nodata(np.nan).rio.reproject(crs, shape=shape, transform=transform, resampling=how)
    return out


def city_rasters(dsm: Raster | None = None, elements: Raster | None = None, element_names: dict | None = None, *,
                 dem: Raster | None = None, ndsm: Raster | None = None, canopy: Raster | None = None,
                 res: float | None = None, building_height: float = 2.5, tree_height: float = 2.0,
                 ground: str = "road") -> tuple[xr.DataArray, xr.DataArray, dict[int, str]]:
    """The surface heights (m, with CRS), element codes and {code: name} of a city from its rasters (see module
    doc), for :class:`.city.City`."""
    if (dsm is None) == (ndsm is None):
        raise MissingVariableError("pass the heights as dsm= (with dem=, or elements=) or as ndsm=, one of them")
    if dsm is not None and dem is None and elements is None:
        raise MissingVariableError("a DSM alone does not tell buildings from the ground: pass dem= (the ground) or "
                                   "elements= with element_names= (the classes)")
    if canopy is not None and dsm is not None and dem is None:
        raise MissingVariableError("canopy heights are heights above the ground: pass dem= with them")
    if elements is not None and element_names is None:
        raise MissingVariableError("pass element_names={code: name} with elements= (e.g. eoxr.urban.rasters."
                                   "UMEP_LAND_COVER for UMEP land cover)")
    given = {"dsm": dsm, "ndsm": ndsm, "dem": dem, "canopy": canopy, "elements": elements}
    rasters = {k: open_raster(v, k, height=k != "elements") for k, v in given.items() if v is not None}
    crs = _same_crs(rasters)
    rasters = _resampled({k: v.rio.write_crs(crs) for k, v in rasters.items()}, res, crs)
    r = {k: v.values for k, v in rasters.items()}
    base = next(iter(rasters.values()))
    ground_z = r.get("dem", np.zeros(base.shape))
    above = r["ndsm"] if "ndsm" in r else r["dsm"] - ground_z
    surface = r["dsm"] if "dsm" in r else ground_z + np.nan_to_num(above)
    if "elements" in r:
        names = dict(element_names)
        codes = r["elements"]
    else:
        names = {0: ground, 1: "roof"}
        codes = np.where(above > building_height, 1.0, 0.0)
    if "canopy" in r:
        roof = [c for c, n in names.items() if n == "roof"]
        tree = next((c for c, n in names.items() if n == "tree"), max(names) + 1)
        names[tree] = "tree"
        trees = (r["canopy"] > tree_height) & ~np.isin(codes, roof)
        codes = np.where(trees, tree, codes)
        surface = np.where(trees, np.maximum(surface, ground_z + r["canopy"]), surface)
    z = base.copy(data=surface).assign_attrs(units="m", long_name="surface height").rio.write_crs(base.rio.crs)
    el = base.copy(data=np.where(np.isfinite(codes), codes, -1).astype(np.int32))
    present = set(np.unique(el.values).tolist())
    return z, el, {c: n for c, n in names.items() if c in present}
