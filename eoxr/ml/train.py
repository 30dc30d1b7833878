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

from ..errors import CheckpointError, MissingVariableError
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
        raise ValueError(f"loss must be one of {sorted(table)} or a callable(pred, target), not {loss!r}")
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
    weights are the best epoch's.
    """
    import torch
    from tqdm.auto import tqdm

    from . import checkpoint as ckpt_mod
    from .device import resolve_device

    if not isinstance(train, Patches):
        raise TypeError(f"train must be eoxr.ml.Patches (from ml.patches), not {type(train).__name__}")
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
    device = resolve_device(device)
    base_loss = loss_function(loss)
    args = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "weight_decay": weight_decay,
            "early_stopping": early_stopping, "min_delta": min_delta,
            "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "callable")}

    path = Path(checkpoint) if checkpoint is not None else None
    state = None
    if path is not None and resume and path.exists():
        state = ckpt_mod.load(path)
        arch = state.config["arch"]
        from . import nets

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
    stats = state.normalisation if state is not None else train.statistics()
    norm_in = Normaliser(stats, train.inputs)
    norm_out = Normaliser(stats, [train.target])
    config = _config(model, train, val, stats, units, long_name, metadata, args)

    torch.manual_seed(seed)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    log: list[dict] = []
    start, best_loss, best_epoch, bad, stopped = 0, float("inf"), 0, 0, False
    best_state = copy.deepcopy(model.state_dict())
    if state is not None:
        r = state.resume
        model.load_state_dict(r["state_dict"])
        opt.load_state_dict(r["optimizer"])
        torch.set_rng_state(r["rng"])
        start, best_loss = int(r["epoch"]), float(r["best_loss"])
        best_epoch, bad = int(r["best_epoch"]), int(r["bad_epochs"])
        stopped = bool(r.get("stopped_early", False))
        best_state = {k: v.to(device) for k, v in state.state_dict.items()}
        log = list(state.config.get("log", []))

    use_amp = amp and device.startswith("cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    def to_tensors(x, y):
        x = np.nan_to_num(norm_in.forward(x), nan=0.0)  # NaN input -> normalised mean
        return (torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device),
                torch.from_numpy(np.ascontiguousarray(norm_out.forward(y), np.float32)).to(device))

    def compute_loss(out, yt):
        if hasattr(model, "training_loss") and model.training:
            return model.training_loss(out, yt, base_loss)
        return base_loss(out[0] if isinstance(out, tuple) else out, yt)

    bar = tqdm(range(start, epochs), desc="train", unit="epoch",
               disable=(not progress) if progress is not None else None,
               initial=start, total=epochs)
    for epoch in bar:
        if stopped:
            break
        t0 = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for x, y in _rows(train, batch_size, epoch, num_workers):
            xt, yt = to_tensors(x, y)
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=amp_dtype, enabled=use_amp):
                out = model(xt)
            out = _to_float(out)
            value = compute_loss(out, yt)
            if not torch.isfinite(value):
                raise FloatingPointError(
                    f"loss became {value.item()} at epoch {epoch + 1}; lower lr= or check the data"
                )
            scaler.scale(value).backward()
            scaler.step(opt)
            scaler.update()
            total += float(value.detach()) * len(x)
            count += len(x)
        row = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "val_loss": None, "val_rmse": None, "lr": lr}
        if val is not None:
            model.eval()
            vt, vc, sq, npx = 0.0, 0, 0.0, 0
            with torch.no_grad():
                for x, y in val.batches(batch_size, 0):
                    xt, yt = to_tensors(x, y)
                    with torch.autocast("cuda", dtype=amp_dtype, enabled=use_amp):
                        out = model(xt)
                    out = (out[0] if isinstance(out, tuple) else out).float()
                    vt += float(base_loss(out, yt)) * len(x)
                    vc += len(x)
                    err = norm_out.inverse(out.cpu().numpy().astype(np.float64)) - y  # target units
                    ok = np.isfinite(err)
                    sq += float(np.square(err[ok]).sum())
                    npx += int(ok.sum())
            row["val_loss"] = vt / max(vc, 1)
            row["val_rmse"] = float(np.sqrt(sq / max(npx, 1)))
        row["seconds"] = time.perf_counter() - t0
        log.append(row)
        score = row["val_loss"] if val is not None else row["train_loss"]
        if score < best_loss - min_delta:
            best_loss, best_epoch, bad = score, epoch + 1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        stopped = bool(early_stopping) and bad >= early_stopping
        bar.set_postfix(train=f"{row['train_loss']:.4g}", val=f"{row['val_loss']:.4g}" if val is not None else "-")
        if path is not None:
            config.update(epoch=epoch + 1, best_epoch=best_epoch, best_loss=best_loss, log=log, stopped_early=stopped)
            resume_state = {
                "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "epoch": epoch + 1,
                "best_loss": best_loss, "best_epoch": best_epoch, "bad_epochs": bad, "stopped_early": stopped,
            }
            ckpt_mod.save(path, config, best_state, resume_state)
            _write_log(path.with_name(path.name + ".log.csv"), log)
        if stopped:
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    config.update(epoch=len(log), best_epoch=best_epoch, best_loss=best_loss, log=log, stopped_early=stopped)
    return Fit(model=model, log=log, best_epoch=best_epoch, best_loss=best_loss, normalisation=stats,
               checkpoint=path, stopped_early=stopped, config=config)
