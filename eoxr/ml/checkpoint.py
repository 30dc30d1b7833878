"""Model checkpoints: one torch file loadable with ``torch.load(weights_only=True)`` plus a JSON sidecar.

The torch file holds only tensors and plain Python values::

    {"format": "eoxr.ml.checkpoint/1",
     "config": "<JSON string>",       # arch name + kwargs, inputs, target, units, normalisation, log, ...
     "state_dict": {...},             # weights to predict with (the best epoch when validating)
     "resume": {"state_dict", "optimizer", "rng", "epoch", ...}}   # last epoch's state, to resume training

``<checkpoint>.json`` repeats the config for people (and for the checkpoint registry). Writes go to a
temporary file that replaces the old one, so an interrupted save leaves the previous checkpoint intact.

Checkpoints may come from strangers: loading one never runs code it brings. The file is read with
``weights_only=True`` (no pickled object is rebuilt), and the module its config names for the architecture
(``arch.module``) is imported only when it is eoxr's own, already imported, or one the caller trusts
(``build_model(trusted_modules=[...])``).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import CheckpointError

FORMAT = "eoxr.ml.checkpoint/1"
_REQUIRED = ("arch", "inputs", "target", "normalisation", "input_channels", "target_channels")
# First bytes of what torch.save writes: a zip archive, or (legacy format) a pickle stream.
_TORCH_SIGNATURES = (b"PK\x03\x04", b"\x80")


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

    def build_model(self, device: str = "cpu", trusted_modules: Iterable[str] = ()):
        """Rebuild the network from the config, load the weights, move to ``device``, set eval mode.

        The module the config names for the architecture is imported only when it is eoxr's own, already
        imported, or listed in ``trusted_modules``: a checkpoint from someone else cannot make this process
        run code it did not choose to run.
        """
        from . import nets

        arch = self.config["arch"]
        _check_module(self.path, arch["name"], arch.get("module"), trusted_modules)
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


def _check_module(path: Path, name: str, module: str | None, trusted: Iterable[str]) -> None:
    """Refuse to import a module a checkpoint names unless eoxr, the caller's imports or ``trusted`` vouch for it."""
    if module is None or module in sys.modules:
        return  # nothing to import, or imported by the caller already: no code of the checkpoint's choice runs
    if module == "eoxr" or module.startswith("eoxr.") or module in set(trusted):
        return
    raise CheckpointError(
        f"checkpoint {path} asks to import the module {module!r} to build the network {name!r}; eoxr imports "
        "only its own modules for a checkpoint, since importing runs that module's code. If you trust it, "
        f"import it yourself first (import {module}) or pass build_model(..., trusted_modules=[{module!r}])"
    )


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
    raise CheckpointError(f"checkpoint config value {value!r} ({type(value).__name__}) is not a JSON value; pass "
                          "numbers, strings, lists or dicts in the config (e.g. float(x), str(path))")


def load(path: str | Path, map_location: str = "cpu") -> Checkpoint:
    """Load and validate a checkpoint (``torch.load(weights_only=True)``); raise :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}; train one with eoxr.ml.train(..., checkpoint='{path}') or pick a "
            "shipped model with eoxr.ml.registry.path(name)"
        )
    _check_signature(path)
    payload = _read_tensors(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not an eoxr checkpoint (format {found!r}, expected {FORMAT!r}); load "
                              "a file written by eoxr.ml.checkpoint.save, or retrain")
    try:
        config = json.loads(payload["config"])
        state = payload["state_dict"]
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"checkpoint {path} lacks a readable config or weights ({err}); retrain it") from None
    missing = [k for k in _REQUIRED if k not in config] if isinstance(config, dict) else list(_REQUIRED)
    if missing:
        raise CheckpointError(f"checkpoint {path} config lacks {missing}; it was not written by eoxr.ml.train: "
                              "retrain it")
    _check_arch(path, config["arch"])
    return Checkpoint(path=path, config=config, state_dict=state, resume=payload.get("resume"))


def _check_signature(path: Path) -> None:
    """Refuse an empty file, or one that is not a torch file (a text or HTML page saved under its name)."""
    with path.open("rb") as f:
        head = f.read(64)
    if not head:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): its write or download was interrupted; "
                              "retrain, or copy it again from where it came from")
    if not head.startswith(_TORCH_SIGNATURES):
        shown = head[:40].decode("utf-8", errors="replace").strip()
        raise CheckpointError(f"checkpoint {path} is not a torch file (it starts with {shown!r}): a text or HTML "
                              "page saved under its name, or another format; retrain, or copy the real file again")


def _read_tensors(path: Path, map_location: str) -> dict:
    """``torch.load(weights_only=True)``: tensors and plain values only, never a pickled object."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refuses every global it does not know
        detail = str(err).splitlines()
        reason = next((line.strip() for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0])
        failure = CheckpointError(
            f"checkpoint {path} holds pickled Python objects, not only tensors ({reason[:200]}); eoxr never "
            "unpickles them, since unpickling runs code the file chooses. Re-save the weights with "
            "eoxr.ml.checkpoint.save (tensors and JSON config only), or retrain"
        )
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        detail = str(err).splitlines()[0][:200] if str(err) else "no detail"
        failure = CheckpointError(
            f"checkpoint {path} could not be read ({type(err).__name__}: {detail}); the file is truncated or not "
            "an eoxr checkpoint: retrain, or restore it from the registry"
        )
    raise failure  # outside the except block: torch's own traceback adds nothing for a damaged file


def _check_arch(path: Path, arch) -> None:
    ok = isinstance(arch, dict) and isinstance(arch.get("name"), str) and isinstance(arch.get("kwargs"), dict) \
        and (arch.get("module") is None or isinstance(arch.get("module"), str))
    if not ok:
        raise CheckpointError(f"checkpoint {path} config holds no usable architecture ({{'name': str, 'module': str, "
                              f"'kwargs': dict}} expected, found {arch!r:.200}); it is corrupt: retrain it")
