"""Chunk tasks over an image and the whole-image stacks that go with it: a tiler for windowed solvers.

The urban inversion solves, for every pixel, a problem over the window of pixels around it, and a window needs
more than the image: the geometric features of its pixels (computed in tasks of their own, by tiles of the
image) and, in a second pass, vectors that hold for the whole scene (from a first pass). :func:`stack_run` runs
a function on the stack (channels, y, x) of all of these with a halo of ``h`` pixels, one task per chunk of
the image, so that chunked == unchunked. What it does that a plain ``dask.array.map_overlap`` cannot:

- **parts in tiles of their own**: a part is the output of tasks that cover the image by tiles (one per row
  chunk and run of column chunks, :func:`tile_edges`), each a dict of named arrays (the features computed
  together); a chunk's task slices its window, halo included, from the tiles its window overlaps. With
  ``map_overlap`` every part would first be an array of the image's chunks: a getitem, slicing and padding
  tasks per part and chunk, and a scheduler round trip each;
- **halos gathered in the task**: each chunk's task takes its halo from its (up to 8) neighbouring chunks
  itself, where ``da.overlap`` adds some ten slicing and padding tasks per chunk;
- **scene-level constants**: a vector (a Dask array of one chunk, e.g. the result of a first pass) repeated in
  every pixel, read by key, so that what computed it runs once;
- **reductions**: with ``reduce=True`` each task returns a vector of sums over its pixels and the result is
  their total (one more task), the first pass of an empirical-Bayes inversion (:mod:`.scene`), where
  ``map_overlap`` returns arrays of the image's shape only.

Eager (numpy) input runs the same function once, on the whole image padded by ``h`` NaN pixels.
"""
from __future__ import annotations

import numpy as np

from ..errors import GridError

MIN_TILE_PX = 64  # feature tiles span column chunks up to this width at least


def _halo_slice(part, y0, x0, hy, hx, ny, nx):
    """Rows y0..y0+hy, columns x0..x0+hx of the whole-image ``part`` (C, ny, nx); NaN outside the image."""
    out = np.full((part.shape[0], hy, hx), np.nan)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y0 + hy, ny), min(x0 + hx, nx)
    if sy1 > sy0 and sx1 > sx0:
        out[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = part[:, sy0:sy1, sx0:sx1]
    return out


def _with_halo(around, h: int) -> np.ndarray:
    """The centre chunk of ``around`` (3 x 3 nested lists of neighbouring chunks (C, y, x), None beyond the
    image) with ``h`` pixels of its neighbours on every side, NaN beyond the image."""
    c = around[1][1]
    hs, ws = (h, c.shape[1], h), (h, c.shape[2], h)
    oy, ox = np.cumsum((0,) + hs), np.cumsum((0,) + ws)
    out = np.full((c.shape[0], oy[-1], ox[-1]), np.nan)
    take = (slice(-h, None), slice(None), slice(0, h))  # rows/columns of the neighbour above/left, centre, below/right
    for a in range(3):
        for b in range(3):
            n = around[a][b]
            if n is not None and hs[a] and ws[b]:
                out[:, oy[a]:oy[a + 1], ox[b]:ox[b + 1]] = n[:, take[a], take[b]]
    return out


def _pick(source, name):
    """A part of the stack: ``source[name]``, or ``source`` itself when ``name`` is None."""
    return source if name is None else source[name]


def _mosaic(sources, name) -> np.ndarray:
    """One part, (C, rows, columns), from its sources: rows of tiles (nested lists), adjacent in the image."""
    rows = [np.concatenate([_pick(v, name) for v in row], axis=-1) if len(row) > 1 else _pick(row[0], name)
            for row in sources]
    p = np.concatenate(rows, axis=-2) if len(rows) > 1 else rows[0]
    return p.reshape(-1, *p.shape[-2:])


def _stack_block(around, parts, const, at, h, func):
    """One chunk's task: its window of the image (with halo), of the parts (``[sources, first row, first
    column, name]``: the tiles its window overlaps) and of ``const``."""
    y0, x0, hy, hx = at[:4]
    chans = [_with_halo(around, h)]
    for sources, row0, col0, name in parts:
        p = _mosaic(sources, name)
        chans.append(_halo_slice(p, y0 - row0, x0 - col0, hy, hx, *p.shape[-2:]))
    if const is not None:
        c = np.asarray(const, dtype=float)
        chans.append(_halo_slice(np.broadcast_to(c[:, None, None], (len(c),) + at[-2:]), *at))
    return func(np.concatenate(chans))


def halo_ready(y, h: int):
    """Dask array ``y`` (..., Y, X) rechunked, if need be, so that a halo of ``h`` pixels reaches the next chunk
    only: its chunks are the tiles of :func:`stack_run`'s parts."""
    cy, cx = y.chunks[-2:]
    if min(cy + cx) < max(h, 1):
        y = y.rechunk({y.ndim - 2: max(h, max(cy)), y.ndim - 1: max(h, max(cx))})
    return y


def _sum_of(vectors) -> np.ndarray:
    return np.sum(vectors, axis=0)


def stack_run(y, parts, func, nout, h, lazy, const=None, reduce: bool = False):
    """Run ``func`` on the stack (C, Y, X) of the image ``y``, the whole-image ``parts`` (each (..., Y, X),
    flattened to channels) and ``const`` (a vector repeated in every pixel), with a NaN halo of ``h`` pixels.
    A part is ``(sources, name, col_edges)``: ``source[name]`` (``source`` itself when ``name`` is None) of the
    sources, rows of tiles (nested lists): one row for the whole image or one per row chunk of
    :func:`halo_ready` ``(y)``, and in each row one tile for all columns (``col_edges`` None) or one per interval
    of ``col_edges`` (pixel columns; tiles span whole chunks).

    ``reduce``: ``func`` returns a vector (``nout``,) of sums over its pixels instead of channels, and the result
    is their total over the image (Dask: one more task).

    Eager: on the whole image. Lazy: one task per chunk of ``y``, which takes its halo from the (up to 8)
    neighbouring chunks itself and slices its window of the parts from the sources of its tile and their
    neighbours; the sources (Dask delayed objects, e.g. a dict of features computed together) and ``const`` are
    computed once, so the graph holds one task per chunk however many channels the stack has (halos by
    ``da.overlap`` cost some ten slicing and padding tasks per chunk, and a getitem task per part would add a
    scheduler round trip each).
    """
    if not lazy:
        chans = [np.asarray(y, dtype=float)] + [_mosaic(*p[:2]) for p in parts]
        if const is not None:
            chans.append(np.broadcast_to(np.asarray(const, float)[:, None, None], (len(const),) + y.shape[1:]))
        padded = np.pad(np.concatenate(chans), ((0, 0), (h, h), (h, h)), constant_values=np.nan)
        return func(padded)
    import uuid

    import dask
    import dask.array as da
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    y = halo_ready(y.rechunk({0: -1}), h)
    cy, cx = tuple(y.chunks[1]), tuple(y.chunks[2])
    ny, nx = sum(cy), sum(cx)
    oy, ox = np.cumsum((0,) + cy), np.cumsum((0,) + cx)
    deps = {}
    tiles = []
    for sources, pname, col_edges in parts:
        nr, nc = len(sources), len(sources[0])
        if nr not in (1, len(cy)) or nc != (1 if col_edges is None else len(col_edges) - 1):
            raise GridError(f"a part has {nr} x {nc} tiles for {len(cy)} row chunks of the image and column "
                            f"edges {col_edges}: give it one row of tiles or one per row chunk, and one tile per "
                            "interval of its column edges")
        ds = [[src if isinstance(src, Delayed) else dask.delayed(src) for src in row] for row in sources]
        deps.update({d.key: d for row in ds for d in row})
        tiles.append(([[d.key for d in row] for row in ds], col_edges, pname))
    # a Dask ``const`` enters by the key of its one chunk: wrapped in a delayed call, its graph would be optimised
    # under new keys, and every task upstream of it (the features, the horizons) would run twice
    cdeps, ckey = [], None
    if isinstance(const, da.Array):
        const = const.rechunk(-1)
        cdeps, ckey = [const], (const.name, 0)
    elif const is not None:
        ckey = np.asarray(const, dtype=float)
    name = f"urban-window-{uuid.uuid4().hex}"  # func may be a closure: a token would not tell passes apart

    def key(i, j):
        return (y.name, 0, i, j) if 0 <= i < len(cy) and 0 <= j < len(cx) else None

    def span(edges, lo, hi, n):  # the tiles of ``edges`` that pixels [lo, hi) overlap: first, end, first pixel
        if edges is None:
            return 0, 1, 0
        k0 = max(int(np.searchsorted(edges, lo, "right")) - 1, 0)
        return k0, min(int(np.searchsorted(edges, hi, "left")), n), int(edges[k0])

    dsk = {}
    for i in range(len(cy)):
        for j in range(len(cx)):
            pk = []
            for keys, col_edges, pname in tiles:
                i0, i1, r0 = span(None if len(keys) == 1 else oy, oy[i] - h, oy[i + 1] + h, len(keys))
                j0, j1, c0 = span(col_edges, ox[j] - h, ox[j + 1] + h, len(keys[0]))
                pk.append([[row[j0:j1] for row in keys[i0:i1]], r0, c0, pname])
            around = [[key(i + a, j + b) for b in (-1, 0, 1)] for a in (-1, 0, 1)]
            at = (int(oy[i]) - h, int(ox[j]) - h, cy[i] + 2 * h, cx[j] + 2 * h, ny, nx)
            dsk[(name, 0, i, j)] = (_stack_block, around, pk, ckey, at, h, func)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[y, *deps.values(), *cdeps])
    if not reduce:
        return da.Array(graph, name, chunks=((nout,), cy, cx), dtype=float, meta=np.empty((0, 0, 0)))
    blocks = da.Array(graph, name, chunks=((nout,), (1,) * len(cy), (1,) * len(cx)), dtype=float,
                      meta=np.empty((0, 0, 0)))  # the chunk tasks' vectors, as they are (not arrays of that shape)
    total = f"{name}-sum"
    graph = HighLevelGraph.from_collections(total, {(total, 0): (_sum_of, list(dsk))}, dependencies=[blocks])
    return da.Array(graph, total, chunks=((nout,),), dtype=float, meta=np.empty((0,)))


def tile_edges(col_chunks, min_px: int) -> np.ndarray:
    """Column edges (pixels) of feature tiles: runs of consecutive column chunks, each at least ``min_px`` wide
    (the last one may hold the rest)."""
    edges, width = [0], 0
    for c in col_chunks:
        width += c
        if width >= min_px:
            edges.append(edges[-1] + width)
            width = 0
    if width:
        if len(edges) > 1:
            edges[-1] += width
        else:
            edges.append(width)
    return np.array(edges)
