"""Appends: extend a cube along a dimension, or add new variables on its grid; rolled back on failure."""
from __future__ import annotations

import os
from collections.abc import Hashable

import xarray as xr

from ..attrs import stamp
from ..errors import CubeError
from .checks import _check_grid, _check_variables
from .open import open
from .policy import COMPRESSION, CONSOLIDATED, ZARR_FORMAT, _aligned, _new_cube_encoding, _stored_chunks, chunk_policy
from .progress import _compute
from .snapshot import _AppendSnapshot


def _check_append_coordinate(ds: xr.Dataset, cube: xr.Dataset, dim: Hashable, path) -> None:
    if dim not in ds.indexes:
        return
    new = ds.indexes[dim]
    if new.has_duplicates:
        dup = new[new.duplicated()].unique()[:3].tolist()
        raise CubeError(f"the data repeat {dim} value(s) {dup}; drop duplicates first "
                        f"(ds.drop_duplicates('{dim}')).")
    if not new.is_monotonic_increasing:
        raise CubeError(f"the data's {dim} coordinate is not increasing; sort it first (ds.sortby('{dim}')).")
    if dim in cube.indexes and len(cube.indexes[dim]) and len(new):
        last = cube.indexes[dim][-1]
        if new[0] <= last:
            overlap = new[new <= last][:3].tolist()
            raise CubeError(f"cannot append {dim} value(s) {overlap}...: the cube {os.fspath(path)} already "
                            f"reaches {last}. Append only later {dim}s (ds.sel({dim}=slice(after_last, None))) or "
                            "overwrite existing ones with region='auto'.")


def _with_cube_attrs(ds: xr.Dataset, cube: xr.Dataset, **params) -> xr.Dataset:
    """The cube's root attributes updated by the new data's, histories joined, plus a line for this write
    (xarray replaces the root attributes on every append)."""
    old = str(cube.attrs.get("history", ""))
    new_lines = [line for line in str(ds.attrs.get("history", "")).splitlines() if line and line not in old]
    out = ds.copy(deep=False)
    out.attrs = {**cube.attrs, **ds.attrs, "history": "\n".join(filter(None, [old, *new_lines]))}
    return stamp(out, "eoxr.cube.write", mode="a", **params)


def _write_append(ds: xr.Dataset, path, append_dim: Hashable | None, *, progress: bool, compute: bool,
                  compression: str = COMPRESSION):
    cube = open(path)
    if append_dim is None:
        return _add_variables(ds, cube, path, progress=progress, compute=compute, compression=compression)
    if not compute:
        raise CubeError("appends run with compute=True so that a failure can be rolled back; for lazy, "
                        "parallel filling write a template with compute=False and fill it with region=.")
    if append_dim not in ds.dims or append_dim not in cube.dims:
        raise CubeError(f"append_dim={append_dim!r} must be a dimension of both the data {tuple(ds.dims)} and "
                        f"the cube {tuple(cube.dims)}.")
    _check_variables(ds, cube, path, exact=True)
    _check_grid(ds, cube, path, skip={append_dim})
    _check_append_coordinate(ds, cube, append_dim, path)
    ds = _with_cube_attrs(ds.drop_encoding(), cube, append_dim=append_dim, steps=int(ds.sizes[append_dim]))
    stored = _stored_chunks(cube)
    start = int(cube.sizes[append_dim])
    target = {d: (_aligned(start, int(ds.sizes[d]), stored[d]) if d == append_dim else stored[d])
              for d in ds.dims if d in stored}
    ds = ds.chunk(target)
    # Variables without the append dimension (x, y, spatial_ref) are already in the cube and identical.
    ds = ds.drop_vars([n for n, v in ds.variables.items() if append_dim not in v.dims])
    with _AppendSnapshot(path, append_dim).restored_on_failure(
        f"appending to the cube {os.fspath(path)} along {append_dim!r}",
        f"the cube was rolled back to its previous {start} {append_dim} steps. Fix the cause and append again.",
    ):
        delayed = ds.to_zarr(path, mode="a", append_dim=append_dim, compute=False,
                             consolidated=CONSOLIDATED, zarr_format=ZARR_FORMAT)
        _compute(delayed, progress)
    return path


def _add_variables(ds: xr.Dataset, cube: xr.Dataset, path, *, progress: bool, compute: bool,
                   compression: str = COMPRESSION):
    """mode='a' without append_dim: new variables on the cube's grid; existing ones are not overwritten."""
    clash = sorted(set(map(str, ds.data_vars)) & set(map(str, cube.data_vars)))
    if clash:
        raise CubeError(f"variable(s) {clash} are already in the cube {os.fspath(path)}; to append along time "
                        "pass append_dim='time', to overwrite part of them pass region=, to replace the cube "
                        "pass mode='w'.")
    _check_grid(ds, cube, path, skip=set())
    ds = _with_cube_attrs(ds.drop_encoding(), cube, added=sorted(map(str, ds.data_vars)))
    stored = _stored_chunks(cube)
    policy = chunk_policy(ds)
    ds = ds.chunk({d: stored.get(d, policy[d]) for d in ds.dims})
    ds = ds.drop_vars([n for n in ds.coords if n in cube.variables])
    encoding = {k: v for k, v in _new_cube_encoding(ds, compression).items() if k in ds.variables}
    kwargs = dict(encoding=encoding, consolidated=CONSOLIDATED, zarr_format=ZARR_FORMAT)
    if not compute:
        return ds.to_zarr(path, mode="a", compute=False, **kwargs)
    with _AppendSnapshot(path, append_dim="\0none").restored_on_failure(
        f"adding variables {sorted(map(str, ds.data_vars))} to the cube {os.fspath(path)}",
        "the cube was restored. Fix the cause and retry.",
    ):
        _compute(ds.to_zarr(path, mode="a", compute=False, **kwargs), progress)
    return path
