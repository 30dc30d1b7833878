"""Checks that data fit an existing cube: same CRS, grid and variable dimensions, values its types hold."""
from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ..errors import CubeError, CubeGridError
from .pack import _pack_block
from .paths import _Location


def _index_equal(a: xr.DataArray, b: xr.DataArray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        va, vb = a.values, b.values
        step = float(np.nanmax(np.abs(np.diff(va)))) if va.size > 1 else 1.0
        return bool(np.allclose(va, vb, rtol=0, atol=1e-6 * max(step, 1e-12)))
    return bool(np.array_equal(a.values, b.values))


def _check_grid(ds: xr.Dataset, cube: xr.Dataset, path, skip: set) -> None:
    """Same CRS and same coordinates along every dimension not in ``skip``; else GridError."""
    crs_new, crs_cube = ds.rio.crs, cube.rio.crs
    if (crs_new is None) != (crs_cube is None) or (crs_new is not None and crs_new != crs_cube):
        raise CubeGridError(f"the data are on CRS {crs_new} but the cube {os.fspath(path)} is on {crs_cube}; "
                        f"reproject first (ds.rio.reproject('{crs_cube}') or eoxr.io.load(..., crs=...)).")
    for dim in ds.dims:
        if dim in skip:
            continue
        if dim not in cube.dims:
            raise CubeGridError(f"dimension {dim!r} is not in the cube {os.fspath(path)} (it has "
                            f"{tuple(cube.dims)}); rename or drop it.")
        if ds.sizes[dim] != cube.sizes[dim]:
            raise CubeGridError(f"dimension {dim!r} has {ds.sizes[dim]} items here but {cube.sizes[dim]} in the cube "
                            f"{os.fspath(path)}; load the data on the cube's grid (same bbox and resolution).")
        if dim in ds.indexes and dim in cube.indexes and not _index_equal(ds[dim], cube[dim]):
            raise CubeGridError(f"coordinate {dim!r} differs from the cube's (here {ds[dim].values[:3]}..., cube "
                            f"{cube[dim].values[:3]}...); load the data on the cube's grid, e.g. "
                            "ds.interp_like(eoxr.cube.open(path)) or the same bbox/resolution/crs.")


def _check_variables(ds: xr.Dataset, cube: xr.Dataset, path, *, exact: bool) -> None:
    new, old = set(map(str, ds.data_vars)), set(map(str, cube.data_vars))
    if exact and new != old:
        raise CubeError(f"the data hold variables {sorted(new)} but the cube {os.fspath(path)} holds "
                        f"{sorted(old)}; missing {sorted(old - new)}, extra {sorted(new - old)}. Appends must "
                        "carry the same variables: select or add them first.")
    if not exact and not new <= old:
        raise CubeError(f"variable(s) {sorted(new - old)} are not in the cube {os.fspath(path)}; add them "
                        "first with write(ds, path, mode='a') or write a new cube.")
    for name in ds.data_vars:
        if ds[name].dims != cube[name].dims:
            raise CubeGridError(f"variable {name!r} has dims {ds[name].dims} but {cube[name].dims} in the cube; "
                            f"transpose it: ds['{name}'].transpose{cube[name].dims}.")


def _fitting(ds: xr.Dataset, cube: xr.Dataset, location: _Location) -> xr.Dataset:
    """``ds`` whose variables stored as integers in the cube are checked, as they are computed, to be held
    exactly by the cube's integer type and encoding (``scale_factor``, ``add_offset``, ``_FillValue``):
    Zarr and xarray would otherwise wrap, round or zero them silently (-3.43 -> 65533, NaN -> 0)."""
    import dask.array as da

    out = ds.copy(deep=False)
    for name, var in ds.data_vars.items():
        stored = cube[name].encoding.get("dtype") if name in cube else None
        if stored is None or np.dtype(stored).kind not in "iu" or var.dtype == bool:
            continue
        enc = cube[name].encoding
        kwargs = dict(variable=str(name), where=location.name, int_dtype=np.dtype(stored),
                      scale=float(enc.get("scale_factor", 1.0)), offset=float(enc.get("add_offset", 0.0)),
                      fill=enc.get("_FillValue"))
        data = var.data if var.chunks is not None else da.from_array(var.values)
        plain = (kwargs["scale"], kwargs["offset"], kwargs["fill"]) == (1.0, 0.0, None)
        dtype = kwargs["int_dtype"] if plain else var.dtype  # checked codes go as they are: no cast warning
        out[name] = var.copy(data=da.map_blocks(_fits_block, data, dtype=dtype, meta=np.array((), dtype), **kwargs))
    return out


def _fits_block(block: np.ndarray, *, variable: str, where: str, int_dtype: np.dtype, scale: float, offset: float,
                fill) -> np.ndarray:
    values = np.asarray(block, dtype=np.float64)
    stored = f"{int_dtype.name} (scale_factor={scale}, add_offset={offset}, _FillValue={fill})"
    fix = (f"The cube {where} stores {variable!r} as {stored}: append values that it holds exactly (the same "
           "product loaded the same way), or write a new cube (mode='w') to store the new values as float32.")
    if fill is None and np.isnan(values).any():
        raise CubeError(f"variable {variable!r} has NaN values, which the cube {where} cannot store: {stored} has "
                        f"no fill value. {fix}")
    missing_code = int(fill) if fill is not None else int(np.iinfo(int_dtype).max) + 1
    codes = _pack_block(values, variable=variable, int_dtype=int_dtype, scale=scale, offset=offset,
                        fill=missing_code, fix=fix)
    return codes if (scale, offset, fill) == (1.0, 0.0, None) else block
