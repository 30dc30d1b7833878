"""Zarr v3 datacubes: write, append along time, fill regions and open lazily, CRS and CF attributes kept.

Nothing is half-written: a full write goes to a sibling folder that replaces the cube only once every chunk
is on disk, and an append that fails is rolled back to the cube as it was before (array lengths, the chunks
that straddle the old end, attributes).

    >>> eoxr.cube.write(ds, "lst.zarr")                                    # new cube, chunk_policy(ds)
    >>> eoxr.cube.write(next_days, "lst.zarr", mode="a", append_dim="time")
    >>> eoxr.cube.write(tile, "lst.zarr", region="auto")                   # fill part of an existing cube
    >>> cube = eoxr.cube.open("lst.zarr")                                  # lazy, CRS restored

Modules: ``policy`` (format, chunk sizes, codecs, encodings), ``prepare`` (what Zarr can store),
``pack`` (lossless integer packing), ``write`` (modes, atomic swap of new cubes), ``append`` and
``snapshot`` (appends and their rollback), ``region`` (region writes), ``checks`` (grid and variable
checks), ``progress`` (running the write), ``open`` and ``ingest``.
"""
from __future__ import annotations

from .ingest import ingest
from .open import open  # noqa: A004 - the cube's open, as eoxr.cube.open
from .policy import COMPRESSION, CONSOLIDATED, ZARR_FORMAT, ZSTD_LEVEL, _compressor, chunk_policy
from .progress import _distributed_client
from .verify import CubeReport, verify
from .write import write

__all__ = ["chunk_policy", "write", "open", "ingest", "verify", "CubeReport", "CONSOLIDATED", "ZARR_FORMAT"]
