"""Appends: extend a cube along a dimension, or add new variables on its grid; rolled back on failure."""
from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import xarray as xr

from ..attrs import merged_provenance, stamp
from ..errors import CubeError
from .checks import _check_grid, _check_variables, _fitting
from .journal import _begin, _end
from .lock import _WriterLock
from .open import _open_committed
from .paths import _Location
from .policy import COMPRESSION, ZARR_FORMAT, _aligned, _new_cube_encoding, _stored_chunks, chunk_policy
from .progress import _compute
from .snapshot import _AppendSnapshot, _commit


def _not_yet_appended(ds: xr.Dataset, cube: xr.Dataset, dim: Hashable, location: _Location) -> xr.Dataset:
    """The steps of ``ds`` past the cube's last ``dim`` value. Earlier steps are accepted only when they are
    in the cube with the same values: re-running an append or an ingest that was interrupted, or that
    completed, is idempotent, keyed on the ``dim`` values."""
    if dim not in ds.indexes:
        return ds
    new = ds.indexes[dim]
    if new.has_duplicates:
        dup = new[new.duplicated()].unique()[:3].tolist()
        raise CubeError(f"the data repeat {dim} value(s) {dup}; drop duplicates first "
                        f"(ds.drop_duplicates('{dim}')).")
    if not new.is_monotonic_increasing:
        raise CubeError(f"the data's {dim} coordinate is not increasing; sort it first (ds.sortby('{dim}')).")
    if dim not in cube.indexes or not len(cube.indexes[dim]) or not len(new) or new[0] > cube.indexes[dim][-1]:
        return ds
    last = cube.indexes[dim][-1]
    earlier = new[new <= last]
    absent = earlier[~earlier.isin(cube.indexes[dim])]
    if len(absent):
        raise CubeError(f"cannot append {dim} value(s) {absent[:3].tolist()}...: the cube {location.name} already "
                        f"reaches {last}. Append only later {dim}s (ds.sel({dim}=slice(after_last, None))) or "
                        "overwrite existing ones with region='auto'.")
    _check_same_values(ds.sel({dim: earlier}), cube.sel({dim: earlier}), dim, location)
    return ds.sel({dim: new[new > last]})


def _check_same_values(ds: xr.Dataset, cube: xr.Dataset, dim: Hashable, location: _Location) -> None:
    """Steps that are already in the cube must hold the same values (compared as stored: float32)."""
    for name in ds.data_vars:
        new, old = ds[name].values, cube[name].values
        if old.dtype.kind == "f":
            new, old = new.astype(np.float32), old.astype(np.float32)
        if not np.array_equal(new, old, equal_nan=new.dtype.kind == "f"):
            times = ds.indexes[dim][:3].tolist()
            raise CubeError(f"cannot append {dim} value(s) {times}...: the cube {location.name} already holds them "
                            f"with other values of {name!r}. To overwrite them write with region='auto'; to "
                            f"append only later {dim}s, select them (ds.sel({dim}=slice(after_last, None))).")


def _with_cube_attrs(ds: xr.Dataset, cube: xr.Dataset, **params) -> xr.Dataset:
    """The cube's root attributes updated by the new data's, histories joined, inputs of both kept
    (:func:`~eoxr.attrs.merged_provenance`), plus a line for this write (xarray replaces the root attributes on
    every append)."""
    old = str(cube.attrs.get("history", ""))
    new_lines = [line for line in str(ds.attrs.get("history", "")).splitlines() if line and line not in old]
    out = ds.copy(deep=False)
    out.attrs = {**merged_provenance(cube.attrs, ds.attrs), "history": "\n".join(filter(None, [old, *new_lines]))}
    return stamp(out, "eoxr.cube.write", mode="a", **params)


def _write_append(ds: xr.Dataset, location: _Location, append_dim: Hashable | None, lock: _WriterLock, *,
                  progress: bool, compute: bool, compression: str = COMPRESSION):
    cube = _open_committed(location)
    if append_dim is None:
        return _add_variables(ds, cube, location, lock, progress=progress, compute=compute, compression=compression)
    if not compute:
        raise CubeError("appends run with compute=True so that a failure can be rolled back; for lazy, "
                        "parallel filling write a template with compute=False and fill it with region=.")
    if append_dim not in ds.dims or append_dim not in cube.dims:
        raise CubeError(f"append_dim={append_dim!r} must be a dimension of both the data {tuple(ds.dims)} and "
                        f"the cube {tuple(cube.dims)}.")
    _check_variables(ds, cube, location.name, exact=True)
    _check_grid(ds, cube, location.name, skip={append_dim})
    _check_coordinates_along(ds, cube, append_dim, location)
    ds = _not_yet_appended(ds, cube, append_dim, location)
    if not ds.sizes[append_dim]:
        return None  # every step is already in the cube
    ds = _with_cube_attrs(ds.drop_encoding(), cube, append_dim=append_dim, steps=int(ds.sizes[append_dim]))
    ds = _fitting(ds, cube, location)
    stored = _stored_chunks(cube)
    start, steps = int(cube.sizes[append_dim]), int(ds.sizes[append_dim])
    target = {d: (_aligned(start, steps, stored[d]) if d == append_dim else stored[d])
              for d in ds.dims if d in stored}
    # Variables without the append dimension (x, y, spatial_ref) are already in the cube and identical.
    ds = ds.chunk(target).drop_vars([n for n, v in ds.variables.items() if append_dim not in v.dims])
    snapshot = _AppendSnapshot(location, append_dim)
    _begin(location, "append", dim=str(append_dim), values=[str(v) for v in ds[append_dim].values[:3]],
           steps=steps, **snapshot.record())
    with snapshot.restored_on_failure(
        f"appending to the cube {location.name} along {append_dim!r}",
        f"the cube was rolled back to its previous {start} {append_dim} steps. Fix the cause and append again.",
    ):
        # Write then extend: arrays grow in their own metadata only, the new steps are written, and readers
        # see them when the consolidated metadata is committed. A writer killed before that leaves the cube
        # as it was to them, and a journal that the next writer undoes.
        _grow(location, append_dim, start + steps)
        _write_coordinates(ds, cube, location, append_dim, start)
        region = {append_dim: slice(start, start + steps)}
        delayed = ds.drop_vars(list(ds.coords)).to_zarr(
            location.store(), mode="r+", region=region, safe_chunks=False, compute=False, consolidated=False,
            zarr_format=ZARR_FORMAT, write_empty_chunks=True)
        _compute(delayed, progress)
        lock.confirm()
        _commit(location, ds.attrs)
        _end(location)
    return None


def _check_coordinates_along(ds: xr.Dataset, cube: xr.Dataset, dim: Hashable, location: _Location) -> None:
    """The data carry every coordinate the cube has along ``dim`` (item ids...), and no other."""
    ours = {str(n) for n, c in ds.coords.items() if dim in c.dims}
    theirs = {str(n) for n, c in cube.coords.items() if dim in c.dims}
    if ours != theirs:
        raise CubeError(f"the data's coordinates along {dim!r} are {sorted(ours)} but the cube {location.name} has "
                        f"{sorted(theirs)}: add the missing ones ({sorted(theirs - ours)}) and drop the others "
                        f"({sorted(ours - theirs)}) with ds.assign_coords / ds.drop_vars.")


def _grow(location: _Location, dim: Hashable, length: int) -> None:
    """Resize every array along ``dim`` to ``length`` in its own metadata (the consolidated copy stays)."""
    import zarr

    group = zarr.open_group(location.store(), mode="r+", zarr_format=ZARR_FORMAT, use_consolidated=False)
    for _, arr in group.arrays():
        dims = list(arr.metadata.dimension_names or ())
        if dim in dims:
            shape = list(arr.shape)
            shape[dims.index(dim)] = length
            arr.resize(tuple(shape))


def _write_coordinates(ds: xr.Dataset, cube: xr.Dataset, location: _Location, dim: Hashable, start: int) -> None:
    """The new values of coordinates along ``dim`` (time, item ids...), encoded as the cube stores them."""
    import zarr
    from xarray.backends.zarr import encode_zarr_variable

    group = zarr.open_group(location.store(), mode="r+", zarr_format=ZARR_FORMAT, use_consolidated=False)
    for name, coord in ds.coords.items():
        if dim not in coord.dims:
            continue
        var = coord.variable.copy(deep=False)
        var.encoding = {k: v for k, v in cube[name].encoding.items() if k in ("units", "calendar", "dtype")}
        encoded = encode_zarr_variable(var, name=name, zarr_format=ZARR_FORMAT)
        group[str(name)][start:start + var.shape[0]] = np.asarray(encoded.values)


def _add_variables(ds: xr.Dataset, cube: xr.Dataset, location: _Location, lock: _WriterLock, *, progress: bool,
                   compute: bool, compression: str = COMPRESSION):
    """mode='a' without append_dim: new variables on the cube's grid; existing ones are not overwritten."""
    clash = sorted(set(map(str, ds.data_vars)) & set(map(str, cube.data_vars)))
    if clash:
        raise CubeError(f"variable(s) {clash} are already in the cube {location.name}; to append along time "
                        "pass append_dim='time', to overwrite part of them pass region=, to replace the cube "
                        "pass mode='w'.")
    _check_grid(ds, cube, location.name, skip=set())
    ds = _with_cube_attrs(ds.drop_encoding(), cube, added=sorted(map(str, ds.data_vars)))
    stored = _stored_chunks(cube)
    policy = chunk_policy(ds)
    ds = ds.chunk({d: stored.get(d, policy[d]) for d in ds.dims})
    ds = ds.drop_vars([n for n in ds.coords if n in cube.variables])
    encoding = {k: v for k, v in _new_cube_encoding(ds, compression).items() if k in ds.variables}
    kwargs = dict(encoding=encoding, consolidated=False, zarr_format=ZARR_FORMAT, write_empty_chunks=True)
    if not compute:
        delayed = ds.to_zarr(location.store(), mode="a", compute=False, **kwargs)
        _commit(location)  # the new (still empty) arrays listed: a template to fill with region=
        return delayed
    snapshot = _AppendSnapshot(location, append_dim=None)
    _begin(location, "add", variables=sorted(map(str, ds.data_vars)), **snapshot.record())
    committed_root = location.read(f"{location.root}/zarr.json")
    with snapshot.restored_on_failure(
        f"adding variables {sorted(map(str, ds.data_vars))} to the cube {location.name}",
        "the cube was restored. Fix the cause and retry.",
    ):
        delayed = ds.to_zarr(location.store(), mode="a", compute=False, **kwargs)
        # xarray rewrote the root metadata without the consolidated listing: put the committed one back, so
        # that readers see the new variables only once their data are written.
        location.put(f"{location.root}/zarr.json", committed_root)
        _compute(delayed, progress)
        lock.confirm()
        _commit(location, ds.attrs)
        _end(location)
    return None
