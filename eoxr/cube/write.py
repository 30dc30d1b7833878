"""``write``: the entry point for every mode, and new cubes written beside the target then swapped in."""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import uuid
import warnings
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Literal

import xarray as xr

from ..attrs import ITEM, provenance_attrs, stamp
from ..errors import CubeError
from .append import _write_append
from .journal import _publish, _recover
from .lock import WAIT_S, _WriterLock
from .open import _committed_attrs, _consolidated
from .pack import _decoded, _packed
from .paths import _Location, _location
from .policy import COMPRESSION, ZARR_FORMAT, ChunksArg, _compressor, _new_cube_encoding, _resolve_chunks
from .prepare import _prepare
from .progress import _compute
from .region import _write_region
from .snapshot import _commit


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
    storage_options: dict | None = None,
    lock_timeout: float = WAIT_S,
    catalog: str | os.PathLike | None = None,
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
        New cubes only; appends to a packed cube are encoded with its scale/offset. Readers (:func:`open`
        and ``xr.open_zarr`` alike) decode packed variables to float64, equal to the float32 values given.

    storage_options : fsspec options for a URL ``path`` (``s3://bucket/lst.zarr``, ``gs://...``,
        ``memory://...``); ``path`` may also be an fsspec mapper.
    lock_timeout : seconds to wait while another process writes the cube, then
        :class:`~eoxr.errors.CubeLockedError` naming it (host, pid, since when).
    catalog : a static STAC catalog (``catalog.json`` path or URL, or its folder; created when absent) in which
        the cube gets a STAC item, added or brought up to date after every write
        (:mod:`eoxr.catalog.publish`): its collection is the workflow's (``eoxr-lst``...), its id the cube's
        name without ``.zarr``; appends and region writes update it (extent, time range, inputs), a replaced
        cube (``mode="w"``) gets a new one. The item is written after the cube's commit, holding the cube's
        lock and the catalog's: it never describes what is not committed. Its content comes from the data's
        provenance attributes (:mod:`eoxr.attrs`). A catalog on an object store is reached with
        ``storage_options``. Needs ``compute=True``; a region write only updates an existing item (add it with
        :func:`eoxr.catalog.register_item` once every region is written).

    One writer at a time: every write but a region write holds the cube's writer lock (tickets in
    ``.<name>.eoxr/`` beside the cube). A lock whose process died on this host is taken over at once, one
    whose holder elsewhere stopped renewing its lease after :data:`~eoxr.cube.lock.LEASE_S` seconds.
    Appends are written first and made visible last, in one atomic write of the cube's consolidated
    metadata; a writer killed midway leaves the cube as readers saw it, and a journal that the next writer
    undoes. Re-running an append or an ingest is idempotent: steps already in the cube with the same values
    are skipped (with other values: :class:`~eoxr.errors.CubeError`). Values that an integer variable of the
    cube cannot hold exactly (a float, a negative, NaN without a fill value) are refused, not cast.

    On an object store, which has no rename, ``mode="w"`` writes a staging copy beside the cube and then
    copies it into place with the root ``zarr.json`` last: readers see the old cube, then none during the
    copy, then the new one; a writer killed during the copy is finished by the next writer. The lock takes
    its tickets with conditional PUTs (``If-None-Match: *``, fsspec ``mode="create"``).

    Variables keep their attrs (``units``, ``long_name``); float64 data are stored as float32; the CRS is
    kept as the ``spatial_ref`` coordinate with ``crs_wkt`` and a ``grid_mapping``
    attribute on every variable. Returns ``path`` (or the delayed write when ``compute=False``).

    Raises :class:`~eoxr.errors.CubeError` (cube exists/missing, variables, times or values that do not fit,
    a failed computation, in which case the previous cube is left as it was) and its subclasses
    :class:`~eoxr.errors.CubeGridError` (grid or CRS differs from the cube's) and
    :class:`~eoxr.errors.CubeLockedError`.
    """
    if mode not in ("w-", "w", "a", "r+"):
        raise CubeError(f"mode={mode!r} is not one of 'w-' (create), 'w' (replace), 'a' (append/add), "
                        "'r+' (region write).")
    location = _location(path, storage_options)
    ds = _prepare(ds)
    if region is not None and mode == "w":
        raise CubeError("mode='w' replaces the whole cube and cannot be combined with region=; "
                        "drop region= to replace the cube, or drop mode= to write a region.")
    if mode == "r+" and region is None:
        raise CubeError("mode='r+' is for region writes: pass region={'time': slice(i, j)} or region='auto'.")
    target = None
    if catalog is not None:
        from ..catalog.publish import before_write

        ds, target = before_write(ds, location, catalog, storage_options, mode=mode, compute=compute,
                                  region=region is not None)
    elif ITEM in ds.attrs:  # the item of the data's source does not describe this cube
        ds = ds.copy(deep=False)
        ds.attrs = {k: v for k, v in ds.attrs.items() if k != ITEM}
    if region is not None:
        delayed = _write_region(_decoded(ds), location, region, progress=progress, compute=compute)
        _update_item(target, location, path, lock_timeout, replace=False, region=ds)
        return path if compute else delayed
    with _WriterLock(location, timeout=lock_timeout) as lock:
        _recover(location)
        exists = location.is_cube()
        if exists and not _consolidated(location):
            _commit(location)  # a cube from before consolidated metadata: changes need it to commit atomically
        if exists and target is None and mode in ("a", "w"):
            from ..catalog.publish import warn_if_catalogued

            warn_if_catalogued(location, _committed_attrs(location), "append" if mode == "a" else "replacement")
        if mode == "a" and exists:
            delayed = _write_append(_decoded(ds), location, append_dim, lock, progress=progress, compute=compute,
                                    compression=compression)
            _update_item(target, location, path, lock_timeout, replace=False)
            return delayed or path
        if mode == "w-" and exists:
            raise CubeError(f"a cube already exists at {location.name}: pass mode='w' to replace it, "
                            "mode='a' with append_dim='time' to extend it, or region= to overwrite part of it.")
        if mode in ("w", "a") and not _replaceable(location):
            raise CubeError(f"{location.name} exists and is not a Zarr datacube (no zarr.json); refusing to "
                            "replace it: choose another path, or remove it yourself if it is meant to go.")
        delayed = _write_new(ds, location, chunks, lock, progress=progress, compute=compute,
                             compression=compression, pack=pack)
        _update_item(target, location, path, lock_timeout, replace=True)
    return path if compute else delayed


def _update_item(target, location: _Location, path, lock_timeout: float, *, replace: bool,
                 region: xr.Dataset | None = None) -> None:
    """The cube's item in the catalog ``target`` (None: no catalog) brought up to date, after the commit."""
    if target is None:
        return
    from ..catalog.publish import publish_after_write

    extra = provenance_attrs(region)["inputs"] if region is not None else []
    publish_after_write(location, target, replace=replace, lock_timeout=lock_timeout, path=path,
                        extra_inputs=extra, must_exist=region is not None)


def _replaceable(location: _Location) -> bool:
    """Only a cube, an empty folder or nothing may be replaced: mode 'w' must never delete other data."""
    if location.is_cube():
        return True
    if location.local:
        target = Path(location.root)
        return not target.exists() or (target.is_dir() and not any(target.iterdir()))
    return not location.listdir(location.root)


def _write_new(ds: xr.Dataset, location: _Location, chunks: ChunksArg, lock: _WriterLock, *, progress: bool,
               compute: bool, compression: str = COMPRESSION, pack: bool = False):
    """Write a whole cube beside the target (``.<name>.writing-*``), consolidate it, then put it in place:
    a rename on local disks, a copy with the root metadata last on object stores."""
    _compressor(compression)  # a bad name fails before anything is written
    policy = _resolve_chunks(ds, chunks)
    ds = stamp(ds.drop_encoding(), "eoxr.cube.write", chunks=policy, compression=compression,
               **({"pack": True} if pack else {}))
    if policy is not None:
        ds = ds.chunk({d: c for d, c in policy.items() if d in ds.dims})
    if pack:
        ds = _packed(ds)
    encoding = _new_cube_encoding(ds, compression)
    kwargs = dict(encoding=encoding, consolidated=True, zarr_format=ZARR_FORMAT, write_empty_chunks=True)
    if not compute:
        with _quiet_consolidation():
            return ds.to_zarr(location.store(), mode="w", compute=False, **kwargs)
    staging = location.staging()
    existed = location.is_cube()
    try:
        with _quiet_consolidation():
            delayed = ds.to_zarr(location.store(staging), mode="w-", compute=False, **kwargs)
        _compute(delayed, progress)
        _commit(location, root=staging)  # the metadata written before the data, consolidated again after
        lock.confirm()
        if location.local:
            _swap_into_place(Path(staging), Path(location.root))
        else:
            _publish(location, staging)
    except BaseException as exc:
        location.delete(staging, recursive=True)
        if isinstance(exc, (CubeError, KeyboardInterrupt, SystemExit)):
            raise
        before = "the previous cube there is unchanged" if existed else "nothing was created"
        raise CubeError(f"writing the cube {location.name} failed ({type(exc).__name__}: {exc}); {before}. "
                        "Fix the cause and write again.") from exc


@contextlib.contextmanager
def _quiet_consolidation():
    """xarray consolidates the metadata it writes; zarr warns that Zarr v3 does not specify consolidated
    metadata. eoxr relies on it on purpose (see :func:`~eoxr.cube.snapshot._commit`)."""
    from zarr.errors import ZarrUserWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZarrUserWarning)
        yield


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
