"""Training patches from lazy (Dask / Zarr-backed) datasets, train/val splits without leakage, torch adapters.

The patch geometry comes from xbatcher's ``BatchSchema`` (one selector per time step and y/x window). The
data are not read through ``BatchGenerator`` (one ``isel().load()`` per patch, ``concat_input_dims`` broken on
Dask data, a cache that assumes the Zarr v2 layout): on first use the patches are decoded band by band
(one ``dask.compute`` per strip of patch rows, so each Zarr chunk is read about once) into a float32 cache in
memory or in a Zarr v3 folder, and every later epoch is served from that cache.

Layout of one sample: inputs ``(channels, size_y, size_x)`` float32, target ``(target_channels, size_y,
size_x)`` float32. Variables carrying dims other than ``time``/``y``/``x`` (``band``, ``channel``...) give one
channel per element; variables without ``time`` are repeated for every time step.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import dask
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..attrs import require, require_dims
from ..errors import GridError, MissingVariableError, NoDataError, ParameterError

SPACE = ("y", "x")


def _as_dims(value, what: str) -> dict[str, int]:
    if isinstance(value, int):
        return {"y": value, "x": value}
    if not isinstance(value, dict) or set(value) != set(SPACE):
        raise ParameterError(f"{what} must be an int or a dict {{'y': n, 'x': n}} of pixels, not {value!r}; e.g. "
                             f"{what}=64 or {what}={{'y': 64, 'x': 32}}")
    return {d: int(value[d]) for d in SPACE}


def check_layout(ds: xr.Dataset, names: Sequence[str], what: str = "input") -> None:
    """Raise :class:`GridError` unless every variable ends with dims ``('y', 'x')``."""
    require(ds, names, what)
    require_dims(ds, SPACE, what)
    for name in names:
        dims = ds[name].dims
        if dims[-2:] != SPACE:
            raise GridError(
                f"{what} variable {name!r} has dims {dims}; eoxr expects (..., 'y', 'x') with x last: "
                f"use ds.transpose(..., 'y', 'x')."
            )


def channel_names(ds: xr.Dataset, names: Sequence[str], sample_dims: Sequence[str]) -> list[str]:
    """One label per channel: ``var`` or ``var[dim=value,...]`` for variables with extra dims."""
    out = []
    for name in names:
        da = ds[name]
        extra = [d for d in da.dims if d not in SPACE and d not in sample_dims]
        if not extra:
            out.append(name)
            continue
        for idx in np.ndindex(*[da.sizes[d] for d in extra]):
            out.append(f"{name}[" + ",".join(f"{d}={i}" for d, i in zip(extra, idx)) + "]")
    return out


def stack_channels(ds: xr.Dataset, names: Sequence[str], sample_dims: Sequence[str]) -> list:
    """Per variable, a (lazy) array ``(*sample_dims, channels, y, x)``; missing sample dims broadcast."""
    arrays = []
    for name in names:
        da = ds[name]
        extra = [d for d in da.dims if d not in SPACE and d not in sample_dims]
        for d in sample_dims:
            if d not in da.dims:
                da = da.expand_dims({d: ds.sizes[d]})
        da = da.transpose(*sample_dims, *extra, *SPACE)
        data = da.data
        shape = tuple(ds.sizes[d] for d in sample_dims) + (-1,) + data.shape[-2:]
        arrays.append(data.reshape(shape))
    return arrays


class _Store:
    """Data, patch geometry and the decoded-patch cache shared by a generator and its splits."""

    def __init__(self, ds, inputs, target, size, starts, sample_dims, cache, band_bytes):
        self.ds, self.inputs, self.target = ds, list(inputs), target
        self.size, self.starts, self.sample_dims = size, starts, list(sample_dims)
        self.n_in = len(channel_names(ds, self.inputs, self.sample_dims))
        self.n_out = len(channel_names(ds, [target], self.sample_dims)) if target else 0
        self.cache_mode, self.band_bytes = cache, band_bytes
        self.x_cache = self.y_cache = None
        self.filled = np.zeros(len(starts), dtype=bool)

    def __getstate__(self):
        state = dict(self.__dict__)
        if isinstance(self.cache_mode, (str, Path)) and self.cache_mode != "memory":
            # reopened from the folder in the worker process
            state["x_cache"] = state["y_cache"] = state["_filled_store"] = None
        return state

    # -- reading ----------------------------------------------------------------------------
    def _read(self, t: int, y0: int, y1: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray | None]:
        sel = {"y": slice(y0, y1), "x": slice(x0, x1)}
        sub = self.ds.isel(sel)
        if self.sample_dims:
            sub = sub.isel({self.sample_dims[0]: slice(t, t + 1)})
        xs = stack_channels(sub, self.inputs, self.sample_dims)
        ys = stack_channels(sub, [self.target], self.sample_dims) if self.target else []
        computed = dask.compute(*xs, *ys)
        # drop the sample axis (length 1) and stack channels
        x = np.concatenate([np.asarray(a).reshape((-1,) + a.shape[-2:]) for a in computed[: len(xs)]])
        y = (np.concatenate([np.asarray(a).reshape((-1,) + a.shape[-2:]) for a in computed[len(xs):]])
             if ys else None)
        return x.astype(np.float32, copy=False), None if y is None else y.astype(np.float32, copy=False)

    def read_patch(self, i: int):
        t, y0, x0 = self.starts[i]
        return self._read(int(t), int(y0), int(y0) + self.size["y"], int(x0), int(x0) + self.size["x"])

    # -- cache ------------------------------------------------------------------------------
    def _allocate(self):
        n, h, w = len(self.starts), self.size["y"], self.size["x"]
        if self.cache_mode == "memory":
            self.x_cache = np.empty((n, self.n_in, h, w), np.float32)
            self.y_cache = np.empty((n, self.n_out, h, w), np.float32) if self.target else None
            return
        import zarr

        group = zarr.open_group(Path(self.cache_mode) / self.fingerprint(), mode="a", zarr_format=3)
        shapes = {"inputs": (n, self.n_in, h, w), "target": (n, self.n_out, h, w), "filled": (n,)}
        names = ["inputs", "filled"] + (["target"] if self.target else [])
        if all(k in group and group[k].shape == shapes[k] for k in names):
            # reuse what an earlier run (or the parent process of a loader worker) decoded
            self.filled[:] = np.asarray(group["filled"][:], bool)
        else:
            for k in names:
                group.create_array(k, shape=shapes[k], dtype="uint8" if k == "filled" else "float32",
                                   chunks=(4096,) if k == "filled" else (1, *shapes[k][1:]), overwrite=True,
                                   fill_value=0)
        self.x_cache = group["inputs"]
        self.y_cache = group["target"] if self.target else None
        self._filled_store = group["filled"]

    def fingerprint(self) -> str:
        """Hash of the variables' names, shapes, chunks, source and the patch geometry (names a disk cache)."""
        desc = {
            "inputs": self.inputs, "target": self.target, "size": self.size,
            "starts": hashlib.sha1(np.ascontiguousarray(self.starts).tobytes()).hexdigest(),
            "vars": {n: [list(self.ds[n].shape), str(self.ds[n].dtype), str(self.ds[n].encoding.get("source", "")),
                         dask.base.tokenize(self.ds[n].data)]
                     for n in self.inputs + ([self.target] if self.target else [])},
        }
        return hashlib.sha1(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]

    def fill(self, indices: np.ndarray | None = None) -> None:
        """Decode the patches ``indices`` (default: all) into the cache, one strip of patch rows at a time."""
        if self.cache_mode is None:
            return
        if self.x_cache is None:
            self._allocate()
        todo = np.arange(len(self.starts)) if indices is None else np.asarray(indices)
        todo = todo[~self.filled[todo]]
        if todo.size == 0:
            return
        h, w = self.size["y"], self.size["x"]
        bytes_per_row = (self.n_in + self.n_out) * 4 * self.ds.sizes["x"]
        max_rows = max(h, self.band_bytes // max(bytes_per_row, 1))
        starts = self.starts[todo]
        order = np.lexsort((starts[:, 2], starts[:, 1], starts[:, 0]))
        todo, starts = todo[order], starts[order]
        i = 0
        while i < len(todo):
            t, y_lo = starts[i, 0], starts[i, 1]
            j = i
            while j < len(todo) and starts[j, 0] == t and starts[j, 1] + h - y_lo <= max_rows:
                j += 1
            group = starts[i:j]
            y_hi = int(group[:, 1].max()) + h
            x_lo, x_hi = int(group[:, 2].min()), int(group[:, 2].max()) + w
            xb, yb = self._read(int(t), int(y_lo), y_hi, x_lo, x_hi)
            for k, (_, y0, x0) in zip(todo[i:j], group):
                ys, xs = slice(y0 - y_lo, y0 - y_lo + h), slice(x0 - x_lo, x0 - x_lo + w)
                self.x_cache[k] = xb[:, ys, xs]
                if self.target:
                    self.y_cache[k] = yb[:, ys, xs]
            self.filled[todo[i:j]] = True
            if self.cache_mode != "memory":  # recorded after the data, so a crash never marks a hole filled
                self._filled_store[:] = self.filled.astype("uint8")
            i = j

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Patches ``indices`` as ``(n, C, h, w)`` and ``(n, Ct, h, w)`` float32 arrays."""
        indices = np.asarray(indices)
        if self.cache_mode is None:
            pairs = [self.read_patch(int(i)) for i in indices]
            x = np.stack([p[0] for p in pairs])
            return x, (np.stack([p[1] for p in pairs]) if self.target else None)
        self.fill(indices)
        if self.cache_mode == "memory":
            return self.x_cache[indices], (self.y_cache[indices] if self.target else None)
        # zarr orthogonal selection wants sorted unique indices
        uniq, inverse = np.unique(indices, return_inverse=True)
        x = self.x_cache.get_orthogonal_selection((uniq,))[inverse]
        y = self.y_cache.get_orthogonal_selection((uniq,))[inverse] if self.target else None
        return x, y


class Patches:
    """Deterministic stream of training samples ``(inputs, target)`` cut from a dataset; see :func:`patches`.

    ``len(gen)`` samples; ``gen[i]`` -> ``(x, y)`` numpy float32; ``gen.batches(batch_size, epoch)`` yields
    shuffled batches (order fixed by ``seed`` and ``epoch``); ``gen.loader(...)`` gives a torch DataLoader.
    """

    def __init__(self, store: _Store, index: np.ndarray, shuffle: bool, seed: int, role: str = "all"):
        self._store, self.index, self.shuffle, self.seed, self.role = store, np.asarray(index, int), shuffle, seed, role

    # -- description ------------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return list(self._store.inputs)

    @property
    def target(self) -> str | None:
        return self._store.target

    @property
    def size(self) -> dict[str, int]:
        return dict(self._store.size)

    @property
    def dataset(self) -> xr.Dataset:
        return self._store.ds

    @property
    def sample_dims(self) -> list[str]:
        return list(self._store.sample_dims)

    @property
    def input_channels(self) -> list[str]:
        return channel_names(self._store.ds, self._store.inputs, self._store.sample_dims)

    @property
    def target_channels(self) -> list[str]:
        t = self._store.target
        return channel_names(self._store.ds, [t], self._store.sample_dims) if t else []

    @property
    def starts(self) -> np.ndarray:
        """``(n, 3)`` integer array: sample index (time step), y start, x start of each patch."""
        return self._store.starts[self.index]

    def selectors(self) -> list[dict[str, slice | int]]:
        """``isel`` selectors of the served patches, in stored (not shuffled) order."""
        out = []
        for t, y0, x0 in self.starts:
            sel = {"y": slice(int(y0), int(y0) + self.size["y"]), "x": slice(int(x0), int(x0) + self.size["x"])}
            if self.sample_dims:
                sel[self.sample_dims[0]] = int(t)
            out.append(sel)
        return out

    def describe(self) -> dict:
        """JSON description of the training data (stored in checkpoints)."""
        ds = self._store.ds
        return {
            "inputs": self.inputs, "target": self.target, "patch_size": self.size, "n_patches": len(self),
            "role": self.role, "sizes": {str(k): int(v) for k, v in ds.sizes.items()},
            "source": str(ds.encoding.get("source", "")) or None, "input_channels": self.input_channels,
            "crs": str(ds.rio.crs) if "spatial_ref" in ds.coords and ds.rio.crs else None,
        }

    def __repr__(self) -> str:
        return (f"<eoxr.ml.Patches {self.role}: {len(self)} patches {self.size['y']}x{self.size['x']} "
                f"inputs={self.inputs} target={self.target!r}>")

    # -- access -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        x, y = self._store.get(self.index[[i]])
        return x[0], (None if y is None else y[0])

    def get(self, positions: Sequence[int]) -> tuple[np.ndarray, np.ndarray | None]:
        """Samples at ``positions`` (0..len-1) as stacked arrays."""
        return self._store.get(self.index[np.asarray(positions, int)])

    def order(self, epoch: int = 0) -> np.ndarray:
        """Positions in serving order for ``epoch``: a permutation fixed by (seed, epoch) when shuffling."""
        if not self.shuffle:
            return np.arange(len(self))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self))

    def batches(self, batch_size: int = 16, epoch: int = 0, drop_last: bool = False) -> Iterator[tuple]:
        """Yield ``(x, y)`` numpy batches ``(b, C, h, w)`` in the order of ``epoch``."""
        order = self.order(epoch)
        self.load()  # decode all patches once; later epochs read the cache
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for i in range(0, stop, batch_size):
            yield self.get(order[i:i + batch_size])

    def __iter__(self):
        for pos in self.order(0):
            yield self[int(pos)]

    def load(self) -> Patches:
        """Decode every served patch into the cache now (the first epoch does this anyway)."""
        self._store.fill(self.index)
        return self

    def statistics(self) -> dict[str, dict[str, list[float]]]:
        """Per-variable, per-channel mean and std (NaN ignored) over the served patches' pixels."""
        names = self.inputs + ([self.target] if self.target else [])
        labels = self.input_channels + self.target_channels
        s1 = np.zeros(len(labels))
        s2 = np.zeros(len(labels))
        n = np.zeros(len(labels))
        for start in range(0, len(self), 256):
            x, y = self.get(np.arange(start, min(start + 256, len(self))))
            a = np.concatenate([x, y], axis=1) if y is not None else x
            a = a.astype(np.float64)
            ok = np.isfinite(a)
            a = np.where(ok, a, 0.0)
            s1 += a.sum(axis=(0, 2, 3))
            s2 += (a * a).sum(axis=(0, 2, 3))
            n += ok.sum(axis=(0, 2, 3))
        if (n == 0).any():
            bad = [lab for lab, k in zip(labels, n) if k == 0]
            raise NoDataError(f"channels {bad} have no finite value in the {self.role} patches; check the data or mask")
        mean = s1 / n
        std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
        std = np.where(std > 0, std, 1.0)  # constant channels: leave their scale alone
        out: dict[str, dict[str, list[float]]] = {}
        for name in names:
            idx = [k for k, lab in enumerate(labels) if lab == name or lab.startswith(name + "[")]
            out[name] = {"mean": [float(mean[k]) for k in idx], "std": [float(std[k]) for k in idx]}
        return out

    def subset(self, positions: Sequence[int], role: str | None = None) -> Patches:
        """A generator serving only ``positions`` of this one (shares data and cache)."""
        return Patches(self._store, self.index[np.asarray(positions, int)], self.shuffle, self.seed,
                       role or self.role)

    # -- torch ------------------------------------------------------------------------------
    def torch_dataset(self):
        """A ``torch.utils.data.Dataset`` of ``(x, y)`` float32 tensors (y omitted without a target)."""
        from ._torchdata import PatchDataset

        return PatchDataset(self)

    def loader(self, batch_size: int = 16, epoch: int = 0, num_workers: int = 0, **kwargs):
        """A torch ``DataLoader`` in the order of ``epoch``; worker processes are spawned, not forked
        (forked workers deadlock beside Dask's threads)."""
        from ._torchdata import make_loader

        return make_loader(self, batch_size=batch_size, epoch=epoch, num_workers=num_workers, **kwargs)


def _invalid_map(ds, names, sample_dims, mask) -> np.ndarray:
    """``(n_samples, ny, nx)`` bool: True where a pixel must not be learned from."""
    flags = []
    for arr in stack_channels(ds, names, sample_dims):
        flags.append(_isnan(arr).any(axis=-3))
    bad = flags[0]
    for f in flags[1:]:
        bad = bad | f
    if isinstance(mask, str) and mask != "valid":
        if mask not in ds.variables:
            raise MissingVariableError(
                f"mask variable {mask!r} is absent; it has {sorted(map(str, ds.data_vars))}. Pass mask='valid' "
                "(NaN-based), None, or the name of a boolean variable that is True where pixels are valid."
            )
        valid = stack_channels(ds, [mask], sample_dims)[0].astype(bool).all(axis=-3)
        bad = bad | ~valid
    bad = dask.compute(bad)[0] if hasattr(bad, "dask") else bad
    bad = np.asarray(bad)
    return bad.reshape((-1,) + bad.shape[-2:])


def _isnan(arr):
    import dask.array as dsa

    return dsa.isnan(arr) if hasattr(arr, "dask") else np.isnan(arr)


def _window_counts(ii: np.ndarray, layer: np.ndarray, ys: np.ndarray, xs: np.ndarray, h: int, w: int) -> np.ndarray:
    """Number of flagged pixels in each h x w window, from the integral image ``ii`` of layer ``layer``."""
    return ii[layer, ys + h, xs + w] - ii[layer, ys, xs + w] - ii[layer, ys + h, xs] + ii[layer, ys, xs]


def _integral(flags: np.ndarray) -> np.ndarray:
    """Integral image of ``(n, ny, nx)`` flags, zero-padded at the top/left: ``(n, ny+1, nx+1)``."""
    ii = np.cumsum(np.cumsum(flags.astype(np.int64), axis=-2), axis=-1)
    return np.pad(ii, [(0, 0)] * (flags.ndim - 2) + [(1, 0), (1, 0)])


def patches(ds: xr.Dataset, inputs: Sequence[str], target: str | None = None, size=64, stride=None,
            mask: str | None = "valid", max_nan: float = 0.0, shuffle: bool = True, seed: int = 0,
            split=None, sample_dims: Sequence[str] | None = None, cache: str | Path | None = "memory",
            band_mb: float = 256.0):
    """Cut ``ds`` into training patches of ``size`` pixels, moving by ``stride`` (default: ``size``, no overlap).

    Parameters
    ----------
    ds : Dataset whose variables end with dims ``('y', 'x')``; lazy (Dask / Zarr-backed) is expected.
    inputs, target : variable names of the network's input channels and of what it learns (target optional).
    size, stride : int or ``{"y": n, "x": n}`` in pixels. ``stride < size`` gives overlapping patches.
    mask : ``"valid"`` drops patches whose fraction of pixels with a NaN in any input or the target exceeds
        ``max_nan`` (0..1); the name of a boolean variable (True = valid) also counts its False pixels as bad;
        ``None`` keeps every patch.
    shuffle, seed : serving order is a permutation drawn from ``(seed, epoch)``; same seed, same order.
    split : ``None``, or ``"space"``/``"time"`` or a dict of :func:`split` arguments: then the function
        returns ``(train, val)``.
    sample_dims : dims along which samples are drawn besides y/x (default: ``("time",)`` when present).
    cache : ``"memory"`` (decoded patches kept in RAM), a folder (a Zarr v3 cache there, reused by later runs
        on the same data), or ``None`` (read every patch on every epoch; bounded memory).
    band_mb : how much data one read may decode (strips of patch rows are read at once).

    Returns a :class:`Patches` (or a ``(train, val)`` pair when ``split`` is given).
    """
    import xbatcher

    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset()
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    names = inputs + ([target] if target else [])
    check_layout(ds, names, "patches input")
    size = _as_dims(size, "size")
    stride = size if stride is None else _as_dims(stride, "stride")
    if any(stride[d] < 1 or stride[d] > size[d] for d in SPACE):
        raise ParameterError(f"stride must be between 1 and the patch size {size}, not {stride}; leave stride=None "
                             "for non-overlapping patches")
    for d in SPACE:
        if size[d] > ds.sizes[d]:
            raise GridError(f"patch size {size[d]} along {d!r} exceeds the dataset's {ds.sizes[d]} pixels; "
                            f"pass a smaller size=")
    if not 0.0 <= max_nan <= 1.0:
        raise ParameterError(f"max_nan is a fraction of the patch's pixels in [0, 1], not {max_nan}; e.g. 0.3 to "
                             "keep patches with up to 30 % invalid pixels")
    if sample_dims is None:
        sample_dims = [d for d in ("time",) if d in ds.dims]
    sample_dims = list(sample_dims)
    if len(sample_dims) > 1:
        raise ParameterError(f"one sample dimension is supported, got {sample_dims}; stack them first, e.g. "
                             f"ds.stack(sample={sample_dims})")

    # patch geometry from xbatcher: one selector per (sample, y window, x window)
    template = xr.Dataset(coords={d: np.arange(ds.sizes[d]) for d in [*sample_dims, *SPACE]})
    schema = xbatcher.BatchSchema(
        template, input_dims=size, input_overlap={d: size[d] - stride[d] for d in SPACE},
        batch_dims={d: 1 for d in sample_dims}, concat_input_bins=False, preload_batch=False,
    )
    starts = np.array(
        [[sel[0][sample_dims[0]].start if sample_dims else 0, sel[0]["y"].start, sel[0]["x"].start]
         for sel in schema.selectors.values()],
        dtype=np.int64,
    ).reshape(-1, 3)

    if mask is not None:
        bad = _invalid_map(ds, names, sample_dims, mask)
        ii = _integral(bad)
        counts = _window_counts(ii, starts[:, 0], starts[:, 1], starts[:, 2], size["y"], size["x"])
        keep = counts <= max_nan * size["y"] * size["x"]
        starts = starts[keep]
    if len(starts) == 0:
        raise NoDataError(
            f"no {size['y']}x{size['x']} patch has at most {max_nan:.0%} invalid pixels; raise max_nan=, use a "
            "smaller size=, or check the inputs for NaN"
        )
    store = _Store(ds, inputs, target, size, starts, sample_dims, cache, int(band_mb * 2**20))
    gen = Patches(store, np.arange(len(starts)), shuffle, seed)
    if split is None:
        return gen
    from .split import split as _split

    kwargs = {"by": split} if isinstance(split, str) else dict(split)
    return _split(gen, **kwargs)
