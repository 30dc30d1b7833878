"""One training loop for every learned method: normalisation, checkpoints, resume, early stopping, logs."""
from __future__ import annotations

import copy
import csv
import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConvergenceError, MissingVariableError, ParameterError
from .patches import Patches


@dataclass
class Fit:
    """Result of :func:`train`: the model (best weights, eval mode), the per-epoch log and where it was saved."""

    model: object
    log: list[dict]
    best_epoch: int
    best_loss: float
    normalisation: dict
    checkpoint: Path | None = None
    stopped_early: bool = False
    config: dict = field(default_factory=dict)

    @property
    def train_loss(self) -> list[float]:
        return [row["train_loss"] for row in self.log]

    @property
    def val_loss(self) -> list[float | None]:
        return [row.get("val_loss") for row in self.log]


def _masked(fn):
    def loss(pred, target):
        import torch

        ok = torch.isfinite(target)
        if bool(ok.all()):
            return fn(pred, target)
        return fn(pred[ok], target[ok])

    return loss


def loss_function(loss) -> Callable:
    """``"mse"``, ``"mae"``, ``"huber"`` (each ignoring NaN targets) or a callable ``(pred, target) -> scalar``."""
    import torch.nn.functional as F

    if callable(loss):
        return loss
    table = {"mse": F.mse_loss, "mae": F.l1_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}
    if loss not in table:
        raise ParameterError(f"loss must be one of {sorted(table)} or a callable(pred, target), not {loss!r}")
    return _masked(table[loss])


class Normaliser:
    """Per-channel affine normalisation from stored statistics: ``(v - mean) / std``."""

    def __init__(self, stats: dict, names: list[str]):
        self.mean = np.concatenate([np.asarray(stats[n]["mean"], np.float32) for n in names])
        self.std = np.concatenate([np.asarray(stats[n]["std"], np.float32) for n in names])

    def forward(self, a: np.ndarray) -> np.ndarray:
        """``(..., C, h, w)`` physical -> normalised."""
        return (a - self.mean[:, None, None]) / self.std[:, None, None]

    def inverse(self, a: np.ndarray) -> np.ndarray:
        return a * self.std[:, None, None] + self.mean[:, None, None]


def _rows(gen: Patches, batch_size: int, epoch: int, num_workers: int):
    if num_workers:
        for batch in gen.loader(batch_size=batch_size, epoch=epoch, num_workers=num_workers):
            yield batch[0].numpy(), batch[1].numpy()
    else:
        yield from gen.batches(batch_size, epoch)


def _config(model, train: Patches, val, stats, units, long_name, metadata, args) -> dict:
    from . import nets
    from .. import __version__
    import torch

    ds = train.dataset
    tattrs = ds[train.target].attrs
    return {
        "arch": nets.arch_config(model),
        "receptive_field": nets.receptive_field(model),
        "align": int(getattr(model, "align", 1)),
        "uncertainty": hasattr(model, "sample"),
        "inputs": train.inputs,
        "input_channels": train.input_channels,
        "target": train.target,
        "target_channels": train.target_channels,
        "units": units or tattrs.get("units") or "1",
        "long_name": long_name or tattrs.get("long_name") or train.target,
        "normalisation": stats,
        "training_data": train.describe(),
        "validation_data": val.describe() if val is not None else None,
        "metadata": metadata or {},
        "train_args": args,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eoxr_version": __version__,
        "torch_version": torch.__version__,
    }


def _to_float(out):
    """Cast autocast outputs back to float32, keeping named tuples (VAEOutput) intact."""
    if isinstance(out, tuple):
        items = [o.float() for o in out]
        return type(out)(*items) if hasattr(type(out), "_fields") else tuple(items)
    return out.float()


def _write_log(path: Path, log: list[dict]) -> None:
    keys = ["epoch", "train_loss", "val_loss", "val_rmse", "lr", "seconds"]
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(log)
    tmp.replace(path)


def _check_inputs(model, train: Patches, val: Patches | None) -> None:
    """Patches that can train ``model``: a target, the same variables for validation, the network's channels."""
    if not isinstance(train, Patches):
        raise ParameterError(f"train must be eoxr.ml.Patches (from ml.patches), not {type(train).__name__}; "
                             "build them with ml.patches(ds, inputs=[...], target='name')")
    if train.target is None:
        raise MissingVariableError(
            "the training patches have no target; build them with ml.patches(..., target='name')"
        )
    if val is not None and (val.inputs != train.inputs or val.target != train.target):
        raise MissingVariableError(f"val patches serve {val.inputs} -> {val.target}, train patches "
                                   f"{train.inputs} -> {train.target}; build both from the same variables")
    in_ch = getattr(model, "in_channels", None)
    if in_ch is not None and in_ch != len(train.input_channels):
        raise MissingVariableError(
            f"the network takes {in_ch} input channels but the patches have {len(train.input_channels)} "
            f"({train.input_channels}); build it with in_channels={len(train.input_channels)}"
        )


def _resumable(path: Path | None, resume: bool, model, train: Patches):
    """The checkpoint at ``path`` to continue from (None to start afresh); refused if made for another run."""
    if path is None or not resume or not path.exists():
        return None
    from . import checkpoint as ckpt_mod
    from . import nets

    state = ckpt_mod.load(path)
    arch = state.config["arch"]
    mine = nets.arch_config(model)
    theirs = (arch["name"], arch["kwargs"], state.inputs, state.target)
    if theirs != (mine["name"], mine["kwargs"], train.inputs, train.target):
        raise CheckpointError(
            f"checkpoint {path} holds {arch['name']}{arch['kwargs']} for {state.inputs} -> {state.target}, "
            f"not {mine['name']}{mine['kwargs']} for {train.inputs} -> {train.target}; pass resume=False to "
            "overwrite it or another checkpoint path"
        )
    if state.resume is None:
        raise CheckpointError(f"checkpoint {path} holds no training state to resume; pass resume=False")
    return state


@dataclass
class _Progress:
    """Where a run stands: the per-epoch log, the best epoch so far, early stopping."""

    log: list[dict]
    best_state: dict
    start: int = 0
    best_loss: float = float("inf")
    best_epoch: int = 0
    bad: int = 0
    stopped: bool = False

    @classmethod
    def begin(cls, model, opt, state, device: str) -> "_Progress":
        """A fresh run, or the one saved in checkpoint ``state`` (weights, optimiser and RNG restored)."""
        import torch

        progress = cls(log=[], best_state=copy.deepcopy(model.state_dict()))
        if state is None:
            return progress
        r = state.resume
        model.load_state_dict(r["state_dict"])
        opt.load_state_dict(r["optimizer"])
        torch.set_rng_state(r["rng"])
        return cls(log=list(state.config.get("log", [])),
                   best_state={k: v.to(device) for k, v in state.state_dict.items()},
                   start=int(r["epoch"]), best_loss=float(r["best_loss"]), best_epoch=int(r["best_epoch"]),
                   bad=int(r["bad_epochs"]), stopped=bool(r.get("stopped_early", False)))

    def record(self, row: dict, score: float, model, min_delta: float, early_stopping: int | None) -> None:
        """Log an epoch; keep its weights if it is the best; stop after ``early_stopping`` epochs without gain."""
        self.log.append(row)
        if score < self.best_loss - min_delta:
            self.best_loss, self.best_epoch, self.bad = score, row["epoch"], 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad += 1
        self.stopped = bool(early_stopping) and self.bad >= early_stopping

    def summary(self) -> dict:
        return {"epoch": len(self.log), "best_epoch": self.best_epoch, "best_loss": self.best_loss, "log": self.log,
                "stopped_early": self.stopped}


class _Steps:
    """One batch forward and backward (or forward only): tensors, autocast, loss, gradient scaling."""

    def __init__(self, model, opt, base_loss, stats: dict, train: Patches, device: str, amp: bool):
        import torch

        self.model, self.opt, self.base_loss, self.device = model, opt, base_loss, device
        self.norm_in = Normaliser(stats, train.inputs)
        self.norm_out = Normaliser(stats, [train.target])
        self.use_amp = amp and device.startswith("cuda")
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)

    def tensors(self, x, y):
        import torch

        x = np.nan_to_num(self.norm_in.forward(x), nan=0.0)  # NaN input -> normalised mean
        return (torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device),
                torch.from_numpy(np.ascontiguousarray(self.norm_out.forward(y), np.float32)).to(self.device))

    def forward(self, xt):
        import torch

        with torch.autocast("cuda", dtype=self.amp_dtype, enabled=self.use_amp):
            return self.model(xt)

    def loss(self, out, yt):
        if hasattr(self.model, "training_loss") and self.model.training:
            return self.model.training_loss(out, yt, self.base_loss)
        return self.base_loss(out[0] if isinstance(out, tuple) else out, yt)

    def train_batch(self, x, y, epoch: int) -> float:
        import torch

        xt, yt = self.tensors(x, y)
        self.opt.zero_grad(set_to_none=True)
        value = self.loss(_to_float(self.forward(xt)), yt)
        if not torch.isfinite(value):
            raise ConvergenceError(f"the training loss became {value.item()} at epoch {epoch + 1}: the network "
                                   "diverged; lower lr= or check the data for extreme values")
        self.scaler.scale(value).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        return float(value.detach())


def _one_epoch(steps: _Steps, train: Patches, batch_size: int, epoch: int, num_workers: int) -> float:
    """Train over every batch of ``train`` once; the mean loss per sample (normalised units)."""
    steps.model.train()
    total, count = 0.0, 0
    for x, y in _rows(train, batch_size, epoch, num_workers):
        total += steps.train_batch(x, y, epoch) * len(x)
        count += len(x)
    return total / max(count, 1)


def _validate(steps: _Steps, val: Patches, batch_size: int) -> dict:
    """``val_loss`` (normalised units) and ``val_rmse`` (the target's units) of the model on ``val``."""
    import torch

    steps.model.eval()
    vt, vc, sq, npx = 0.0, 0, 0.0, 0
    with torch.no_grad():
        for x, y in val.batches(batch_size, 0):
            xt, yt = steps.tensors(x, y)
            out = steps.forward(xt)
            out = (out[0] if isinstance(out, tuple) else out).float()
            vt += float(steps.base_loss(out, yt)) * len(x)
            vc += len(x)
            err = steps.norm_out.inverse(out.cpu().numpy().astype(np.float64)) - y  # target units
            ok = np.isfinite(err)
            sq += float(np.square(err[ok]).sum())
            npx += int(ok.sum())
    return {"val_loss": vt / max(vc, 1), "val_rmse": float(np.sqrt(sq / max(npx, 1)))}


def _save(path: Path, config: dict, progress: _Progress, model, opt, epoch: int) -> None:
    """The checkpoint of the best weights with the resumable state after ``epoch`` epochs, and the log."""
    import torch

    from . import checkpoint as ckpt_mod

    config.update(progress.summary(), epoch=epoch)
    resume_state = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch,
        "best_loss": progress.best_loss, "best_epoch": progress.best_epoch, "bad_epochs": progress.bad,
        "stopped_early": progress.stopped,
    }
    ckpt_mod.save(path, config, progress.best_state, resume_state)
    _write_log(path.with_name(path.name + ".log.csv"), progress.log)


def train(model, train: Patches, val: Patches | None = None, epochs: int = 20, lr: float = 1e-3,
          batch_size: int = 16, device: str = "auto", loss="mse", checkpoint: str | Path | None = None,
          resume: bool = True, seed: int = 0, early_stopping: int | None = None, metadata: dict | None = None,
          min_delta: float = 0.0, weight_decay: float = 0.0, amp: bool = True, progress: bool | None = None,
          num_workers: int = 0,
          units: str | None = None, long_name: str | None = None) -> Fit:
    """Train ``model`` on patches ``train`` (validated on ``val``) and return a :class:`Fit`.

    Inputs and target are normalised per channel with mean/std computed on ``train`` (stored in the
    checkpoint, reused at predict time, never recomputed); NaN inputs become 0 (the normalised mean); the
    built-in losses ignore NaN targets, a callable ``loss(pred, target)`` gets the normalised tensors as they
    are. Networks with a ``training_loss(output, target, loss)`` method (the ConvVAE) add their own terms.

    ``device="auto"`` takes CUDA, then MPS, then CPU; on CUDA the forward runs under autocast (bfloat16
    where supported) when ``amp``. Batches come in an order fixed by the patches' seed and the epoch; torch
    is seeded with ``seed``, so on CPU the same seed and the same initial weights give the same weights.

    Losses are logged per epoch in normalised units, with ``val_rmse`` in the target's units. With
    ``checkpoint``, the state is saved after every epoch (``<checkpoint>``, ``<checkpoint>.json``
    and the per-epoch log ``<checkpoint>.log.csv``); with ``resume`` an existing checkpoint for the same
    architecture and variables is continued from its last epoch, giving the weights an uninterrupted run
    gives. ``early_stopping=n`` stops after n epochs without improvement of the validation loss (the
    training loss without ``val``) larger than ``min_delta``; the returned model and the checkpoint's
    weights are the best epoch's. A loss that becomes NaN or infinite raises
    :class:`~eoxr.errors.ConvergenceError`.
    """
    import torch
    from tqdm.auto import tqdm

    from .device import resolve_device

    _check_inputs(model, train, val)
    device = resolve_device(device)
    base_loss = loss_function(loss)
    args = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "weight_decay": weight_decay,
            "early_stopping": early_stopping, "min_delta": min_delta,
            "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "callable")}
    path = Path(checkpoint) if checkpoint is not None else None
    state = _resumable(path, resume, model, train)
    stats = state.normalisation if state is not None else train.statistics()
    config = _config(model, train, val, stats, units, long_name, metadata, args)

    torch.manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    run = _Progress.begin(model, opt, state, device)
    steps = _Steps(model, opt, base_loss, stats, train, device, amp)

    bar = tqdm(range(run.start, epochs), desc="train", unit="epoch",
               disable=(not progress) if progress is not None else None,
               initial=run.start, total=epochs)
    for epoch in bar:
        if run.stopped:
            break
        t0 = time.perf_counter()
        row = {"epoch": epoch + 1, "train_loss": _one_epoch(steps, train, batch_size, epoch, num_workers),
               "val_loss": None, "val_rmse": None, "lr": lr}
        if val is not None:
            row.update(_validate(steps, val, batch_size))
        row["seconds"] = time.perf_counter() - t0
        run.record(row, row["val_loss"] if val is not None else row["train_loss"], model, min_delta, early_stopping)
        bar.set_postfix(train=f"{row['train_loss']:.4g}", val=f"{row['val_loss']:.4g}" if val is not None else "-")
        if path is not None:
            _save(path, config, run, model, opt, epoch + 1)
        if run.stopped:
            break
    bar.close()
    model.load_state_dict(run.best_state)
    model.eval()
    config.update(run.summary())
    return Fit(model=model, log=run.log, best_epoch=run.best_epoch, best_loss=run.best_loss, normalisation=stats,
               checkpoint=path, stopped_early=run.stopped, config=config)
