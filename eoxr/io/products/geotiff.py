"""GeoTIFFs (already georeferenced) -> lazy Dataset through rioxarray, with CF attributes.

MODIStsp vegetation-index outputs (``<PRODUCT>_NDVI_<YYYY>_<DOY>.tif``, Busetto & Ranghetti 2016,
Computers & Geosciences 97, 40-48, doi:10.1016/j.cageo.2016.08.020) are recognised by name: the
variable is ``ndvi``; integer files hold NDVI x 10000 (the MOD13 storage) and are divided back,
float files are already NDVI; ``time`` comes from the year and day-of-year in the name.
"""
from __future__ import annotations

import re
import datetime as dt
from pathlib import Path

import numpy as np
import rioxarray
import xarray as xr

from ...attrs import georeference, stamp
from ...errors import ParameterError, ReadError


def _variable_name(path: Path, coords) -> str:
    """The file stem in snake_case, prefixed where it starts with a digit or is a coordinate's name (x.tif)."""
    name = re.sub(r"[^0-9a-z]+", "_", path.stem.lower()).strip("_")
    return name if name and not name[0].isdigit() and name not in coords else f"band_data_{name}"


MODISTSP_VI = re.compile(r"^(M[OY]D13\w+)_(NDVI|EVI)_(\d{4})_(\d{3})\.tiff?$", re.I)


def _modistsp_vi(da: xr.DataArray, match: re.Match) -> tuple[xr.DataArray, str]:
    """MODIStsp NDVI/EVI GeoTIFF -> index (1) with its date; int16 storage is index x 10000."""
    index = match.group(2).lower()
    if np.issubdtype(np.dtype(da.encoding.get("rasterio_dtype", da.dtype)), np.integer):
        da = da * 1e-4
    when = dt.datetime.strptime(match.group(3) + match.group(4), "%Y%j")
    da = da.assign_coords(time=((), np.datetime64(when, "ns"), {"long_name": "first day of the composite"}))
    long_name = {"ndvi": "normalized difference vegetation index", "evi": "enhanced vegetation index"}[index]
    return da.assign_attrs(units="1", long_name=f"{long_name} ({match.group(1).upper()}, MODIStsp)"), index


def open_geotiff(path, chunks=None, name: str | None = None) -> xr.Dataset:
    """Open a GeoTIFF lazily (rioxarray, ``mask_and_scale=True``: nodata -> NaN, scales applied).

    The variable is ``name`` (default: the file stem in snake_case) on (band, y, x). ``units`` is the
    file's own unit tag; files that declare none get ``units="1"`` and a ``comment`` saying so, since
    plain GeoTIFFs carry no physical unit.
    """
    path = Path(path)
    try:
        da = rioxarray.open_rasterio(path, chunks=chunks or {"band": 1, "y": 2048, "x": 2048}, mask_and_scale=True)
    except Exception as exc:  # rasterio raises RasterioIOError and friends
        raise ReadError(f"{path}: GDAL cannot read this GeoTIFF ({exc}); it is damaged. Re-download it.") from exc
    if da.rio.crs is None:
        raise ReadError(f"{path}: the GeoTIFF has no CRS; set one with gdal_edit.py -a_srs EPSG:XXXX {path.name}.")
    declared = [u for u in (da.attrs.get("units"),) if u]
    long_name = da.attrs.get("long_name")
    if isinstance(long_name, (tuple, list)):
        long_name = ", ".join(str(v) for v in long_name if v) or None
    attrs = dict(units=declared[0] if declared else "1", long_name=long_name or path.stem)
    if not declared:
        attrs["comment"] = "the file declares no unit; values are as stored (after any scale/offset tags)"
    da = da.assign_attrs(attrs)
    vi = MODISTSP_VI.match(path.name)
    if vi:
        da, default_name = _modistsp_vi(da, vi)
        da.attrs.pop("comment", None)
    else:
        default_name = _variable_name(path, da.coords)
    if name in da.coords:
        raise ParameterError(f"name={name!r} is a coordinate of the GeoTIFF's grid {list(da.coords)}: pick another")
    ds = georeference(da.to_dataset(name=name or default_name))
    ds.attrs.update(source=path.name)
    return stamp(ds, "eoxr.io.open_product", path=path.name)
