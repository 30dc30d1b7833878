"""Level-3 (gridded) NO2 files -> ``no2_column`` (mol m-2) on (time, y, x), EPSG:4326, ready for ``ds.no2``.

Two layouts: HARP regrids of S5P L2 (``S5P_*_L3__NO2___*.nc``: ``tropospheric_NO2_column_number_density``,
mol/m2, dims latitude/longitude, the time in the file name) and NASA OMNO2d (``no2`` or
``ColumnAmountNO2CloudScreened``, molec/cm2, dims lat/lon or latitude/longitude). Units are read from the file
and converted by :mod:`eoxr.units`; a ``10^N`` prefix scales them. A file whose values contradict its prefix
(``10^15molec/cm2`` on values of 1e15, already in molec/cm2) is read by its values, with an
:class:`~eoxr.errors.EoxrWarning` saying so: a column cannot be 1e30 molecules per cm2.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import cf, georeference, stamp
from ..errors import EoxrWarning, MissingVariableError, UnitsError
from ..units import canonical, convert

#: variable names of the NO2 column, in the order looked for, with what each holds
COLUMNS = {
    "tropospheric_NO2_column_number_density": "tropospheric vertical column of NO2",
    "no2": "tropospheric vertical column of NO2 (cloud screened)",
    "ColumnAmountNO2Trop": "tropospheric vertical column of NO2",
    "ColumnAmountNO2CloudScreened": "total vertical column of NO2 (cloud screened)",
}
PLAUSIBLE_MOL_M2 = 0.1  # no NO2 column exceeds this (about 6e19 molec cm-2)
_PREFIX = re.compile(r"^\s*10\^?\s*(-?\d+)\s*\*?\s*")
_FILE_TIME = re.compile(r"_(\d{8}T\d{6})_")


def _scaled_units(units: str) -> tuple[float, str]:
    """(scale, unit) of a units string with an optional ``10^N`` prefix: ``10^15molec/cm2`` -> (1e15, molec cm-2)."""
    match = _PREFIX.match(units)
    scale = 10.0 ** int(match.group(1)) if match else 1.0
    return scale, canonical(units[match.end():] if match else units)


def _column(ds: xr.Dataset, path: Path) -> tuple[xr.DataArray, str]:
    name = next((n for n in COLUMNS if n in ds.data_vars), None)
    if name is None:
        raise MissingVariableError(f"{path.name} holds none of the NO2 columns {list(COLUMNS)} (it has "
                                   f"{list(ds.data_vars)}): open an S5P HARP L3 or OMI OMNO2d file")
    return ds[name], name


def _in_mol_m2(da: xr.DataArray, path: Path) -> xr.DataArray:
    """``da`` in mol m-2, its ``10^N`` prefix dropped when the values show it was applied already."""
    units = da.attrs.get("units")
    if not units:
        raise UnitsError(f"{path.name}: {da.name} has no units attribute: set it (e.g. 'molec cm-2') and read again")
    scale, unit = _scaled_units(units)
    base = convert(da.assign_attrs(units=unit), "mol m-2", what=f"{path.name}: {da.name}")
    typical = float(np.nanmedian(np.abs(base.values)))
    if scale != 1.0 and typical * scale > PLAUSIBLE_MOL_M2 >= typical:
        warnings.warn(f"{path.name}: {da.name} says {units!r} but its values (median {typical:.3g} mol m-2 read as "
                      f"{unit}) would be {typical * scale:.3g} mol m-2 with the prefix: read as {unit}",
                      EoxrWarning, stacklevel=3)
        return base
    return base * scale


def _file_time(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """``time`` from the file name (HARP L3 stores an index), or the file's own, as datetimes where it can."""
    stamp_ = _FILE_TIME.search(path.name)
    if stamp_ and "time" in ds.dims and ds.sizes["time"] == 1:
        return ds.assign_coords(time=[pd.Timestamp(stamp_.group(1)).to_datetime64()])
    if "time" in ds.coords and ds["time"].dtype.kind == "f":  # "day as %Y%m%d.%f"
        days = pd.to_datetime(ds["time"].values.astype("i8").astype(str), format="%Y%m%d")
        return ds.assign_coords(time=days.to_numpy("datetime64[ns]"))
    return ds


def open_l3(path) -> xr.Dataset:
    """An L3 NO2 file as ``no2_column`` (mol m-2) on (time, y, x), y latitude (north first), x longitude.

    Parameters
    ----------
    path : str or Path
        An S5P HARP L3 NO2 file or an OMI OMNO2d (monthly or climatology) file.

    Returns
    -------
    xarray.Dataset
        ``no2_column`` (mol m-2) with its ``source_variable``, EPSG:4326.
    """
    path = Path(path)
    with xr.open_dataset(path, decode_timedelta=False) as raw:
        ds = raw.load()
    ds = ds.rename({k: v for k, v in {"latitude": "y", "longitude": "x", "lat": "y", "lon": "x"}.items()
                    if k in ds.dims})
    column, name = _column(ds, path)
    values = _in_mol_m2(column, path)
    fresh = xr.DataArray(values.values, coords={d: ds[d].values for d in values.dims}, dims=values.dims)
    out = xr.Dataset({"no2_column": cf(fresh, "mol m-2", COLUMNS[name], source_variable=name)})  # file's
    # attributes (grid_mapping, min/max of the raw values) left behind
    out = _file_time(out, path).sortby("y", ascending=False).transpose("time", "y", "x")
    out = georeference(out, "EPSG:4326")
    return stamp(out, "no2.l3.open_l3", path=path.name)
