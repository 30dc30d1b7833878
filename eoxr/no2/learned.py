"""Learned emission inversions: networks trained on transport-model scenes whose emissions are known.

A sample is one scene on ``(y, x)``: the NO2 column (mol m-2, NaN under clouds), the wind ``u``, ``v``
(m s-1), the ``valid`` mask (1 where the column is observed) and the two terms of the flux divergence
E = L div(V w) + L V / tau (Beirle et al. 2019) without the lifetime, ``nox_flux_divergence`` = L div(V w)
(mol m-2 s-1, by :func:`eoxr.no2.divergence.flux_divergence`) and ``nox_column`` = L V (mol m-2), as inputs;
the NOx emission (mol m-2 s-1, as NO2) as target. A 5 km network hardly learns a finite difference of a noisy
product; given both terms it learns the lifetime term and the noise filtering. :func:`eoxr.ml.train`
normalises inputs and target by the training scenes' mean and standard deviation (a missing value becomes the
normalised mean, which the mask tells apart), so the network works on O(1) numbers and :func:`eoxr.ml.predict`
returns mol m-2 s-1. Two networks:

- ``"smaat-unet"``: :class:`eoxr.ml.nets.SmaAtUNet` (Trebing, Stanczyk & Mehrkanoon 2021, Pattern Recognit.
  Lett. 145, 178-186, doi:10.1016/j.patrec.2021.01.036), a regression trained by the squared error: the
  conditional mean emission, as the CNN inversions of Dumont Le Brazidec et al. (2025);
- ``"vae"``: :class:`eoxr.ml.nets.ConvVAE`, a conditional VAE whose decoded latent draws give the posterior
  mean (``emission``) and spread (``emission_std``) of the emission, the spread scaled by the checkpoint's
  ``spread_scale`` (fitted on validation scenes by :func:`eoxr.no2.train.calibrate_spread`).

Prediction runs through :func:`eoxr.ml.predict` with the network's halo: lazy, chunked fields give the result
of one pass, on CUDA where the worker has it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..attrs import cf, stamp
from ..errors import CheckpointError, ParameterError
from ..units import declare_units
from .divergence import NOX_TO_NO2, checked_columns_and_winds, flux_divergence

INPUTS = ("no2_column", "u", "v", "valid", "nox_flux_divergence", "nox_column")
TARGET = "emission"
METHODS = {"smaat-unet": "SmaAtUNet", "vae": "ConvVAE"}  # method -> architecture in eoxr.ml.nets
LONG_NAME = "NOx emission (as NO2)"
SOURCE_THRESHOLD = 5e-9  # mol m-2 s-1: a source cell's emission, as eoxr.no2.evaluate finds sources


def _method(method: str) -> str:
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is not a learned method {tuple(METHODS)}: pick one of them")
    return method


def model_name(method: str) -> str:
    """Registry name of the shipped network of ``method``: ``no2-smaat-unet``, ``no2-vae``."""
    return f"no2-{_method(method)}"


def resolve_model(model, method: str) -> Path:
    """Checkpoint path of ``model`` (a path, a registry name, or None for the shipped one of ``method``)."""
    from ..ml import registry

    if model is None:
        try:
            return registry.path(model_name(method))
        except CheckpointError as err:
            raise CheckpointError(f"no shipped network for method={method!r}: train one with `eoxr train no2 "
                                  f"--method {method} --out DIR` and pass model='DIR/{model_name(method)}.ckpt', "
                                  "or use method='divergence'") from err
    path = Path(model)
    return path if path.exists() else registry.path(str(model))


def as_inputs(ds: xr.Dataset) -> xr.Dataset:
    """The network's inputs of a dataset of columns and winds (mol m-2, m s-1, already converted): the
    variables of :data:`INPUTS`, ``valid`` being 1 where the column is observed, 0 elsewhere."""
    ds = checked_columns_and_winds(ds, "a learned emission inversion")
    column = ds["no2_column"]
    valid = cf(column.notnull().astype(np.float32), "1", "NO2 column observed (1) or not (0)")
    u, v = (ds[n].broadcast_like(column) for n in ("u", "v"))
    return xr.Dataset({"no2_column": column, "u": u, "v": v, "valid": valid, **physics_inputs(column, u, v)})


def physics_inputs(column: xr.DataArray, u: xr.DataArray, v: xr.DataArray) -> dict[str, xr.DataArray]:
    """The flux-divergence terms without the lifetime: ``nox_flux_divergence`` = L div(V w) (mol m-2 s-1) and
    ``nox_column`` = L V (mol m-2), L the NOx/NO2 ratio of :mod:`eoxr.no2.divergence`; lazy on dask."""
    divergence = NOX_TO_NO2 * flux_divergence(column, u, v)
    return {"nox_flux_divergence": cf(divergence.transpose(*column.dims), "mol m-2 s-1",
                                      "divergence of the NOx flux (L div(V w))"),
            "nox_column": cf(NOX_TO_NO2 * column, "mol m-2", "NOx column (L V)")}


def training_images(scenes: xr.Dataset) -> xr.Dataset:
    """Samples ``(time, y, x)`` of scenes of :func:`eoxr.no2.ctm.scenes` (dimension ``scene``, lazy): the
    inputs of :func:`as_inputs` and the true ``emission``; computed once here."""
    images = as_inputs(scenes).assign({TARGET: scenes[TARGET]})
    images = images.drop_vars([c for c in images.coords if c not in ("y", "x")]).rename(scene="time")
    return images.load()


def network(method: str, width: int = 16, depth: int = 3, seed: int = 0):
    """A new network of ``method``: 4 inputs, 1 output (the emission)."""
    from ..ml import nets

    return nets.build(METHODS[_method(method)], seed=seed, in_channels=len(INPUTS), out_channels=1, width=width,
                      depth=depth)


def source_weighted_mse(threshold: float, weight: float):
    """A squared error on normalised tensors ``(pred, target)`` whose cells with ``target > threshold`` (the
    normalised emission of a source cell) count ``1 + weight`` times: the sources are a few cells of a map of
    near-zero background, which a plain mean squared error lets the network neglect."""
    def loss(pred, target):
        weights = 1.0 + weight * (target > threshold).to(pred.dtype)
        return (weights * (pred - target) ** 2).sum() / weights.sum()

    loss.__name__ = f"source_weighted_mse(threshold={threshold:g}, weight={weight:g})"
    return loss


def fit(train_scenes: xr.Dataset, checkpoint: str | Path, method: str = "smaat-unet",
        val_scenes: xr.Dataset | None = None, epochs: int = 20, width: int = 16, depth: int = 3, lr: float = 2e-3,
        batch_size: int = 8, seed: int = 0, device: str = "auto", early_stopping: int | None = 6,
        source_weight: float = 0.0, metadata: dict | None = None, progress: bool | None = False):
    """Train a network of ``method`` on scenes with their true emission; returns the :class:`eoxr.ml.Fit`.

    ``train_scenes``, ``val_scenes``: scenes of :func:`eoxr.no2.ctm.scenes` (along ``scene``); the validation
    scenes, when given, choose the best epoch and stop the training early. Whole scenes are the patches.
    ``source_weight``: cells whose true emission exceeds :data:`SOURCE_THRESHOLD` weigh ``1 + source_weight``
    in the squared error (:func:`source_weighted_mse`); 0 is the plain mean squared error.
    """
    import torch

    from .. import ml

    def cut(scenes, role):
        images = training_images(scenes)
        gen = ml.patches(images, inputs=list(INPUTS), target=TARGET, size={"y": images.sizes["y"],
                         "x": images.sizes["x"]}, mask=None, seed=seed)
        return gen.subset(np.arange(len(gen)), role=role)

    if source_weight < 0:
        raise ParameterError(f"source_weight={source_weight}: give a weight >= 0 (0: plain squared error)")
    train = cut(train_scenes, "train")
    val = cut(val_scenes, "validation") if val_scenes is not None else None
    loss = "mse"
    if source_weight:
        stats = train.statistics()[TARGET]
        loss = source_weighted_mse((SOURCE_THRESHOLD - stats["mean"][0]) / stats["std"][0], source_weight)
    net = network(method, width, depth, seed)
    meta = {"method": method, "scenes": int(train_scenes.sizes["scene"]), "source_weight": source_weight,
            **(metadata or {})}
    torch.manual_seed(seed)
    return ml.train(net, train, val=val, epochs=epochs, lr=lr, batch_size=batch_size, device=device, loss=loss,
                    checkpoint=checkpoint, resume=False, seed=seed,
                    early_stopping=early_stopping if val is not None else None, metadata=meta,
                    units="mol m-2 s-1", long_name=LONG_NAME, progress=progress)


@declare_units(ds={"no2_column": "mol m-2", "u": "m s-1", "v": "m s-1"})
def emissions(ds: xr.Dataset, *, method: str = "smaat-unet", model=None, device: str = "auto",
              n_samples: int = 16, seed: int = 0) -> xr.Dataset:
    """NOx emissions (mol m-2 s-1, as NO2) of columns and winds by a trained network, lazily.

    Parameters
    ----------
    ds : xarray.Dataset
        ``no2_column`` (mol m-2; molec cm-2 is converted), ``u`` and ``v`` (m s-1) on one (y, x) grid with a
        CRS, optionally along ``time``.
    method : {"smaat-unet", "vae"}
        The network: a regression, or the VAE that also gives the posterior spread.
    model : str or path, optional
        A checkpoint (a path or a registry name); None: the shipped network of ``method``.
    device : str
        ``"auto"``: CUDA where the worker has it, else CPU.
    n_samples, seed : int
        The VAE's latent draws, seeded by ``seed`` and the cell's position.

    Returns
    -------
    xarray.Dataset
        ``emission`` (mol m-2 s-1) and, for the VAE, ``emission_std`` (the spread of the draws times the
        checkpoint's ``spread_scale``, 1 where it has none), with the CRS,
        lazy; the provenance names the checkpoint and its SHA-256.
    """
    from .. import ml
    from ..ml import checkpoint as ckpt_mod

    path = resolve_model(model, _method(method))
    ck = ckpt_mod.load(path)
    arch = ck.config["arch"]["name"]
    if arch != METHODS[method]:
        raise CheckpointError(f"checkpoint {path} holds a {arch}, method={method!r} takes a {METHODS[method]}: "
                              f"pass the method's checkpoint or method={_method_of(arch)!r}")
    out = ml.predict(as_inputs(ds), path, device=device, n_samples=n_samples if method == "vae" else 0, seed=seed)
    out[TARGET] = cf(out[TARGET], "mol m-2 s-1", f"{LONG_NAME} by the {method} network")
    if "emission_std" in out:
        scale = ck.config["metadata"].get("spread_scale", 1.0)
        out["emission_std"] = cf(scale * out["emission_std"], "mol m-2 s-1",
                                 f"standard deviation of the emission over the VAE's posterior draws, x {scale:.3g} "
                                 "(calibrated on validation scenes)")
    return stamp(out, f"no2.learned.emissions[{method}]", made_from=[ds], checkpoint_sha256=ckpt_mod.sha256(path),
                 checkpoint=str(path), n_samples=n_samples if method == "vae" else 0, seed=seed)


def _method_of(arch: str) -> str | None:
    return next((m for m, a in METHODS.items() if a == arch), None)
