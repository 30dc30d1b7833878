"""The append snapshot: what an append may change, recorded first so that a failure puts the cube back; and
the commit that makes a change visible to readers at once (the cube's consolidated metadata)."""
from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Hashable

from ..errors import CubeError
from .journal import _end
from .paths import _Location
from .policy import ZARR_FORMAT


class _AppendSnapshot:
    """What an append may change, recorded before it starts, so a failure can put the cube back:
    every array's shape and attributes, the group's attributes, and the stored bytes of the chunks that
    straddle the old end of ``append_dim`` (an append rewrites those chunks whole). Bytes, not values: exact,
    and no bigger in memory than those chunks compressed. :meth:`record` is the part kept in the journal
    (shapes and attributes; a killed append leaves the straddling chunks' old values intact, only their
    bytes past the old end differ)."""

    def __init__(self, location: _Location, append_dim: Hashable | None, *, record: dict | None = None):
        import zarr

        self.location = location
        self.boundary: dict[str, dict[str, bytes | None]] = {}
        if record is not None:
            self.group_attrs, self.arrays = record["group_attrs"], record["arrays"]
            return
        group = zarr.open_group(location.store(), mode="r", zarr_format=ZARR_FORMAT, use_consolidated=False)
        self.group_attrs = group.attrs.asdict()
        self.arrays: dict[str, dict] = {}
        for name, arr in group.arrays():
            dims = list(arr.metadata.dimension_names or ())
            if append_dim in dims:
                axis = dims.index(append_dim)
                length, chunk = arr.shape[axis], arr.chunks[axis]
                if length % chunk:
                    self.boundary[name] = {key: _store_get(arr, key)
                                           for key in _chunk_keys(arr, axis, length // chunk)}
            self.arrays[name] = {"shape": list(arr.shape), "attrs": arr.attrs.asdict()}

    def record(self) -> dict:
        return {"group_attrs": self.group_attrs, "arrays": self.arrays}

    @contextlib.contextmanager
    def restored_on_failure(self, action: str, outcome: str):
        """Run the block; on any failure put the cube back, then raise :class:`CubeError` saying that
        ``action`` failed and ``outcome`` (an interrupt is re-raised as it is, after the restore)."""
        try:
            yield
        except BaseException as exc:
            self.restore()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise CubeError(f"{action} failed ({type(exc).__name__}: {exc}); {outcome}") from exc

    def restore(self) -> None:
        """Arrays added since are deleted, arrays resized back (zarr deletes the chunks past the old end), the
        straddling chunks' bytes and every attribute put back, the metadata consolidated again and the
        journal closed."""
        import zarr

        group = zarr.open_group(self.location.store(), mode="r+", zarr_format=ZARR_FORMAT, use_consolidated=False)
        for name in list(group.array_keys()):
            if name not in self.arrays:
                del group[name]
        for name, state in self.arrays.items():
            arr = group[name]
            if list(arr.shape) != list(state["shape"]):
                arr.resize(tuple(state["shape"]))
            for key, data in self.boundary.get(name, {}).items():
                _store_put(arr, key, data)
            arr.attrs.put(state["attrs"])
        _commit(self.location, self.group_attrs)
        _end(self.location)


def _commit(location: _Location, attrs: dict | None = None, root: str | None = None) -> None:
    """Make the arrays' current metadata the cube's: set the group attributes (when given), then write the
    consolidated metadata, one atomic write of the root ``zarr.json``. Readers that use it (``eoxr.cube.open``,
    ``xr.open_zarr`` with its defaults, the intake entry) see a change all at once, or not at all."""
    import zarr
    from zarr.errors import ZarrUserWarning

    store = location.store(root)
    if attrs is not None:
        group = zarr.open_group(store, mode="r+", zarr_format=ZARR_FORMAT)
        group.attrs.put(attrs)  # the consolidated shapes in the same file stay the old ones until below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZarrUserWarning)  # "not part of the Zarr v3 specification": by design
        zarr.consolidate_metadata(store, zarr_format=ZARR_FORMAT)


def _committed_arrays(location: _Location) -> dict[str, list[int]] | None:
    """``{array: shape}`` as the consolidated metadata has them, or None for a cube without it."""
    import zarr

    group = zarr.open_group(location.store(read_only=True), mode="r", zarr_format=ZARR_FORMAT)
    consolidated = group.metadata.consolidated_metadata
    if consolidated is None:
        return None
    return {name: list(meta.shape) for name, meta in consolidated.metadata.items() if hasattr(meta, "shape")}


def _chunk_keys(arr, axis: int, index: int) -> list[str]:
    """Store keys of every chunk of ``arr`` whose chunk index along ``axis`` is ``index``."""
    ranges = [range(n) if i != axis else [index] for i, n in enumerate(arr.cdata_shape)]
    prefix = arr.store_path.path
    return [f"{prefix}/{arr.metadata.encode_chunk_key(coords)}" for coords in itertools.product(*ranges)]


def _store_get(arr, key: str) -> bytes | None:
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    buffer = sync(arr.store_path.store.get(key, prototype=default_buffer_prototype()))
    return None if buffer is None else buffer.to_bytes()


def _store_put(arr, key: str, data: bytes | None) -> None:
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    store = arr.store_path.store
    if data is None:
        sync(store.delete(key))  # the chunk did not exist before the append (all fill value)
    else:
        sync(store.set(key, default_buffer_prototype().buffer.from_bytes(data)))
