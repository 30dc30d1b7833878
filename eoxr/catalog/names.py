"""Named STAC sources: ``catalogs/endpoints.yaml`` and the folder that holds it."""
from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import CatalogError

_PACKAGE = Path(__file__).resolve().parents[1]


def shipped_catalogs_dir() -> Path:
    """The ``catalogs/`` folder shipped as ``eoxr.catalogs``: the checkout's own in an editable install, a
    copy inside the installed package otherwise."""
    return Path(str(resources.files("eoxr.catalogs")))


def catalogs_dir() -> Path:
    """The folder of ``endpoints.yaml``: ``$EOXR_CATALOGS`` when set, else the shipped ``catalogs/``."""
    override = os.environ.get("EOXR_CATALOGS")
    folder = Path(override).expanduser() if override else shipped_catalogs_dir()
    if not (folder / "endpoints.yaml").is_file():
        raise CatalogError(
            f"no endpoints.yaml in {folder}. Set EOXR_CATALOGS to a folder holding endpoints.yaml (copy "
            f"{shipped_catalogs_dir()} to start from eoxr's own), or unset it."
        )
    return folder


def user_catalogs_dir() -> Path:
    """Where eoxr writes catalogs of its user's own (``datacubes.yaml``): beside ``endpoints.yaml``, unless
    that is the read-only copy inside an installed package; then ``$XDG_DATA_HOME/eoxr`` (default
    ``~/.local/share/eoxr``)."""
    folder = catalogs_dir()
    if folder.resolve().is_relative_to(_PACKAGE):
        data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        return Path(data_home) / "eoxr"
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
