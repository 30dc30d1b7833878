"""``eoxr train pivot``: train the multimodal masked autoencoder of the learned fusion on synthetic scenes.

The shipped model ``eoxr/models/pivot-mae.ckpt`` was built with::

    eoxr train pivot --out eoxr/models --ship --scenes 5 --size 64 --epochs 8 --width 16 --latent 16

(``python -m eoxr.pivot.train ...`` is the same). Scenes of :func:`eoxr.pivot.synth.scene` (``--size`` pixels of
10 m, one year, the four sensors) with training seeds from 80000 (``--seed0``, ``--scenes``); the evaluation
scenes (:data:`EVALUATION_SEEDS`, 81000 and up) and the tests' (below 1000) are none of them. The training is
self-supervised (masked reconstruction of the sensors' own observations, :func:`eoxr.pivot.learned.fit`): no
truth is read. ``--ship`` writes ``pivot-mae.ckpt`` (+ ``.json`` with the command) through the model registry.
``--hybrid`` trains the network of ``fuse(method="hybrid")`` (``pivot-mae-hybrid``), which also reads each scene's
physical fusion; none is shipped. ``eoxr train pivot --evaluate pivot-mae`` scores a model on two evaluation scenes against the truth and against
S2 alone linearly interpolated in time (:func:`evaluate`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ParameterError
from . import learned, synth

TRAINING_SEEDS = range(80_000, 80_005)
EVALUATION_SEEDS = range(81_000, 81_100)
DAYS = 365


def scenes(seeds, size: int) -> list[dict]:
    """The sensor cubes of the scenes ``seeds`` (one year, ``size`` pixels of 10 m)."""
    return [synth.scene(seed=s, size=size, days=DAYS)[1] for s in seeds]


def fit(out: str | Path = "runs", seed0: int = TRAINING_SEEDS.start, n_scenes: int = len(TRAINING_SEEDS),
        size: int = 64, epochs: int = 8, window: int = 6, days_per_scene: int = 24, latent: int = 16,
        width: int = 16, lr: float = 2e-3, seed: int = 0, ship: bool = False, hybrid: bool = False) -> Path:
    """Train the learned fusion's network; returns its checkpoint (``out/pivot-mae.ckpt``; with ``hybrid``, the
    network that also reads each scene's physical fusion, ``out/pivot-mae-hybrid.ckpt``)."""
    from ..ml import checkpoint as ckpt_mod
    from ..ml import registry

    t0 = time.perf_counter()
    seeds = range(seed0, seed0 + n_scenes)
    if set(seeds) & set(EVALUATION_SEEDS):
        raise ParameterError(f"training seeds {seeds.start}-{seeds.stop - 1} overlap the evaluation seeds "
                             f"({EVALUATION_SEEDS.start}-{EVALUATION_SEEDS.stop - 1}): pick another --seed0")
    out = Path(out)
    name = f"{learned.MODEL_NAME}-hybrid" if hybrid else learned.MODEL_NAME
    run_path = out / ".runs" / f"{name}.ckpt" if ship else out / f"{name}.ckpt"
    command = (f"eoxr train pivot --seed0 {seeds.start} --scenes {len(seeds)} --size {size} --epochs {epochs} "
               f"--window {window} --days-per-scene {days_per_scene} --latent {latent} --width {width} "
               f"--lr {lr:g} --seed {seed}{' --hybrid' if hybrid else ''}")
    meta = {"command": command, "seeds": [seeds.start, seeds.stop - 1],
            "evaluation_seeds": [EVALUATION_SEEDS.start, EVALUATION_SEEDS.stop - 1], "size": size, "days": DAYS}
    cubes = scenes(seeds, size)
    log = learned.fit(cubes, run_path, window=window, days_per_scene=days_per_scene, epochs=epochs,
                      latent=latent, width=width, lr=lr, seed=seed, metadata=meta,
                      physical=[physical_fusion(c) for c in cubes] if hybrid else None)
    final = run_path
    if ship:
        final = registry.add(name, run_path, folder=out, overwrite=True)
        for p in (run_path, ckpt_mod.sidecar(run_path)):
            p.unlink(missing_ok=True)
    print(f"{name}: loss {log['train_loss'][0]:.3f} -> {log['train_loss'][-1]:.3f} (normalised), "
          f"{log['samples']} samples, {time.perf_counter() - t0:.0f} s -> {final}")
    return final


def physical_fusion(cubes: dict) -> xr.Dataset:
    """The physical fusion of one scene's cubes on the learned fusion's daily axis (the hybrid network's input)."""
    from .fuse import fuse

    days = learned.daily_axis(cubes)
    return fuse(cubes, method="physical", time=(str(days[0]), str(days[-1])))


def s2_linear(cubes: dict, like: xr.Dataset) -> xr.DataArray:
    """The baseline: S2 alone on the pivot grid, linearly interpolated in time (nearest beyond its ends)."""
    geobox = learned.pivot_geobox(cubes, abs(float(like.x[1] - like.x[0])))
    s2 = learned.sensor_values("s2", cubes["s2"], geobox, pd.DatetimeIndex(like.time.values)).compute()
    return s2.interpolate_na("time", method="linear").fillna(s2.interpolate_na("time", method="nearest",
                                                                             fill_value="extrapolate"))


def _rmse(estimate: np.ndarray, truth: np.ndarray, where=None) -> float:
    err = estimate - truth
    return float(np.sqrt(np.nanmean((err if where is None else err[where]) ** 2)))


def evaluate(model=None, seeds=EVALUATION_SEEDS[:2], size: int = 64) -> list[dict]:
    """Per evaluation scene: reflectance RMSE against the truth (all days, cloudy days) of the learned fusion and of
    S2 alone linearly interpolated, and the linear-probe overall accuracy on the embedding, on the learned pivot
    variables and on the interpolated S2 reflectance."""
    from .classify import classify

    rows = []
    for seed in seeds:
        truth, cubes = synth.scene(seed=seed, size=size, days=DAYS)
        piv = learned.learned_fuse(cubes, model=model).compute()
        ref = truth.reflectance.transpose("time", "band", "y", "x").compute()
        base = s2_linear(cubes, piv)
        cloudy = np.broadcast_to(truth.cloud.values[:, None], ref.shape)
        labels = truth[["land_cover", "parcel"]]
        raw = xr.Dataset({"reflectance": base})
        oa = {name: float(classify(ds, labels, features=f).overall_accuracy) for name, ds, f in (
            ("embedding", piv, ["embedding"]), ("learned_variables", piv, ["reflectance", "ndvi", "backscatter"]),
            ("s2_linear_reflectance", raw, ["reflectance"]))}
        rows.append({"seed": seed, "rmse_learned": _rmse(piv.reflectance.values, ref.values),
                     "rmse_s2_linear": _rmse(base.values, ref.values),
                     "rmse_learned_cloudy": _rmse(piv.reflectance.values, ref.values, cloudy),
                     "rmse_s2_linear_cloudy": _rmse(base.values, ref.values, cloudy),
                     **{f"oa_{k}": v for k, v in oa.items()}})
        print(rows[-1])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="eoxr train pivot", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs", help="folder for the checkpoint")
    p.add_argument("--seed0", type=int, default=TRAINING_SEEDS.start, help="first training scene seed")
    p.add_argument("--scenes", type=int, default=len(TRAINING_SEEDS), help="training scenes")
    p.add_argument("--size", type=int, default=64, help="scene size in 10 m pixels")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--window", type=int, default=6, help="days on each side of the target day")
    p.add_argument("--days-per-scene", type=int, default=24, help="target days drawn per scene")
    p.add_argument("--latent", type=int, default=16, help="embedding features")
    p.add_argument("--width", type=int, default=16, help="hidden channels")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ship", action="store_true", help="write the model through the registry (no run files)")
    p.add_argument("--hybrid", action="store_true", help="train the hybrid network: the physical fusion of each "
                   "scene is one more input")
    p.add_argument("--evaluate", metavar="MODEL", help="score MODEL (path or registry name) on two evaluation "
                   "scenes instead of training")
    a = p.parse_args(argv)
    if a.evaluate:
        evaluate(a.evaluate, size=a.size)
        return 0
    fit(a.out, a.seed0, a.scenes, a.size, a.epochs, a.window, a.days_per_scene, a.latent, a.width, a.lr, a.seed,
        a.ship, a.hybrid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
