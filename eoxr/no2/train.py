"""``eoxr train no2 --method smaat-unet|vae ...``: train an emission network on transport-model scenes.

The shipped models in ``eoxr/models/`` were built with::

    eoxr train no2 --method smaat-unet --out eoxr/models --ship --scenes 400 --epochs 5 --source-weight 0 \
        --cache scenes --device cpu
    eoxr train no2 --method vae --out eoxr/models --ship --scenes 400 --epochs 12 --width 8 --source-weight 0 \
        --cache scenes --device cpu

(``python -m eoxr.no2.train ...`` is the same.) Scenes of :func:`eoxr.no2.ctm.scenes` (64 x 64 cells of 5 km,
TROPOMI-like noise, 10 % cloud gaps) are drawn lazily on Dask, one task a scene, by two processes: training
seeds from 60000 (``--seed0``, ``--scenes``), validation seeds 61000-61019 (they pick the best epoch and stop the
training early after ``--patience`` epochs without gain); ``--cache DIR`` keeps them in Zarr stores for the
next runs (400 scenes: 3 minutes to draw). The VAE's spread is then scaled so that 68 % of the validation
scenes' true emissions lie within one standard deviation (:func:`calibrate_spread`). On 2 busy CPU cores the
VAE took 5 minutes (12 epochs, best 10), the SmaAt-UNet 14 minutes (5 epochs, best 4). The evaluation scenes
(:data:`EVALUATION_SEEDS`, 70000 and up), the sample scene (50000 and up) and the tests' (below 1000) are none of
them. ``--ship`` writes ``no2-<method>.ckpt`` (+ ``.json`` with the command) without the optimiser state, so it
stays small.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import xarray as xr

from ..errors import ParameterError
from . import ctm
from .learned import model_name

TRAINING_SEEDS = range(60_000, 60_160)
VALIDATION_SEEDS = range(61_000, 61_020)
EVALUATION_SEEDS = range(70_000, 70_100)
GRID = ctm.Grid(ny=64, nx=64, dx=5000.0)
OBSERVATION = ctm.Observation(cloud_fraction=0.1)
SPINUP_H = 36.0
SOURCE_WEIGHT = 0.0  # extra weight of source cells in the loss: 10 overestimated the domain total by 73 %


def scenes(seeds, cache: str | Path | None = None) -> xr.Dataset:
    """The lazy scenes ``seeds`` on the training grid and observation; with ``cache``, a folder, drawn once
    into ``cache/scenes-<first>-<last>.zarr`` and read from there by later runs."""
    drawn = ctm.scenes(list(seeds), GRID, OBSERVATION, spinup_h=SPINUP_H)
    if cache is None:
        return drawn
    path = Path(cache) / f"scenes-{seeds[0]}-{seeds[-1]}.zarr"
    if not path.exists():
        import dask

        tmp = path.with_name(path.name + ".tmp")
        with dask.config.set(scheduler="processes", num_workers=2):
            drawn.to_zarr(tmp, mode="w")
        tmp.rename(path)  # a run stopped while drawing leaves no half-written cache
    return xr.open_zarr(path)


def _shipped(run_path: Path, out: Path, name: str) -> Path:
    """The run's checkpoint as ``out/name.ckpt`` (+ sidecar) without its training state; the run's files
    removed."""
    from ..ml import checkpoint as ckpt_mod
    from ..ml import registry

    final = registry.add(name, run_path, folder=out, overwrite=True)
    for p in (run_path, ckpt_mod.sidecar(run_path), run_path.with_name(run_path.name + ".log.csv")):
        p.unlink(missing_ok=True)
    return final


def fit(method: str = "smaat-unet", out: str | Path = "runs", seed0: int = TRAINING_SEEDS.start,
        n_scenes: int = len(TRAINING_SEEDS), epochs: int = 30, width: int = 16, depth: int = 3, lr: float = 2e-3,
        ship: bool = False, seed: int = 0, device: str = "auto", source_weight: float = SOURCE_WEIGHT,
        patience: int = 6, cache: str | Path | None = None) -> Path:
    """Train one network of ``method``; returns its checkpoint (a VAE's with its spread calibrated on the
    validation scenes, :func:`calibrate_spread`)."""
    import dask

    from . import learned

    t0 = time.perf_counter()
    seeds = range(seed0, seed0 + n_scenes)
    if set(seeds) & (set(VALIDATION_SEEDS) | set(EVALUATION_SEEDS)):
        raise ParameterError(f"training seeds {seeds.start}-{seeds.stop - 1} overlap the validation "
                             f"({VALIDATION_SEEDS.start}-) or evaluation ({EVALUATION_SEEDS.start}-) seeds: "
                             "pick another --seed0")
    out = Path(out)
    name = model_name(method)
    run_path = out / ".runs" / f"{name}.ckpt" if ship else out / f"{name}.ckpt"
    run_path.parent.mkdir(parents=True, exist_ok=True)
    command = (f"eoxr train no2 --method {method} --seed0 {seeds.start} --scenes {len(seeds)} --epochs {epochs} "
               f"--width {width} --depth {depth} --lr {lr:g} --seed {seed} --source-weight {source_weight:g} "
               f"--patience {patience}")
    meta = {"command": command, "seeds": [seeds.start, seeds.stop - 1],
            "validation_seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.stop - 1], "grid": str(GRID),
            "observation": str(OBSERVATION), "spinup_h": SPINUP_H}
    with dask.config.set(scheduler="processes", num_workers=2):
        train_scenes, val_scenes = dask.persist(scenes(seeds, cache), scenes(VALIDATION_SEEDS, cache))
    result = learned.fit(train_scenes, run_path, method=method, val_scenes=val_scenes, epochs=epochs, width=width,
                         depth=depth, lr=lr, seed=seed, device=device, early_stopping=patience,
                         source_weight=source_weight, metadata=meta)
    if method == "vae":
        print(f"{name}: spread scale {calibrate_spread(run_path, val_scenes):.3g} (validation scenes)")
    final = _shipped(run_path, out, name) if ship else run_path
    print(f"{name}: best epoch {result.best_epoch}, loss {result.best_loss:.4g} (normalised), "
          f"{time.perf_counter() - t0:.0f} s -> {final}")
    return final


def calibrate_spread(checkpoint: Path, val_scenes: xr.Dataset, coverage: float = 0.68) -> float:
    """Fit the factor on the VAE's spread for which ``coverage`` of the validation scenes' true emissions lie
    within one (scaled) standard deviation of the posterior mean, over the cells where both are finite; store
    it in the checkpoint's metadata as ``spread_scale`` (:func:`eoxr.no2.learned.emissions` applies it, a
    new fit replaces it) and return it. The draws of a VAE trained by a squared error with a small KL weight
    spread far less than its errors (by a factor of about 20 on the shipped one)."""
    import numpy as np

    from ..ml import checkpoint as ckpt_mod
    from . import learned

    ck = ckpt_mod.load(checkpoint)
    estimate = learned.emissions(val_scenes.rename(scene="time"), method="vae", model=checkpoint, device="cpu")
    estimate = estimate.compute()
    error = np.abs(val_scenes["emission"].values - estimate["emission"].values)
    spread = estimate["emission_std"].values / ck.config["metadata"].get("spread_scale", 1.0)  # the draws' own
    seen = np.isfinite(error) & np.isfinite(spread)
    # a cell of no spread is outside every interval unless its error is nought too
    z = np.where(error[seen] > 0, error[seen] / np.where(spread[seen] > 0, spread[seen], np.nan), 0.0)
    scale = float(np.quantile(np.nan_to_num(z, nan=np.inf), coverage))
    ck.config["metadata"].update(spread_scale=scale, spread_scale_coverage=coverage)
    ckpt_mod.save(checkpoint, ck.config, ck.state_dict, ck.resume)
    return scale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="eoxr train no2", description=__doc__.split("\n\n")[0])
    p.add_argument("--method", default="smaat-unet", choices=["smaat-unet", "vae"])
    p.add_argument("--out", default="runs", help="folder for the checkpoint")
    p.add_argument("--seed0", type=int, default=TRAINING_SEEDS.start, help="first training scene seed")
    p.add_argument("--scenes", type=int, default=len(TRAINING_SEEDS), help="training scenes")
    p.add_argument("--epochs", type=int, default=30, help="at most this many epochs")
    p.add_argument("--width", type=int, default=16, help="channels at full resolution")
    p.add_argument("--depth", type=int, default=3, help="poolings")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--source-weight", type=float, default=SOURCE_WEIGHT,
                   help="extra weight of source cells in the squared error (0: plain)")
    p.add_argument("--patience", type=int, default=6, help="stop after this many epochs without a better validation")
    p.add_argument("--cache", help="folder where the drawn scenes are kept (Zarr) for later runs")
    p.add_argument("--ship", action="store_true", help="write a small checkpoint without optimiser state")
    a = p.parse_args(argv)
    fit(a.method, a.out, a.seed0, a.scenes, a.epochs, a.width, a.depth, a.lr, a.ship, a.seed, a.device,
        a.source_weight, a.patience, a.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
