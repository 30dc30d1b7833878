"""Gridded fields against ground stations: :func:`compare_stations`.

A station table (CSV or DataFrame) gives one row per measurement: ``station`` (id), ``lat``, ``lon`` (degrees),
``time`` and ``value``. Each station is placed on the field's grid (its lat/lon projected to the field's CRS)
and read there, from the nearest cell or bilinearly between the four around it; a station off the grid has no
pair. In time a station's measurements are averaged per UTC day and paired with the field's layer of that day
(a field without ``time`` is paired with every day). The station values are converted to the field's units
(:mod:`eoxr.units`) before anything is compared.

Scores (:mod:`eoxr.metrics`, field minus station): bias, RMSE and Pearson correlation per station and pooled
over all pairs, with the number ``n`` of station-days compared.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import metrics
from ..attrs import cf, require_dims, stamp
from ..errors import MissingVariableError, NoDataError, ParameterError, UnitsError
from ..units import convert

COLUMNS = ("station", "lat", "lon", "time", "value")
MATCHING = ("nearest", "bilinear")
SCORES = {  # name: (function of (field, station), long_name, in the field's units)
    "bias": (metrics.bias, "mean of field minus station", True),
    "rmse": (metrics.rmse, "root mean square of field minus station", True),
    "correlation": (metrics.correlation, "Pearson correlation of field and station", False),
}


def _read_table(stations) -> pd.DataFrame:
    """The station table with its required columns, ``time`` as datetimes (UTC, naive)."""
    table = stations.copy() if isinstance(stations, pd.DataFrame) else pd.read_csv(Path(stations))
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise MissingVariableError(f"the station table lacks column(s) {missing}; it has {list(table.columns)}. "
                                   f"Give one row per measurement with columns {list(COLUMNS)} (rename yours, "
                                   f"e.g. table.rename(columns={{'<yours>': {missing[0]!r}}}))")
    table["station"] = table["station"].astype(str)
    table["time"] = pd.to_datetime(table["time"], utc=True).dt.tz_localize(None)
    for name in ("lat", "lon", "value"):
        table[name] = pd.to_numeric(table[name], errors="raise").astype("f8")
    return table


def _station_units(table: pd.DataFrame, units: str | None) -> str:
    """The units of the station values: ``units``, or the table's one ``units`` column value."""
    if units is not None:
        return units
    found = table["units"].dropna().unique() if "units" in table.columns else []
    if len(found) != 1:
        raise UnitsError(f"the station values' units are unknown (the table's 'units' column holds {list(found)}): "
                         "pass units= (e.g. units='mol m-2') or give the table one units value")
    return str(found[0])


def _in_field_units(table: pd.DataFrame, units: str, field: xr.DataArray) -> pd.DataFrame:
    target = field.attrs.get("units")
    if not target:
        raise UnitsError(f"the field {field.name!r} has no units attribute: set field.attrs['units'] so the "
                         "station values can be checked against it")
    values = xr.DataArray(table["value"].to_numpy(), dims="row", attrs={"units": units})
    return table.assign(value=convert(values, target, what="the station values").values)


def _daily(table: pd.DataFrame) -> pd.DataFrame:
    """One row per station and UTC day: the mean of its finite values, at the station's first position."""
    day = table["time"].dt.floor("D")
    return (table.assign(day=day).dropna(subset=["value"])
            .groupby(["station", "day"], sort=True)
            .agg(lat=("lat", "first"), lon=("lon", "first"), value=("value", "mean")).reset_index())


def _grid_positions(field: xr.DataArray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the stations in the field's CRS (lon/lat themselves on a grid without one)."""
    import rioxarray  # noqa: F401  (registers .rio)
    from pyproj import Transformer

    crs = field.rio.crs
    if crs is None or crs.is_geographic:
        return lon, lat
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)


def _nearest_index(coord: xr.DataArray, values: np.ndarray) -> np.ndarray:
    """Index of the nearest cell centre along ``coord``; -1 for a point more than half a cell off the grid."""
    step = float(np.abs(np.diff(coord.values)).max()) if coord.size > 1 else np.inf
    index = coord.to_index()
    return index.get_indexer(values, method="nearest", tolerance=step / 2)


def _at_stations(field: xr.DataArray, x: np.ndarray, y: np.ndarray, matching: str) -> xr.DataArray:
    """The field at the stations (dim ``site``), NaN off the grid; lazy on dask input."""
    if matching == "bilinear":
        return field.interp(x=xr.DataArray(x, dims="site"), y=xr.DataArray(y, dims="site"), method="linear")
    ix, iy = _nearest_index(field["x"], x), _nearest_index(field["y"], y)
    on_grid = xr.DataArray((ix >= 0) & (iy >= 0), dims="site")
    picked = field.isel(x=xr.DataArray(np.maximum(ix, 0), dims="site"), y=xr.DataArray(np.maximum(iy, 0), dims="site"))
    return picked.where(on_grid)


def _field_days(field: xr.DataArray, days: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(layer index, whether the field has that day) of each station-day; a field without time covers all."""
    if "time" not in field.dims:
        return np.zeros(len(days), dtype=int), np.ones(len(days), dtype=bool)
    layers = pd.DatetimeIndex(field["time"].values).floor("D")
    if layers.has_duplicates:
        raise ParameterError(f"the field has several layers on one day ({sorted(set(layers[layers.duplicated()]))}"
                             "): average them per day first (field.resample(time='1D').mean())")
    index = layers.get_indexer(pd.DatetimeIndex(days))
    return np.maximum(index, 0), index >= 0


def _pairs(field: xr.DataArray, daily: pd.DataFrame, matching: str) -> pd.DataFrame:
    """Station-days with the field's value there (``field``), NaN where the field has no value or day."""
    sites = daily.drop_duplicates("station").set_index("station")
    x, y = _grid_positions(field, sites["lat"].to_numpy(), sites["lon"].to_numpy())
    at_sites = _at_stations(field, np.asarray(x), np.asarray(y), matching)
    at_sites = at_sites.transpose(*(["time"] if "time" in at_sites.dims else []), "site").values  # computes
    site = sites.index.get_indexer(daily["station"])
    layer, has_day = _field_days(field, daily["day"])
    values = at_sites[layer, site] if at_sites.ndim == 2 else at_sites[site]
    return daily.assign(field=np.where(has_day, values, np.nan))


def _scores(pairs: pd.DataFrame) -> dict[str, float]:
    ok = pairs[np.isfinite(pairs["field"]) & np.isfinite(pairs["value"])]
    if ok.empty:
        return {**{name: np.nan for name in SCORES}, "n": 0}
    field, station = ok["field"].to_numpy(), ok["value"].to_numpy()
    return {**{name: fn(field, station) for name, (fn, *_) in SCORES.items()}, "n": len(ok)}


def _as_dataset(per_station: pd.DataFrame, pooled: dict, sites: pd.DataFrame, units: str) -> xr.Dataset:
    out = xr.Dataset(coords={"station": per_station.index.to_numpy(),
                             "lat": ("station", sites.loc[per_station.index, "lat"].to_numpy()),
                             "lon": ("station", sites.loc[per_station.index, "lon"].to_numpy())})
    for name, (_, long_name, in_units) in SCORES.items():
        unit = units if in_units else "1"
        out[name] = cf(xr.DataArray(per_station[name].to_numpy("f8"), dims="station"), unit, long_name)
        out[f"pooled_{name}"] = cf(xr.DataArray(pooled[name]), unit, f"{long_name}, over all stations")
    out["n"] = cf(xr.DataArray(per_station["n"].to_numpy("i8"), dims="station"), "1", "station-days compared")
    out["pooled_n"] = cf(xr.DataArray(pooled["n"]), "1", "station-days compared, over all stations")
    out["lat"].attrs.update(units="degrees_north", long_name="station latitude")
    out["lon"].attrs.update(units="degrees_east", long_name="station longitude")
    return out


def compare_stations(field: xr.DataArray | xr.Dataset, stations, *, variable: str | None = None,
                     matching: str = "nearest", units: str | None = None) -> xr.Dataset:
    """Bias, RMSE and correlation of a gridded field against station measurements, per station and pooled.

    Computes the field at the stations (the result's size depends on the table).

    Parameters
    ----------
    field : xarray.DataArray or xarray.Dataset
        A map on (y, x), optionally along ``time`` (one layer per day), with ``units`` and a CRS (a grid
        without CRS is taken as longitude/latitude). A Dataset needs ``variable``.
    stations : str, Path or pandas.DataFrame
        A CSV file or table with columns ``station``, ``lat``, ``lon`` (degrees), ``time``, ``value``, and
        optionally ``units``.
    variable : str, optional
        The variable of a Dataset ``field`` to compare.
    matching : {"nearest", "bilinear"}
        Read the field in the station's cell, or interpolate bilinearly between the four nearest centres.
    units : str, optional
        Units of the station values (default: the table's ``units`` column); converted to the field's units.

    Returns
    -------
    xarray.Dataset
        Along ``station`` (with ``lat``, ``lon``): ``bias``, ``rmse`` (field's units), ``correlation`` and ``n``
        (station-days compared; 0 and NaN scores off the grid or off the field's days), and the same over all
        pairs as ``pooled_bias``, ``pooled_rmse``, ``pooled_correlation``, ``pooled_n``.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> field = xr.DataArray([[1.0, 2.0], [3.0, 4.0]], dims=("y", "x"), coords={"y": [51.0, 50.0],
    ...                      "x": [4.0, 5.0]}, attrs={"units": "mol m-2"})
    >>> table = pd.DataFrame({"station": ["a", "b"], "lat": [51.0, 50.0], "lon": [4.0, 5.0],
    ...                       "time": ["2021-12-17", "2021-12-17"], "value": [1.5, 4.0]})
    >>> out = compare_stations(field, table, units="mol m-2")
    >>> out["bias"].values.tolist(), float(out["pooled_bias"]), int(out["pooled_n"])
    ([-0.5, 0.0], -0.25, 2)
    """
    field = _field(field, variable)
    if matching not in MATCHING:
        raise ParameterError(f"matching={matching!r} is not one of {MATCHING}: pick one of them")
    table = _read_table(stations)
    table = _in_field_units(table, _station_units(table, units), field)
    daily = _daily(table)
    if daily.empty:
        raise NoDataError("the station table holds no finite value: check its 'value' column")
    pairs = _pairs(field, daily, matching)
    per_station = pd.DataFrame({s: _scores(p) for s, p in pairs.groupby("station", sort=True)}).T
    sites = daily.drop_duplicates("station").set_index("station")
    out = _as_dataset(per_station, _scores(pairs), sites, field.attrs["units"])
    return stamp(out, "no2.stations.compare_stations", made_from=[field], matching=matching)


def _field(field, variable: str | None) -> xr.DataArray:
    """The DataArray to compare, checked for its (y, x) grid."""
    if isinstance(field, xr.Dataset):
        if variable is None or variable not in field.data_vars:
            raise MissingVariableError(f"variable={variable!r}: name the field to compare, one of "
                                       f"{sorted(map(str, field.data_vars))}")
        field = field[variable]
    require_dims(field, ("y", "x"), "the field")
    extra = set(field.dims) - {"time", "y", "x"}
    if extra:
        raise ParameterError(f"the field has dimension(s) {sorted(map(str, extra))} besides time, y, x: select "
                             "one layer of them (field.isel(...)) before comparing")
    return field
