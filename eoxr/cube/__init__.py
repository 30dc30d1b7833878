"""Zarr v3 datacubes: write, append along time, fill regions and open lazily, CRS and CF attributes kept.

Nothing is half-written: one writer at a time holds a cube's lock; a full write goes to a sibling folder that
replaces the cube only once every chunk is on disk; an append is written first and committed last, in one
atomic write of the consolidated metadata, so readers never see a step that was not written; an append that
fails is rolled back (array lengths, the chunks that straddle the old end, attributes), one killed midway
is undone by the next writer from its journal. Local paths, URLs (``s3://``, ``gs://``, ``memory://``, with
``storage_options``) and fsspec mappers are accepted everywhere.

    >>> eoxr.cube.write(ds, "lst.zarr")                                    # new cube, chunk_policy(ds)
    >>> eoxr.cube.write(next_days, "lst.zarr", mode="a", append_dim="time")
    >>> eoxr.cube.write(tile, "lst.zarr", region="auto")                   # fill part of an existing cube
    >>> cube = eoxr.cube.open("lst.zarr")                                  # lazy, CRS restored
    >>> eoxr.cube.verify("lst.zarr").raise_if_broken()                     # every chunk there and decodable

Modules: ``policy`` (format, chunk sizes, codecs, encodings), ``prepare`` (what Zarr can store),
``pack`` (lossless integer packing), ``write`` (modes, atomic swap of new cubes), ``append`` and
``snapshot`` (appends, their rollback and the commit), ``journal`` (changes in progress, recovery), ``lock``
(the writer lock), ``paths`` (local folders and object stores), ``region`` (region writes), ``checks`` (grid,
variable and value checks), ``progress`` (running the write), ``open``, ``verify`` and ``ingest``.
"""
from __future__ import annotations

from .ingest import ingest
from .open import open  # noqa: A004 - the cube's open, as eoxr.cube.open
from .policy import COMPRESSION, CONSOLIDATED, ZARR_FORMAT, ZSTD_LEVEL, _compressor, chunk_policy
from .progress import _distributed_client
from .verify import CubeReport, verify
from .write import write

__all__ = ["chunk_policy", "write", "open", "ingest", "verify", "CubeReport", "CONSOLIDATED", "ZARR_FORMAT"]
