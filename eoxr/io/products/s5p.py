"""Sentinel-5P TROPOMI level-2 NO2 (netCDF4, group ``PRODUCT``) -> lazy Dataset on the swath.

van Geffen et al. (2020), "S5P TROPOMI NO2 slant column retrieval: method, stability, uncertainties
and comparisons with OMI", AMT 13, 1315-1335, doi:10.5194/amt-13-1315-2020; quality advice
(qa_value > 0.75 for tropospheric columns) from the S5P NO2 Product User Manual (Eskes et al.,
S5P-KNMI-L2-0021-MA).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ...attrs import georeference, stamp
from ...errors import MissingVariableError, ReadError
from .gpm import SWATH_NOTE

NO2 = "nitrogendioxide_tropospheric_column"
REQUIRED = (NO2, f"{NO2}_precision", "qa_value", "latitude", "longitude")


def open_s5p_no2(path, qa_min: float | None = 0.75, chunks=None) -> xr.Dataset:
    """Open an S5P L2 NO2 granule: ``no2_column`` and ``no2_column_std`` (mol m-2), ``qa`` (0..1).

    ``qa_min``: pixels with ``qa < qa_min`` are NaN in ``no2_column`` / ``no2_column_std``
    (default 0.75, the Product User Manual's advice for tropospheric columns; ``None`` keeps all).
    ``qa`` itself is never masked. Dims ``scanline`` (along track) and ``ground_pixel`` (across),
    ``latitude``/``longitude`` as 2-D coordinates, ``scan_time`` per scanline, ``time`` the granule's
    reference time. Pixel corners (SUPPORT_DATA/GEOLOCATIONS) become ``latitude_bounds`` /
    ``longitude_bounds`` when present.
    """
    if qa_min is not None and not 0.0 <= qa_min <= 1.0:
        raise ReadError(f"qa_min={qa_min!r}: S5P qa_value runs from 0 to 1; pass a number in that range or None.")
    try:
        product = xr.open_dataset(path, group="PRODUCT", engine="h5netcdf", chunks=chunks or {},
                                  decode_timedelta=False)
    except OSError as exc:
        raise ReadError(
            f"{path}: cannot open group PRODUCT ({exc}); the file is damaged or not an S5P L2 product. "
            "Re-download it from the Copernicus Data Space."
        ) from exc
    missing = [v for v in REQUIRED if v not in product.variables]
    if missing:
        raise MissingVariableError(
            f"{path}: PRODUCT group lacks {missing}; this is not an S5P L2 NO2 file (or a reduced subset). "
            "Download the full OFFL/RPRO L2__NO2___ granule."
        )
    product = product.isel(time=0) if "time" in product[NO2].dims else product
    column = product[NO2]
    qa = product["qa_value"]
    # qa is stored as uint8 counts of 0.01: compare with a tolerance below float rounding of n * 0.01
    keep = (qa >= qa_min - 1e-6) if qa_min is not None else None

    def masked(da: xr.DataArray) -> xr.DataArray:
        return da.where(keep) if keep is not None else da

    conversion = column.attrs.get("multiplication_factor_to_convert_to_molecules_percm2")
    data_vars = {
        "no2_column": masked(column).assign_attrs(
            units="mol m-2", long_name="tropospheric vertical column of NO2",
            standard_name="troposphere_mole_content_of_nitrogen_dioxide", source_dataset=f"PRODUCT/{NO2}",
            **({"multiplication_factor_to_convert_to_molecules_percm2": conversion} if conversion else {})),
        "no2_column_std": masked(product[f"{NO2}_precision"]).assign_attrs(
            units="mol m-2", long_name="standard error of the tropospheric NO2 column",
            source_dataset=f"PRODUCT/{NO2}_precision"),
        "qa": qa.assign_attrs(units="1", long_name="quality assurance value (0 bad .. 1 best)",
                              source_dataset="PRODUCT/qa_value"),
    }
    for name, da in data_vars.items():
        da.attrs.pop("_FillValue", None)
        for key in ("coordinates", "ancillary_variables"):
            da.attrs.pop(key, None)
    # coordinates are read now, from a dask-free view of the file, so that opening never computes
    with xr.open_dataset(path, group="PRODUCT", engine="h5netcdf", decode_timedelta=False) as plain:
        plain = plain.isel(time=0) if "time" in plain[NO2].dims else plain
        geo = {k: plain[k].load() for k in ("latitude", "longitude", "time_utc") if k in plain.variables}
    coords = {
        "latitude": geo["latitude"].assign_attrs(units="degrees_north", standard_name="latitude",
                                                 long_name="latitude of the pixel centre"),
        "longitude": geo["longitude"].assign_attrs(units="degrees_east", standard_name="longitude",
                                                   long_name="longitude of the pixel centre"),
    }
    out = xr.Dataset(data_vars).reset_coords(drop=True).assign_coords(coords)
    if "time_utc" in geo:
        stamps = np.asarray(geo["time_utc"].values).astype(str)
        times = pd.to_datetime(pd.Series(stamps).str.rstrip("Z"), errors="coerce", format="ISO8601")
        out = out.assign_coords(scan_time=("scanline", times.to_numpy("datetime64[ns]"),
                                           {"long_name": "scanline time (UTC)"}))
    if "time" in product.coords and np.issubdtype(product["time"].dtype, np.datetime64):
        out = out.assign_coords(time=((), product["time"].values, {"long_name": "granule reference time (UTC)"}))
    out = _add_bounds(out, path)
    out.attrs.update(
        product="S5P L2 NO2",
        source=Path(path).name,
        geolocation=SWATH_NOTE,
        qa_min=qa_min if qa_min is not None else "none",
    )
    out = georeference(out, "EPSG:4326")
    return stamp(out, "eoxr.io.open_product", path=Path(path).name, qa_min=qa_min)


def _add_bounds(out: xr.Dataset, path) -> xr.Dataset:
    try:
        geo = xr.open_dataset(path, group="PRODUCT/SUPPORT_DATA/GEOLOCATIONS", engine="h5netcdf",
                              decode_timedelta=False)
    except (OSError, KeyError, ValueError):
        return out
    with geo:
        for name, units in (("latitude_bounds", "degrees_north"), ("longitude_bounds", "degrees_east")):
            if name in geo.variables:
                da = geo[name]
                da = da.isel(time=0) if "time" in da.dims else da
                out = out.assign_coords({name: da.reset_coords(drop=True).load().assign_attrs(
                    units=units, long_name=f"{name.split('_')[0]} of the pixel's four corners")})
    return out
