"""The end of a search: filter the items, refuse unknown collections, explain an empty result."""
from __future__ import annotations

from collections.abc import Iterable

import pystac

from ..errors import CatalogError, EmptySearchError
from .match import matches


def _filter_items(items: Iterable[pystac.Item], params: dict) -> list[pystac.Item]:
    return [item for item in items if matches(item, params)]


def finish(source, items, params, max_items, collection_ids) -> pystac.ItemCollection:
    """Filter the items of a static source, refusing unknown collections and empty results."""
    unknown = unknown_collections(params, collection_ids)
    if unknown is not None:
        raise unknown
    items = _filter_items(items, params)
    if not items:
        raise empty_or_unknown(source, params, collection_ids)
    items = items[:max_items] if max_items else items
    return pystac.ItemCollection(items, clone_items=False)


def unknown_collections(params: dict, collection_ids) -> CatalogError | None:
    wanted = params.get("collections")
    if not wanted:
        return None
    available = collection_ids()
    if available is None:
        return None
    missing = [c for c in wanted if c not in available]
    if not missing:
        return None
    return CatalogError(
        f"unknown collection(s) {missing}; the catalog has {available}. Pass one of these as collections=."
    )


def empty_or_unknown(source: str, params: dict, collection_ids) -> CatalogError:
    unknown = unknown_collections(params, collection_ids)
    if unknown is not None:
        return unknown
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no filter"
    advice = []
    if "bbox" in params or "intersects" in params:
        advice.append("enlarge the bbox/intersects area (it is in WGS84 degrees: [west, south, east, north])")
    if "datetime" in params:
        advice.append("lengthen the datetime interval or open one end with '..'")
    if "query" in params:
        advice.append("relax or drop the query (e.g. a higher eo:cloud_cover limit)")
    if "ids" in params:
        advice.append("check the ids")
    if "collections" in params:
        advice.append("add collections")
    advice = "; ".join(advice) if advice else "the catalog holds no item"
    return EmptySearchError(f"no item in {source} matches {shown}. To widen the search: {advice}.")
