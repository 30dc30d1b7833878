"""Learned LST super-resolution: SISR (single image) and DISR (dual image, guided by fine NDVI/reflectance).

Training follows Wald's protocol (Wald, Ranchin & Mangolini 1997, Photogramm. Eng. Remote Sens. 63(6),
691-699): the observed LST (e.g. 1 km) is degraded by the sensor model to ``factor`` times coarser (4 km),
upsampled back by bicubic interpolation, and the network learns the residual that restores the observation;
it is then applied one scale finer (1 km -> 250 m), where no truth exists. For DISR the guide is degraded
alongside (block mean) so that it has the same ratio to the training target as at application.

At application the coarse LST is upsampled lazily (bicubic, ``arrays.halo_map``), stacked with the guide on the
fine grid, and the network runs through :func:`eoxr.ml.predict` (halo prediction, no seams). Fine pixels
under a cloudy coarse pixel stay NaN.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..arrays import as_float, check_factor, fine_coord, is_lazy, namespace, repeat_blocks
from ..attrs import cf, stamp
from ..errors import CheckpointError, MissingVariableError, NoDataError, ParameterError
from ..units import declare_units
from ._grid import align_guide, checked_lst, crs_of, like, spatial
from .baselines import upsample_data
from .degrade import degrade

INPUT_LST = "lst_up"
INPUT_GUIDE = "guide"
METHODS = ("sisr", "disr")


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
               domain: str = "radiance") -> xr.Dataset:
    """Training pairs one scale coarser than ``lst`` (Wald's protocol), on the grid of ``lst``.

    Returns ``lst_up`` (K: ``lst`` degraded by ``factor`` then bicubic-upsampled back), ``lst`` (K: the
    target, trimmed to a multiple of ``factor``) and, with a guide, ``guide`` on the grid of ``lst``
    (block-averaged when the guide is finer). Lazy for dask input.
    """
    factor = check_factor(factor)
    lst = checked_lst(spatial(lst))
    ny, nx = (lst.sizes["y"] // factor) * factor, (lst.sizes["x"] // factor) * factor
    lst = lst.isel(y=slice(0, ny), x=slice(0, nx))
    coarse = degrade(lst, factor, mtf=mtf, domain=domain)
    up = like(upsample_data(coarse.data, factor), lst, lst.y.values, lst.x.values, INPUT_LST, "K",
              f"land surface temperature degraded x{factor} and upsampled (bicubic)")
    ds = xr.Dataset({INPUT_LST: up, "lst": cf(lst, "K", "land surface temperature")})
    if guide is not None:
        g = align_guide(guide, lst, 1)
        ds[INPUT_GUIDE] = g.assign_attrs(guide.attrs)
    crs = crs_of(lst)
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    return stamp(ds, "lst.wald_pairs", factor=factor, mtf=mtf, domain=domain)


# geometric self-ensemble: the four mirror images (y, x flips) of the input
FLIPS = ((1, 1), (-1, 1), (1, -1), (-1, -1))


def _flip(obj, fy: int, fx: int):
    """``obj`` mirrored along y (fy = -1) and/or x (fx = -1), keeping its coordinates (lazy)."""
    if fy == 1 and fx == 1:
        return obj
    out = obj.isel(y=slice(None, None, fy), x=slice(None, None, fx))
    return out.assign_coords(y=obj.y.values, x=obj.x.values)


@declare_units(lst="K", guide="1")
def predict_fine(lst: xr.DataArray, factor: int, checkpoint: Path, guide: xr.DataArray | None = None,
                 device: str = "auto", batch_size: int = 16, halo: int | None = None,
                 ensemble: bool = True) -> xr.DataArray:
    """Apply a checkpoint trained on :func:`wald_pairs` to ``lst``: fine LST (K) on the grid ``factor`` finer.

    ``ensemble``: average the predictions of the four mirror images of the input, each mirrored back (the
    geometric self-ensemble of Timofte, Rothe & Van Gool 2016, CVPR, doi:10.1109/CVPR.2016.206): four times
    the compute, lower error, since LST and its guides have no preferred orientation.
    """
    from .. import ml
    from ..ml import checkpoint as ckpt_mod

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
    data = as_float(checked_lst(lst).data)
    y, x = fine_coord(lst.y, factor), fine_coord(lst.x, factor)
    up = like(upsample_data(data, factor), lst, y, x, INPUT_LST, "K", "bicubic upsampled LST")
    ds = xr.Dataset({INPUT_LST: up})
    if INPUT_GUIDE in inputs:
        ds[INPUT_GUIDE] = align_guide(guide, lst, factor).transpose(*up.dims)
    crs = crs_of(lst)
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    flips = FLIPS if ensemble else FLIPS[:1]
    runs = []
    for fy, fx in flips:
        flipped = _flip(ds[inputs], fy, fx)
        pred = ml.predict(flipped, checkpoint, halo=halo, batch_size=batch_size, device=device)[cfg["target"]]
        runs.append(_flip(pred, fy, fx))
    out = sum(runs[1:], runs[0]) / len(runs) if len(runs) > 1 else runs[0]
    out = out.assign_attrs(runs[0].attrs)
    out = out.astype(data.dtype)
    parent = repeat_blocks(namespace(data).isfinite(data), factor)  # no value invented under a cloud
    if is_lazy(out.data) and is_lazy(parent):
        parent = parent.rechunk(out.data.chunks)
    return out.copy(data=namespace(out.data, parent).where(parent, out.data, np.nan))



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


def fit_fields(fields: list[xr.DataArray], factor: int, checkpoint: str | Path,
               guides: list[xr.DataArray] | None = None, epochs: int = 15, width: int = 16, blocks: int = 2,
               patch: int = 16, lr: float = 2e-3, seed: int = 0, device: str = "auto", min_valid: float = 0.5,
               protocol: str = "Wald, trained on other scenes") -> Path:
    """Train a SISR (or, with ``guides``, DISR) network by Wald's protocol on several LST fields (K).

    Each field gives pairs one scale coarser than itself (:func:`wald_pairs`): fields of 1 km LST from
    other scenes or other times (day and night) train a 4 km -> 1 km model for a scene none of them covers.
    ``guides`` (one per field) are on the grid ``factor`` times finer than their field and are
    block-averaged to it. Fields may differ in size (the smaller are padded with NaN). Pixels with NaN
    (clouds) are left out of the loss; patches of ``patch`` pixels, 20 % of them (in space) held out for
    validation and early stopping (when too cloudy to hold any patch out, all patches train and early
    stopping follows the training loss).
    """
    from .. import ml
    from ..ml import nets
    from . import model as _model  # noqa: F401  (registers lst.ResidualSR)
    from .degrade import aggregate

    factor = check_factor(factor)
    if guides is not None and len(guides) != len(fields):
        raise ParameterError(f"pass one guide per field: {len(guides)} guides for {len(fields)} fields")
    parts = []
    for i, lst in enumerate(fields):
        g = aggregate(guides[i], factor, domain="linear", min_valid=min_valid) if guides is not None else None
        pairs = wald_pairs(spatial(lst), factor, guide=g).drop_vars("spatial_ref", errors="ignore").load()
        parts.append(pairs.assign_coords(y=range(pairs.sizes["y"]), x=range(pairs.sizes["x"])))
    pairs = xr.concat(parts, dim="time", join="outer").assign_coords(time=range(len(parts)))
    inputs = [INPUT_LST] + ([INPUT_GUIDE] if guides is not None else [])
    gen = ml.patches(pairs, inputs=inputs, target="lst", size=patch, stride=max(patch // 4, 1), max_nan=0.3,
                     seed=seed)
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
                       "guide": guides[0].attrs.get("long_name") if guides is not None else None},
             progress=False)
    return path
