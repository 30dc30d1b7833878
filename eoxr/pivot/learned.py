"""Learned fusion: a multimodal masked autoencoder over windows of every sensor's observations.

Input of one target day (the layout is declared by name in the checkpoint): each sensor's observations,
reprojected to the pivot grid (:func:`to_pivot_grid`) and put on the daily axis (:func:`daily`), on the
``2 * window + 1`` days around it as channels -- the values of every day and band (reflectance, or S1
backscatter in dB), then one mask per day (1 where observed) -- so a channel's position is its day offset
(:func:`window_channels`). "hybrid" adds the physical fusion's reflectance and std of the target day as one more
sensor (``physical``). :class:`eoxr.pivot.model.MultiMAE` encodes each sensor into a shared latent (their
masked mean) and decodes it into each sensor's target-day observation.

Training (:func:`fit`) is self-supervised: on random days and crops of synthetic scenes, the target day's
observations are hidden from the input with probability ``HIDE_TARGET_DAY`` per sensor, the other days' with
``HIDE_OTHER_DAYS``, and every head is asked for what its sensor saw on the target day (mean squared error in
normalised units, on observed pixels). No truth is used: the S2 head learns the reflectance S2 would see, from
whatever the other days and sensors show (He et al. 2022, doi:10.1109/CVPR52688.2022.01553; Bachmann et al.
2022, MultiMAE, doi:10.1007/978-3-031-19836-6_20).

Prediction (:func:`learned_fuse`) runs the network through :func:`eoxr.ml.predict` (halo, lazy, chunked equals
unchunked): ``reflectance`` from the S2 head, ``backscatter`` from the S1 head, ``embedding`` the latent.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import cf, georeference, stamp
from ..errors import (
    CheckpointError,
    MissingVariableError,
    NoDataError,
    ParameterError,
)

BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
POLARIZATIONS = ("vv", "vh")
SENSOR_BANDS = {"s2": BANDS, "landsat": BANDS, "modis": BANDS, "s1": POLARIZATIONS}
PHYSICAL = "physical"
PHYSICAL_VARIABLES = ("reflectance", "reflectance_std")
TARGET = "pivot"
MODEL_NAME = "pivot-mae"
HIDE_TARGET_DAY = 0.7
HIDE_OTHER_DAYS = 0.3
DAYS_PER_CHUNK = 16  # observation dates per chunk of a sensor cube given in memory
PIVOT_CHUNK = 256  # pixels along y and x of the reprojected sensors' chunks
DB_FLOOR = 1e-4  # linear sigma0 floor before taking dB


# -- the pivot grid and the daily axis ---------------------------------------------------------------------

def pivot_geobox(cubes: Mapping[str, xr.Dataset], resolution: float = 10.0, crs=None):
    """The pivot grid of the physical fusion (:func:`eoxr.pivot.regrid.pivot_grid`: the sensors' common extent at
    ``resolution`` metres) in ``crs`` (default: the finest sensor's CRS), as an odc-geo GeoBox."""
    import odc.geo.xr  # noqa: F401  (registers .odc)
    from odc.geo import CRS

    from .regrid import pivot_grid

    if crs is None:
        boxes = {name: cube.odc.geobox for name, cube in cubes.items()}
        crs = boxes[min(boxes, key=lambda n: abs(boxes[n].resolution.x))].crs
    return pivot_grid(dict(cubes), CRS(crs), resolution)


def to_pivot_grid(cube: xr.Dataset, geobox, bands: Sequence[str]) -> xr.Dataset:
    """``bands`` of ``cube`` reprojected onto ``geobox`` with odc-geo (lazy on dask input): area average
    where the pivot grid is coarser, bilinear where it is finer; NaN stays missing."""
    import odc.geo.xr  # noqa: F401  (registers .odc)

    missing = [b for b in bands if b not in cube]
    if missing:
        raise MissingVariableError(f"the cube lacks bands {missing} (it has {sorted(map(str, cube.data_vars))}); "
                                   "rename them with eoxr.pivot.sensors.standardise(ds, sensor)")
    coarser = abs(geobox.resolution.x) >= abs(cube.odc.geobox.resolution.x)
    src = cube[list(bands)].astype(np.float32)
    # odc-geo sizes output chunks like the input's in pixels: ask for pivot-grid chunks instead
    lazy = {"chunks": tuple(min(n, PIVOT_CHUNK) for n in geobox.shape)} if src.chunks else {}
    return src.odc.reproject(geobox, resampling="average" if coarser else "bilinear", dst_nodata=np.nan, **lazy)


def daily_axis(cubes: Mapping[str, xr.Dataset], time=None) -> pd.DatetimeIndex:
    """Daily dates from ``time`` (a (start, end) pair) or from the first to the last observation of any sensor."""
    if time is None:
        starts = [pd.Timestamp(c.time.values.min()) for c in cubes.values()]
        ends = [pd.Timestamp(c.time.values.max()) for c in cubes.values()]
        time = (min(starts), max(ends))
    return pd.date_range(pd.Timestamp(time[0]).floor("D"), pd.Timestamp(time[1]).floor("D"), freq="1D")


def daily(ds: xr.Dataset, days: pd.DatetimeIndex) -> xr.Dataset:
    """``ds`` on the daily axis ``days``: each observation on its date (the first of a date kept), NaN on the
    days without one."""
    dates = ds.time.dt.floor("D").values
    first = ~pd.Index(dates).duplicated()
    ds = ds.isel(time=np.flatnonzero(first)).assign_coords(time=dates[first])
    return ds.reindex(time=days)


def channel_dim(sensor: str) -> str:
    """The channel dimension of a sensor's input (its own: sensors have different numbers of channels)."""
    return f"{sensor}_channel"


def window_channels(values: xr.DataArray, window: int, name: str) -> xr.DataArray:
    """``(time, <name>_channel, y, x)`` from daily ``values`` ``(time, band, y, x)``: the values of the days
    ``-window .. +window`` around each day (offset-major, then band), then one mask per offset (1 observed);
    lazy on dask input. Values are NaN where not observed."""
    rolled = values.rolling(time=2 * window + 1, center=True).construct("offset")
    rolled = rolled.assign_coords(offset=np.arange(-window, window + 1))
    vals = rolled.transpose("time", "offset", "band", "y", "x")
    masks = vals.notnull().all("band").astype(np.float32)
    n_t, n_off, n_b = vals.sizes["time"], vals.sizes["offset"], vals.sizes["band"]
    stacked = [vals.data.reshape(n_t, n_off * n_b, *vals.shape[-2:]), masks.data]
    concat = da.concatenate if isinstance(vals.data, da.Array) else np.concatenate
    data = concat(stacked, axis=1)
    grid = {k: v for k, v in values.coords.items() if v.dims and set(v.dims) <= {"time", "y", "x"}}  # CRS: set once on the output
    return xr.DataArray(data, dims=("time", channel_dim(name), "y", "x"), coords=grid, name=name)


def sensor_values(sensor: str, cube: xr.Dataset, geobox, days) -> xr.DataArray:
    """A sensor's daily values on the pivot grid ``(time, band, y, x)``: reflectance, or S1 backscatter in dB."""
    bands = SENSOR_BANDS[sensor]
    grid = daily(to_pivot_grid(cube, geobox, bands), days).to_array("band").transpose("time", "band", "y", "x")
    if sensor == "s1":
        grid = 10.0 * np.log10(grid.clip(min=DB_FLOOR))
    return (grid.chunk({"band": -1}) if grid.chunks else grid).astype(np.float32)


def physical_values(pivot: xr.Dataset, days) -> xr.DataArray:
    """The physical fusion's reflectance and its std of each day ``(time, band, y, x)`` (bands doubled)."""
    missing = [v for v in PHYSICAL_VARIABLES if v not in pivot]
    if missing:
        raise MissingVariableError(f"the physical result lacks {missing}; pass the output of "
                                   "eoxr.pivot.fuse(..., method='physical')")
    parts = [pivot[v].sel(band=list(BANDS)).assign_coords(band=[f"{v}:{b}" for b in BANDS])
             for v in PHYSICAL_VARIABLES]
    return xr.concat(parts, "band").reindex(time=days).transpose("time", "band", "y", "x").astype(np.float32)


def absent(sensor: str, n_values: int, window: int, like: xr.DataArray) -> xr.DataArray:
    """The channels of a sensor that was not given: NaN values, zero masks (lazy)."""
    n_t, ny, nx = like.sizes["time"], like.sizes["y"], like.sizes["x"]
    chunks = like.chunks if like.chunks else None
    n_off = 2 * window + 1
    vals = da.full((n_t, n_values * n_off, ny, nx), np.nan, dtype=np.float32,
                   chunks=(chunks[0] if chunks else -1, -1, *(chunks[2:] if chunks else (-1, -1))))
    masks = da.zeros((n_t, n_off, ny, nx), dtype=np.float32, chunks=vals.chunks[:1] + ((n_off,),) + vals.chunks[2:])
    grid = {k: v for k, v in like.coords.items() if v.dims and set(v.dims) <= {"time", "y", "x"}}  # CRS: set once on the output
    return xr.DataArray(da.concatenate([vals, masks], axis=1), dims=("time", channel_dim(sensor), "y", "x"),
                        coords=grid, name=sensor)


# -- the layout a checkpoint declares -----------------------------------------------------------------------

def layout(sensors: Sequence[str], window: int) -> dict:
    """``{"sensors": {name: [values, masks]}, "heads": {name: bands}, "window": w}`` of a model over ``sensors``
    (``physical`` gives input only: it has no observation of its own to reconstruct)."""
    unknown = [s for s in sensors if s not in SENSOR_BANDS and s != PHYSICAL]
    if unknown:
        raise ParameterError(f"unknown sensors {unknown}; known: {sorted(SENSOR_BANDS)} and {PHYSICAL!r}")
    if window < 0:
        raise ParameterError(f"window must be >= 0 days, not {window}; e.g. window=8")
    n_off = 2 * window + 1
    spec, heads = {}, {}
    for s in sensors:
        if s == PHYSICAL:
            spec[s] = [2 * len(BANDS), 1]
        else:
            spec[s] = [n_off * len(SENSOR_BANDS[s]), n_off]
            heads[s] = len(SENSOR_BANDS[s])
    return {"sensors": spec, "heads": heads, "window": window}


def model_inputs(cubes: Mapping[str, xr.Dataset], lay: dict, geobox, days, physical: xr.Dataset | None = None):
    """The network's input Dataset ``{sensor: (time, channel, y, x)}`` in the layout ``lay`` (lazy)."""
    window = lay["window"]
    arrays = {}
    for s in lay["sensors"]:
        if s == PHYSICAL:
            arrays[s] = window_channels(physical_values(physical, days), 0, s) if physical is not None else None
        elif s in cubes:
            arrays[s] = window_channels(sensor_values(s, cubes[s], geobox, days), window, s)
        else:
            arrays[s] = None
    like = next((a for a in arrays.values() if a is not None), None)
    if like is None:
        raise NoDataError(f"none of the model's sensors {list(lay['sensors'])} is among the cubes {sorted(cubes)}")
    for s, arr in arrays.items():
        if arr is None:
            nv = lay["sensors"][s][0] // (1 if s == PHYSICAL else 2 * window + 1)
            arrays[s] = absent(s, nv, 0 if s == PHYSICAL else window, like)
    return xr.Dataset(arrays)


# -- training ------------------------------------------------------------------------------------------------

def value_slices(lay: dict) -> dict[str, tuple[slice, slice]]:
    """``{sensor: (value channels, mask channels)}`` as slices of the stacked input."""
    out, start = {}, 0
    for s, (nv, nm) in lay["sensors"].items():
        out[s] = (slice(start, start + nv), slice(start + nv, start + nv + nm))
        start += nv + nm
    return out


def target_slice(lay: dict, sensor: str) -> slice:
    """The target day's value channels of ``sensor`` within its own value channels."""
    nb = lay["heads"][sensor]
    return slice(lay["window"] * nb, (lay["window"] + 1) * nb)


def statistics(samples: np.ndarray, lay: dict) -> dict:
    """Normalisation ``{sensor: {mean, std}}`` per input channel (a band's over all days and offsets; masks
    0 and 1 as they are) and ``{"pivot": ...}`` per output channel (the heads' bands, then the latent as is)."""
    stats, heads = {}, {}
    for s, (vals, masks) in value_slices(lay).items():
        nv, nm = lay["sensors"][s]
        nb = nv // (nm if s != PHYSICAL else 1)
        block = samples[:, vals].reshape(samples.shape[0], -1, nb, *samples.shape[-2:])
        block = np.moveaxis(block, 2, 0).reshape(nb, -1)
        mean = np.array([np.nanmean(b) if np.isfinite(b).any() else 0.0 for b in block])
        std = np.array([np.nanstd(b) if np.isfinite(b).any() else 1.0 for b in block])
        std = np.where(std > 0, std, 1.0)
        stats[s] = {"mean": np.tile(mean, nv // nb).tolist() + [0.0] * nm,
                    "std": np.tile(std, nv // nb).tolist() + [1.0] * nm}
        if s in lay["heads"]:
            heads[s] = (mean, std)
    latent = lay["latent"]
    stats[TARGET] = {"mean": [float(v) for s in lay["heads"] for v in heads[s][0]] + [0.0] * latent,
                     "std": [float(v) for s in lay["heads"] for v in heads[s][1]] + [1.0] * latent}
    return stats


def hide(x: np.ndarray, lay: dict, rng: np.random.Generator) -> np.ndarray:
    """A copy of normalised samples ``x`` with observations hidden (values 0, masks 0): per sample and sensor,
    the target day with probability ``HIDE_TARGET_DAY``, each other day with ``HIDE_OTHER_DAYS``."""
    x = x.copy()
    n = x.shape[0]
    for s, (vals, masks) in value_slices(lay).items():
        nv, nm = lay["sensors"][s]
        nb = nv // nm
        drop = rng.random((n, nm)) < HIDE_OTHER_DAYS
        if s != PHYSICAL:
            drop[:, lay["window"]] = rng.random(n) < HIDE_TARGET_DAY
        m = x[:, masks]
        m[drop] = 0.0
        x[:, masks] = m
        v = x[:, vals].reshape(n, nm, nb, *x.shape[-2:])
        v[np.broadcast_to(drop[:, :, None], v.shape[:3])] = 0.0
        x[:, vals] = v.reshape(n, nv, *x.shape[-2:])
    return x


def normalise(samples: np.ndarray, stats: dict, lay: dict) -> np.ndarray:
    """Samples in normalised units, NaN (not observed) as 0."""
    mean = np.concatenate([stats[s]["mean"] for s in lay["sensors"]]).astype(np.float32)
    std = np.concatenate([stats[s]["std"] for s in lay["sensors"]]).astype(np.float32)
    return np.nan_to_num((samples - mean[:, None, None]) / std[:, None, None], nan=0.0).astype(np.float32)


def targets(normalised_raw: np.ndarray, samples: np.ndarray, lay: dict) -> np.ndarray:
    """The heads' targets ``(n, sum of head bands, h, w)``: each sensor's target-day values (normalised), NaN
    where it saw nothing."""
    parts = []
    slices = value_slices(lay)
    for s in lay["heads"]:
        ch = np.arange(slices[s][0].start, slices[s][0].stop)[target_slice(lay, s)]
        observed = np.isfinite(samples[:, ch])
        parts.append(np.where(observed, normalised_raw[:, ch], np.nan))
    return np.concatenate(parts, axis=1).astype(np.float32)


def masked_mse(pred, target):
    """Mean squared error over the finite targets (0 without any)."""
    import torch

    ok = torch.isfinite(target)
    if not bool(ok.any()):
        return pred.sum() * 0.0
    return torch.mean((pred[ok] - target[ok]) ** 2)


def scene_samples(cubes: Mapping[str, xr.Dataset], lay: dict, n_days: int, rng: np.random.Generator,
                  physical: xr.Dataset | None = None, resolution: float = 10.0) -> np.ndarray:
    """Inputs of ``n_days`` random days of one scene ``(n_days, channels, y, x)`` (raw units, NaN missing)."""
    geobox = pivot_geobox(cubes, resolution)
    days = daily_axis(cubes)
    chunked = {s: c.load().chunk({"time": DAYS_PER_CHUNK}) for s, c in cubes.items()}  # small: read once
    inputs = model_inputs(chunked, lay, geobox, days, physical)
    pick = np.sort(rng.choice(len(days), size=min(n_days, len(days)), replace=False))
    sub = inputs.isel(time=pick).compute()
    return np.concatenate([sub[s].values for s in lay["sensors"]], axis=1).astype(np.float32)


def fit(scenes: Sequence[Mapping[str, xr.Dataset]], checkpoint: str | Path, *, sensors: Sequence[str] | None = None,
        window: int = 6, days_per_scene: int = 24, epochs: int = 20, latent: int = 16, width: int = 32,
        lr: float = 2e-3, batch_size: int = 8, seed: int = 0, physical: Sequence[xr.Dataset] | None = None,
        metadata: dict | None = None) -> dict:
    """Train a MultiMAE on ``scenes`` (dicts of sensor cubes) by masked reconstruction; save ``checkpoint``.

    ``physical`` (one physical fusion per scene) trains the hybrid model (``physical`` as one more sensor).
    Returns the log ``{"train_loss": [...per epoch], "seconds": s}``; the checkpoint holds the last epoch's
    weights and a config :func:`eoxr.ml.predict` reads (inputs, channels, normalisation).
    """
    import time as _time

    import torch

    from ..ml import nets

    t0 = _time.perf_counter()
    sensors = list(sensors or [s for s in SENSOR_BANDS if s in scenes[0]])
    if physical is not None:
        sensors.append(PHYSICAL)
    lay = {**layout(sensors, window), "latent": latent}
    rng = np.random.default_rng(seed)
    raw = np.concatenate([scene_samples(c, lay, days_per_scene, rng, physical[i] if physical is not None else None)
                          for i, c in enumerate(scenes)])
    stats = statistics(raw, lay)
    norm = normalise(raw, stats, lay)
    target = targets(norm, raw, lay)
    net = nets.build("pivot.MultiMAE", seed=seed, sensors=lay["sensors"], heads=lay["heads"], latent=latent,
                     width=width)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n_out = sum(lay["heads"].values())
    log = []
    for epoch in range(epochs):
        net.train()
        order, total = rng.permutation(len(norm)), 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            x = torch.from_numpy(hide(norm[idx], lay, rng))
            loss = masked_mse(net(x)[:, :n_out], torch.from_numpy(target[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        log.append(total / len(order))
    channels = {s: [f"{s}[{channel_dim(s)}={i}]" for i in range(sum(lay["sensors"][s]))] for s in sensors}
    config = {
        "arch": nets.arch_config(net), "receptive_field": net.receptive_field, "align": 1, "uncertainty": False,
        "inputs": sensors, "input_channels": [c for s in sensors for c in channels[s]], "target": TARGET,
        "target_channels": [f"{TARGET}[output={i}]" for i in range(net.out_channels)], "units": "1",
        "long_name": "pivot heads and embedding", "normalisation": stats, "layout": lay,
        "log": [{"epoch": i + 1, "train_loss": v} for i, v in enumerate(log)],
        "train_args": {"window": window, "days_per_scene": days_per_scene, "epochs": epochs, "lr": lr,
                       "batch_size": batch_size, "seed": seed, "scenes": len(scenes)},
        "metadata": metadata or {},
    }
    from ..ml import checkpoint as ckpt_mod

    ckpt_mod.save(checkpoint, config, net.state_dict())
    return {"train_loss": log, "seconds": _time.perf_counter() - t0, "samples": len(norm)}


# -- prediction ----------------------------------------------------------------------------------------------

def resolve_model(model, hybrid: bool) -> Path:
    """Checkpoint of ``model`` (a path or a registry name; None: the shipped learned or hybrid model)."""
    from ..ml import registry

    if model is None:
        name = f"{MODEL_NAME}-hybrid" if hybrid else MODEL_NAME
        try:
            return registry.path(name)
        except CheckpointError as err:
            raise CheckpointError(f"no shipped model {name!r}: train one with `eoxr train pivot "
                                  f"{'--hybrid ' if hybrid else ''}--out DIR` and pass model='DIR/{name}.ckpt'"
                                  ) from err
    path = Path(model)
    return path if path.exists() else registry.path(str(model))


def _checked_layout(config: dict, path: Path, physical) -> dict:
    lay = config.get("layout")
    if lay is None or "s2" not in lay.get("heads", {}):
        raise CheckpointError(f"checkpoint {path} is not a pivot MultiMAE with an S2 head; pass one made by "
                              "`eoxr train pivot`")
    if PHYSICAL in lay["sensors"] and physical is None:
        raise MissingVariableError(f"checkpoint {path} is a hybrid model: pass physical= (the result of "
                                   "eoxr.pivot.fuse(..., method='physical')) or use the learned model")
    if PHYSICAL not in lay["sensors"] and physical is not None:
        raise CheckpointError(f"checkpoint {path} takes no physical input; pass a hybrid model (`eoxr train pivot "
                              "--hybrid`) or leave physical=None")
    return lay


def _head(out: xr.DataArray, lay: dict, sensor: str) -> xr.DataArray:
    """The channels of ``sensor``'s head in the network output ``(time, output, y, x)``."""
    start = 0
    for s, n in lay["heads"].items():
        if s == sensor:
            return out.isel(output=slice(start, start + n))
        start += n
    raise CheckpointError(f"the model has no {sensor} head (heads: {list(lay['heads'])})")


def _outputs(out: xr.DataArray, lay: dict) -> dict[str, xr.DataArray]:
    """The pivot variables of the network output: reflectance, ndvi, backscatter (when S1 has a head), embedding."""
    refl = _head(out, lay, "s2").rename(output="band").assign_coords(band=list(BANDS))
    red, nir = refl.sel(band="red"), refl.sel(band="nir")
    n_heads = sum(lay["heads"].values())
    emb = out.isel(output=slice(n_heads, None)).rename(output="feature")
    variables = {
        "reflectance": cf(refl, "1", "surface reflectance (learned fusion, S2 head)"),
        "ndvi": cf((nir - red) / (nir + red), "1", "normalised difference vegetation index (learned fusion)"),
        "embedding": cf(emb.assign_coords(feature=np.arange(emb.sizes["feature"])), "1",
                        "learned representation (MultiMAE shared latent)"),
    }
    if "s1" in lay["heads"]:
        db = _head(out, lay, "s1").rename(output="polarization")
        lin = 10.0 ** (db / 10.0)
        variables["backscatter"] = cf(lin.assign_coords(polarization=[p.upper() for p in POLARIZATIONS]), "1",
                                      "backscatter coefficient sigma0, linear (learned fusion, S1 head)")
    return variables


def learned_fuse(cubes: Mapping[str, xr.Dataset], *, resolution: float = 10.0, crs=None, time=None, model=None,
                 physical: xr.Dataset | None = None, device: str = "auto", chunks: int = 256) -> xr.Dataset:
    """Fuse sensor cubes into the daily pivot representation with a trained MultiMAE, lazily.

    Parameters
    ----------
    cubes : dict of xarray.Dataset
        Sensor cubes by key (``"s2"``, ``"landsat"``, ``"modis"``, ``"s1"``) with pivot band names
        (``eoxr.pivot.sensors.standardise``); any subset of the model's sensors.
    resolution, crs, time
        The pivot grid (metres; default CRS the finest sensor's) and the (start, end) of the daily axis.
    model : str or path, optional
        A checkpoint (path or registry name); None: the shipped ``pivot-mae`` (``pivot-mae-hybrid`` with
        ``physical``).
    physical : xarray.Dataset, optional
        The physical fusion on the same grid and days: makes this the "hybrid" method.
    device : str
        ``"auto"``: CUDA where the worker has it.
    chunks : int
        Chunk size in y and x of the output.

    Returns
    -------
    xarray.Dataset
        ``reflectance`` (time, band, y, x), ``ndvi``, ``backscatter`` (time, polarization, y, x; when the model
        has an S1 head), ``embedding`` (time, feature, y, x), all units "1", with the CRS; lazy.
    """
    from .. import ml
    from ..ml import checkpoint as ckpt_mod

    if not cubes:
        raise NoDataError("no sensor cube given: pass cubes={'s2': ds, ...}")
    path = resolve_model(model, hybrid=physical is not None)
    lay = _checked_layout(ckpt_mod.load(path).config, path, physical)
    geobox = pivot_geobox(cubes, resolution, crs)
    days = daily_axis(cubes, time)
    usable = {s: c if c.chunks else c.chunk({"time": DAYS_PER_CHUNK}) for s, c in cubes.items() if s in lay["sensors"]}
    inputs = model_inputs(usable, lay, geobox, days, physical)
    inputs = inputs.chunk({"time": 1, "y": chunks, "x": chunks, **{channel_dim(s): -1 for s in inputs}})
    out = ml.predict(inputs, path, device=device, n_samples=0)[TARGET]
    ds = xr.Dataset(_outputs(out, lay))
    method = "hybrid" if physical is not None else "learned"
    made_from = [*cubes.values(), *([physical] if physical is not None else [])]
    return stamp(georeference(ds, crs=geobox.crs.to_wkt()), f"pivot.learned_fuse[{method}]", made_from=made_from,
                 checkpoint_sha256=ckpt_mod.sha256(path), checkpoint=str(path), resolution=resolution)


def hybrid_fuse(cubes: Mapping[str, xr.Dataset], physical: xr.Dataset, **kwargs) -> xr.Dataset:
    """:func:`learned_fuse` with the physical fusion as one more input sensor (the "hybrid" method)."""
    if physical is None:
        raise MissingVariableError("hybrid fusion needs physical= (eoxr.pivot.fuse(..., method='physical'))")
    return learned_fuse(cubes, physical=physical, **kwargs)
