"""Datasets made storable: the CRS kept as attributes, objects Zarr cannot hold dropped, attributes as JSON."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import CubeCRSError, CubeError


def _jsonable(value: Any) -> Any:
    """Attribute values that zarr v3 can store as JSON (tuples -> lists, numpy -> Python, else str)."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _grid_mapping_to_attrs(ds: xr.Dataset) -> xr.Dataset:
    """rioxarray keeps ``grid_mapping`` in ``encoding``; xarray then leaves the grid-mapping variable out of
    every ``coordinates`` attribute, and a plain ``xr.open_zarr`` reads ``spatial_ref`` back as a data
    variable, losing the CRS. Kept in ``attrs`` it is written on each variable and ``spatial_ref`` stays a
    coordinate, so ``.rio.crs`` works on the opened cube with or without eoxr."""
    ds = ds.copy(deep=False)
    try:
        crs = ds.rio.crs
    except Exception as exc:  # noqa: BLE001 - rioxarray raises its own errors for mixed grid mappings
        raise CubeCRSError(f"cannot tell the dataset's CRS ({exc}); give every variable the same one with "
                       "ds.rio.write_crs('EPSG:....').") from exc
    grid_mapping = None
    if crs is not None:
        if ds.rio.grid_mapping not in ds.coords:  # CRS only in attrs (e.g. stackstac's attrs['crs'])
            ds = ds.rio.write_crs(crs)
        grid_mapping = ds.rio.grid_mapping
    for name, var in ds.variables.items():
        from_encoding = var.encoding.pop("grid_mapping", None)
        if name in ds.data_vars and (grid_mapping or from_encoding):
            var.attrs["grid_mapping"] = grid_mapping or from_encoding
    return ds


def _all_strings(var: xr.Variable | xr.DataArray) -> bool:
    """True for an object array of str; dask-backed ones are assumed fine (checking would compute)."""
    if var.chunks is not None:
        return True
    return all(isinstance(v, str) for v in np.asarray(var.values).ravel())


def _storable(ds: xr.Dataset) -> xr.Dataset:
    """Drop what Zarr cannot hold and make attributes JSON: per-item STAC metadata coordinates of object
    dtype (lists, dicts) are dropped (the catalog keeps them), string ones are stored as variable-length strings."""
    bad_vars = [n for n, v in ds.data_vars.items() if v.dtype == object and not _all_strings(v)]
    if bad_vars:
        raise CubeError(f"data variable(s) {bad_vars} have dtype object, which a Zarr cube cannot store; "
                        "cast them to a numeric or string dtype first (.astype('float32') or .astype(str)).")
    # Strings go to disk as zarr's variable-length "string" type (from object arrays); fixed-width numpy
    # unicode would become a data type that the Zarr v3 specification does not define.
    drop, cast = [], {}
    for name, coord in ds.coords.items():
        if coord.dtype.kind == "U":
            cast[name] = coord.astype(object)
        elif coord.dtype == object and name not in ds.indexes:
            if _all_strings(coord):
                continue
            drop.append(name)
    ds = ds.drop_vars(drop).assign_coords(cast)
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    ds.attrs = _jsonable(dict(ds.attrs))
    for var in ds.variables.values():
        var.attrs = _jsonable(dict(var.attrs))
    return ds


def _prepare(ds: xr.Dataset | xr.DataArray) -> xr.Dataset:
    if isinstance(ds, xr.DataArray):
        if ds.name is None:
            raise CubeError("a DataArray needs a name to become a cube variable: da.rename('lst') or "
                            "pass da.to_dataset(name='lst').")
        ds = ds.to_dataset()
    if not isinstance(ds, xr.Dataset):
        raise CubeError(f"eoxr.cube.write takes an xarray Dataset or named DataArray, not {type(ds).__name__}.")
    return _storable(_grid_mapping_to_attrs(ds))
