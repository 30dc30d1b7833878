"""Learned LST super-resolution: SISR (single image) and DISR (dual image, guided by fine NDVI/reflectance).

Training follows Wald's protocol (Wald, Ranchin & Mangolini 1997, Photogramm. Eng. Remote Sens. 63(6),
691-699): the observed LST (e.g. 1 km) is degraded by the sensor model to ``factor`` times coarser (4 km),
upsampled back by bicubic interpolation, and the network learns the residual that restores the observation;
it is then applied one scale finer (1 km -> 250 m), where no truth exists. For DISR the guide is degraded
alongside (block mean) so that it has the same ratio to the training target as at application.

At application the coarse LST is upsampled lazily (bicubic, ``map_overlap``), stacked with the guide on the
fine grid, and the network runs through :func:`eoxr.ml.predict` (halo prediction, no seams). Fine pixels
under a cloudy coarse pixel stay NaN.
"""
from __future__ import annotations

from pathlib import Path

import dask.array as dsa
import numpy as np
import xarray as xr

from ..attrs import cf, stamp
from ..errors import CheckpointError, MissingVariableError
from ._grid import align_guide, check_factor, crs_of, fine_coord, is_dask, like, repeat_blocks, spatial
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


def wald_pairs(lst: xr.DataArray, factor: int, guide: xr.DataArray | None = None, mtf: float | None = None,
               domain: str = "radiance") -> xr.Dataset:
    """Training pairs one scale coarser than ``lst`` (Wald's protocol), on the grid of ``lst``.

    Returns ``lst_up`` (K: ``lst`` degraded by ``factor`` then bicubic-upsampled back), ``lst`` (K: the
    target, trimmed to a multiple of ``factor``) and, with a guide, ``guide`` on the grid of ``lst``
    (block-averaged when the guide is finer). Lazy for dask input.
    """
    factor = check_factor(factor)
    lst = spatial(lst)
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


def predict_fine(lst: xr.DataArray, factor: int, checkpoint: Path, guide: xr.DataArray | None = None,
                 device: str = "auto", batch_size: int = 16, halo: int | None = None) -> xr.DataArray:
    """Apply a checkpoint trained on :func:`wald_pairs` to ``lst``: fine LST (K) on the grid ``factor`` finer."""
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
    data = lst.data if np.issubdtype(lst.dtype, np.floating) else lst.data.astype("f8")
    y, x = fine_coord(lst.y, factor), fine_coord(lst.x, factor)
    up = like(upsample_data(data, factor), lst, y, x, INPUT_LST, "K", "bicubic upsampled LST")
    ds = xr.Dataset({INPUT_LST: up})
    if INPUT_GUIDE in inputs:
        ds[INPUT_GUIDE] = align_guide(guide, lst, factor).transpose(*up.dims)
    crs = crs_of(lst)
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    out = ml.predict(ds[inputs], checkpoint, halo=halo, batch_size=batch_size, device=device)[cfg["target"]]
    out = out.astype(data.dtype)
    lib = dsa if is_dask(data) else np
    parent = repeat_blocks(lib.isfinite(data), factor)  # no value invented under a cloud
    if is_dask(out.data) and is_dask(parent):
        parent = parent.rechunk(out.data.chunks)
    return out.copy(data=dsa.where(parent, out.data, np.nan))

