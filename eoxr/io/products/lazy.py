"""Lazy readers shared by the product modules: one dataset of a file as a dask array, and CF decoding.

A file-backed array object holds only the path and the dataset name, so it pickles to Dask
workers; each chunk opens the file, reads its slice and closes it again.
"""
from __future__ import annotations

import abc
import os
import threading

import dask.array as dsa
import numpy as np
from dask.base import tokenize

from ...errors import ReadError

# The HDF4 library is not thread-safe: every pyhdf call goes through this lock.
HDF4_LOCK = threading.Lock()


class _FileDataset(abc.ABC):
    """Array-like view of one dataset in a file; ``__getitem__`` reads only the requested slice and names the
    file when it cannot (a file moved, deleted or damaged after the lazy open fails at compute)."""

    def __init__(self, path: str, name: str, shape: tuple[int, ...], dtype):
        self.path = str(path)
        self.name = name
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        try:
            return self._read(key)
        except Exception as err:  # noqa: BLE001 - pyhdf and h5py raise their own kinds, without the file name
            failure = ReadError(
                f"{self.path}: could not read {self.name!r} ({type(err).__name__}: {err}); the file was opened "
                "lazily and has since been moved, deleted or damaged. Put it back (or re-download it) and "
                "open it again with eoxr.io.open_product."
            )
        raise failure  # outside the except block: pyhdf's exception may not unpickle on a distributed client

    @abc.abstractmethod
    def _read(self, key) -> np.ndarray:
        """The values of ``self.name`` at ``key``, read from the file."""


class HDF4Dataset(_FileDataset):
    """One scientific data set (SDS) of an HDF4 file, read with pyhdf."""

    def _read(self, key):
        from pyhdf.SD import SD, SDC

        with HDF4_LOCK:
            sd = SD(self.path, SDC.READ)
            try:
                sds = sd.select(self.name)
                try:
                    return np.asarray(sds[key], dtype=self.dtype)
                finally:
                    sds.endaccess()
            finally:
                sd.end()


class HDF5Dataset(_FileDataset):
    """One dataset of an HDF5 file, read with h5py (which serialises its own calls)."""

    def _read(self, key):
        import h5py

        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.name][key], dtype=self.dtype)


def to_dask(source: _FileDataset, chunks) -> dsa.Array:
    """Wrap ``source`` as a dask array; the name depends on path, mtime and dataset so re-opens dedupe."""
    mtime = os.stat(source.path).st_mtime_ns
    name = f"read-{source.name.replace('/', '_').replace(' ', '_')}-{tokenize(source.path, mtime, source.name, chunks)}"
    meta = np.empty((0,) * source.ndim, dtype=source.dtype)
    return dsa.from_array(source, chunks=chunks, name=name, asarray=False, meta=meta, fancy=False)


def decode(
    raw: dsa.Array,
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    fill=None,
    valid_range=None,
    inverse: bool = False,
    dtype=np.float32,
) -> dsa.Array:
    """Stored numbers -> physical values, lazily; fill and out-of-range values become NaN.

    ``inverse=False``: value = DN * scale + offset (CF convention).
    ``inverse=True``: value = (DN - offset) / scale (the HDF4 ``SDsetcal`` convention that MOD09 and
    MOD13 files follow with scale_factor = 10000).
    """
    invalid = None
    if fill is not None and _representable(fill, raw.dtype):
        invalid = raw == np.asarray(fill).astype(raw.dtype)
    if valid_range is not None:
        lo, hi = valid_range
        out = (raw < lo) | (raw > hi)
        invalid = out if invalid is None else invalid | out
    values = raw.astype(dtype)
    if inverse:
        values = (values - dtype(offset)) / dtype(scale)
    elif scale != 1.0 or offset != 0.0:
        values = values * dtype(scale) + dtype(offset)
    if invalid is not None:
        values = dsa.where(invalid, dtype(np.nan), values)
    return values


def _representable(value, dtype) -> bool:
    """Whether ``value`` is a number the stored type can hold (a fill outside it can never occur)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return float(value).is_integer() and info.min <= value <= info.max
    return dtype.kind == "f"


def chunks_for(shape: tuple[int, ...], chunks) -> tuple:
    """Normalise a user ``chunks`` (None, int, tuple or {'y':, 'x':}) for a (..., y, x) array."""
    if chunks is None:
        chunks = 1200
    if isinstance(chunks, dict):
        cy = chunks.get("y", chunks.get("along_track", 1200))
        cx = chunks.get("x", chunks.get("cross_track", 1200))
        chunks = (cy, cx)
    if isinstance(chunks, int):
        chunks = (chunks, chunks)
    lead = tuple(-1 for _ in shape[:-2])
    return lead + tuple(min(int(c), n) if c != -1 else n for c, n in zip(chunks, shape[-2:]))
