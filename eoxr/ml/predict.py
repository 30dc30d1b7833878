"""Apply a checkpoint over a lazy dataset, chunk by chunk, with a halo (``dask.array.map_overlap``).

Each chunk is extended by ``halo`` pixels on every side that has a neighbour, cut into tiles of ``tile``
pixels (each again with its halo), the tiles are run through the network in batches and only the chunk's
own pixels are kept. Chunk and tile origins are moved onto multiples of the network's ``align`` (its pooling
factor) and the halo covers the receptive field, so the result equals one forward pass over the whole
array: no seams.

The network is loaded once per process (worker) and kept in a module-level cache keyed by the checkpoint's
path and modification time; :func:`load_count` tells how many times a checkpoint was loaded in this
process. Inputs are normalised with the statistics stored in the checkpoint. Where an input is NaN the
network sees 0 (the normalised mean); where every input is NaN the output is NaN.
"""
from __future__ import annotations

import collections
import math
import threading
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..attrs import cf, stamp
from ..errors import CheckpointError, EoxrWarning, MissingVariableError
from .patches import SPACE, channel_names, check_layout, stack_channels

_MODELS: dict[tuple, tuple] = {}
_LOCK = threading.Lock()
LOADS: collections.Counter = collections.Counter()


def load_count(checkpoint: str | Path | None = None) -> int:
    """How many times this process built a model from ``checkpoint`` (from any checkpoint if None)."""
    if checkpoint is None:
        return sum(LOADS.values())
    return LOADS[str(Path(checkpoint).resolve())]


def clear_cache() -> None:
    """Forget the cached models of this process (the load counter is kept)."""
    with _LOCK:
        _MODELS.clear()


def cached_model(checkpoint: str | Path, device: str = "auto"):
    """``(model, Checkpoint)`` for ``checkpoint`` on ``device``, loaded at most once per process and file version."""
    from . import checkpoint as ckpt_mod
    from .device import resolve_device

    path = Path(checkpoint).resolve()
    dev = resolve_device(device)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise CheckpointError(
            f"no checkpoint at {path} on this worker; put it on storage every worker can read"
        ) from None
    key = (str(path), mtime, dev)
    with _LOCK:  # dask runs tasks in threads: load once, not once per thread
        hit = _MODELS.get(key)
        if hit is None:
            ck = ckpt_mod.load(path, map_location="cpu")
            hit = (ck.build_model(dev), ck)
            for old in [k for k in _MODELS if k[0] == key[0] and k[2] == dev]:
                del _MODELS[old]  # a retrained file replaces its older version
            _MODELS[key] = hit
            LOADS[str(path)] += 1
        return hit


def _splitmix(z: np.ndarray) -> np.ndarray:
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def position_noise(seed: int, n: int, channels: int, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """Standard-normal draws ``(n, channels, len(gy), len(gx))`` that depend only on (seed, draw, channel,
    global latent row, column): every tiling of the array sees the same noise at the same place."""
    with np.errstate(over="ignore"):
        s, c, y, x = np.meshgrid(np.arange(n, dtype=np.uint64), np.arange(channels, dtype=np.uint64),
                                 gy.astype(np.uint64), gx.astype(np.uint64), indexing="ij")
        key = _splitmix(np.uint64(seed) * np.uint64(0x100000001B3) ^ s)
        key = _splitmix(key ^ (c << np.uint64(48)) ^ (y << np.uint64(24)) ^ x)
        k1, k2 = _splitmix(key), _splitmix(key ^ np.uint64(0xD6E8FEB86659FD93))
    u1 = ((k1 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = (k2 >> np.uint64(11)).astype(np.float64) / 2.0**53
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


def _tiles(lo: int, hi: int, size: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """(core start, core stop, extended start, extended stop) along one axis of a block of ``size``."""
    out = []
    for c0 in range(lo, hi, tile):
        c1 = min(c0 + tile, hi)
        out.append((c0, c1, max(c0 - halo, 0), min(c1 + halo, size)))
    return out


def infer_array(model, config: dict, block: np.ndarray, origin=(0, 0), core=None, halo: int = 0,
                tile: int = 512, batch_size: int = 16, device: str = "cpu", n_samples: int = 0,
                seed: int = 0) -> np.ndarray:
    """Run ``model`` over ``block`` ``(C, H, W)`` in physical units; returns ``(C_out, h, w)`` for the
    ``core`` window ``((y0, y1), (x0, x1))`` of the block (default: all of it).

    ``origin`` is the block's global (row, column): it fixes the VAE's sampling noise to global positions.
    With ``n_samples`` > 0 and a network that has ``sample``, returns the sample mean then the sample std.
    """
    import torch

    from .train import Normaliser

    _, H, W = block.shape
    (y0, y1), (x0, x1) = core or ((0, H), (0, W))
    align = int(config.get("align", 1))
    norm_in = Normaliser(config["normalisation"], config["inputs"])
    norm_out = Normaliser(config["normalisation"], [config["target"]])
    x = norm_in.forward(block.astype(np.float32, copy=False))
    all_nan = np.isnan(block).all(axis=0)
    x = np.nan_to_num(x, nan=0.0).astype(np.float32, copy=False)
    n_out = len(config["target_channels"])
    sampling = n_samples > 0 and hasattr(model, "sample")
    out = np.empty(((2 if sampling else 1) * n_out, y1 - y0, x1 - x0), np.float32)

    jobs = [(ty, tx) for ty in _tiles(y0, y1, H, tile, halo) for tx in _tiles(x0, x1, W, tile, halo)]
    groups: dict[tuple[int, int], list] = collections.defaultdict(list)
    for ty, tx in jobs:
        groups[(ty[3] - ty[2], tx[3] - tx[2])].append((ty, tx))
    with torch.no_grad():
        for (h, w), members in groups.items():
            for i in range(0, len(members), batch_size):
                part = members[i:i + batch_size]
                xb = torch.from_numpy(np.stack([x[:, ty[2]:ty[3], tx[2]:tx[3]] for ty, tx in part])).to(device)
                if sampling:
                    lh, lw = math.ceil(h / align), math.ceil(w / align)
                    noise = np.stack([
                        position_noise(seed, n_samples, model.latent_channels,
                                       np.arange(lh) + (origin[0] + ty[2]) // align,
                                       np.arange(lw) + (origin[1] + tx[2]) // align)
                        for ty, tx in part], axis=1)  # (n, batch, latent, lh, lw)
                    draws = model.sample(xb, torch.from_numpy(noise).to(device)).double().cpu().numpy()
                    # spread in normalised units, then scaled: no cancellation against a large mean
                    spread = draws.std(axis=0) * norm_out.std[:, None, None]
                    pred = np.concatenate([norm_out.inverse(draws.mean(axis=0)), spread], axis=1)
                else:
                    res = model(xb)
                    res = res[0] if isinstance(res, tuple) else res
                    pred = norm_out.inverse(res.float().cpu().numpy())
                for k, (ty, tx) in enumerate(part):
                    ys = slice(ty[0] - ty[2], ty[1] - ty[2])
                    xs = slice(tx[0] - tx[2], tx[1] - tx[2])
                    out[:, ty[0] - y0:ty[1] - y0, tx[0] - x0:tx[1] - x0] = pred[k, :, ys, xs]
    out[:, all_nan[y0:y1, x0:x1]] = np.nan
    return out


def _predict_block(block, checkpoint, device, chunks_y, chunks_x, halo, tile, batch_size, n_samples, seed,
                   block_id=None):
    """One overlapped chunk ``(S, C, h + halos, w + halos)`` -> its core ``(S, C_out, h, w)``."""
    from .device import resolve_device

    model, ck = cached_model(checkpoint, device)
    dev = resolve_device(device)
    iy, ix = block_id[2], block_id[3]
    lo_y = halo if iy > 0 else 0
    lo_x = halo if ix > 0 else 0
    core = ((lo_y, lo_y + chunks_y[iy]), (lo_x, lo_x + chunks_x[ix]))
    origin = (sum(chunks_y[:iy]) - lo_y, sum(chunks_x[:ix]) - lo_x)
    return np.stack([
        infer_array(model, ck.config, b, origin, core, halo, tile, batch_size, dev, n_samples, seed) for b in block
    ])


def _aligned_chunks(chunks: tuple[int, ...], total: int, align: int, halo: int) -> tuple[int, ...]:
    """Chunk sizes near the input's, each a multiple of ``align`` and at least ``halo`` (the last takes the rest)."""
    if len(chunks) == 1:
        return (total,)
    step = max(align * math.ceil(chunks[0] / align), align * math.ceil(max(halo, 1) / align))
    sizes = [step] * (total // step)
    rest = total - sum(sizes)
    if rest:
        if rest < halo and sizes:
            sizes[-1] += rest  # a sliver thinner than the halo would make dask rechunk off the grid
        else:
            sizes.append(rest)
    return tuple(sizes) if sizes else (total,)


def _resolve(checkpoint) -> Path:
    path = Path(checkpoint)
    if not path.exists() and isinstance(checkpoint, str):
        from . import registry

        if checkpoint in registry.names():
            return registry.path(checkpoint)
    return path


def predict(ds: xr.Dataset | xr.DataArray, checkpoint: str | Path, halo: int | None = None, batch_size: int = 16,
            device: str = "auto", tile: int = 512, n_samples: int = 16, seed: int = 0) -> xr.Dataset:
    """Lazily apply the network in ``checkpoint`` (a path or a registry name) over ``ds``.

    Returns a Dataset with the checkpoint's target variable (units and long_name from the checkpoint) on
    the input's grid, coordinates and CRS, and ``<target>_std`` for networks that sample (ConvVAE:
    ``n_samples`` decodings, seeded by ``seed`` and the pixel position). ``halo`` defaults to half the
    network's receptive field; it is rounded up to a multiple of the network's pooling factor, and the
    work is done on chunks moved onto that factor (the output is rechunked back to the input's chunks).
    ``tile`` bounds the pixels per forward pass; ``device``
    is resolved on each worker (``"auto"``: CUDA when the worker has it).
    """
    from . import checkpoint as ckpt_mod

    path = _resolve(checkpoint)
    ck = ckpt_mod.load(path)
    cfg = ck.config
    inputs, target = ck.inputs, ck.target
    if isinstance(ds, xr.DataArray):
        if len(inputs) != 1:
            raise MissingVariableError(f"checkpoint {path} takes {inputs}; pass a Dataset with those variables")
        ds = ds.to_dataset(name=inputs[0])
    missing = [n for n in inputs if n not in ds.variables]
    if missing and len(missing) == len(inputs):
        raise CheckpointError(
            f"checkpoint {path} was trained on inputs {inputs}, the dataset has {sorted(map(str, ds.data_vars))}: "
            "use the checkpoint trained for these variables, or rename yours to the checkpoint's inputs"
        )
    check_layout(ds, inputs, "predict input")
    sample_dims = [d for d in ("time",) if any(d in ds[n].dims for n in inputs)]
    channels = channel_names(ds, inputs, sample_dims)
    if channels != cfg["input_channels"]:
        raise CheckpointError(
            f"checkpoint {path} expects input channels {cfg['input_channels']}, the dataset gives {channels}; "
            "select the same bands in the same order as in training"
        )
    align = int(cfg.get("align", 1))
    halo = int(math.ceil(cfg["receptive_field"] / 2)) if halo is None else int(halo)
    if halo < 0:
        raise ValueError(f"halo must be >= 0 pixels, not {halo}")
    halo = align * math.ceil(halo / align)
    need = int(math.ceil(cfg["receptive_field"] / 2))
    if halo < need:
        warnings.warn(f"halo={halo} px is less than half the network's receptive field ({need} px): chunk edges "
                      "may show seams; leave halo=None for seamless output", EoxrWarning, stacklevel=2)
    tile = max(align, align * math.ceil(int(tile) / align))

    parts = []
    for arr in stack_channels(ds, inputs, sample_dims):
        arr = arr if isinstance(arr, da.Array) else da.from_array(np.asarray(arr), chunks=-1)
        parts.append(arr if sample_dims else arr[None])
    data = da.concatenate(parts, axis=1).astype(np.float32)
    ref = ds[inputs[0]].data
    src_chunks = ref.chunks[-2:] if isinstance(ref, da.Array) else ((ds.sizes["y"],), (ds.sizes["x"],))
    chunks_y = _aligned_chunks(src_chunks[0], ds.sizes["y"], align, halo)
    chunks_x = _aligned_chunks(src_chunks[1], ds.sizes["x"], align, halo)
    data = data.rechunk((1, -1, chunks_y, chunks_x))

    sampling = bool(cfg.get("uncertainty")) and n_samples > 0
    n_out = len(cfg["target_channels"]) * (2 if sampling else 1)
    out = da.map_overlap(
        _predict_block, data, depth={0: 0, 1: 0, 2: halo, 3: halo}, boundary="none", trim=False,
        allow_rechunk=False, dtype=np.float32, meta=np.empty((0, 0, 0, 0), np.float32),
        chunks=(data.chunks[0], (n_out,), chunks_y, chunks_x),
        checkpoint=str(path.resolve()), device=device, chunks_y=chunks_y, chunks_x=chunks_x, halo=halo,
        tile=tile, batch_size=batch_size, n_samples=n_samples if sampling else 0, seed=seed,
    )
    if isinstance(ref, da.Array) and (chunks_y, chunks_x) != tuple(src_chunks):
        out = out.rechunk({2: src_chunks[0], 3: src_chunks[1]})  # hand back the caller's chunking
    return _to_dataset(out, ds, cfg, sample_dims, sampling, path, halo)


def _to_dataset(out, ds, cfg, sample_dims, sampling, path, halo) -> xr.Dataset:
    target, n_t = cfg["target"], len(cfg["target_channels"])
    label = cfg["target_channels"][0]
    extra = label[label.index("[") + 1:label.index("=")] if "[" in label else None
    if not sample_dims:
        out = out[0]
    lead = list(sample_dims)

    def frame(arr, name, long_name):
        if n_t == 1:
            arr, dims = arr[..., 0, :, :] if lead else arr[0], [*lead, *SPACE]
        else:
            dims = [*lead, extra or "channel", *SPACE]
        coords = {k: v for k, v in ds.coords.items() if set(v.dims) <= set(dims)}
        return cf(xr.DataArray(arr, dims=dims, coords=coords, name=name), cfg.get("units") or "1", long_name)

    long_name = cfg.get("long_name") or target
    ch = slice(0, n_t)
    vars_ = {target: frame(out[:, ch] if lead else out[ch], target, long_name)}
    if sampling:
        sd = slice(n_t, 2 * n_t)
        vars_[f"{target}_std"] = frame(out[:, sd] if lead else out[sd], f"{target}_std",
                                       f"standard deviation of {long_name} over network samples")
    result = xr.Dataset(vars_)
    crs = ds.rio.crs if ("spatial_ref" in ds.coords or ds.rio.crs is not None) else None
    if crs is not None:
        result = result.rio.write_crs(crs)
    return stamp(result, "ml.predict", checkpoint=str(path), arch=cfg["arch"]["name"], halo=halo)
