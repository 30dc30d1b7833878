"""Learned LST super-resolution: SISR (single image) and DISR (dual image, guided by fine NDVI/reflectance).

Training follows Wald's protocol (Wald, Ranchin & Mangolini 1997, Photogramm. Eng. Remote Sens. 63(6),
691-699): the observed LST (e.g. 1 km) is degraded by the sensor model to ``factor`` times coarser (4 km),
upsampled back by bicubic interpolation, and the network learns the residual that restores the observation;
it is then applied one scale finer (1 km -> 250 m), where no truth exists. For DISR the guide is degraded
alongside (block mean) so that it has the same ratio to the training target as at application.

At application each chunk of the coarse LST (with the guide's fine pixels as channels on the coarse grid, and
a halo of context) goes through the chain of :mod:`eoxr.lst.ondevice` on the model's device: bicubic
upsampling, the network, the conservation step; no seams, and fine pixels under a cloudy coarse pixel stay NaN.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

import dask.array as dsa

from ..arrays import as_float, check_factor, ensure_depth, fine_coord, halo_map, is_lazy, namespace
from ..attrs import cf, stamp
from ..errors import CheckpointError, MissingVariableError, NoDataError, ParameterError
from ..units import declare_units
from ._grid import align_guide, checked_lst, crs_of, like, spatial
from .baselines import BACKPROJECTIONS, _upsampled_chunks, conserve, upsample_data
from .degrade import degrade

INPUT_LST = "lst_up"
INPUT_GUIDE = "guide"
METHODS = ("sisr", "disr")
#: what the network sees as ``lst_up`` (checkpoint metadata ``upsampling``): the coarse LST upsampled by
#: cubic convolution, or that made to conserve the coarse LST by back-projection (bicubic plus the
#: conservation step: the network then learns what that baseline misses, and starts from it)
UPSAMPLINGS = {"bicubic": None, "backprojected": BACKPROJECTIONS}


def model_name(method: str, factor: int) -> str:
    """Registry name of the shipped checkpoint: ``lst-sisr-x4``, ``lst-disr-x2``, ..."""
    return f"lst-{method}-x{factor}"


def resolve_model(model, method: str, factor: int) -> Path:
    """Checkpoint path of ``model`` (a path, a registry name, or None for the shipped one)."""
    from ..ml import registry

    if model is None:
        name = model_name(method, factor)
        try:
            return registry.path(name)
        except CheckpointError as err:
            raise CheckpointError(
                f"no shipped {method.upper()} model for factor={factor} ({name}); shipped: "
                f"{[n for n in registry.names() if n.startswith('lst-')]}. Train one with "
                f"`eoxr train lst --method {method} --factor {factor} --out DIR` and pass model='DIR/...ckpt'"
            ) from err
    p = Path(model)
    if p.exists():
        return p
    return registry.path(str(model))


@declare_units(lst="K", guide="1")
def wald_pairs(lst: xr.DataArray, factor: int, guide: xr.DataArray | None = None, mtf: float | None = None,
               domain: str = "radiance", upsampling: str = "bicubic") -> xr.Dataset:
    """Training pairs one scale coarser than ``lst`` (Wald's protocol), on the grid of ``lst``.

    Returns ``lst_up`` (K: ``lst`` degraded by ``factor`` then upsampled back, see :data:`UPSAMPLINGS`),
    ``lst`` (K: the target, trimmed to a multiple of ``factor``) and, with a guide, ``guide`` on the grid of
    ``lst`` (block-averaged when the guide is finer). Lazy for dask input.
    """
    if upsampling not in UPSAMPLINGS:
        raise ParameterError(f"upsampling must be one of {list(UPSAMPLINGS)}, not {upsampling!r}")
    factor = check_factor(factor)
    lst = checked_lst(spatial(lst))
    ny, nx = (lst.sizes["y"] // factor) * factor, (lst.sizes["x"] // factor) * factor
    lst = lst.isel(y=slice(0, ny), x=slice(0, nx))
    coarse = degrade(lst, factor, mtf=mtf, domain=domain)
    up = like(upsample_data(coarse.data, factor), lst, lst.y.values, lst.x.values, INPUT_LST, "K",
              f"land surface temperature degraded x{factor} and upsampled ({upsampling})")
    if upsampling == "backprojected":
        up = conserve(up, coarse, factor, backprojections=BACKPROJECTIONS).assign_attrs(up.attrs)
    ds = xr.Dataset({INPUT_LST: up, "lst": cf(lst, "K", "land surface temperature")})
    if guide is not None:
        g = align_guide(guide, lst, 1)
        ds[INPUT_GUIDE] = g.assign_attrs(guide.attrs)
    crs = crs_of(lst)
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    return stamp(ds, "lst.wald_pairs", factor=factor, mtf=mtf, domain=domain, upsampling=upsampling)


def _unshuffle(block: np.ndarray, factor: int) -> np.ndarray:
    """(..., y * f, x * f) -> (..., f * f, y, x): the fine pixels of each coarse pixel as channels."""
    *lead, h, w = block.shape
    b = block.reshape(*lead, h // factor, factor, w // factor, factor)
    return np.moveaxis(b, (-3, -1), (-4, -3)).reshape(*lead, factor * factor, h // factor, w // factor)


def _shuffle(block: np.ndarray, factor: int) -> np.ndarray:
    """Inverse of :func:`_unshuffle`: (..., f * f, y, x) -> (..., y * f, x * f)."""
    *lead, _, h, w = block.shape
    b = block.reshape(*lead, factor, factor, h, w)
    return np.moveaxis(b, (-4, -3), (-3, -1)).reshape(*lead, h * factor, w * factor)


#: channels of the array each chunk of the chain receives, on the coarse grid; the guide's fine pixels follow
CHANNELS = ("lst", "detail_weight")


def _stack_inputs(data, weight, guide, factor: int):
    """One (..., channel, y, x) coarse-grid array for one halo exchange: :data:`CHANNELS` (the coarse LST, the
    weight on the network's detail broadcast), then the fine guide's pixels as f * f channels per guide
    (lazy for dask input)."""
    lazy = is_lazy(data) or is_lazy(weight) or (guide is not None and is_lazy(guide))
    xp = dsa if lazy else np
    if lazy and not is_lazy(data):
        data = dsa.from_array(data, chunks=-1)
    w = xp.broadcast_to(xp.asarray(weight, dtype=data.dtype), data.shape)
    parts = [data[..., None, :, :], (w.rechunk(data.chunks) if lazy else w)[..., None, :, :]]
    if guide is not None:
        if lazy:
            guide = dsa.asarray(guide).rechunk(_upsampled_chunks(data.chunks, factor))
            cells = guide.map_blocks(_unshuffle, factor, dtype=data.dtype, new_axis=guide.ndim - 2,
                                     chunks=data.chunks[:-2] + ((factor * factor,),) + data.chunks[-2:])
        else:
            cells = _unshuffle(guide, factor).astype(data.dtype)
        parts.append(cells)
    return xp.concatenate(parts, axis=-3)


def _chain_block(block, checkpoint, device, factor, backprojections, input_backprojections, ensemble, chunks_y,
                 chunks_x, halo, tile, batch_size, block_id=None):
    """One chunk (..., 1 + f * f, y + halos, x + halos) of coarse LST and guide cells -> the fine LST of its
    core (..., 1, y * f, x * f)."""
    from ..ml.device import resolve_device
    from ..ml.predict import cached_model
    from .ondevice import BATCH, Chain, run_tiles

    model, ck = cached_model(checkpoint, device)
    dev = resolve_device(device)
    chain = Chain(model, ck.config, factor, backprojections, ensemble, dev, input_backprojections=input_backprojections)
    batch_size = batch_size or BATCH.get(dev.split(":")[0], 1)
    iy, ix = block_id[-2], block_id[-1]
    lo_y, lo_x = (halo if iy > 0 else 0), (halo if ix > 0 else 0)
    core = ((lo_y, lo_y + chunks_y[iy]), (lo_x, lo_x + chunks_x[ix]))
    lead = block.shape[:-3]
    flat = block.reshape(-1, *block.shape[-3:])
    n = len(CHANNELS)
    outs = [run_tiles(chain, b[0], float(b[1].flat[0]), _shuffle(b[n:], factor)[None] if b.shape[0] > n else None,
                      core, halo, tile, batch_size) for b in flat]
    return np.stack(outs).reshape(*lead, 1, *outs[0].shape)


@declare_units(lst="K", guide="1")
def predict_fine(lst: xr.DataArray, factor: int, checkpoint: Path, guide: xr.DataArray | None = None,
                 device: str = "auto", batch_size: int | None = None, tile: int = 128, ensemble: bool = True,
                 backprojections: int | None = None, detail_weight=1.0) -> xr.DataArray:
    """Apply a checkpoint trained on :func:`wald_pairs` to ``lst``: fine LST (K) on the grid ``factor`` finer.

    The chain of :mod:`eoxr.lst.ondevice` runs on the checkpoint's device for each chunk (tiles of ``tile``
    coarse pixels, ``batch_size`` at a time, by default :data:`eoxr.lst.ondevice.BATCH` for the device):
    bicubic upsampling, the network and, with ``backprojections``
    (an int), the conservation step of :func:`eoxr.lst.baselines.conserve` (radiance domain), so the output
    aggregates to ``lst``; ``None`` returns the bare network. Fine pixels under a cloudy coarse pixel are NaN.
    ``detail_weight`` (0..1, a number or a 0-d array, lazy or not) scales what the network adds to the bicubic
    upsampling (:func:`eoxr.lst.guide.guide_weight`).

    ``ensemble``: average the predictions of the four mirror images of the input, each mirrored back (the
    geometric self-ensemble of Timofte, Rothe & Van Gool 2016, CVPR, doi:10.1109/CVPR.2016.206): four times
    the compute, lower error, since LST and its guides have no preferred orientation.
    """
    from ..ml import checkpoint as ckpt_mod
    from .ondevice import chain_halo

    factor = check_factor(factor)
    lst = spatial(lst)
    cfg = ckpt_mod.load(checkpoint).config
    inputs = cfg["inputs"]
    trained = cfg.get("metadata", {}).get("factor")
    if trained is not None and int(trained) != factor:
        raise CheckpointError(
            f"checkpoint {checkpoint} was trained for factor={trained}, not {factor}: pass factor={trained} or "
            f"a model trained with `eoxr train lst --factor {factor}`"
        )
    if INPUT_GUIDE in inputs and guide is None:
        raise MissingVariableError(
            f"checkpoint {checkpoint} is a guided (DISR) model: pass guide= (fine NDVI or reflectance on the grid "
            f"{factor} times finer than the LST)"
        )
    input_steps = UPSAMPLINGS[cfg.get("metadata", {}).get("upsampling", "bicubic")]
    data = as_float(checked_lst(lst).data)
    g = as_float(align_guide(guide, lst, factor).transpose(*lst.dims).data) if INPUT_GUIDE in inputs else None
    stacked = _stack_inputs(data, getattr(detail_weight, "data", detail_weight), g, factor)
    halo = chain_halo(cfg["receptive_field"], factor, (backprojections or 0) + (input_steps or 0))
    if is_lazy(stacked):
        stacked = ensure_depth(stacked.rechunk({stacked.ndim - 3: -1}), halo)
        chunks_y, chunks_x = stacked.chunks[-2:]
    else:
        chunks_y, chunks_x = (stacked.shape[-2],), (stacked.shape[-1],)
    fine = halo_map(_chain_block, stacked, halo, boundary="none", trim=False, dtype=data.dtype,
                    chunks=lambda c: c[:-3] + ((1,),) + _upsampled_chunks(c, factor)[-2:],
                    checkpoint=str(Path(checkpoint).resolve()), device=device, factor=factor,
                    backprojections=backprojections, input_backprojections=input_steps, ensemble=ensemble,
                    chunks_y=chunks_y, chunks_x=chunks_x, halo=halo, tile=tile, batch_size=batch_size)[..., 0, :, :]
    y, x = fine_coord(lst.y, factor), fine_coord(lst.x, factor)
    return like(fine, lst, y, x, cfg["target"], cfg.get("units") or "K", cfg.get("long_name") or "LST")


@declare_units(lst="K")
def detail_skill(lst: xr.DataArray, factor: int, checkpoint: Path, device: str = "auto",
                 ensemble: bool = True) -> xr.DataArray:
    """Weight (0..1) of a SISR network's detail, measured on ``lst`` itself one scale coarser (lazy, 0-d).

    ``lst`` is degraded ``factor`` times and super-resolved back, by bicubic plus the conservation step
    (``base``) and by the network (conserving); the weight is the least-squares scale of the network's detail
    ``d = net - base`` on what ``base`` misses, ``r = lst - base``: ``sum(d r) / sum(d d)`` clipped to [0, 1]
    (1 for an input too small to be degraded). Under the scale-invariance hypothesis of Wald's protocol the
    same weight holds one scale finer: a network whose detail does not help on the scene at the coarser scale
    gives bicubic plus conservation.
    """
    from .degrade import degrade

    factor = check_factor(factor)
    lst = checked_lst(spatial(lst))
    ny, nx = (lst.sizes["y"] // factor) * factor, (lst.sizes["x"] // factor) * factor
    if min(ny, nx) < 4 * factor:
        return cf(xr.DataArray(1.0, name="detail_weight"), "1", "weight of the network's detail (input too small "
                                                                 "to measure it: 1)")
    lst = lst.isel(y=slice(0, ny), x=slice(0, nx))
    coarser = degrade(lst, factor)
    base = conserve(lst.copy(data=upsample_data(as_float(coarser.data), factor)), coarser, factor,
                    backprojections=BACKPROJECTIONS).data
    net = predict_fine(coarser, factor, checkpoint, device=device, ensemble=ensemble,
                       backprojections=BACKPROJECTIONS).data
    xp = namespace(net, base)
    d, r = net - base, as_float(lst.data) - base
    ok = xp.isfinite(d) & xp.isfinite(r)
    w = xp.where(ok, d * r, 0.0).sum() / xp.where(ok, d * d, 0.0).sum()
    w = xp.clip(xp.where(xp.isfinite(w), w, 0.0), 0.0, 1.0)
    return cf(xr.DataArray(w, name="detail_weight"), "1",
              "weight of the network's detail, fitted on the input one scale coarser")


@declare_units(lst="K", guide="1")
def fit_scene(lst: xr.DataArray, factor: int, checkpoint: str | Path, guide: xr.DataArray | None = None,
              **kw) -> Path:
    """Train a SISR (or, with ``guide``, DISR) network on one scene by Wald's protocol; returns the checkpoint.

    The single-image ("zero-shot") setting of Shocher, Cohen & Irani 2018 (CVPR,
    doi:10.1109/CVPR.2018.00329) applied to LST: the coarse input ``lst`` (K, e.g. 4 km) is degraded
    ``factor`` times further (16 km) and the network learns 16 km -> 4 km on the scene itself; then
    :func:`predict_fine` applies it 4 km -> 1 km. No finer truth is used. ``guide`` is on the grid
    ``factor`` times finer than ``lst`` (e.g. 1 km emissivity) and is block-averaged to ``lst``'s grid for
    training. Keywords as :func:`fit_fields`.
    """
    return fit_fields([lst], factor, checkpoint, guides=None if guide is None else [guide],
                      protocol="Wald, trained on the scene itself", **kw)


def _guide_on_grid_of(guide: xr.DataArray, field: xr.DataArray, factor: int, min_valid: float) -> xr.DataArray:
    """``guide`` on ``field``'s grid: as it is when it has the field's pixels, block-averaged when finer."""
    from .degrade import aggregate

    if guide.sizes["x"] >= factor * field.sizes["x"]:
        return aggregate(guide, factor, domain="linear", min_valid=min_valid)
    return guide


def fit_fields(fields: list[xr.DataArray], factor: int, checkpoint: str | Path,
               guides: list[xr.DataArray] | None = None, epochs: int = 15, width: int = 16, blocks: int = 2,
               patch: int = 16, lr: float = 2e-3, seed: int = 0, device: str = "auto", min_valid: float = 0.5,
               protocol: str = "Wald, trained on other scenes", stride: int | None = None,
               metadata: dict | None = None, upsampling: str = "bicubic") -> Path:
    """Train a SISR (or, with ``guides``, DISR) network by Wald's protocol on several LST fields (K).

    Each field gives pairs one scale coarser than itself (:func:`wald_pairs`): fields of 1 km LST from
    other scenes or other times (day and night) train a 4 km -> 1 km model for a scene none of them covers.
    ``guides`` (one per field) are on the grid of their field (a fine truth with its guide: Wald's protocol at
    the truth's own scale) or on the grid ``factor`` times finer (block-averaged to it). Fields may differ in
    size (the smaller are padded with NaN). Pixels with NaN
    (clouds) are left out of the loss; patches of ``patch`` pixels every ``stride`` (default ``patch // 4``),
    20 % of them (in space) held out for validation and early stopping (when too cloudy to hold any patch out,
    all patches train and early stopping follows the training loss). ``metadata`` is added to the
    checkpoint's; ``upsampling`` is what the network sees (:data:`UPSAMPLINGS`).
    """
    from .. import ml
    from ..ml import nets
    from . import model as _model  # noqa: F401  (registers lst.ResidualSR)

    factor = check_factor(factor)
    if guides is not None and len(guides) != len(fields):
        raise ParameterError(f"pass one guide per field: {len(guides)} guides for {len(fields)} fields")
    parts = []
    for i, lst in enumerate(fields):
        g = None if guides is None else _guide_on_grid_of(guides[i], lst, factor, min_valid)
        pairs = wald_pairs(spatial(lst), factor, guide=g, upsampling=upsampling)
        pairs = pairs.drop_vars("spatial_ref", errors="ignore").load()
        parts.append(pairs.assign_coords(y=range(pairs.sizes["y"]), x=range(pairs.sizes["x"])))
    pairs = xr.concat(parts, dim="time", join="outer").assign_coords(time=range(len(parts)))
    inputs = [INPUT_LST] + ([INPUT_GUIDE] if guides is not None else [])
    gen = ml.patches(pairs, inputs=inputs, target="lst", size=patch, stride=stride or max(patch // 4, 1),
                     max_nan=0.3, seed=seed)
    try:
        train, val = ml.split(gen, by="space", fraction=0.2, seed=seed)
    except NoDataError:  # too few clear patches to hold some out (a cloudy scene): train on all, no validation
        train, val = gen, None
    stats = train.statistics()
    (m_in,), (s_in,) = stats[INPUT_LST]["mean"], stats[INPUT_LST]["std"]
    (m_out,), (s_out,) = stats["lst"]["mean"], stats["lst"]["std"]
    net = nets.build("lst.ResidualSR", seed=seed, in_channels=len(inputs), t_scale=1.0, width=width,
                     blocks=blocks, gain=s_in / s_out, offset=(m_in - m_out) / s_out)
    path = Path(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    method = "disr" if guides is not None else "sisr"
    ml.train(net, train, val=val, epochs=epochs, lr=lr, batch_size=16, device=device, checkpoint=path,
             resume=False, seed=seed, early_stopping=5, units="K", long_name="land surface temperature",
             metadata={"factor": factor, "method": method, "protocol": protocol, "fields": len(fields),
                       "guide": guides[0].attrs.get("long_name") if guides is not None else None,
                       "upsampling": upsampling, **(metadata or {})},
             progress=False)
    return path
