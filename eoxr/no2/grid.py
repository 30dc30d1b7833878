"""S5P level-2 NO2 swaths -> a regular latitude/longitude grid, one layer per day, by area-weighted oversampling.

Each valid pixel's footprint (its four corners from ``latitude_bounds`` / ``longitude_bounds`` when the granule
has them, else the midpoints between neighbouring pixel centres) is intersected with the grid cells it
overlaps (polygon geometry by shapely); a cell's column is the mean of the pixels' columns weighted by the
area each shares with the cell (Sun et al., 2018, Atmos. Meas. Tech., doi:10.5194/amt-11-6679-2018),
so the area-weighted total of the swath is kept: sum over cells of column x covered area equals the sum over
pixels of column x footprint area. Per cell and day: ``count`` of valid pixels overlapping it, the
``footprint_area`` they cover (m2), and ``no2_column_std`` (from the pixels' precision, independent errors).

Granules are gridded lazily, one Dask task each; the days sum their granules' weighted sums.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..arrays import as_float, check_real
from ..attrs import cf, georeference, require, stamp
from ..errors import GridError, MissingVariableError, NoDataError, ParameterError
from ..units import check_range, convert

EARTH_RADIUS_M = 6_371_000.0
COLUMN_RANGE = (-0.01, 0.1)  # mol m-2: tropospheric NO2 columns (a column in molec cm-2 mislabelled is ~1e15)
#: the planes each granule's task returns: sum of w V, sum of w, count, sum of w2 sigma2
PLANES = ("weighted_column", "weight", "count", "weighted_variance")


def _cell_edges(bounds, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """Longitude edges (west to east) and latitude edges (north to south) of the grid."""
    west, south, east, north = bounds
    lon = west + resolution * np.arange(int(round((east - west) / resolution)) + 1)
    lat = north - resolution * np.arange(int(round((north - south) / resolution)) + 1)
    return lon, lat


def _snapped_bounds(granules, resolution: float) -> tuple[float, float, float, float]:
    """The granules' extent (pixel centres), widened to whole cells of ``resolution`` degrees."""
    lats, lons = [], []
    for g in granules:
        lat, lon = g["latitude"].data, g["longitude"].data
        if not (isinstance(lat, np.ndarray) and isinstance(lon, np.ndarray)):
            raise ParameterError("the granules' latitude/longitude are lazy: pass bounds=(west, south, east, north) "
                                 "so that the grid is known without reading them")
        if not (np.isfinite(lat).any() and np.isfinite(lon).any()):
            raise NoDataError("a granule has no finite latitude/longitude: leave it out, or pass bounds")
        lats.append(np.nanmin(lat)), lats.append(np.nanmax(lat))
        lons.append(np.nanmin(lon)), lons.append(np.nanmax(lon))
    snap = lambda v, f: float(f(np.asarray(v) / resolution) * resolution)
    return snap(min(lons), np.floor), snap(min(lats), np.floor), snap(max(lons), np.ceil), snap(max(lats), np.ceil)


def corners_from_centres(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel corners (scanline, ground_pixel, 4), counter-clockwise, as the midpoints of the neighbouring centres
    (edges extrapolated linearly): for granules without ``latitude_bounds`` / ``longitude_bounds``."""
    def corner_grid(c):
        padded = np.pad(c, 1, mode="reflect", reflect_type="odd")  # linear extrapolation by one pixel
        return 0.25 * (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:])

    def per_pixel(k):
        return np.stack([k[:-1, :-1], k[:-1, 1:], k[1:, 1:], k[1:, :-1]], axis=-1)

    return per_pixel(corner_grid(lat)), per_pixel(corner_grid(lon))


def _footprints(granule: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) corners of every pixel, (scanline, ground_pixel, 4)."""
    if "latitude_bounds" in granule.coords and "longitude_bounds" in granule.coords:
        return (np.asarray(granule["latitude_bounds"].transpose("scanline", "ground_pixel", ...).values),
                np.asarray(granule["longitude_bounds"].transpose("scanline", "ground_pixel", ...).values))
    if min(granule.sizes["scanline"], granule.sizes["ground_pixel"]) < 2:
        raise GridError(f"a swath of {granule.sizes['scanline']} x {granule.sizes['ground_pixel']} pixels without "
                        "latitude_bounds/longitude_bounds has no footprint to derive from its centres: give it "
                        "the pixel corners, or at least 2 x 2 pixels")
    return corners_from_centres(np.asarray(granule["latitude"].values, "f8"),
                                np.asarray(granule["longitude"].values, "f8"))


def _pairs(lat_c: np.ndarray, lon_c: np.ndarray, lon_edges, lat_edges, resolution: float):
    """(pixel, row, col) of every cell each footprint's bounding box touches."""
    col0 = np.floor((lon_c.min(axis=1) - lon_edges[0]) / resolution).astype(int)
    col1 = np.floor((lon_c.max(axis=1) - lon_edges[0]) / resolution).astype(int)
    row0 = np.floor((lat_edges[0] - lat_c.max(axis=1)) / resolution).astype(int)
    row1 = np.floor((lat_edges[0] - lat_c.min(axis=1)) / resolution).astype(int)
    pixels, rows, cols = [], [], []
    for dr in range(int((row1 - row0).max(initial=0)) + 1):
        for dc in range(int((col1 - col0).max(initial=0)) + 1):
            r, c = row0 + dr, col0 + dc
            keep = (r <= row1) & (c <= col1) & (r >= 0) & (c >= 0) & (r < len(lat_edges) - 1) & \
                (c < len(lon_edges) - 1)
            pixels.append(np.nonzero(keep)[0]), rows.append(r[keep]), cols.append(c[keep])
    return np.concatenate(pixels), np.concatenate(rows), np.concatenate(cols)


def oversample(column, std, valid, lat_corners, lon_corners, lon_edges, lat_edges, resolution: float) -> np.ndarray:
    """The planes :data:`PLANES` (4, rows, cols) of one granule's valid pixels on the grid; weights are the
    footprint-cell intersection areas in square degrees (a cell's mean needs no cos(lat): it is one per cell)."""
    import shapely

    shape = (len(lat_edges) - 1, len(lon_edges) - 1)
    out = np.zeros((len(PLANES), *shape))
    keep = valid.ravel() & np.isfinite(lat_corners.reshape(-1, 4)).all(1) & np.isfinite(
        lon_corners.reshape(-1, 4)).all(1)
    if not keep.any():
        return out
    lat_c, lon_c = lat_corners.reshape(-1, 4)[keep], lon_corners.reshape(-1, 4)[keep]
    values, sigma = column.ravel()[keep], std.ravel()[keep]
    polygons = shapely.polygons(np.stack([lon_c, lat_c], axis=-1))
    pixel, row, col = _pairs(lat_c, lon_c, lon_edges, lat_edges, resolution)
    cells = shapely.box(lon_edges[col], lat_edges[row + 1], lon_edges[col + 1], lat_edges[row])
    weight = shapely.area(shapely.intersection(polygons[pixel], cells))
    overlap = weight > 0
    flat = row * shape[1] + col
    size = shape[0] * shape[1]
    for k, plane in enumerate((weight * values[pixel], weight, overlap.astype("f8"),
                               weight ** 2 * np.nan_to_num(sigma[pixel] ** 2, nan=0.0))):
        out[k] = np.bincount(flat, weights=plane, minlength=size).reshape(shape)
    return out


def _granule_arrays(granule: xr.Dataset, qa_min: float | None):
    """Columns (mol m-2), their std and the valid mask of a granule, (scanline, ground_pixel)."""
    column = granule["no2_column"].copy(data=as_float(check_real(granule["no2_column"].data, "no2_column")))
    column = convert(column, "mol m-2", what="no2_column")
    column = check_range(column, *COLUMN_RANGE, name="no2_column")
    std = granule["no2_column_std"] if "no2_column_std" in granule else xr.full_like(column, np.nan)
    std = convert(std, "mol m-2", what="no2_column_std") if "units" in std.attrs else std
    valid = np.isfinite(column)
    if qa_min is not None:
        valid = valid & (granule["qa"] >= qa_min - 1e-6)  # qa is stored in steps of 0.01
    order = ("scanline", "ground_pixel")
    return [a.transpose(*order).data for a in (column, std, valid)]


def _checked(granules, qa_min, resolution) -> list[xr.Dataset]:
    granules = [granules] if isinstance(granules, xr.Dataset) else list(granules)
    if not granules:
        raise ParameterError("no granule given: pass a swath Dataset (eoxr.io.open_product) or a list of them")
    if not (np.isfinite(resolution) and 0 < resolution <= 10):
        raise ParameterError(f"resolution={resolution}: give the cell size in degrees, e.g. 0.05")
    if qa_min is not None and not 0 <= qa_min <= 1:
        raise ParameterError(f"qa_min={qa_min}: S5P qa_value runs from 0 to 1 (0.75 for tropospheric columns)")
    for i, g in enumerate(granules):
        require(g, ("no2_column", "latitude", "longitude"), f"granule {i} ({g.attrs.get('source', 'no name')})")
        if qa_min is not None and "qa" not in g:
            raise MissingVariableError(f"granule {i} has no 'qa' to filter with qa_min={qa_min}: pass qa_min=None "
                                       "if its columns are already filtered")
        if g["no2_column"].size == 0:
            raise NoDataError(f"granule {i} has no pixel (its sizes are {dict(g.sizes)}): leave it out")
        if set(g["no2_column"].dims) != {"scanline", "ground_pixel"}:
            raise GridError(f"granule {i}'s no2_column has dims {g['no2_column'].dims}, not (scanline, "
                            "ground_pixel): grid swaths as eoxr.io.open_product reads them")
    return granules


def _day(granule: xr.Dataset) -> np.datetime64:
    for name in ("time", "scan_time"):
        if name in granule.coords and np.issubdtype(granule[name].dtype, np.datetime64):
            return np.datetime64(pd.Timestamp(np.asarray(granule[name].values).ravel()[0]).normalize(), "ns")
    raise MissingVariableError("a granule has no 'time' or 'scan_time' coordinate: the day of each layer comes "
                               "from it; assign one (granule.assign_coords(time=...))")


def grid(granules: xr.Dataset | Sequence[xr.Dataset], *, resolution: float = 0.05, qa_min: float | None = 0.75,
         bounds: tuple[float, float, float, float] | None = None) -> xr.Dataset:
    """S5P L2 NO2 granules (swaths) on a regular latitude/longitude grid, one layer per day (lazy).

    Parameters
    ----------
    granules : xarray.Dataset or sequence of them
        Swaths as :func:`eoxr.io.open_product` reads them: ``no2_column`` (mol m-2; molec cm-2 is converted, an
        unknown unit refused), ``qa``, ``latitude``/``longitude`` (and ``latitude_bounds``/``longitude_bounds``
        when present) on (scanline, ground_pixel), a ``time`` or ``scan_time`` coordinate; optionally
        ``no2_column_std``.
    resolution : float
        Cell size in degrees.
    qa_min : float or None
        Pixels with ``qa`` below this are left out (None: no filter).
    bounds : tuple, optional
        (west, south, east, north) in degrees; default: the granules' extent in whole cells.

    Returns
    -------
    xarray.Dataset
        On (time, y, x), EPSG:4326, one layer per day: ``no2_column`` (mol m-2, area-weighted mean; NaN where no
        pixel), ``no2_column_std`` (mol m-2), ``count`` of valid pixels overlapping each cell, ``footprint_area``
        (m2 of the cell those pixels cover).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> lat, lon = np.meshgrid(np.linspace(50, 51, 8), np.linspace(4, 5, 6), indexing="ij")
    >>> swath = xr.Dataset({"no2_column": (("scanline", "ground_pixel"), np.full((8, 6), 5e-5),
    ...                                    {"units": "mol m-2"})},
    ...                    coords={"latitude": (("scanline", "ground_pixel"), lat),
    ...                            "longitude": (("scanline", "ground_pixel"), lon),
    ...                            "time": np.datetime64("2021-12-17T12:00")})
    >>> day = grid(swath, resolution=0.25, qa_min=None)
    >>> day["no2_column"].dims, day.sizes["time"], float(day["no2_column"].max().round(7))
    (('time', 'y', 'x'), 1, 5e-05)
    """
    granules = _checked(granules, qa_min, resolution)
    bounds = tuple(bounds) if bounds is not None else _snapped_bounds(granules, resolution)
    lon_edges, lat_edges = _cell_edges(bounds, resolution)
    if len(lon_edges) < 2 or len(lat_edges) < 2:
        raise ParameterError(f"bounds={bounds} hold no cell of {resolution} degrees: give (west, south, east, north)")
    days = _per_day(granules, qa_min, lon_edges, lat_edges, resolution)
    return _dataset(days, lon_edges, lat_edges, resolution, qa_min, granules)


def _per_day(granules, qa_min, lon_edges, lat_edges, resolution) -> dict:
    """{day: lazy planes (4, rows, cols)}, each the sum of its granules' tasks."""
    import dask
    import dask.array as dsa

    task = dask.delayed(oversample, pure=True)
    shape = (len(PLANES), len(lat_edges) - 1, len(lon_edges) - 1)
    days: dict = {}
    for g in granules:
        column, std, valid = _granule_arrays(g, qa_min)
        lat_c, lon_c = _footprints(g)
        planes = dsa.from_delayed(task(column, std, valid, lat_c, lon_c, lon_edges, lat_edges, resolution),
                                  shape, dtype="f8")
        day = _day(g)
        days[day] = days[day] + planes if day in days else planes
    return dict(sorted(days.items()))


def _dataset(days: dict, lon_edges, lat_edges, resolution, qa_min, granules) -> xr.Dataset:
    import dask.array as dsa

    planes = dsa.stack(list(days.values()))
    weighted, weight, count, variance = (planes[:, k] for k in range(len(PLANES)))
    covered = weight > 0
    lat = 0.5 * (lat_edges[1:] + lat_edges[:-1])
    to_m2 = (EARTH_RADIUS_M * np.pi / 180) ** 2 * np.cos(np.deg2rad(lat))[:, None]
    dims = ("time", "y", "x")
    coords = {"time": list(days), "y": lat, "x": 0.5 * (lon_edges[1:] + lon_edges[:-1])}
    safe = dsa.where(covered, weight, 1.0)
    out = xr.Dataset({
        "no2_column": cf(xr.DataArray(dsa.where(covered, weighted / safe, np.nan), coords, dims), "mol m-2",
                         "tropospheric vertical column of NO2 (area-weighted mean of the pixels)",
                         "troposphere_mole_content_of_nitrogen_dioxide"),
        "no2_column_std": cf(xr.DataArray(dsa.where(covered, dsa.sqrt(variance) / safe, np.nan), coords, dims),
                             "mol m-2", "standard error of the gridded column (independent pixel errors)"),
        "count": cf(xr.DataArray(count.astype("i4"), coords, dims), "1", "valid pixels overlapping the cell"),
        "footprint_area": cf(xr.DataArray(weight * to_m2, coords, dims), "m2",
                             "area of the cell covered by valid pixels (summed over pixels)"),
    })
    out = georeference(out, "EPSG:4326")
    return stamp(out, "no2.grid", made_from=granules, resolution=resolution, qa_min=qa_min)
