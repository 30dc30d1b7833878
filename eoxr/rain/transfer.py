"""Transfer of a rain network to another radiometer of the constellation: channel mapping, footprints, fine-tuning.

A network trained on GMI takes GMI's 13 channels. Another radiometer's swath is brought into that layout by
:func:`map_channels`:

- each GMI channel takes the other radiometer's channel of nearest frequency within ``tolerance`` (relative),
  of the same polarisation if one is that close (V and QV, H and QH count as the same), and for the 183.31 GHz
  water-vapour channels the sideband of nearest offset; GMI channels without such a counterpart (AMSR2 has no
  166 or 183 GHz channel) are left NaN, which the network sees as its training mean;
- where the other radiometer's footprint is finer than GMI's for that channel, it is smoothed by a Gaussian
  with the difference of their variances (on the other swath's pixel spacing), so the channel's beam filling
  matches the one the network learned; a coarser footprint cannot be sharpened and stays.

The mapped network then runs as it is ("zero-shot"), or is fine-tuned with few labelled scenes of the new
radiometer (:func:`fine_tune`, the U-Net's weights and normalisation as a start): :func:`label_curve` gives the
skill against the share of labels used.
"""
from __future__ import annotations

import math

import numpy as np
import xarray as xr
from scipy import ndimage

from ..arrays import halo_map, is_lazy
from .radiometers import Channel, Radiometer, get

TOLERANCE = 0.15
PATCH = {"y": 48, "x": 64}  # fine-tuning patches (scans, pixels)
STRIDE = {"y": 24, "x": 32}


def _polarisation(pol: str) -> str:
    return pol[-1]  # QV -> V, QH -> H


def channel_map(source: str | Radiometer, target: str | Radiometer = "gmi",
                tolerance: float = TOLERANCE) -> dict[str, str | None]:
    """For each ``target`` channel, the ``source`` channel that stands in for it (None: no counterpart)."""
    src, tgt = get(source), get(target)
    out = {}
    for c in tgt.channels:
        near = [s for s in src.channels
                if abs(s.frequency - c.frequency) <= tolerance * c.frequency and bool(s.offset) == bool(c.offset)]
        if not near:
            out[c.name] = None
            continue
        same = [s for s in near if _polarisation(s.polarization) == _polarisation(c.polarization)] or near
        best = min(same, key=lambda s: (abs(s.frequency - c.frequency), abs(s.offset - c.offset)))
        out[c.name] = best.name
    return out


def _extra_sigma(src: Channel, tgt: Channel, radiometer: Radiometer) -> tuple[float, float]:
    """Gaussian sigma (source pixels: along, across) that widens ``src``'s footprint to ``tgt``'s (0 if wider)."""
    def sigma(fwhm_t, fwhm_s, spacing):
        var = (fwhm_t**2 - fwhm_s**2) / (8.0 * math.log(2.0))
        return math.sqrt(var) / spacing if var > 0 else 0.0

    return (sigma(tgt.footprint_along, src.footprint_along, radiometer.scan_spacing),
            sigma(tgt.footprint_cross, src.footprint_cross, radiometer.pixel_spacing))


def _smooth(block: np.ndarray, sigmas: list[tuple[float, float]]) -> np.ndarray:
    """NaN-aware Gaussian smoothing of each channel of ``(channel, along, across)`` by its own sigma."""
    out = block.copy()
    for i, (sy, sx) in enumerate(sigmas):
        if sy == 0 and sx == 0:
            continue
        valid = np.isfinite(block[i])
        num = ndimage.gaussian_filter(np.where(valid, block[i], 0.0), (sy, sx), mode="nearest", truncate=4.0)
        den = ndimage.gaussian_filter(valid.astype(block.dtype), (sy, sx), mode="nearest", truncate=4.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(valid, num / den, np.nan)
    return out


def map_channels(tb: xr.DataArray, source: str | Radiometer, target: str | Radiometer = "gmi",
                 tolerance: float = TOLERANCE) -> xr.DataArray:
    """Brightness temperatures ``tb`` (K, ``(*space, channel)`` in ``source``'s channel names) in the channel
    layout of ``target``, footprints matched; lazy on dask (a halo of four sigmas)."""
    src, tgt = get(source), get(target)
    table = channel_map(src, tgt, tolerance)
    space = tuple(d for d in tb.dims if d != "channel")
    names = list(map(str, tb["channel"].values))
    picked, sigmas = [], []
    for c in tgt.channels:
        name = table[c.name]
        if name is None or name not in names:
            picked.append(xr.full_like(tb.isel(channel=0, drop=True), np.nan))
            sigmas.append((0.0, 0.0))
        else:
            picked.append(tb.sel(channel=name, drop=True))
            sigmas.append(_extra_sigma(src.channel(name), c, src))
    stacked = xr.concat(picked, dim="channel").transpose("channel", *space)
    depth = int(math.ceil(4.0 * max(max(s) for s in sigmas))) if any(max(s) for s in sigmas) else 0
    data = stacked.data.rechunk({0: -1}) if is_lazy(stacked) else stacked.data  # each block holds every channel
    data = halo_map(_smooth, data, depth, boundary="nearest", sigmas=sigmas) if depth else data
    out = stacked.copy(data=data).assign_coords(
        channel=tgt.channel_names, frequency=("channel", [c.frequency for c in tgt.channels]),
        polarization=("channel", [c.polarization for c in tgt.channels]),
        frequency_offset=("channel", [c.offset for c in tgt.channels]))
    mapping = ", ".join(f"{k}<-{v or 'none'}" for k, v in table.items())
    return out.transpose(*space, "channel").assign_attrs(dict(tb.attrs, sensor=tgt.name, mapped_from=src.name,
                                                              channel_map=mapping))


def mapped_scene(ds: xr.Dataset, target: str | Radiometer = "gmi") -> xr.Dataset:
    """A synthetic swath of another radiometer (:func:`eoxr.rain.synth.scene`) with its brightness temperatures
    mapped onto ``target``'s channels (reference and ancillaries unchanged)."""
    tb = map_channels(ds["brightness_temperature"], ds.attrs["sensor"], target)
    return ds.drop_dims("channel").assign(brightness_temperature=tb).assign_attrs(
        sensor=get(target).name, mapped_from=ds.attrs["sensor"])


def fine_tune(scenes: list[xr.Dataset], checkpoint, init="rain-unet-gmi", fraction: float = 1.0,
              steps: int = 300, batch_size: int = 8, lr: float = 5e-4, seed: int = 0, device: str = "auto",
              patch: dict | None = None, stride: dict | None = None, metadata: dict | None = None, **kw):
    """Fine-tune the network ``init`` on swaths of another radiometer (with their reference), using ``fraction``
    of their labelled patches; returns the :class:`eoxr.ml.Fit`.

    The scenes are mapped onto the network's layout (:func:`mapped_scene`) and cut into patches of
    :data:`PATCH` (a label is a patch: finer than a training patch, so that few labels still make several);
    about ``steps`` batches are run whatever the fraction, so that few labels are seen many times and many
    labels about once.
    """
    from .learned import fit

    mapped = [mapped_scene(ds) for ds in scenes]
    return fit(mapped, checkpoint, sensor=scenes[0].attrs["sensor"], steps=steps, init=init, validation=None,
               patches=fraction, batch_size=batch_size, lr=lr, seed=seed, device=device, patch=patch or PATCH,
               stride=stride or STRIDE, metadata={"label_fraction": fraction, "steps": steps, **(metadata or {})},
               **kw)


def label_curve(pool: list[xr.Dataset], test: list[xr.Dataset], workdir, init="rain-unet-gmi",
                fractions=(0.01, 0.1, 1.0), steps: int = 300, seed: int = 0, device: str = "auto") -> list[dict]:
    """Skill on ``test`` swaths of the network ``init`` mapped as it is (fraction 0) and fine-tuned on
    ``fractions`` of the labelled patches of ``pool`` (swaths of the same radiometer): one row per fraction
    with :func:`eoxr.rain.evaluate.scores` and the checkpoint written under ``workdir``."""
    from pathlib import Path

    from .evaluate import scores

    sensor = pool[0].attrs["sensor"]
    rows, models = [], {0.0: init}
    for f in fractions:
        path = Path(workdir) / f"rain-unet-{sensor}-{f:g}.ckpt"
        fine_tune(pool, path, init=init, fraction=f, steps=steps, seed=seed, device=device)
        models[f] = path
    for f, model in models.items():
        # the source network takes the mapped swath; a fine-tuned one maps the swath itself
        outs = [(mapped_scene(ds) if f == 0.0 else ds).rain.retrieve(method="unet", model=model, device=device)
                for ds in test]
        rows.append({"label_fraction": f, "checkpoint": str(model),
                     **scores([o.load() for o in outs], [ds["rain_rate"] for ds in test])})
    return rows
