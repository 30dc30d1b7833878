"""The U-Net retrieval: training data from swaths, training, and halo prediction over a swath or grid.

A sample is one swath (or grid) image: the brightness temperatures of every channel and the surface type
(one-hot, four classes) as inputs, and as target the reference rain rate twice (for the mean and the spread
heads) and the rain flag (>= 0.1 mm h-1) of :class:`eoxr.rain.model.RainUNet`. Swath dims become the
``y``/``x`` of :mod:`eoxr.ml` (along track, across track) and are named back afterwards; prediction runs
through :func:`eoxr.ml.predict` with the network's halo, so a chunked swath gives the result of one pass,
lazily and on CUDA when the worker has it.

A checkpoint records in ``metadata`` the sensor it serves (``sensor``) and the channel layout it takes
(``layout``, ``channels``): a network fine-tuned for AMSR2 takes AMSR2 data mapped onto GMI's channels by
:func:`eoxr.rain.transfer.map_channels`, which :func:`predict` applies itself.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import CheckpointError, NoDataError
from .radiometers import Radiometer, get
from .synth import RAIN_THRESHOLD, SURFACE_TYPES

INPUT_TB, INPUT_SURFACE, TARGET = "brightness_temperature", "surface", "reference"
PATCH = {"y": 96, "x": 128}
STRIDE = {"y": 32, "x": 93}


def model_name(sensor: str | Radiometer) -> str:
    """Registry name of the shipped network for ``sensor``: ``rain-unet-gmi``, ``rain-unet-amsr2``."""
    return f"rain-unet-{get(sensor).name}"


def resolve_model(model, sensor: Radiometer) -> Path:
    """Checkpoint path of ``model`` (a path, a registry name, or None for the shipped one of ``sensor``)."""
    from ..ml import registry

    if model is None:
        name = model_name(sensor)
        try:
            return registry.path(name)
        except CheckpointError as err:
            shipped = [n for n in registry.names() if n.startswith("rain-")]
            raise CheckpointError(
                f"no shipped rain network for {sensor.name.upper()} ({name}); shipped: {shipped}. Fine-tune one "
                f"with `eoxr train rain --sensor {sensor.name} --init rain-unet-gmi --out DIR` and pass "
                "model='DIR/...ckpt', or retrieve with method='bayes'"
            ) from err
    path = Path(model)
    return path if path.exists() else registry.path(str(model))


def one_hot(surface: xr.DataArray) -> xr.DataArray:
    """Surface codes -> ``(surface_class, *dims)`` float one-hot maps (NaN where the code is not finite)."""
    codes = xr.DataArray(list(SURFACE_TYPES), dims="surface_class")
    hot = (surface == codes).astype(np.float32)
    return hot.where(surface.notnull()).transpose("surface_class", ...)


def as_images(tb: xr.DataArray, surface: xr.DataArray, space: tuple[str, str]) -> xr.Dataset:
    """The network's inputs on ``(y, x)``: ``brightness_temperature`` (channel, y, x) and ``surface``
    (surface_class, y, x); the surface is NaN where every channel is, so those pixels come out NaN."""
    rename = dict(zip(space, ("y", "x")))
    tb, surface = tb.reset_coords(drop=True), surface.reset_coords(drop=True)  # no coords to compare (lazy)
    blank = tb.isnull().all("channel")
    hot = one_hot(surface.where(~blank))
    ds = xr.Dataset({INPUT_TB: tb.transpose("channel", *space), INPUT_SURFACE: hot.transpose("surface_class", *space)})
    return ds.drop_vars([c for c in ds.coords if set(ds[c].dims) & set(space)]).rename(rename)


def training_images(scenes: list[xr.Dataset], fill: dict | None = None, mirror: bool = False) -> xr.Dataset:
    """Samples ``(time, ..., y, x)`` from swaths with a reference ``rain_rate``: the inputs of :func:`as_images`
    and the target ``reference`` (output: rain rate, rain rate, rain flag).

    Channels that hold no finite value (a channel a transferred radiometer lacks) take the value ``fill``
    gives them (the mean the network was trained with: it sees them as its normalised 0), else 0.
    ``mirror``: each swath also mirrored across track, a scene as likely as the original (a conical scanner
    sees both halves of its swath alike); along track the parallax has a direction, so no mirror there.
    """
    if mirror:
        scenes = [*scenes, *(ds.isel(cross_track=slice(None, None, -1)) for ds in scenes)]
    parts = []
    for ds in scenes:
        tb = ds["brightness_temperature"]
        space = tuple(d for d in tb.dims if d != "channel")
        images = as_images(tb, ds["surface_type"], space)
        rain = ds["rain_rate"].rename(dict(zip(space, ("y", "x"))))
        flag = (rain >= RAIN_THRESHOLD).astype(np.float32).where(rain.notnull())
        images[TARGET] = xr.concat([rain, rain, flag], dim="output").astype(np.float32)
        parts.append(images.drop_vars([c for c in images.coords if c not in ("channel",)]))
    data = xr.concat(parts, dim="time", join="override").assign_coords(time=np.arange(len(parts)))
    empty = data[INPUT_TB].isnull().all(("time", "y", "x")).values
    if empty.any():
        values = np.array([(fill or {}).get(str(c), 0.0) for c in data["channel"].values], np.float32)
        data[INPUT_TB] = data[INPUT_TB].fillna(xr.DataArray(np.where(empty, values, np.nan), dims="channel"))
    return data.load()


def predict(tb: xr.DataArray, surface: xr.DataArray, radiometer: Radiometer, model=None,
            device: str = "auto") -> xr.DataArray:
    """Rain rate, spread and probability ``(*space, statistic)`` of the network ``model`` over ``tb``
    (``(*space, channel)`` in the radiometer's channels, K) and ``surface`` (codes on ``space``)."""
    from .. import ml
    from ..ml import checkpoint as ckpt_mod

    path = resolve_model(model, radiometer)
    meta = ckpt_mod.load(path).config.get("metadata", {})
    served, layout = meta.get("sensor"), meta.get("layout", meta.get("sensor"))
    if served is not None and served != radiometer.name:
        raise CheckpointError(f"checkpoint {path} serves {served.upper()}, the data are {radiometer.name.upper()}: "
                              f"pass model= a {radiometer.name.upper()} network (or sensor='{served}')")
    space = tuple(d for d in tb.dims if d != "channel")
    if layout is not None and layout != radiometer.name:
        from .transfer import map_channels

        tb = map_channels(tb, radiometer, layout)
    wanted = meta.get("channels")
    if wanted is not None and list(map(str, tb["channel"].values)) != list(wanted):
        raise CheckpointError(f"checkpoint {path} takes channels {wanted}; the data give "
                              f"{list(map(str, tb['channel'].values))}")
    images = as_images(tb, surface, space)
    out = ml.predict(images, path, device=device, n_samples=0)[TARGET]
    out = out.transpose("y", "x", "output").rename({"y": space[0], "x": space[1], "output": "statistic"})
    return out.drop_vars([c for c in out.coords if c not in out.dims])


def fit(scenes: list[xr.Dataset], checkpoint: str | Path, sensor: str | Radiometer = "gmi", epochs: int = 20,
        steps: int | None = None,
        width: int = 16, depth: int = 2, lr: float = 1e-3, batch_size: int = 8, seed: int = 0, device: str = "auto",
        init: str | Path | None = None, validation: float | None = 0.15, patch: dict | None = None,
        stride: dict | None = None, patches: float = 1.0, early_stopping: int | None = 5, norm: str | None = None,
        mirror: bool = False,
        metadata: dict | None = None, progress: bool | None = False):
    """Train a :class:`~eoxr.rain.model.RainUNet` on swaths with a reference; returns the :class:`eoxr.ml.Fit`.

    ``scenes``: swaths of ``sensor`` (:func:`eoxr.rain.synth.scene`), in the channel layout the network takes
    (for a transfer, mapped by :func:`eoxr.rain.transfer.map_channels`). ``init``: a checkpoint whose U-Net
    (architecture and weights) starts the training (fine-tuning), its input normalisation kept (the new data's
    mapped onto it); ``width``, ``depth`` and ``norm`` are then the checkpoint's.
    ``validation``: share of the scenes held out for early stopping (None: train on all, no early stopping).
    ``patches``: the share of the training patches used (the labels available; at least one patch).
    ``steps``: when given, the epochs are as many as make about ``steps`` batches (few patches are seen many
    times, many about once). ``mirror``: train on the swaths mirrored across track too
    (:func:`training_images`).
    """
    import torch

    from .. import ml
    from ..ml import checkpoint as ckpt_mod

    radiometer = get(sensor)
    source = ckpt_mod.load(resolve_model(init, radiometer)) if init is not None else None
    fill = None
    if source is not None:
        stats = source.config["normalisation"][INPUT_TB]
        fill = dict(zip(source.config["metadata"]["channels"], stats["mean"]))
    held = _held_out(len(scenes), validation, seed)
    data = training_images([s for i, s in enumerate(scenes) if i not in held], fill, mirror)

    def cut(images, role):
        gen = ml.patches(images, inputs=[INPUT_TB, INPUT_SURFACE], target=TARGET, size=patch or PATCH,
                         stride=stride or STRIDE, max_nan=0.1, seed=seed)
        return gen.subset(np.arange(len(gen)), role=role)

    train = cut(data, "train")
    val = cut(training_images([scenes[i] for i in held], fill), "validation") if held else None
    if patches < 1.0:
        keep = np.random.default_rng(seed).permutation(len(train))[: max(1, int(round(patches * len(train))))]
        train = train.subset(np.sort(keep), role="train")
    if steps is not None:
        epochs = max(1, int(round(steps * batch_size / len(train))))
    net = network(train.statistics(), source, width, depth, seed, norm)
    meta = {"sensor": radiometer.name, "layout": (source.config["metadata"].get("layout") if source is not None
                                                  else radiometer.name),
            "channels": list(map(str, data["channel"].values)), "scenes": len(scenes), "patches": len(train),
            "init": None if source is None else {  # the chain of stages, so the network can be rebuilt
                "checkpoint": str(init), "command": source.config["metadata"].get("command"),
                "init": source.config["metadata"].get("init")}, **(metadata or {})}
    torch.manual_seed(seed)
    return ml.train(net, train, val=val, epochs=epochs, lr=lr, batch_size=batch_size, device=device, loss=net.loss,
                    checkpoint=checkpoint, resume=False, seed=seed, early_stopping=early_stopping if val else None,
                    metadata=meta, units="mm h-1", long_name="surface rain rate", progress=progress)


def _held_out(n: int, fraction: float | None, seed: int) -> list[int]:
    """Indices of the scenes held out for validation: whole scenes (their pixels are correlated), at least one
    and one left to train on when a fraction is asked; none without."""
    if not fraction:
        return []
    if n < 2:
        raise NoDataError(f"{n} scene: hold out a share for validation from two or more, or pass validation=None")
    count = min(max(1, int(round(fraction * n))), n - 1)
    return sorted(np.random.default_rng(seed).permutation(n)[:count].tolist())


def network(stats: dict, source=None, width: int = 16, depth: int = 2, seed: int = 0, norm: str | None = None):
    """A :class:`~eoxr.rain.model.RainUNet` for data of statistics ``stats`` (:meth:`eoxr.ml.Patches.statistics`):
    new, or (``source``, a checkpoint) the source's architecture and U-Net weights with the data's
    normalisation mapped onto the one those weights learned with."""
    from ..ml import nets
    from . import model as _model  # noqa: F401  (registers rain.RainUNet)

    if source is not None:
        arch = source.config["arch"]
        if arch["name"] != "rain.RainUNet":
            raise CheckpointError(f"{source.path} holds a {arch['name']}, not a rain.RainUNet: pass a rain network")
        width, depth, norm = arch["kwargs"]["width"], arch["kwargs"]["depth"], arch["kwargs"].get("norm", "batch")
    gain, offset = _input_map(stats, source)
    scale = source.config["arch"]["kwargs"]["rate_scale"] if source is not None else stats[TARGET]["std"][0]
    net = nets.build("rain.RainUNet", seed=seed, in_channels=len(gain), width=width, depth=depth,
                     target_mean=stats[TARGET]["mean"], target_std=stats[TARGET]["std"], input_gain=gain,
                     input_offset=offset, rate_scale=scale, norm=norm)
    if source is not None:
        net.load_state_dict({k: v for k, v in source.state_dict.items() if k.startswith("unet.")}, strict=False)
    return net


def _input_map(stats: dict, source) -> tuple[list, list]:
    """Per input channel, the gain and offset that carry the new data's normalisation onto the one the U-Net
    of the ``source`` checkpoint learned with (identity without a source): x_unet = gain x_new + offset."""
    mean = np.concatenate([stats[INPUT_TB]["mean"], stats[INPUT_SURFACE]["mean"]])
    std = np.concatenate([stats[INPUT_TB]["std"], stats[INPUT_SURFACE]["std"]])
    if source is None:
        return [1.0] * len(mean), [0.0] * len(mean)
    norm = source.config["normalisation"]
    m0 = np.concatenate([norm[INPUT_TB]["mean"], norm[INPUT_SURFACE]["mean"]])
    s0 = np.concatenate([norm[INPUT_TB]["std"], norm[INPUT_SURFACE]["std"]])
    if len(m0) != len(mean):
        raise NoDataError(f"the data have {len(mean)} input channels, the network {len(m0)}: map the channels "
                          "onto the network's layout first (eoxr.rain.transfer.map_channels)")
    # x_source = (std x + mean - m0) / s0, then the source's own map onto its U-Net
    g0, o0 = (source.state_dict[k].flatten().numpy() for k in ("gain", "offset"))
    return (g0 * std / s0).tolist(), (g0 * (mean - m0) / s0 + o0).tolist()
