"""Model checkpoints: one torch file loadable with ``torch.load(weights_only=True)`` plus a JSON sidecar.

The torch file holds only tensors and plain Python values::

    {"format": "eoxr.ml.checkpoint/1",
     "config": "<JSON string>",       # arch name + kwargs, inputs, target, units, normalisation, log, ...
     "state_dict": {...},             # weights to predict with (the best epoch when validating)
     "resume": {"state_dict", "optimizer", "rng", "epoch", ...}}   # last epoch's state, to resume training

``<checkpoint>.json`` repeats the config for people (and for the checkpoint registry). Writes go to a
temporary file that replaces the old one, so an interrupted save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import CheckpointError

FORMAT = "eoxr.ml.checkpoint/1"
_REQUIRED = ("arch", "inputs", "target", "normalisation", "input_channels", "target_channels")


def sidecar(path: str | Path) -> Path:
    """Path of the JSON sidecar of checkpoint ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``config`` (dict), ``state_dict`` (weights), ``resume`` (training state or None)."""

    path: Path
    config: dict
    state_dict: dict
    resume: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        return list(self.config["inputs"])

    @property
    def target(self) -> str:
        return self.config["target"]

    @property
    def units(self) -> str:
        return self.config.get("units") or "1"

    @property
    def normalisation(self) -> dict:
        return self.config["normalisation"]

    def build_model(self, device: str = "cpu"):
        """Rebuild the network from the config, load the weights, move to ``device``, set eval mode."""
        from . import nets

        arch = self.config["arch"]
        model = nets.build(arch["name"], module=arch.get("module"), **arch["kwargs"])
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as err:
            raise CheckpointError(
                f"checkpoint {self.path}: the weights do not fit a {arch['name']}({arch['kwargs']}) "
                f"({str(err).splitlines()[0]}); the file is corrupt or was written by another version of the "
                "network: retrain it"
            ) from None
        return model.to(device).eval()


def save(path: str | Path, config: dict, state_dict: dict, resume: dict | None = None) -> Path:
    """Write the checkpoint and its sidecar atomically; returns ``path``."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, default=_json_default)
    payload = {"format": FORMAT, "config": text, "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}
    if resume is not None:
        payload["resume"] = resume
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    side = sidecar(path)
    tmp = side.with_name(f".{side.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"format": FORMAT, "checkpoint": path.name, **json.loads(text)}, indent=2))
    os.replace(tmp, side)
    return path


def sha256(path: str | Path) -> str:
    """SHA-256 (hex) of the checkpoint file ``path``, as outputs name the model that made them
    (``eoxr_checkpoint_sha256``); read once per file version."""
    path = Path(path).resolve()
    stat = path.stat()
    return _file_sha256(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"checkpoint config value {value!r} ({type(value).__name__}) is not JSON")


def load(path: str | Path, map_location: str = "cpu") -> Checkpoint:
    """Load and validate a checkpoint (``torch.load(weights_only=True)``); raise :class:`CheckpointError`."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; train one with eoxr.ml.train(..., checkpoint='{path}') or pick a "
            "shipped model with eoxr.ml.registry.path(name)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
            "the file is truncated or not an eoxr checkpoint: retrain, or restore it from the registry"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not an eoxr checkpoint (format {found!r}, expected {FORMAT!r})")
    try:
        config = json.loads(payload["config"])
        state = payload["state_dict"]
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"checkpoint {path} lacks a readable config or weights ({err}); retrain it") from None
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise CheckpointError(f"checkpoint {path} config lacks {missing}; it was not written by eoxr.ml.train")
    return Checkpoint(path=path, config=config, state_dict=state, resume=payload.get("resume"))
