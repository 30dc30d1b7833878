"""What a ``source`` names: a STAC API URL, a static catalog file, or an endpoint of ``endpoints.yaml``."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from urllib.parse import urlparse

from ..errors import CatalogError
from .names import endpoints

_STATIC_SUFFIXES = (".json", ".geojson", ".ndjson")


def resolve(source) -> tuple[str | Path, dict | None]:
    """The URL or file behind ``source``, and the endpoint entry when it was a name."""
    if isinstance(source, os.PathLike):
        return _existing_file(Path(source)), None
    if not isinstance(source, str):
        raise CatalogError(f"source={source!r}; pass a STAC API URL, a catalog file path, or a name in {_known_names()}.")
    if source.startswith(("http://", "https://")):
        return source, None
    if source.startswith("file://"):
        return _existing_file(Path(urlparse(source).path)), None
    path = Path(source).expanduser()
    if path.exists() or "/" in source or os.sep in source or path.suffix.lower() in _STATIC_SUFFIXES:
        return _existing_file(path), None
    named = endpoints()
    if source not in named:
        raise CatalogError(
            f"unknown catalog name {source!r}; known names: {sorted(named)} (catalogs/endpoints.yaml). "
            "Pass one of them, a STAC API URL, or the path of a static catalog file."
        )
    entry = named[source]
    if entry.get("url"):
        return entry["url"], entry
    if entry.get("path"):
        return _existing_file(Path(entry["path"])), entry
    module, _, func = entry["builder"].partition(":")
    built = getattr(importlib.import_module(module), func)()
    return _existing_file(Path(built)), entry


def _known_names() -> list[str]:
    try:
        return sorted(endpoints())
    except CatalogError:
        return []


def _existing_file(path: Path) -> Path:
    if path.is_dir():
        for name in ("catalog.json", "collection.json"):
            if (path / name).is_file():
                return path / name
        raise CatalogError(f"{path} is a folder without catalog.json or collection.json; pass the catalog file itself.")
    if not path.is_file():
        raise CatalogError(
            f"no file {path}. Pass an existing static catalog/collection .json, an ItemCollection "
            f".json/.geojson, an .ndjson of items, a STAC API URL (http...), or a name in {_known_names()}."
        )
    return path.resolve()
