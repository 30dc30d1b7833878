"""VIIRS Black Marble night lights (VNP46A1/VNP46A2 HDF5-EOS tiles) -> lazy Dataset on EPSG:4326.

Black Marble tiles are 10 deg x 10 deg on a geographic grid of 15 arc-second pixels (2400 x 2400).
Román et al. (2018), "NASA's Black Marble nighttime lights product suite", Remote Sensing of
Environment 210, 113-143, doi:10.1016/j.rse.2018.03.017.
"""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine

from ...attrs import georeference, stamp
from ...errors import MissingVariableError, ReadError
from .lazy import HDF5Dataset, chunks_for, decode, to_dask
from .sinusoidal import dms_packed_to_degrees

#: file field -> (output name, units, long_name, is a flag)
_FIELDS = {
    "DNB_BRDF-Corrected_NTL": ("ntl_radiance", "nW cm-2 sr-1", "BRDF-corrected DNB night-time radiance", False),
    "Gap_Filled_DNB_BRDF-Corrected_NTL": ("ntl_radiance_gap_filled", "nW cm-2 sr-1",
                                          "gap-filled BRDF-corrected DNB night-time radiance", False),
    "DNB_Lunar_Irradiance": ("lunar_irradiance", "nW cm-2", "lunar irradiance", False),
    "Latest_High_Quality_Retrieval": ("days_since_high_quality", "day",
                                      "days since the latest high-quality retrieval", False),
    "Mandatory_Quality_Flag": ("qa", "1", "mandatory quality flag (0 high quality persistent, 1 high quality "
                                          "ephemeral, 2 poor quality, 255 fill)", True),
    "QF_Cloud_Mask": ("cloud_mask", "1", "VIIRS cloud mask quality bits", True),
    "Snow_Flag": ("snow_flag", "1", "snow/ice flag (0 no, 1 snow/ice)", True),
}
_DATA_FIELDS = "HDFEOS/GRIDS/VNP_Grid_DNB/Data Fields"


def _text(value) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode(errors="replace").strip()
    return str(value).strip()


def _scalar(value, default):
    if value is None:
        return default
    return float(np.asarray(value).reshape(-1)[0])


def open_black_marble(path, chunks=None) -> xr.Dataset:
    """Open a VNP46A1/VNP46A2 tile: ``ntl_radiance`` (nW cm-2 sr-1), its gap-filled version, ``qa``...

    Grid from ``StructMetadata.0`` (HE5_GCTP_GEO corners in packed DMS); pixel centres in degrees;
    fill (65535) -> NaN; ``time`` from RangeBeginningDate.
    """
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ReadError(f"{path}: HDF5 library cannot open the file ({exc}); it is damaged. Re-download it.") from exc
    with f:
        if _DATA_FIELDS not in f or "HDFEOS INFORMATION/StructMetadata.0" not in f:
            raise MissingVariableError(
                f"{path}: no {_DATA_FIELDS} group or StructMetadata.0; not a Black Marble VNP46 tile. "
                "Pass a VNP46A1/VNP46A2 HDF5 file from LAADS DAAC."
            )
        text = _text(f["HDFEOS INFORMATION/StructMetadata.0"][()])
        ul = re.search(r"UpperLeftPointMtrs=\(([^)]*)\)", text)
        lr = re.search(r"LowerRightMtrs=\(([^)]*)\)", text)
        nx, ny = int(re.search(r"XDim=(\d+)", text).group(1)), int(re.search(r"YDim=(\d+)", text).group(1))
        west, north = (dms_packed_to_degrees(float(v)) for v in ul.group(1).split(","))
        east, south = (dms_packed_to_degrees(float(v)) for v in lr.group(1).split(","))
        dx, dy = (east - west) / nx, (south - north) / ny
        data_vars = {}
        group = f[_DATA_FIELDS]
        for field, (name, units, long_name, flag) in _FIELDS.items():
            if field not in group:
                continue
            ds = group[field]
            raw = to_dask(HDF5Dataset(str(path), f"{_DATA_FIELDS}/{field}", ds.shape, ds.dtype),
                          chunks_for(ds.shape, chunks))
            fill = ds.attrs.get("_FillValue")
            if flag:
                values = raw
            else:
                scale = _scalar(ds.attrs.get("scale_factor"), 1.0)
                offset = _scalar(ds.attrs.get("offset", ds.attrs.get("add_offset")), 0.0)
                values = decode(raw, scale=scale, offset=offset, fill=_scalar(fill, None) if fill is not None else None)
            data_vars[name] = (("y", "x"), values, {"units": units, "long_name": long_name, "source_dataset": field})
        if "ntl_radiance" not in data_vars:
            raise MissingVariableError(
                f"{path}: lacks DNB_BRDF-Corrected_NTL; this is a VNP46A1 (at-sensor) tile or a subset. "
                "Use VNP46A2 for BRDF-corrected night lights."
            )
        when = _text(f.attrs.get("RangeBeginningDate", b""))
        h, v = (_text(f.attrs.get(k, b"")).zfill(2) for k in ("HorizontalTileNumber", "VerticalTileNumber"))
        tile = f"h{h}v{v}"
        short = _text(f.attrs.get("ShortName", b"VNP46"))
    x = west + (np.arange(nx) + 0.5) * dx
    y = north + (np.arange(ny) + 0.5) * dy
    out = xr.Dataset(data_vars, coords={
        "x": ("x", x, {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude", "axis": "X"}),
        "y": ("y", y, {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude", "axis": "Y"}),
    })
    if when:
        out = out.assign_coords(time=((), np.datetime64(when, "ns"), {"long_name": "observation day (UTC)"}))
    out.attrs.update(product=short, tile=tile, source=Path(path).name)
    out = georeference(out, "EPSG:4326")
    out = out.rio.write_transform(Affine(dx, 0.0, west, 0.0, dy, north))
    return stamp(out, "eoxr.io.open_product", path=Path(path).name)
