"""The pivot grid and the reprojection of every sensor onto it, with odc-geo (GDAL warp underneath).

The pivot grid is the area every sensor covers, in one CRS, with square cells of the asked resolution whose
edges fall on multiples of it. A fine sensor goes straight to it: ``average`` resampling where its pixels are
smaller than the pivot's (a pivot cell is the mean of the pixels in it, so the mean over an area is kept),
``bilinear`` where they are larger. A coarse sensor is first put on a grid of its own resolution in the pivot
CRS (``average``), and upsampled to the pivot grid by bilinear interpolation in the fusion (:func:`upsample`).
"""
from __future__ import annotations

import math

import numpy as np
import xarray as xr
from odc.geo import CRS, geom
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords, xr_reproject

from ..errors import CRSError, GridError, ParameterError

#: metres per degree along a meridian, to compare the pixel size of a geographic grid with a projected one
_METRES_PER_DEGREE = 111_320.0


def crs_of(cube: xr.Dataset, sensor: str):
    """The CRS of a sensor's cube (rioxarray's ``spatial_ref``), or a :class:`CRSError` naming the fix."""
    import rioxarray  # noqa: F401  (registers .rio)

    crs = cube.rio.crs
    if crs is None:
        raise CRSError(f"cube {sensor!r} has no CRS: write it with cube.rio.write_crs('EPSG:....') before fusing")
    return CRS(crs.to_wkt())


def _x_step(cube: xr.Dataset) -> float:
    if cube.sizes.get("x", 0) < 2:
        raise GridError(f"a cube needs at least 2 pixels along x to give its pixel size; it has {cube.sizes}: "
                        "fuse a larger area")
    return float(abs(cube.x[1] - cube.x[0]))


def pixel_size_m(cube: xr.Dataset, crs) -> float:
    """The pixel size of a cube in metres (its x spacing; degrees converted at the equator's scale)."""
    step = _x_step(cube)
    return step * _METRES_PER_DEGREE if crs.geographic else step


def footprint(cube: xr.Dataset, crs) -> geom.Geometry:
    """The area a cube's pixels cover (their outer edges), as a polygon in its CRS."""
    half_x = _x_step(cube) / 2
    half_y = abs(float(cube.y[1] - cube.y[0])) / 2 if cube.sizes["y"] > 1 else half_x
    x, y = cube.x.values, cube.y.values
    return geom.box(x.min() - half_x, y.min() - half_y, x.max() + half_x, y.max() + half_y, crs)


def pivot_grid(cubes: dict[str, xr.Dataset], crs, resolution: float) -> GeoBox:
    """The grid of the cells of ``resolution`` (CRS units) in ``crs`` over the area every cube covers.

    Raises :class:`GridError` naming the sensors when their footprints do not overlap.
    """
    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution) and resolution > 0):
        raise ParameterError(f"resolution must be a positive number of the CRS's units (metres), not {resolution!r}")
    common = None
    for sensor, cube in cubes.items():
        area = footprint(cube, crs_of(cube, sensor)).to_crs(crs)
        common = area if common is None else common.intersection(area)
        if common.is_empty or common.area <= 0:
            raise GridError(f"cube {sensor!r} does not overlap the area the sensors before it ({list(cubes)}) "
                            "cover: give cubes of one area, or clip them to their common extent")
    return GeoBox.from_bbox(common.boundingbox, crs, resolution=resolution, tight=False)


def coarse_grid(pivot: GeoBox, resolution: float) -> GeoBox:
    """A grid of ``resolution`` in the pivot's CRS that covers the pivot grid with one coarse cell to spare on
    each side (bilinear upsampling needs a neighbour beyond the pivot's edge)."""
    bounds = pivot.boundingbox
    pad = resolution
    bbox = (bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad)
    return GeoBox.from_bbox(bbox, pivot.crs, resolution=resolution, tight=False)


def reproject(da: xr.DataArray, grid: GeoBox, resampling: str, chunks: dict | None = None) -> xr.DataArray:
    """``da`` (..., y, x) warped onto ``grid`` with ``resampling``; NaN stays nodata. Data whose pixels are the
    grid's cells (same CRS, size and edges) are selected, not warped. Dask data stay lazy, in output tiles of
    ``chunks`` (``{"y": ny, "x": nx}``, -1 for the whole axis; default: the whole grid)."""
    src = da.astype("f4") if da.dtype != np.float32 else da
    if _same_cells(src, grid):
        coords = xr_coords(grid)
        return src.reindex(y=coords["y"].values, x=coords["x"].values, method="nearest",
                           tolerance=abs(grid.resolution.x) / 100).assign_coords(spatial_ref=coords["spatial_ref"])
    tiles = {}
    if src.chunks:
        ny, nx = grid.shape
        chunks = chunks or {}
        tiles["chunks"] = tuple(n if chunks.get(d, -1) in (-1, None) else min(chunks[d], n)
                                for d, n in (("y", ny), ("x", nx)))
    out = xr_reproject(src, grid, resampling=resampling, dst_nodata=np.nan, **tiles)
    return out.rename({"latitude": "y", "longitude": "x"}) if "latitude" in out.dims else out


def upsample(coarse: xr.DataArray, grid: GeoBox, chunks: dict | None = None) -> xr.DataArray:
    """``coarse`` (on a :func:`coarse_grid` of ``grid``, same CRS) interpolated bilinearly to the cells of
    ``grid``: one separable interpolation for every time and band at once, rather than a warp per image."""
    coords = xr_coords(grid)
    if coarse.chunks:
        coarse = coarse.chunk({"y": -1, "x": -1})
    fine = coarse.interp(y=coords["y"].values, x=coords["x"].values, method="linear")
    if fine.chunks and chunks:
        fine = fine.chunk({d: chunks[d] for d in ("y", "x") if d in chunks})
    return fine.assign_coords(spatial_ref=coords["spatial_ref"])


def _same_cells(da: xr.DataArray, grid: GeoBox) -> bool:
    """Whether the pixels of ``da`` are cells of ``grid``: one CRS, one pixel size, edges on the grid's."""
    if da.sizes.get("x", 0) < 2 or da.sizes.get("y", 0) < 2 or crs_of(da, "data") != grid.crs:
        return False
    step_x, step_y = float(da.x[1] - da.x[0]), float(da.y[1] - da.y[0])
    res_x, res_y = grid.resolution.x, grid.resolution.y
    tol = abs(res_x) / 100
    coords = xr_coords(grid)
    offset_x = (float(da.x[0]) - float(coords["x"][0])) / res_x
    offset_y = (float(da.y[0]) - float(coords["y"][0])) / res_y
    return (abs(step_x - res_x) < tol and abs(step_y - res_y) < tol and abs(offset_x - round(offset_x)) < 0.01
            and abs(offset_y - round(offset_y)) < 0.01)


def resampling_to(native_m: float, target_m: float) -> str:
    """``average`` when pixels of ``native_m`` are merged into cells of ``target_m``, ``bilinear`` when split."""
    return "average" if native_m <= target_m * 1.001 else "bilinear"
