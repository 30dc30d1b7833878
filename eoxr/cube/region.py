"""Region writes: overwrite part of an existing cube, e.g. from parallel jobs filling a template."""
from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import xarray as xr

from ..errors import CubeError
from .checks import _check_grid, _check_variables, _fitting
from .open import _open_committed
from .paths import _Location
from .policy import ZARR_FORMAT, _aligned, _stored_chunks
from .progress import _compute


def _auto_region(ds: xr.Dataset, cube: xr.Dataset, path) -> dict[Hashable, slice]:
    region = {}
    for dim in ds.dims:
        if dim in ds.indexes and dim in cube.indexes:
            positions = cube.indexes[dim].get_indexer(ds.indexes[dim])
            if (positions < 0).any():
                missing = ds.indexes[dim][positions < 0][:3].tolist()
                raise CubeError(f"{dim} value(s) {missing} are not in the cube {path}; region='auto' "
                                f"only overwrites existing {dim}s (append new ones with mode='a', "
                                f"append_dim='{dim}').")
            first = int(positions[0])
            if not np.array_equal(positions, np.arange(first, first + len(positions))):
                raise CubeError(f"the data's {dim} values are not one contiguous, ordered run of the cube's; "
                                "sort them (ds.sortby) or write each run separately.")
            region[dim] = slice(first, first + len(positions))
    return region


def _write_region(ds: xr.Dataset, location: _Location, region, *, progress: bool, compute: bool):
    """Overwrite part of the cube. No lock is taken (parallel jobs fill one template), no metadata changes:
    jobs running at once must each cover whole stored chunks."""
    path = location.name
    if not location.is_cube():
        raise CubeError(f"no cube at {path} to write a region into: create it first, e.g. "
                        "eoxr.cube.write(template, path, compute=False).")
    cube = _open_committed(location)
    if region == "auto":
        region = _auto_region(ds, cube, path)
    elif not isinstance(region, Mapping):
        raise CubeError(f"region={region!r} must be 'auto' or a dict of slices like {{'time': slice(0, 10)}}.")
    region = dict(region)
    for dim, sl in region.items():
        if dim not in cube.dims:
            raise CubeError(f"region names dimension {dim!r} that the cube lacks; it has {tuple(cube.dims)}.")
        start, stop, step = sl.indices(int(cube.sizes[dim]))
        if step != 1 or stop - start != ds.sizes.get(dim, -1):
            raise CubeError(f"region {dim}={sl} covers {stop - start} items but the data have "
                            f"{ds.sizes.get(dim)}; give a step-1 slice as long as the data.")
        region[dim] = slice(start, stop)
    _check_variables(ds, cube, path, exact=False)
    _check_grid(ds, cube, path, skip=set(region))
    for dim in ds.dims:  # the rest is written whole
        region.setdefault(dim, slice(0, int(cube.sizes[dim])))
    ds = ds.drop_encoding().drop_vars(list(ds.coords))
    ds = _fitting(ds.drop_vars([n for n, v in ds.data_vars.items() if v.ndim == 0]), cube, location)
    stored = _stored_chunks(cube)
    ds = ds.chunk({d: _aligned(region[d].start, int(ds.sizes[d]), stored.get(d, ds.sizes[d])) for d in ds.dims})
    # A region may start or end inside a stored chunk. The dask chunks above never share a zarr chunk, so
    # within this call each stored chunk is read-modified-written by one task and xarray's own check
    # (which refuses any partial chunk in mode "r+") is not needed. Separate jobs writing regions at the
    # same time must each cover whole stored chunks. Mode "r+" leaves every attribute as it is.
    delayed = ds.to_zarr(location.store(), mode="r+", region=region, compute=False, safe_chunks=False,
                         consolidated=False, zarr_format=ZARR_FORMAT, write_empty_chunks=True)
    if not compute:
        return delayed
    try:
        _compute(delayed, progress)
    except Exception as exc:
        # Each zarr chunk is replaced whole (atomic file writes), so a rerun of the same region completes it.
        raise CubeError(f"writing region {region} of the cube {path} failed ({type(exc).__name__}: "
                        f"{exc}); chunks already written hold the new values, the others the old ones. Fix the "
                        "cause and write the same region again.") from exc
    return None
