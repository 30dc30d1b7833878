"""What a ``source`` names: a STAC API URL, a static catalog file, or an endpoint of ``endpoints.yaml``."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from urllib.parse import urlparse

from ..errors import CatalogError
from .names import endpoints
from .stacio import StoreFile, is_object_store_url

_STATIC_SUFFIXES = (".json", ".geojson", ".ndjson")


def resolve(source, storage_options: dict | None = None) -> tuple[str | Path | StoreFile, dict | None]:
    """The URL or file behind ``source``, and the endpoint entry when it was a name. A static file on an object
    store (``s3://bucket/catalog.json``, ``memory://...``) is reached with fsspec ``storage_options``."""
    if isinstance(source, str) and is_object_store_url(source):
        return _existing_store_file(source, storage_options or {}), None
    if storage_options:
        raise CatalogError(f"storage_options were given for {source!r}; they are for static catalogs on object "
                           "stores (s3://bucket/catalog.json): drop them, or pass such a URL.")
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


def _existing_store_file(url: str, storage_options: dict) -> StoreFile:
    """``url``, or the catalog.json / collection.json in the folder it names, when it exists."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
        if fs.isdir(path):
            for name in ("catalog.json", "collection.json"):
                if fs.isfile(f"{path.rstrip('/')}/{name}"):
                    return StoreFile(f"{url.rstrip('/')}/{name}", storage_options)
        elif fs.isfile(path):
            return StoreFile(url, storage_options)
    except (ImportError, ValueError, OSError) as err:
        raise CatalogError(f"cannot reach {url} ({type(err).__name__}: {err}); install the fsspec filesystem of its "
                           "scheme (s3fs for s3://) and pass its options as storage_options={...}.") from err
    raise CatalogError(f"no static catalog at {url}: pass the URL of a catalog.json, collection.json, ItemCollection "
                       "or .ndjson file (or of a folder holding a catalog.json), with storage_options that reach it.")


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
