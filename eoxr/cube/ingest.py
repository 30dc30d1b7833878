"""``ingest``: STAC items to a cube in one call."""
from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import Literal

from ..errors import SourceDtypeError
from .paths import _location
from .policy import COMPRESSION, ChunksArg
from .write import write


def ingest(
    items,
    path: str | os.PathLike,
    *,
    bands=None,
    resolution=None,
    crs=None,
    bbox=None,
    chunks: ChunksArg = "auto",
    mode: Literal["w-", "w", "a"] = "w-",
    append_dim: Hashable | None = None,
    engine: str = "stackstac",
    progress: bool = True,
    compression: str = COMPRESSION,
    pack: bool = True,
    storage_options: dict | None = None,
    catalog=None,
    **load_kwargs,
):
    """STAC items -> cube: :func:`eoxr.io.load` (lazy) then :func:`write`.

    ``chunks`` (dict) is also the read chunking; ``"auto"`` reads with eoxr.io's default and writes with
    :func:`chunk_policy`. Extra keywords (``bbox_crs``, ``groupby``, ``dtype``, ``resampling``, ``on_error``)
    go to :func:`eoxr.io.load`. ``mode="a", append_dim="time"`` adds newer scenes to an existing cube.
    ``pack`` (default True here: the values come straight from the integer files) and ``compression`` are
    those of :func:`write`; with ``pack`` a new cube receives the files' integers as they are
    (``eoxr.io.load(dtype="source")``) when the bands allow it, so no float is made or checked on the way.
    ``storage_options`` go with a URL ``path`` (``s3://bucket/s2.zarr``). An ingest that was interrupted is
    completed by running it again: scenes already in the cube are skipped (see :func:`write`). ``catalog``
    (a static catalog's ``catalog.json``) gets the cube's STAC item, in collection ``eoxr-ingest``, naming the
    scene items as its inputs (see :func:`write`).
    """
    from ..io import load

    read_chunks = dict(chunks) if isinstance(chunks, Mapping) else None
    kwargs = dict(bands=bands, resolution=resolution, crs=crs, bbox=bbox, chunks=read_chunks, engine=engine,
                  **load_kwargs)
    ds = None
    new_cube = mode != "a" or not _location(path, storage_options).is_cube()
    as_source = (pack and new_cube and "dtype" not in load_kwargs and load_kwargs.get("groupby") is None
                 and load_kwargs.get("on_error", "raise") == "raise"
                 and load_kwargs.get("resampling", "nearest") == "nearest")
    if as_source:
        # The files' integers go to the cube untouched (no float conversion, no packing pass); bands must share
        # one 8/16-bit type and nodata, and one scale/offset per band, else the floats are loaded and packed.
        try:
            ds = load(items, dtype="source", **kwargs)
        except SourceDtypeError:
            ds = None
        if ds is not None and any(v.dtype.itemsize > 2 for v in ds.data_vars.values()):
            ds = None
    if ds is None:
        ds = load(items, **kwargs)
    return write(ds, path, mode=mode, append_dim=append_dim, chunks=chunks, progress=progress,
                 compression=compression, pack=pack, storage_options=storage_options, catalog=catalog)
