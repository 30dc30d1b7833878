"""Apply a checkpoint over a lazy dataset, chunk by chunk, with a halo (:func:`eoxr.arrays.halo_map`).

Each chunk is extended by ``halo`` pixels on every side that has a neighbour, cut into tiles of ``tile``
pixels (each again with its halo), the tiles are run through the network in batches and only the chunk's
own pixels are kept. Chunk and tile origins are moved onto multiples of the network's ``align`` (its pooling
factor) and the halo covers the receptive field, so the result equals one forward pass over the whole
array: no seams.

The graph has three kinds of steps: reading and decoding the inputs, the halo exchange (both CPU work), and
the model steps, which alone ask for a GPU on a cluster with GPU workers (Dask resources, see
:func:`eoxr.cluster.gpu_annotations`). A model step may take several chunks (``batch_chunks``); on its
device it normalises, runs the network, denormalises and assembles the output, and copies the result back
once; on CUDA the host-to-device copy of each batch (pinned memory, its own stream) overlaps the
computation of the previous one (:func:`eoxr.ml.device.staged`).

The network is loaded once per process (worker) and device, and kept in a module-level cache keyed by the
checkpoint's path, modification time and device; :func:`load_count` tells how many times a checkpoint was
loaded in this process. Inputs are normalised with the statistics stored in the checkpoint. Where an input
is NaN the network sees 0 (the normalised mean); where every input is NaN the output is NaN.
"""
from __future__ import annotations

import collections
import math
import threading
import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..arrays import halo_depth, halo_map, round_up
from ..attrs import cf, stamp
from ..errors import CheckpointError, EoxrWarning, MissingVariableError, ParameterError
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


def _tile_batches(shape, core, tile: int, halo: int, batch_size: int) -> list[list[tuple]]:
    """Batches of ``(sample, y tile, x tile)`` over a block ``(S, C, H, W)``: tiles of one extended shape share
    a batch, whichever sample (time step, chunk) they come from."""
    n, _, H, W = shape
    (y0, y1), (x0, x1) = core
    groups: dict[tuple[int, int], list] = collections.defaultdict(list)
    for s in range(n):
        for ty in _tiles(y0, y1, H, tile, halo):
            for tx in _tiles(x0, x1, W, tile, halo):
                groups[(ty[3] - ty[2], tx[3] - tx[2])].append((s, ty, tx))
    return [members[i:i + batch_size] for members in groups.values() for i in range(0, len(members), batch_size)]


class _Network:
    """A model with its checkpoint's normalisation on ``device``: physical units in, physical units out, every
    step (normalising, NaN handling, the forward pass, sampling statistics, denormalising) on the device."""

    def __init__(self, model, config: dict, device, n_samples: int, seed: int):
        import torch

        from .train import Normaliser

        self.model, self.device, self.seed = model, torch.device(device), seed
        self.align = int(config.get("align", 1))
        self.n_out = len(config["target_channels"])
        self.sampling = n_samples > 0 and hasattr(model, "sample")
        self.n_samples = n_samples if self.sampling else 0
        self.channels = (2 if self.sampling else 1) * self.n_out

        def stats(names):
            norm = Normaliser(config["normalisation"], names)
            return (torch.from_numpy(norm.mean)[:, None, None].to(self.device),
                    torch.from_numpy(norm.std)[:, None, None].to(self.device))

        self.mean_in, self.std_in = stats(config["inputs"])
        self.mean_out, self.std_out = stats([config["target"]])

    def noise(self, origin, part) -> list[np.ndarray]:
        """The sampling noise of each tile of ``part`` at its global latent position (none without sampling)."""
        if not self.sampling:
            return []
        return [position_noise(self.seed, self.n_samples, self.model.latent_channels,
                               np.arange(math.ceil((ty[3] - ty[2]) / self.align)) + (origin[0] + ty[2]) // self.align,
                               np.arange(math.ceil((tx[3] - tx[2]) / self.align)) + (origin[1] + tx[2]) // self.align)
                for _, ty, tx in part]

    def __call__(self, raw, noise=None):
        """``raw`` ``(B, C, h, w)`` in physical units (NaN where missing) -> ``(B, channels, h, w)``: the
        prediction, then with sampling the spread of the draws; NaN where every input is NaN."""
        import torch

        x = torch.nan_to_num((raw - self.mean_in) / self.std_in, nan=0.0)  # NaN -> the normalised mean
        if self.sampling:
            draws = self.model.sample(x, noise.transpose(0, 1)).double()  # noise (B, n, ...) -> (n, B, ...)
            # spread in normalised units, then scaled: no cancellation against a large mean
            spread = draws.std(dim=0, correction=0) * self.std_out.double()
            pred = torch.cat([draws.mean(dim=0) * self.std_out.double() + self.mean_out.double(), spread], dim=1)
        else:
            res = self.model(x)
            res = res[0] if isinstance(res, tuple) else res
            pred = res.float() * self.std_out + self.mean_out
        missing = torch.isnan(raw).all(dim=1, keepdim=True)
        return torch.where(missing, torch.full_like(pred, float("nan")), pred).float()


def infer_block(model, config: dict, block: np.ndarray, origin=(0, 0), core=None, halo: int = 0, tile: int = 512,
                batch_size: int = 16, device: str = "cpu", n_samples: int = 0, seed: int = 0) -> np.ndarray:
    """Run ``model`` over ``block`` ``(S, C, H, W)`` in physical units; returns ``(S, C_out, h, w)`` for the
    ``core`` window ``((y0, y1), (x0, x1))`` of every sample (default: all of it).

    The block is cut into tiles of ``tile`` core pixels, each with ``halo`` pixels of context, and tiles of
    the same shape, from all samples, go through the network ``batch_size`` at a time. The output is
    assembled on ``device`` and copied back once. ``origin`` is the block's global (row, column): it fixes the
    VAE's sampling noise to global positions. With ``n_samples`` > 0 and a network that has ``sample``, the
    output holds the sample mean, then the sample std.
    """
    import torch

    from .device import staged, to_host

    _, _, H, W = block.shape
    core = core or ((0, H), (0, W))
    (y0, y1), (x0, x1) = core
    net = _Network(model, config, device, n_samples, seed)
    block = block.astype(np.float32, copy=False)
    out = torch.empty((block.shape[0], net.channels, y1 - y0, x1 - x0), dtype=torch.float32, device=net.device)

    def host_batches():
        for part in _tile_batches(block.shape, core, tile, halo, batch_size):
            tiles = [block[s, :, ty[2]:ty[3], tx[2]:tx[3]] for s, ty, tx in part]
            yield part, [tiles, net.noise(origin, part)] if net.sampling else [tiles]

    with torch.inference_mode():
        for part, tensors in staged(host_batches(), net.device):
            pred = net(*tensors)
            for k, (s, ty, tx) in enumerate(part):
                out[s, :, ty[0] - y0:ty[1] - y0, tx[0] - x0:tx[1] - x0] = \
                    pred[k, :, ty[0] - ty[2]:ty[1] - ty[2], tx[0] - tx[2]:tx[1] - tx[2]]
        return to_host(out)


def infer_array(model, config: dict, block: np.ndarray, origin=(0, 0), core=None, halo: int = 0,
                tile: int = 512, batch_size: int = 16, device: str = "cpu", n_samples: int = 0,
                seed: int = 0) -> np.ndarray:
    """:func:`infer_block` for one sample: ``block`` ``(C, H, W)`` -> ``(C_out, h, w)``."""
    return infer_block(model, config, block[None], origin, core, halo, tile, batch_size, device, n_samples, seed)[0]


def _predict_block(block, checkpoint, device, chunks_y, chunks_x, halo, tile, batch_size, n_samples, seed,
                   block_id=None):
    """One model step: an overlapped block ``(S, C, h + halos, w + halos)`` (one chunk, or several merged by
    ``batch_chunks``) -> its core ``(S, C_out, h, w)``, on the worker's device, one step per GPU at a time."""
    from .device import device_lock, resolve_device

    dev = resolve_device(device)
    model, ck = cached_model(checkpoint, dev)
    iy, ix = block_id[2], block_id[3]
    lo_y = halo if iy > 0 else 0
    lo_x = halo if ix > 0 else 0
    core = ((lo_y, lo_y + chunks_y[iy]), (lo_x, lo_x + chunks_x[ix]))
    origin = (sum(chunks_y[:iy]) - lo_y, sum(chunks_x[:ix]) - lo_x)
    with device_lock(dev):
        return infer_block(model, ck.config, block, origin, core, halo, tile, batch_size, dev, n_samples, seed)


def _aligned_chunks(chunks: tuple[int, ...], total: int, align: int, halo: int) -> tuple[int, ...]:
    """Chunk sizes near the input's, each a multiple of ``align`` and at least ``halo`` (the last takes the rest)."""
    if len(chunks) == 1:
        return (total,)
    step = max(round_up(chunks[0], align), round_up(max(halo, 1), align))
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


def _merged(chunks: tuple[int, ...], factor: int) -> tuple[int, ...]:
    """``chunks`` with every ``factor`` neighbours joined into one."""
    return tuple(sum(chunks[i:i + factor]) for i in range(0, len(chunks), factor))


def _step_factors(batch_chunks: int, n_samples: int, n_y: int, n_x: int) -> tuple[int, int, int]:
    """Chunks one model step joins along (sample, y, x): ``batch_chunks`` in all at most, samples first (no
    halo to share), then x, then y."""
    ft = max(1, min(batch_chunks, n_samples))
    fx = max(1, min(batch_chunks // ft, n_x))
    fy = max(1, min(batch_chunks // (ft * fx), n_y))
    return ft, fy, fx


def _with_halos(chunks: tuple[int, ...], halo: int) -> tuple[int, ...]:
    """Sizes of ``chunks`` once each has the halo of the neighbours it has (boundary "none")."""
    n = len(chunks)
    return tuple(c + halo * ((i > 0) + (i < n - 1)) for i, c in enumerate(chunks))


def _as_is(block):
    """The halo exchange's kernel: each block with its neighbours' halo, as it is (the model step follows)."""
    return block


def _check_step_args(batch_size, batch_chunks) -> None:
    for name, value in (("batch_size", batch_size), ("batch_chunks", batch_chunks)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"{name} must be an integer >= 1, not {value!r}: e.g. {name}=4")


def predict(ds: xr.Dataset | xr.DataArray, checkpoint: str | Path, halo: int | None = None, batch_size: int = 16,
            device: str = "auto", tile: int = 512, n_samples: int = 16, seed: int = 0,
            batch_chunks: int = 1) -> xr.Dataset:
    """Lazily apply the network in ``checkpoint`` (a path or a registry name) over ``ds``.

    Returns a Dataset with the checkpoint's target variable (units and long_name from the checkpoint) on
    the input's grid, coordinates and CRS, and ``<target>_std`` for networks that sample (ConvVAE:
    ``n_samples`` decodings, seeded by ``seed`` and the pixel position). ``halo`` defaults to half the
    network's receptive field; it is rounded up to a multiple of the network's pooling factor, and the
    work is done on chunks moved onto that factor (the output is rechunked back to the input's chunks).

    ``tile`` bounds the core pixels of one tile and ``batch_size`` the tiles of one forward pass.
    ``batch_chunks`` > 1 makes one model step of that many neighbouring chunks (time steps first, then
    along x, then y): their tiles share the device's batches, so a GPU runs fewer, fuller batches (with
    ``tile`` at most the chunk size, a batch holds tiles of several chunks). The result is the same.

    ``device`` is resolved on each worker (``"auto"``: CUDA when the worker has it); the model is loaded once
    per worker process and device. Every step between the read chunk and the written one (normalising, NaN
    handling, the network, sampling statistics) runs on that device; on CUDA host-to-device copies of one
    batch overlap the computation of the previous one. On a Dask cluster with GPU workers (workers that
    declare the resource ``GPU``, see :func:`eoxr.cluster.connect`) only the model steps ask for a GPU:
    reading, decoding and the halo exchange run on any worker's CPU threads.
    """
    from . import checkpoint as ckpt_mod

    _check_step_args(batch_size, batch_chunks)
    path = _resolve(checkpoint)
    ck = ckpt_mod.load(path)
    cfg = ck.config
    source = ds  # its provenance attrs (a DataArray's move to its variable below)
    ds, sample_dims = _check_inputs(ds, ck, path)
    align = int(cfg.get("align", 1))
    halo = _halo(halo, cfg, align)
    tile = max(align, round_up(int(tile), align))

    data = _stacked_inputs(ds, ck.inputs, sample_dims)
    ref = ds[ck.inputs[0]].data
    src_chunks = ref.chunks[-2:] if isinstance(ref, da.Array) else ((ds.sizes["y"],), (ds.sizes["x"],))
    chunks_y = _aligned_chunks(src_chunks[0], ds.sizes["y"], align, halo)
    chunks_x = _aligned_chunks(src_chunks[1], ds.sizes["x"], align, halo)
    ft, fy, fx = _step_factors(batch_chunks, data.shape[0], len(chunks_y), len(chunks_x))
    chunks_y, chunks_x = _merged(chunks_y, fy), _merged(chunks_x, fx)
    data = data.rechunk((ft, -1, chunks_y, chunks_x))

    sampling = bool(cfg.get("uncertainty")) and n_samples > 0
    n_out = len(cfg["target_channels"]) * (2 if sampling else 1)
    out = _model_steps(data, (data.chunks[0], (n_out,), chunks_y, chunks_x),
                       checkpoint=str(path.resolve()), device=device, chunks_y=chunks_y, chunks_x=chunks_x,
                       halo=halo, tile=tile, batch_size=batch_size, n_samples=n_samples if sampling else 0, seed=seed)
    back = {0: 1} if ft > 1 else {}
    if isinstance(ref, da.Array) and (chunks_y, chunks_x) != tuple(src_chunks):
        back.update({2: src_chunks[0], 3: src_chunks[1]})
    out = out.rechunk(back) if back else out  # hand back the caller's chunking
    return _to_dataset(out, ds, source, cfg, sample_dims, sampling, path, halo)


def _check_inputs(ds, ck, path):
    """``ds`` as a Dataset holding the checkpoint's inputs with its channels, and the sample dimensions."""
    inputs, cfg = ck.inputs, ck.config
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
    return ds, sample_dims


def _halo(halo, cfg, align) -> int:
    """The halo asked for (default: half the receptive field), on the network's pooling grid."""
    need = halo_depth(cfg["receptive_field"])
    halo = need if halo is None else int(halo)
    if halo < 0:
        raise ParameterError(f"halo must be >= 0 pixels, not {halo}; leave halo=None for half the network's "
                             f"receptive field ({need} px)")
    halo = round_up(halo, align)  # chunk origins on the network's pooling grid
    if halo < need:
        warnings.warn(f"halo={halo} px is less than half the network's receptive field ({need} px): chunk edges "
                      "may show seams; leave halo=None for seamless output", EoxrWarning, stacklevel=3)
    return halo


def _stacked_inputs(ds, inputs, sample_dims):
    """The inputs as one lazy float32 array ``(samples, channels, y, x)``."""
    parts = []
    for arr in stack_channels(ds, inputs, sample_dims):
        arr = arr if isinstance(arr, da.Array) else da.from_array(np.asarray(arr), chunks=-1)
        parts.append(arr if sample_dims else arr[None])
    return da.concatenate(parts, axis=1).astype(np.float32)


def _model_steps(data, chunks, **kw):
    """:func:`_predict_block` over every block of ``data`` with its halo. The halo exchange is a step of its
    own (CPU work, any worker); only the model steps carry the cluster's GPU annotation."""
    from ..cluster import gpu_annotations

    # chunks already hold the halo (_aligned_chunks): halo_map exchanges it without rechunking
    halo = kw["halo"]
    blocks = halo_map(_as_is, data, halo, boundary="none", trim=False,
                      chunks=(*data.chunks[:2], _with_halos(data.chunks[2], halo), _with_halos(data.chunks[3], halo)))
    with dask.annotate(**gpu_annotations(kw["device"])):
        return blocks.map_blocks(_predict_block, dtype=np.float32, chunks=chunks,
                                 meta=np.empty((0, 0, 0, 0), np.float32), **kw)


def _to_dataset(out, ds, source, cfg, sample_dims, sampling, path, halo) -> xr.Dataset:
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
    from .checkpoint import sha256

    return stamp(result, "ml.predict", made_from=[source], checkpoint_sha256=sha256(path), checkpoint=str(path),
                 arch=cfg["arch"]["name"], halo=halo)
