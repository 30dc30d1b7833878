"""Cube layout decisions: Zarr format, chunk sizes, compression codecs and the encoding of new variables."""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import CubeError

ZARR_FORMAT = 3
# Consolidated metadata: on. The root zarr.json then holds every array's metadata, so a change to the cube
# (an append, new variables, a rollback) becomes visible to readers in one atomic write of that file, and
# readers that use it (eoxr.cube.open, xr.open_zarr with its defaults, the intake entry) never see an array
# resized before its data are written. eoxr writes it again after every change it makes (region writes
# change no metadata). It is not part of the Zarr v3 specification: zarr-python warns when it is written
# (silenced in eoxr), readers that ignore it read the arrays' own zarr.json files.
CONSOLIDATED = True

# Compression. "lz4" (default): Blosc with LZ4 after a bit shuffle, a Zarr v3 core codec. On 1024^2 float32
# reflectance chunks (benchmarks/io.py data) it wrote ~5x and read ~3x faster than Zstandard level 3 for
# ~1.5x the bytes; 16-bit integers stored packed (pack=True) with it took 26.6 MB against 45 MB for float32
# with Zstandard. "zstd": Zstandard at level ZSTD_LEVEL, the smallest float cubes, for archives written once.
COMPRESSION = "lz4"
COMPRESSIONS = ("lz4", "zstd")
ZSTD_LEVEL = 3
BLOSC_LEVEL = 5
TIME_ENCODING = {"units": "microseconds since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "int64"}
SPATIAL_DIMS = ("y", "x")

ChunksArg = Literal["auto"] | Mapping[Hashable, int] | None


def chunk_policy(
    ds: xr.Dataset | xr.DataArray,
    *,
    target_mib: float = 16.0,
    min_xy: int = 512,
    max_xy: int = 2048,
    time: int = 1,
) -> dict[Hashable, int]:
    """Default chunk sizes for a datacube, one entry per dimension of ``ds``.

    - ``time``: ``time`` (default 1) steps per chunk, so an append adds whole chunks and reading one date
      reads one chunk per tile.
    - ``y``/``x``: square tiles whose side aims at ``target_mib`` MiB per chunk (default 16, so chunks land
      in 8-32 MiB), rounded down to a multiple of 256 pixels, clamped to ``[min_xy, max_xy]`` pixels and to
      the size of the dimension.
    - any other dimension (``band``, ``channel``, ``element``...): its whole length, so a spectrum is one read.

    Sizes count the encoded item size: float64 variables are stored as float32 (4 bytes).
    """
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "data")
    policy: dict[Hashable, int] = {}
    for dim, size in ds.sizes.items():
        if dim == "time":
            policy[dim] = max(1, min(time, size))
        elif dim not in SPATIAL_DIMS:
            policy[dim] = int(size)
    # Bytes per pixel column: item size times the other (whole) dimensions, worst variable wins.
    per_pixel = 0
    for var in ds.data_vars.values():
        if not set(SPATIAL_DIMS) & set(var.dims):
            continue
        itemsize = 4 if var.dtype.kind == "f" else var.dtype.itemsize
        others = math.prod(policy[d] for d in var.dims if d not in SPATIAL_DIMS)
        per_pixel = max(per_pixel, itemsize * others)
    side = math.isqrt(int(target_mib * 2**20 / max(per_pixel, 1)))
    side = min(max((side // 256) * 256, min_xy), max_xy)
    for dim in SPATIAL_DIMS:
        if dim in ds.sizes:
            policy[dim] = max(1, min(side, int(ds.sizes[dim])))
    return policy


def _resolve_chunks(ds: xr.Dataset, chunks: ChunksArg) -> dict[Hashable, int] | None:
    if chunks is None:
        return None
    if isinstance(chunks, str):
        if chunks != "auto":
            raise CubeError(f"chunks={chunks!r} is not understood: pass 'auto', a dict like {{'time': 1, "
                            "'y': 1024, 'x': 1024}, or None to keep the dataset's own dask chunks.")
        return chunk_policy(ds)
    policy = chunk_policy(ds)
    unknown = [d for d in chunks if d not in ds.dims]
    if unknown:
        raise CubeError(f"chunks names dimension(s) {unknown} that the dataset lacks; it has {tuple(ds.dims)}.")
    bad = {d: c for d, c in chunks.items() if c not in (-1, None) and not (isinstance(c, (int, np.integer)) and c > 0)}
    if bad:
        raise CubeError(f"chunks={dict(chunks)!r}: chunk sizes must be positive integers (or -1/None for the whole "
                        f"dimension), not {bad}; e.g. chunks={{'time': 1, 'y': 1024, 'x': 1024}}.")
    policy.update({d: (int(ds.sizes[d]) if c in (-1, None) else int(c)) for d, c in chunks.items()})
    return policy


def _aligned(start: int, length: int, chunk: int) -> tuple[int, ...]:
    """Dask chunks for ``length`` items written from ``start`` into a zarr array chunked by ``chunk``:
    every dask chunk covers whole zarr chunks, so no two tasks write the same zarr chunk."""
    sizes = []
    first = min(length, chunk - start % chunk)
    if first:
        sizes.append(first)
    left = length - first
    while left > 0:
        sizes.append(min(chunk, left))
        left -= chunk
    return tuple(sizes) or (0,)


def _compressor(compression: str):
    """The Zarr v3 codec for ``compression`` ("lz4" or "zstd", see :data:`COMPRESSION`)."""
    from zarr.codecs import BloscCodec, ZstdCodec

    if compression == "lz4":
        return BloscCodec(cname="lz4", clevel=BLOSC_LEVEL, shuffle="bitshuffle")
    if compression == "zstd":
        return ZstdCodec(level=ZSTD_LEVEL)
    raise CubeError(f"compression={compression!r} is not one of {COMPRESSIONS}: 'lz4' writes and reads fastest, "
                    "'zstd' makes the smallest cube.")


def _new_cube_encoding(ds: xr.Dataset, compression: str = COMPRESSION) -> dict[Hashable, dict]:
    codec = _compressor(compression)
    encoding: dict[Hashable, dict] = {}
    for name, var in ds.data_vars.items():
        enc: dict[str, Any] = {"compressors": (codec,)}
        if var.dtype == np.float64:
            enc["dtype"] = "float32"  # satellite retrievals carry < 7 significant digits; half the bytes
        encoding[name] = enc
    for name, var in ds.variables.items():
        if np.issubdtype(var.dtype, np.datetime64):
            # Fixed units so appended times (sub-second acquisition stamps too) encode exactly as int64.
            encoding.setdefault(name, {}).update(TIME_ENCODING)
    return encoding


def _stored_chunks(cube: xr.Dataset) -> dict[Hashable, int]:
    chunks: dict[Hashable, int] = {}
    for var in cube.data_vars.values():
        for dim, size in zip(var.dims, var.encoding.get("chunks") or ()):
            chunks.setdefault(dim, int(size))
    return chunks
