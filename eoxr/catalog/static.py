"""Static STAC files (catalog, collection, ItemCollection, item, .ndjson) read and filtered in Python, on local
disks or object stores (:class:`~eoxr.catalog.stacio.StoreFile`)."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from urllib.parse import urlparse

import pystac
from pystac.utils import make_absolute_href
from pystac_client.exceptions import APIError

from ..errors import CatalogError
from .http import Http
from .results import finish
from .stacio import FsspecStacIO, StoreFile


def search_static(path: Path | StoreFile, params, max_items, http: Http) -> pystac.ItemCollection:
    items, catalog = _read_static(path, http)
    return finish(str(path), items, params, max_items, lambda: static_collection_ids(catalog, items))


def _read_static(path: Path | StoreFile, http: Http) -> tuple[list[pystac.Item], pystac.Catalog | None]:
    """Items of a static catalog/collection, ItemCollection, single item or .ndjson file; links to remote
    children are fetched with ``http``'s timeout and retries."""
    href = str(path)
    io = FsspecStacIO(path.storage_options if isinstance(path, StoreFile) else None, http=http)
    try:
        text = io.read_text(href)
        if path.suffix.lower() == ".ndjson":
            dicts = [json.loads(line) for line in text.splitlines() if line.strip()]
            return _anchor_assets([pystac.Item.from_dict(d) for d in dicts], href), None
        data = json.loads(text)
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "FeatureCollection":
            items = list(pystac.ItemCollection.from_dict(data, preserve_dict=False))
            return _anchor_assets(items, href), None
        if kind == "Feature":
            return _anchor_assets([pystac.Item.from_dict(data)], href), None
        if kind in ("Catalog", "Collection"):
            catalog = (pystac.Collection if kind == "Collection" else pystac.Catalog).from_file(href, stac_io=io)
            items = list(catalog.get_items(recursive=True))
            for item in items:
                item.make_asset_hrefs_absolute()  # loaders get paths that do not depend on the cwd
            return items, catalog
    except (OSError, ValueError, KeyError, pystac.STACError, APIError) as err:
        if isinstance(err.__cause__, CatalogError):  # a linked catalog could not be fetched: its message says which
            raise CatalogError(str(err.__cause__)) from None
        raise CatalogError(f"could not read STAC file {path}: {type(err).__name__}: {err}. Check it is valid STAC JSON "
                           "and that the catalogs it links to are reachable.") from None
    raise CatalogError(
        f"{path} is not a STAC Catalog, Collection, Item, FeatureCollection or .ndjson of items; "
        "pass the catalog.json of a static catalog or a file of items."
    )


def _anchor_assets(items: list[pystac.Item], file_href: str) -> list[pystac.Item]:
    """Relative asset hrefs in a file of items are relative to that file: make them absolute."""
    for item in items:
        for asset in item.assets.values():
            if not urlparse(asset.href).scheme and not os.path.isabs(asset.href):
                asset.href = make_absolute_href(asset.href, file_href)
    return items


def static_collection_ids(catalog, items) -> list[str]:
    ids = {item.collection_id for item in items if item.collection_id}
    if catalog is not None:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Falling back to pystac")  # walking links is intended
                ids.update(c.id for c in catalog.get_all_collections())
        except Exception:
            pass  # an API-like client without browsable children: item collections suffice
        if isinstance(catalog, pystac.Collection):
            ids.add(catalog.id)
    return sorted(ids)
