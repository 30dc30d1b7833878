"""The append snapshot: what an append may change, recorded first so that a failure puts the cube back."""
from __future__ import annotations

import contextlib
import itertools
from collections.abc import Hashable

from ..errors import CubeError
from .paths import _zarr_path
from .policy import ZARR_FORMAT


class _AppendSnapshot:
    """What an append may change, recorded before it starts, so a failure can put the cube back:
    every array's shape and attributes, the group's attributes, and the stored bytes of the chunks that
    straddle the old end of ``append_dim`` (an append rewrites those chunks whole). Bytes, not values: exact,
    and no bigger in memory than those chunks compressed."""

    def __init__(self, path, append_dim: Hashable):
        import zarr

        self.path = path
        group = zarr.open_group(_zarr_path(path), mode="r", zarr_format=ZARR_FORMAT)
        self.group_attrs = group.attrs.asdict()
        self.arrays: dict[str, tuple] = {}
        for name, arr in group.arrays():
            dims = list(arr.metadata.dimension_names or ())
            boundary = {}
            if append_dim in dims:
                axis = dims.index(append_dim)
                length, chunk = arr.shape[axis], arr.chunks[axis]
                if length % chunk:
                    boundary = {key: _store_get(arr, key) for key in _chunk_keys(arr, axis, length // chunk)}
            self.arrays[name] = (arr.shape, arr.attrs.asdict(), boundary)

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
        import zarr

        group = zarr.open_group(_zarr_path(self.path), mode="r+", zarr_format=ZARR_FORMAT)
        for name in list(group.array_keys()):
            if name not in self.arrays:
                del group[name]
        for name, (shape, attrs, boundary) in self.arrays.items():
            arr = group[name]
            if arr.shape != shape:
                arr.resize(shape)  # deletes the chunks past the old end
            for key, data in boundary.items():
                _store_put(arr, key, data)
            arr.attrs.put(attrs)
        group.attrs.put(self.group_attrs)


def _chunk_keys(arr, axis: int, index: int) -> list[str]:
    """Store keys of every chunk of ``arr`` whose chunk index along ``axis`` is ``index``."""
    import itertools

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
