"""The learned super-resolution chain on one torch device: bicubic, network, conservation (imports torch).

For ``method="sisr"``/``"disr"``, :func:`eoxr.lst.superres` runs the whole chain of each chunk on the model's
device (CUDA when present) instead of moving data between numpy, Dask and torch at every step:

1. bicubic upsampling of the coarse LST (Keys 1981 cubic convolution, the phase weights of
   :mod:`eoxr.lst.baselines`, NaN-aware as there);
2. the network on the upsampled LST (made to conserve the coarse LST first, step 3, for a network trained
   so: checkpoint metadata ``upsampling="backprojected"``) and the guide, normalised with the checkpoint's
   statistics, averaged over the four mirror images (self-ensemble), which go through the network in one
   batch with the tiles; its detail (output minus input) scaled by the method's weight (``detail_weight``,
   ``guide_weight``);
3. the conservation step of :func:`eoxr.lst.baselines.conserve` in the radiance domain: ``backprojections``
   iterations of the coarse residual of T^4 upsampled by cubic convolution (Irani & Peleg 1991), then the
   remainder flat per coarse pixel, in the input's floating-point precision.

A chunk is cut into tiles of ``tile`` coarse pixels, each extended by :func:`chain_halo` coarse pixels of
context (the reach of the bicubic kernel, of the network and of every back-projection), which are dropped
after the chain; the tiles (times the mirror images) go through the network ``batch_size`` at a time. Every
step is local and pads the image's own edges as the numpy path does (repeated edge), so the result equals the
numpy path (:func:`eoxr.ml.predict` then :func:`~eoxr.lst.baselines.conserve`) within round-off, whatever
the chunks and tiles.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .baselines import HALO, _weights

#: tiles per forward pass by device kind (each tile goes in with its mirror images): a CPU gains nothing from
#: larger batches and holds their activations in memory (a 128 px tile at x4 and 24 channels: 160 MB); a GPU
#: needs many tiles at once to be busy
BATCH = {"cpu": 1, "cuda": 16, "mps": 4}

# mirror images of the self-ensemble, as flipped axes of a (batch, channel, y, x) tensor
FLIP_DIMS = ((), (-2,), (-1,), (-2, -1))


def chain_halo(receptive_field: int, factor: int, backprojections: int) -> int:
    """Coarse pixels of context one output pixel of the chain depends on: the bicubic kernel's (2), the
    network's half receptive field (in coarse pixels, rounded up) and the bicubic kernel's again for each
    back-projection, before and after the network (the residual of a coarse pixel spreads over its
    neighbours)."""
    return HALO + math.ceil(receptive_field / 2 / factor) + HALO * backprojections + 1


def _upsample_axis(a: torch.Tensor, w: torch.Tensor, axis: int) -> torch.Tensor:
    """Upsample along ``axis`` of an edge-padded (by :data:`HALO`) tensor with phase weights ``w`` (f, 5)."""
    a = a.movedim(axis, -1)
    n = a.shape[-1] - 2 * HALO
    out = sum(a[..., j: j + n, None] * w[:, j] for j in range(2 * HALO + 1))
    return out.reshape(*a.shape[:-1], n * w.shape[0]).movedim(-1, axis)


def _separable(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return _upsample_axis(_upsample_axis(a, w, -2), w, -1)


def upsample(coarse: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic upsampling of (..., y, x) with the image's edges repeated, NaN-aware as
    :func:`eoxr.lst.baselines.upsample_data`: where the cubic support touches a NaN, bilinear weights
    normalised over the valid neighbours; fine pixels of a NaN coarse pixel stay NaN."""
    if factor == 1:
        return coarse
    shape = coarse.shape
    flat = coarse.reshape(-1, 1, *shape[-2:])
    padded = F.pad(flat, (HALO,) * 4, mode="replicate").reshape(*shape[:-2], *(s + 2 * HALO for s in shape[-2:]))
    wc, wl = (torch.as_tensor(_weights(factor, kind), dtype=coarse.dtype, device=coarse.device)
              for kind in ("cubic", "linear"))
    cubic = _separable(padded, wc)
    valid = torch.isfinite(padded)
    num = _separable(torch.where(valid, padded, 0.0), wl)
    den = _separable(valid.to(coarse.dtype), wl)
    out = torch.where(torch.isfinite(cubic), cubic, num / den)
    parent = repeat_blocks(torch.isfinite(coarse), factor)
    return torch.where(parent, out, torch.nan)


def repeat_blocks(a: torch.Tensor, factor: int) -> torch.Tensor:
    """Each coarse pixel repeated ``factor`` x ``factor`` times."""
    return a.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def block_mean(a: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean of the finite pixels of each ``factor`` x ``factor`` block (NaN where a block has none)."""
    *lead, h, w = a.shape
    valid = torch.isfinite(a)
    blocks = (h // factor, factor, w // factor, factor)
    total = torch.where(valid, a, 0.0).reshape(*lead, *blocks).sum(dim=(-3, -1))
    count = valid.to(a.dtype).reshape(*lead, *blocks).sum(dim=(-3, -1))
    return torch.where(count > 0, total / count.clamp(min=1.0), torch.nan)


def conserve(fine: torch.Tensor, coarse: torch.Tensor, factor: int, backprojections: int) -> torch.Tensor:
    """:func:`eoxr.lst.baselines.conserve` in the radiance domain: the result aggregated (mean T^4 per block)
    equals ``coarse``; ``backprojections`` smooth steps first, then the remainder flat per coarse pixel."""
    xf, xc = fine ** 4, coarse ** 4
    for _ in range(backprojections):
        residual = xc - block_mean(xf, factor)
        xf = xf + upsample(torch.where(torch.isfinite(residual), residual, 0.0), factor)
    out = xf + repeat_blocks(xc - block_mean(xf, factor), factor)
    return torch.where(out > 0, out, torch.nan) ** 0.25


def _ensemble(model, x: torch.Tensor, flips) -> torch.Tensor:
    """Mean of the network over the mirror images of ``x`` (batch, channel, y, x), all in one batch."""
    batch = torch.cat([x.flip(d) if d else x for d in flips])
    out = model(batch)
    out = out[0] if isinstance(out, tuple) else out
    parts = out.float().chunk(len(flips))
    return sum(p.flip(d) if d else p for p, d in zip(parts, flips)) / len(flips)


class Chain:
    """The chain for one checkpoint on one device: network, normalisation, factor, conservation."""

    def __init__(self, model, config: dict, factor: int, backprojections: int | None, ensemble: bool,
                 device: str, input_backprojections: int | None = None):
        self.model, self.factor, self.device = model, factor, device
        self.backprojections, self.input_backprojections = backprojections, input_backprojections
        self.flips = FLIP_DIMS if ensemble else FLIP_DIMS[:1]
        stats = config["normalisation"]
        mean = np.concatenate([np.asarray(stats[n]["mean"], "f4") for n in config["inputs"]])
        std = np.concatenate([np.asarray(stats[n]["std"], "f4") for n in config["inputs"]])
        self.in_mean = torch.as_tensor(mean, device=device).view(1, -1, 1, 1)
        self.in_std = torch.as_tensor(std, device=device).view(1, -1, 1, 1)
        t = stats[config["target"]]
        self.out_mean, self.out_std = float(t["mean"][0]), float(t["std"][0])

    def __call__(self, coarse: torch.Tensor, guide: torch.Tensor | None, weight: float = 1.0) -> torch.Tensor:
        """Fine LST (batch, y * factor, x * factor) of coarse LST tiles (batch, y, x) and guide tiles
        (batch, guides, y * factor, x * factor), in the coarse tiles' precision; ``weight`` scales the
        network's detail (its output minus the bicubic upsampling)."""
        up = upsample(coarse, self.factor)
        if self.input_backprojections is not None:  # a network that learned from bicubic plus conservation
            up = conserve(up, coarse, self.factor, self.input_backprojections)
        x = up[:, None].float() if guide is None else torch.cat([up[:, None].float(), guide.float()], dim=1)
        empty = torch.isnan(x).all(dim=1)
        x = torch.nan_to_num((x - self.in_mean) / self.in_std, nan=0.0)
        with torch.no_grad():
            pred = _ensemble(self.model, x, self.flips)[:, 0] * self.out_std + self.out_mean
        pred = pred.to(coarse.dtype)
        if weight != 1.0:
            pred = up + weight * (pred - up)
        parent = repeat_blocks(torch.isfinite(coarse), self.factor)
        fine = torch.where(parent & ~empty, pred, torch.nan)
        if self.backprojections is None:
            return fine
        return conserve(fine, coarse, self.factor, self.backprojections)


def _spans(lo: int, hi: int, size: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(core start, core stop, region start, region stop) of the tiles along one axis of ``size`` pixels."""
    return [(c0, min(c0 + tile, hi), max(c0 - halo, 0), min(c0 + tile + halo, size)) for c0 in range(lo, hi, tile)]


def run_tiles(chain: Chain, coarse: np.ndarray, weight: float, guide: np.ndarray | None, core, halo: int,
              tile: int, batch_size: int) -> np.ndarray:
    """The chain over a (y, x) coarse array (and its (guides, y * f, x * f) guide) cut into tiles of ``tile``
    coarse pixels with ``halo`` of context; returns the fine LST of the ``core`` window ((y0, y1), (x0, x1))."""
    f = chain.factor
    (y0, y1), (x0, x1) = core
    ny, nx = coarse.shape
    out = np.full(((y1 - y0) * f, (x1 - x0) * f), np.nan, dtype=coarse.dtype)
    c_dev = torch.as_tensor(coarse, device=chain.device)
    g_dev = None if guide is None else torch.as_tensor(guide, device=chain.device)
    groups: dict[tuple[int, int], list] = {}
    for ty in _spans(y0, y1, ny, tile, halo):
        for tx in _spans(x0, x1, nx, tile, halo):
            groups.setdefault((ty[3] - ty[2], tx[3] - tx[2]), []).append((ty, tx))
    for members in groups.values():
        for i in range(0, len(members), batch_size):
            part = members[i:i + batch_size]
            c = torch.stack([c_dev[ty[2]:ty[3], tx[2]:tx[3]] for ty, tx in part])
            g = None if g_dev is None else torch.stack(
                [g_dev[:, ty[2] * f:ty[3] * f, tx[2] * f:tx[3] * f] for ty, tx in part])
            fine = chain(c, g, weight).cpu().numpy()
            for k, (ty, tx) in enumerate(part):
                ys = slice((ty[0] - ty[2]) * f, (ty[1] - ty[2]) * f)
                xs = slice((tx[0] - tx[2]) * f, (tx[1] - tx[2]) * f)
                out[(ty[0] - y0) * f:(ty[1] - y0) * f, (tx[0] - x0) * f:(tx[1] - x0) * f] = fine[k, ys, xs]
    return out
