"""``eoxr train rain ...``: train the rain U-Net on synthetic swaths, or fine-tune it for another radiometer.

The shipped models in ``eoxr/models/`` were built with::

    eoxr train rain --sensor gmi --out eoxr/models --ship --epochs 60 --lr 1e-3 --workers 2
    eoxr train rain --sensor amsr2 --out eoxr/models --ship --init eoxr/models/rain-unet-gmi.ckpt --workers 2

(``python -m eoxr.rain.train ...`` is the same.) GMI: scenes 10000-10059 of :func:`eoxr.rain.synth.scene` (128
scans, the whole swath; 15 % of the scenes held out for early stopping, which stopped it after 43 epochs, the
best at 35), the seeds and size of the default Bayesian database (:func:`eoxr.rain.bayes.build`), so both
methods learn from the same scenes. On 2 CPU cores drawing the scenes takes about 8 minutes and an epoch 20-25 s
(about 17 minutes in all; more on a loaded machine). ``--mirror`` adds each training swath mirrored across track,
at twice the cost per epoch. AMSR2: the GMI network mapped onto
AMSR2 (:func:`eoxr.rain.transfer.map_channels`) and fine-tuned with 10 % of the labelled patches of scenes
20000-20011 (96 scans), about 300 batches (drawing the scenes and fine-tuning: 4 CPU-minutes). With ``--init`` a checkpoint of the same sensor continues its
training; of another sensor, it is fine-tuned for ``--sensor``. The benchmark scores scenes ``1000 * seed + i``
with seed below 10 (AMSR2: ``1000 * seed + 500 + i``), the tests use seeds below 1000: none is a training
scene. ``--ship`` writes ``rain-unet-<sensor>.ckpt`` (+ ``.json``) without the optimiser state, so it stays
small.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .learned import model_name
from .radiometers import get
from .synth import TRAINING_SCANS, TRAINING_SEEDS, scenes

TRANSFER_SEEDS = range(20_000, 20_012)
TRANSFER_SCANS = 96


def _ship(run_path: Path, out: Path, name: str) -> Path:
    """The run's checkpoint as ``out/name.ckpt`` without its training state; the run's files removed."""
    from ..ml import checkpoint as ckpt_mod

    ck = ckpt_mod.load(run_path)
    final = ckpt_mod.save(out / f"{name}.ckpt", ck.config, ck.state_dict, resume=None)
    for p in (run_path, ckpt_mod.sidecar(run_path), run_path.with_name(run_path.name + ".log.csv")):
        p.unlink(missing_ok=True)
    return final


def _source_sensor(init) -> str | None:
    from ..ml import checkpoint as ckpt_mod
    from .learned import resolve_model

    return ckpt_mod.load(resolve_model(init, get("gmi"))).config["metadata"].get("sensor")


def fit(sensor: str = "gmi", out: str | Path = "runs", seed0: int | None = None, n_scenes: int | None = None,
        scans: int | None = None, epochs: int = 40, width: int = 16, depth: int = 2, lr: float = 1e-3,
        init: str | None = None, fraction: float = 0.1, steps: int = 300, ship: bool = False, seed: int = 0,
        device: str = "auto", workers: int = 1, mirror: bool = False) -> Path:
    """Train (a new network, or ``init`` further on the same sensor) or fine-tune (``init`` of another sensor)
    one network; returns the checkpoint."""
    from . import learned, transfer

    t0 = time.perf_counter()
    sensor = get(sensor).name
    tuning = init is not None and _source_sensor(init) != sensor
    default = TRANSFER_SEEDS if tuning else TRAINING_SEEDS
    start = default.start if seed0 is None else seed0
    seeds = range(start, start + (len(default) if n_scenes is None else n_scenes))
    scans = scans or (TRANSFER_SCANS if tuning else TRAINING_SCANS)
    data = list(scenes(list(seeds), sensor, scans, workers=workers))
    out = Path(out)
    name = model_name(sensor)
    run_path = out / ".runs" / f"{name}.ckpt" if ship else out / f"{name}.ckpt"
    run_path.parent.mkdir(parents=True, exist_ok=True)
    command = (f"eoxr train rain --sensor {sensor} --seed0 {seeds.start} --scenes {len(seeds)} --scans {scans} "
               f"--seed {seed}" + (f" --init {init}" if init else "")
               + (f" --fraction {fraction:g} --steps {steps}" if tuning else
                  f" --epochs {epochs} --lr {lr:g}" + ("" if init else f" --width {width} --depth {depth}")
                  + (" --mirror" if mirror else "")))
    meta = {"command": command, "seeds": [seeds.start, seeds.stop - 1], "scans": scans}
    if tuning:
        result = transfer.fine_tune(data, run_path, init=init, fraction=fraction, steps=steps, seed=seed,
                                    device=device, metadata=meta)
    else:
        result = learned.fit(data, run_path, sensor=sensor, epochs=epochs, width=width, depth=depth, lr=lr,
                             seed=seed, device=device, init=init, mirror=mirror, norm=None, early_stopping=8,
                             metadata=meta)
    final = _ship(run_path, out, name) if ship else run_path
    print(f"{name}: best epoch {result.best_epoch}, loss {result.best_loss:.4g} (normalised), "
          f"{time.perf_counter() - t0:.0f} s -> {final}")
    return final


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="eoxr train rain", description=__doc__.split("\n\n")[0])
    p.add_argument("--sensor", default="gmi", help="radiometer the network serves (gmi, amsr2, ...)")
    p.add_argument("--out", default="runs", help="folder for the checkpoint")
    p.add_argument("--seed0", type=int, default=None, help="first scene seed (default: the shipped recipe's)")
    p.add_argument("--scenes", type=int, default=None, help="synthetic scenes (default: the shipped recipe's)")
    p.add_argument("--scans", type=int, default=None, help="scans per scene")
    p.add_argument("--epochs", type=int, default=40, help="training: at most this many epochs")
    p.add_argument("--width", type=int, default=16, help="new network: U-Net channels at full resolution")
    p.add_argument("--depth", type=int, default=2, help="new network: U-Net poolings")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--init", default=None, help="checkpoint to train further (same sensor) or fine-tune (another)")
    p.add_argument("--fraction", type=float, default=0.1, help="fine-tuning: share of the labelled patches used")
    p.add_argument("--steps", type=int, default=300, help="fine-tuning: about this many batches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--ship", action="store_true", help="write a small checkpoint without optimiser state")
    p.add_argument("--workers", type=int, default=1, help="processes drawing the scenes")
    p.add_argument("--mirror", action="store_true", help="also train on the swaths mirrored across track")
    a = p.parse_args(argv)
    fit(a.sensor, a.out, a.seed0, a.scenes, a.scans, a.epochs, a.width, a.depth, a.lr, a.init, a.fraction, a.steps,
        a.ship, a.seed, a.device, a.workers, a.mirror)
    return 0


if __name__ == "__main__":
    sys.exit(main())
