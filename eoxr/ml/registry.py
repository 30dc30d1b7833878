"""Folder-based store of trained models: ``name -> <folder>/<name>.ckpt`` + ``<name>.ckpt.json``.

The shipped folder is ``eoxr/models/`` (small CPU models built by ``eoxr train ...``, see its README);
``EOXR_MODELS`` (``os.pathsep``-separated folders) adds more, searched first. Names use dots for the
domain: ``lst.residual_sr`` is stored as ``lst.residual_sr.ckpt``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from ..errors import CheckpointError, ParameterError

SHIPPED = Path(__file__).resolve().parents[1] / "models"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def folders() -> list[Path]:
    """Folders searched for models, in order: ``$EOXR_MODELS`` entries, then the shipped folder."""
    extra = [Path(p) for p in os.environ.get("EOXR_MODELS", "").split(os.pathsep) if p]
    return extra + [SHIPPED]


def names() -> list[str]:
    """Names of every model found in :func:`folders`."""
    found = set()
    for folder in folders():
        if folder.is_dir():
            found.update(p.name[: -len(".ckpt")] for p in folder.glob("*.ckpt"))
    return sorted(found)


def path(name: str) -> Path:
    """Checkpoint file of model ``name``; :class:`CheckpointError` naming the known models if absent."""
    for folder in folders():
        candidate = folder / f"{name}.ckpt"
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"no model named {name!r} in {[str(f) for f in folders()]}; known: {names()}. Train it with "
        "`eoxr train ...` or add its folder to EOXR_MODELS"
    )


def info(name: str) -> dict:
    """The model's JSON sidecar (architecture, inputs, target, units, training data, metadata, log)."""
    side = path(name).with_name(f"{name}.ckpt.json")
    if not side.is_file():
        raise CheckpointError(f"model {name!r} has no sidecar {side}; re-add it with eoxr.ml.registry.add")
    return json.loads(side.read_text())


def add(name: str, checkpoint: str | Path, folder: str | Path | None = None, overwrite: bool = False,
        keep_resume: bool = False) -> Path:
    """Copy ``checkpoint`` (validated by loading it) and its sidecar into ``folder`` as model ``name``.

    The training state used to resume (optimizer moments, last-epoch weights) is dropped unless
    ``keep_resume``: a shipped model needs only the weights it predicts with, a third of the file.
    """
    import torch

    from .checkpoint import load, sidecar

    if not _NAME.match(name):
        raise ParameterError(f"model name {name!r} may hold letters, digits, '_', '-', '.' only; rename it, "
                             "e.g. 'lst.residual_sr'")
    load(checkpoint)
    folder = Path(folder) if folder is not None else SHIPPED
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{name}.ckpt"
    if dest.exists() and not overwrite:
        raise CheckpointError(f"model {name!r} exists at {dest}; pass overwrite=True to replace it")
    if keep_resume:
        shutil.copyfile(checkpoint, dest)
    else:
        payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
        payload.pop("resume", None)
        tmp = dest.with_name(f".{dest.name}.tmp")
        torch.save(payload, tmp)
        os.replace(tmp, dest)
    src_side = sidecar(checkpoint)
    if src_side.is_file():
        meta = json.loads(src_side.read_text())
        meta["checkpoint"] = dest.name
        (folder / f"{name}.ckpt.json").write_text(json.dumps(meta, indent=2))
    return dest


def load(name: str, device: str = "cpu", trusted_modules=()):
    """``(model, Checkpoint)`` of model ``name``, in eval mode on ``device``; ``trusted_modules`` as in
    :meth:`eoxr.ml.checkpoint.Checkpoint.build_model`."""
    from .checkpoint import load as load_ckpt

    ck = load_ckpt(path(name))
    return ck.build_model(device, trusted_modules=trusted_modules), ck
