"""``write``: the entry point for every mode, and new cubes written beside the target then swapped in."""
from __future__ import annotations

import ctypes
import os
import shutil
import uuid
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Literal

import xarray as xr

from ..attrs import stamp
from ..errors import CubeError
from .append import _write_append
from .pack import _decoded, _packed
from .paths import _exists, _is_url, _local
from .policy import (COMPRESSION, CONSOLIDATED, ZARR_FORMAT, ChunksArg, _compressor, _new_cube_encoding,
                     _resolve_chunks)
from .prepare import _prepare
from .progress import _compute
from .region import _write_region


def write(
    ds: xr.Dataset | xr.DataArray,
    path: str | os.PathLike,
    *,
    mode: Literal["w-", "w", "a", "r+"] = "w-",
    append_dim: Hashable | None = None,
    region: Mapping[Hashable, slice] | Literal["auto"] | None = None,
    chunks: ChunksArg = "auto",
    progress: bool = False,
    compute: bool = True,
    compression: str = COMPRESSION,
    pack: bool = False,
):
    """Write ``ds`` to a Zarr v3 datacube at ``path``.

    Parameters
    ----------
    mode : ``"w-"`` create (fail if a cube exists), ``"w"`` replace a cube, ``"a"`` append along
        ``append_dim`` (or add new variables on the same grid when ``append_dim`` is None; creates the cube
        when there is none).
    append_dim : dimension to extend, usually ``"time"``. The new data must hold the same variables on the
        same grid and CRS, with coordinates that increase past the cube's last one.
    region : ``{"time": slice(10, 20)}`` or ``"auto"`` (found from the coordinates): overwrite that part of
        an existing cube, e.g. from parallel jobs filling a template written with ``compute=False``.
    chunks : ``"auto"`` (:func:`chunk_policy`), a dict overriding some dimensions, or None to keep the
        dataset's dask chunks. Appends and region writes always follow the cube's chunks on disk.
    progress : show a progress bar (distributed's when a distributed Client is active, else dask's).
    compute : False writes metadata and coordinates now and returns a ``dask.delayed`` that writes the data
        (a template for region writes); only ``compute=True`` writes are all-or-nothing.
    compression : ``"lz4"`` (default, fastest; Blosc LZ4 with bit shuffle) or ``"zstd"`` (smallest), for new
        cubes and new variables; appends and region writes keep the cube's codec.
    pack : store variables that :func:`eoxr.io.load` made from 8/16-bit integers with one scale/offset
        (attrs ``source_dtype``, ``applied_scale_offset``) as those integers with CF ``scale_factor``,
        ``add_offset`` and ``_FillValue`` (NaN), which xarray decodes on open: about 40 % of the float32
        bytes, for some CPU to find and check the integers (integers loaded with ``dtype="source"`` are
        stored as they are, with no such cost). Every chunk is checked to decode to exactly the float32
        values given, else the write fails with :class:`~eoxr.errors.CubeError` and leaves nothing behind.
        New cubes only; appends to a packed cube are encoded with its scale/offset. :func:`open` returns
        packed variables as float32.

    Variables keep their attrs (``units``, ``long_name``); float64 data are stored as float32; the CRS is
    kept as the ``spatial_ref`` coordinate with ``crs_wkt`` and a ``grid_mapping``
    attribute on every variable. Returns ``path`` (or the delayed write when ``compute=False``).

    Raises :class:`~eoxr.errors.CubeError` (cube exists/missing, variables or times that do not fit, a
    failed computation, in which case the previous cube is left as it was) and
    :class:`~eoxr.errors.GridError` (grid or CRS differs from the cube's).
    """
    if mode not in ("w-", "w", "a", "r+"):
        raise CubeError(f"mode={mode!r} is not one of 'w-' (create), 'w' (replace), 'a' (append/add), "
                        "'r+' (region write).")
    ds = _prepare(ds)
    creating = region is None and mode != "r+" and not (mode == "a" and _exists(path))
    if not creating:
        ds = _decoded(ds)  # the cube's own encoding applies to appended and region values
    if region is not None:
        if mode == "w":
            raise CubeError("mode='w' replaces the whole cube and cannot be combined with region=; "
                            "drop region= to replace the cube, or drop mode= to write a region.")
        return _write_region(ds, path, region, progress=progress, compute=compute)
    if mode == "r+":
        raise CubeError("mode='r+' is for region writes: pass region={'time': slice(i, j)} or region='auto'.")
    if mode == "a" and _exists(path):
        return _write_append(ds, path, append_dim, progress=progress, compute=compute, compression=compression)
    if mode == "w-" and _exists(path):
        raise CubeError(f"a cube already exists at {os.fspath(path)}: pass mode='w' to replace it, "
                        "mode='a' with append_dim='time' to extend it, or region= to overwrite part of it.")
    if mode in ("w", "a") and not _is_url(path) and not _replaceable(_local(path)):
        raise CubeError(f"{os.fspath(path)} exists and is not a Zarr datacube (no zarr.json); refusing to "
                        "replace it: choose another path, or remove it yourself if it is meant to go.")
    return _write_new(ds, path, chunks, progress=progress, compute=compute, compression=compression, pack=pack)


def _replaceable(target: Path) -> bool:
    """Only a cube, an empty folder or nothing may be replaced: mode 'w' must never delete other data."""
    if not target.exists():
        return True
    if target.is_dir():
        return (target / "zarr.json").is_file() or not any(target.iterdir())
    return False


def _write_new(ds: xr.Dataset, path, chunks: ChunksArg, *, progress: bool, compute: bool,
               compression: str = COMPRESSION, pack: bool = False):
    _compressor(compression)  # a bad name fails before anything is written
    policy = _resolve_chunks(ds, chunks)
    ds = stamp(ds.drop_encoding(), "eoxr.cube.write", chunks=policy, compression=compression,
               **({"pack": True} if pack else {}))
    if policy is not None:
        ds = ds.chunk({d: c for d, c in policy.items() if d in ds.dims})
    if pack:
        ds = _packed(ds)
    encoding = _new_cube_encoding(ds, compression)
    kwargs = dict(encoding=encoding, consolidated=CONSOLIDATED, zarr_format=ZARR_FORMAT)
    if not compute:
        return ds.to_zarr(path, mode="w", compute=False, **kwargs)
    if _is_url(path):
        # Object stores have no rename: the cube is written in place (documented gap).
        _compute(ds.to_zarr(path, mode="w", compute=False, **kwargs), progress)
        return path
    target = _local(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.writing-{uuid.uuid4().hex[:8]}")
    try:
        _compute(ds.to_zarr(tmp, mode="w-", compute=False, **kwargs), progress)
        _swap_into_place(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (CubeError, KeyboardInterrupt, SystemExit)):
            raise
        before = "the previous cube there is unchanged" if target.exists() else "nothing was created"
        raise CubeError(f"writing the cube {target} failed ({type(exc).__name__}: {exc}); {before}. "
                        "Fix the cause and write again.") from exc
    return path


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Make the finished cube at ``tmp`` appear at ``target``; readers see the old cube or the new one."""
    if not target.exists():
        os.rename(tmp, target)
        return
    if _rename_exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old cube
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
