"""Named STAC sources: ``catalogs/endpoints.yaml`` and the folder that holds it."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..errors import CatalogError

_REPO_CATALOGS = Path(__file__).resolve().parents[2] / "catalogs"


def catalogs_dir() -> Path:
    """The ``catalogs/`` folder at the repository root, where ``endpoints.yaml`` lives."""
    override = os.environ.get("EOXR_CATALOGS")
    folder = Path(override) if override else _REPO_CATALOGS
    if not (folder / "endpoints.yaml").is_file():
        raise CatalogError(
            f"no endpoints.yaml in {folder}. Run eoxr from its source checkout (catalogs/ beside eoxr/) "
            "or set EOXR_CATALOGS to a folder holding endpoints.yaml."
        )
    return folder


def endpoints() -> dict[str, dict]:
    """Named STAC sources: ``{name: {"url" | "path" | "builder", "description", "sign", "collections"}}``.

    Read from ``catalogs/endpoints.yaml``; a ``path`` is returned absolute.
    """
    folder = catalogs_dir()
    return {name: dict(entry) for name, entry in _read_endpoints(str(folder)).items()}


@lru_cache(maxsize=4)
def _read_endpoints(folder: str) -> dict[str, dict]:
    import yaml

    path = Path(folder) / "endpoints.yaml"
    raw = yaml.safe_load(path.read_text()) or {}
    out = {}
    for name, entry in raw.items():
        kinds = [k for k in ("url", "path", "builder") if entry.get(k)]
        if len(kinds) != 1:
            raise CatalogError(f"{path}: entry {name!r} needs exactly one of url, path or builder; it has {kinds}.")
        entry = dict(entry)
        entry.setdefault("description", "")
        entry["sign"] = bool(entry.get("sign", False))
        entry["collections"] = dict(entry.get("collections") or {})
        if entry.get("path"):
            entry["path"] = str((Path(folder) / entry["path"]).resolve())
        out[str(name)] = entry
    return out
