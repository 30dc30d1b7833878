"""``eoxr train lst ...``: train the SISR / DISR networks by Wald's protocol on real thermal scenes or synthetic ones.

The shipped models in ``eoxr/models/`` were built with (``ROOT``: the real-data folder, ``shared/data/real``)::

    eoxr train lst --real ROOT --method sisr --factor 4 --out eoxr/models --epochs 12 --patch 32 --width 24 \
        --blocks 3 --device cpu
    eoxr train lst --real ROOT --real-scenes lodi --method disr --factor 4 --name lst-disr-cover-x4 \
        --out eoxr/models --epochs 40 --patch 16 --width 24 --blocks 3 --device cpu
    eoxr train lst --method disr --factor 4 --out runs --scenes 700 --seed0 10288 --epochs 11 --lr 1e-3 \
        --width 48 --blocks 6 --batch-size 32 --workers 7 --device cuda
    eoxr train lst --method disr --factor 4 --out eoxr/models --ship --scenes 512 --seed0 20003 --epochs 40 \
        --lr 2e-4 --width 48 --blocks 6 --batch-size 32 --workers 7 --device cuda --init runs/lst-disr-x4.ckpt
    eoxr train lst --method disr --factor 2 --out eoxr/models --ship --epochs 6 --scenes 12
    eoxr train lst --method sisr --factor 2 --out eoxr/models --ship --epochs 6 --scenes 12

(``python -m eoxr.lst.train ...`` is the same; each checkpoint's ``metadata.command`` holds the exact command.)

Real (``--real ROOT``, :func:`fit_real`): the SISR x4 model learns from every real scene of :mod:`eoxr.lst.scenes`
(Landsat 100 m, ECOSTRESS 70 m, airborne 3.6 m, MODIS 1 km), the DISR
``lst-disr-cover-x4`` from the airborne scene, the only one with a vegetation guide (fractional cover). Only the
*training blocks* of each scene are used (:data:`HOLDOUT_BLOCK` px squares, half of them held out for testing by
:func:`eoxr.lst.scenes.holdout_blocks` with :data:`HOLDOUT_SEED`): each field is degraded ``factor`` times and
the network learns to restore it (Wald's protocol at the truth's own scale), from bicubic plus the conservation
step (``upsampling="backprojected"``), so at its initial weights it is that baseline. SISR x4 took 24 minutes on
2 CPU cores shared with other jobs (about 30 % of one core); ``lst-disr-cover-x4`` 8 minutes (early stopping
at epoch 32, best epoch 24, validation RMSE 1.31 K); 140 KB each.

Synthetic (the DISR ``lst-disr-x4``/``-x2`` for NDVI guides, and SISR x2): the DISR x4 network is wider and
deeper than the default (48 channels, 6 blocks) and learns from 1212 scenes in two stages, the second a
fine-tuning stage at a lower learning rate on new scenes, started from the first one's weights (early stopping
ended it at epoch 12, best epoch 4); the checkpoint's ``metadata.init`` records the chain. Each stage took about 2 minutes on one
NVIDIA H200 GPU (hours on 2 CPU cores). Each scene of the training set is a synthetic 250 m truth
(:func:`eoxr.lst.synth.scene`, seeds ``--seed0`` .. ``--seed0 + --scenes - 1``: from 10000 up for the shipped
models, 10288-10987 and 20003-20514 for DISR x4; the benchmark scores scenes ``1000 * seed + i``, i < 3, so every
benchmark seed but 10 is disjoint from them, and the tests use seeds below 1000), observed at 250 m x factor (the
"1 km" LST, radiance-aggregated). Pairs are built one scale coarser (:func:`eoxr.lst.learned.wald_pairs`: 4 km
-> 1 km for factor 4); the DISR guide is the NDVI aggregated to the observation grid. ``--ship`` writes
``lst-<method>-x<factor>.ckpt`` (+ ``.json``) without the optimiser state, so it stays small; without it the
full resumable checkpoint is written. ``--init CKPT`` starts from a checkpoint's weights (same method).
"""
from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import xarray as xr

from ..errors import CheckpointError, ParameterError
from .degrade import aggregate, degrade
from .learned import INPUT_GUIDE, INPUT_LST, model_name, wald_pairs
from .synth import scene

ARCH = {"sisr": {"width": 24, "blocks": 4}, "disr": {"width": 32, "blocks": 4}}


def _scene_pairs(method: str, factor: int, size: int, seed: int) -> xr.Dataset:
    truth = scene(seed, size)
    obs = degrade(truth["lst"], factor)
    guide = aggregate(truth["ndvi"], factor, domain="linear") if method == "disr" else None
    pairs = wald_pairs(obs, factor, guide=guide)
    return pairs.drop_vars("spatial_ref").assign_coords(y=range(pairs.sizes["y"]), x=range(pairs.sizes["x"]))


def training_set(method: str, factor: int, scenes: int, size: int, seed0: int, workers: int = 1) -> xr.Dataset:
    """Wald pairs of ``scenes`` synthetic scenes stacked along ``time`` (one sample per scene).

    ``workers`` > 1 draws the scenes in that many processes (same result: each scene has its own seed).
    """
    make = partial(_scene_pairs, method, factor, size)
    seeds = range(seed0, seed0 + scenes)
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(make, seeds, chunksize=8))
    else:
        parts = [make(s) for s in seeds]
    return xr.concat(parts, dim="time").assign_coords(time=range(scenes))


def fit(method: str = "sisr", factor: int = 4, out: str | Path = "runs", scenes: int = 24, size: int = 512,
        seed0: int = 10_000, epochs: int = 40, patch: int = 48, lr: float = 2e-3, batch_size: int = 16,
        ship: bool = False, seed: int = 0, device: str = "auto", init: str | Path | None = None,
        width: int | None = None, blocks: int | None = None, workers: int = 1) -> Path:
    """Train one model; returns the checkpoint path.

    ``init``: a checkpoint of the same architecture whose weights start the training (a second, lower
    learning-rate stage after a first run: a step learning-rate schedule across commands).
    ``width``/``blocks`` override the method's default network size (:data:`ARCH`); ``workers`` processes
    draw the training scenes.
    """
    from .. import ml
    from ..ml import checkpoint as ckpt_mod
    from ..ml import nets
    from . import model as _model  # noqa: F401  (registers lst.ResidualSR)

    for name, value in (("width", width), ("blocks", blocks)):
        if value is not None and value < 1:
            raise ParameterError(f"--{name} must be a positive integer, not {value}; leave it out for the "
                                 f"default {ARCH[method][name]}")
    t0 = time.perf_counter()
    ds = training_set(method, factor, scenes, size, seed0, workers)
    arch = {**ARCH[method], **({"width": width} if width else {}), **({"blocks": blocks} if blocks else {})}
    inputs = [INPUT_LST] + ([INPUT_GUIDE] if method == "disr" else [])
    gen = ml.patches(ds, inputs=inputs, target="lst", size=patch, stride=patch // 3, seed=seed)
    train_gen, val_gen = ml.split(gen, by="time", fraction=0.15, seed=seed)
    # ml.train standardises input and target with their own statistics: start the network's affine map
    # from the one that turns the standardised upsampled LST into the standardised target
    stats = train_gen.statistics()
    m_in, s_in = stats[INPUT_LST]["mean"][0], stats[INPUT_LST]["std"][0]
    m_out, s_out = stats["lst"]["mean"][0], stats["lst"]["std"][0]
    net = nets.build("lst.ResidualSR", seed=seed, in_channels=len(inputs), t_scale=1.0,
                     gain=s_in / s_out, offset=(m_in - m_out) / s_out, **arch)
    if init is not None:
        start = ckpt_mod.load(init)
        if start.config["arch"]["name"] != "lst.ResidualSR" or list(start.inputs) != inputs:
            raise CheckpointError(f"--init {init} holds {start.config['arch']['name']} for {start.inputs}, not "
                                  f"lst.ResidualSR for {inputs}; pass a checkpoint of the same method")
        theirs = {k: start.config["arch"]["kwargs"].get(k) for k in ("width", "blocks")}
        if theirs != {k: arch[k] for k in ("width", "blocks")}:
            raise CheckpointError(f"--init {init} is a network of width {theirs['width']} with {theirs['blocks']} "
                                  f"blocks; pass --width {theirs['width']} --blocks {theirs['blocks']}")
        net.load_state_dict(start.state_dict)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = model_name(method, factor)
    run_path = out / ".runs" / f"{name}.ckpt" if ship else out / f"{name}.ckpt"
    meta = {"method": method, "factor": factor, "guide": "ndvi" if method == "disr" else None,
            "protocol": f"Wald: synthetic 250 m scenes observed at x{factor}, pairs degraded x{factor} further",
            "scenes": scenes, "scene_size": size, "seeds": [seed0, seed0 + scenes - 1],
            "command": "eoxr train lst " + f"--method {method} --factor {factor} --scenes {scenes} "
                       f"--size {size} --seed0 {seed0} --epochs {epochs} --lr {lr} --batch-size {batch_size}"
                       + (" --ship" if ship else "")
                       + (f" --init {init}" if init is not None else "")
                       + (f" --width {width}" if width else "") + (f" --blocks {blocks}" if blocks else "")}
    if init is not None:
        earlier = start.config.get("metadata", {})  # the whole chain of stages, so the model can be rebuilt
        meta["init"] = {"checkpoint": str(init), "command": earlier.get("command"), "init": earlier.get("init")}
    result = ml.train(net, train_gen, val=val_gen, epochs=epochs, lr=lr, batch_size=batch_size, device=device,
                      loss="mse", checkpoint=run_path, resume=True, seed=seed, early_stopping=8, metadata=meta,
                      units="K", long_name="land surface temperature")
    if ship:
        ck = ckpt_mod.load(run_path)
        final = ckpt_mod.save(out / f"{name}.ckpt", ck.config, ck.state_dict, resume=None)
        for p in (run_path, ckpt_mod.sidecar(run_path), run_path.with_name(run_path.name + ".log.csv")):
            p.unlink(missing_ok=True)
        if not any(run_path.parent.iterdir()):
            run_path.parent.rmdir()
    else:
        final = run_path
    print(f"{name}: best epoch {result.best_epoch}, val loss {result.best_loss:.4g} (normalised), "
          f"{time.perf_counter() - t0:.0f} s -> {final}")
    return final


#: fine pixels per side of the blocks that split every real scene into training and test blocks (divisible
#: by every factor), and the seed that draws them: the benchmark scores the test blocks only
HOLDOUT_BLOCK = 64
HOLDOUT_SEED = 0


def real_fields(method: str, root: str | Path, scenes: list[str], factor: int) -> tuple[list, list | None]:
    """The training blocks of real scenes (test blocks NaN): one LST field (K) per scene and date and, for DISR,
    its guide (scenes without a guide are left out of a DISR training)."""
    from .scenes import SCENES, holdout_blocks, open_scene

    fields, guides = [], []
    for name in scenes:
        if factor not in SCENES[name].factors:
            continue
        ds = open_scene(name, root)
        if method == "disr" and "guide" not in ds:
            continue
        test = holdout_blocks(ds["lst"], HOLDOUT_BLOCK, HOLDOUT_SEED)
        for t in range(ds.sizes["time"]):
            fields.append(ds["lst"].isel(time=t).where(~test))
            guides.append(ds["guide"] if method == "disr" else None)
    if not fields:
        raise ParameterError(f"no scene among {scenes} has what a {method} x{factor} model trains on (a guide for "
                             f"disr, the factor among the scene's factors); pass other --real-scenes")
    return fields, (guides if method == "disr" else None)


def fit_real(method: str = "sisr", factor: int = 4, root: str | Path = "", out: str | Path = "runs",
             scenes: list[str] | None = None, name: str | None = None, epochs: int = 8, patch: int = 32,
             lr: float = 2e-3, width: int = 16, blocks: int = 2, seed: int = 0, device: str = "auto",
             upsampling: str = "backprojected", command: str = "") -> Path:
    """Train one model on the training blocks of real thermal scenes (:mod:`eoxr.lst.scenes`) by Wald's protocol
    (each field degraded ``factor`` times, pairs on its own grid); returns the checkpoint ``out/name.ckpt``
    (default name ``lst-<method>-x<factor>``), written without its optimiser state. The network sees the
    coarse field upsampled as ``upsampling`` (:data:`eoxr.lst.learned.UPSAMPLINGS`)."""
    from ..ml import registry
    from .learned import fit_fields
    from .scenes import SCENES

    scenes = list(scenes or SCENES)
    unknown = sorted(set(scenes) - set(SCENES))
    if unknown:
        raise ParameterError(f"unknown real scenes {unknown}; the scenes are {sorted(SCENES)}")
    fields, guides = real_fields(method, root, scenes, factor)
    out = Path(out)
    name = name or model_name(method, factor)
    run = out / ".runs" / f"{name}.ckpt"
    meta = {"scenes": scenes, "holdout": {"block_px": HOLDOUT_BLOCK, "seed": HOLDOUT_SEED, "fraction": 0.5},
            "command": command}
    fit_fields(fields, factor, run, guides=guides, epochs=epochs, width=width, blocks=blocks, patch=patch,
               stride=patch, lr=lr, seed=seed, device=device, metadata=meta, upsampling=upsampling,
               protocol=f"Wald on the training blocks of real scenes {', '.join(scenes)}, degraded x{factor}")
    final = registry.add(name, run, folder=out, overwrite=True)
    shutil.rmtree(out / ".runs", ignore_errors=True)
    return final


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="eoxr train lst", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", choices=["sisr", "disr"], default="sisr")
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--out", default="runs", help="folder for the checkpoint")
    p.add_argument("--scenes", type=int, default=24, help="synthetic training scenes")
    p.add_argument("--size", type=int, default=512, help="scene size in 250 m pixels")
    p.add_argument("--seed0", type=int, default=10_000, help="first scene seed")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patch", type=int, default=48, help="patch size in observation pixels")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--ship", action="store_true", help="write a small checkpoint without optimiser state")
    p.add_argument("--init", default=None, help="checkpoint whose weights start the training (fine-tuning stage)")
    p.add_argument("--width", type=int, default=None, help="network width (default: the method's, see ARCH)")
    p.add_argument("--blocks", type=int, default=None, help="residual blocks (default: the method's)")
    p.add_argument("--workers", type=int, default=1, help="processes drawing the training scenes")
    p.add_argument("--real", default=None, metavar="ROOT",
                   help="train on the training blocks of the real scenes in ROOT (shared/data/real) instead")
    p.add_argument("--real-scenes", default=None, help="comma-separated real scenes (default: all)")
    p.add_argument("--name", default=None, help="model name with --real (default lst-<method>-x<factor>)")
    a = p.parse_args(argv)
    if a.real is not None:
        fit_real(a.method, a.factor, a.real, a.out, a.real_scenes.split(",") if a.real_scenes else None, a.name,
                 a.epochs, a.patch, a.lr, a.width or 16, a.blocks or 2, a.seed, a.device,
                 command="eoxr train lst " + " ".join(argv if argv is not None else sys.argv[1:]))
        return 0
    fit(a.method, a.factor, a.out, a.scenes, a.size, a.seed0, a.epochs, a.patch, a.lr, a.batch_size, a.ship,
        a.seed, a.device, a.init, a.width, a.blocks, a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
