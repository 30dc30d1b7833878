"""The end of a search: filter and sort the items of static sources, refuse unknown collections, and say what
to widen when nothing matched."""
from __future__ import annotations

from collections.abc import Iterable

import pystac

from ..errors import CatalogError, EmptySearchError
from .filters import swapped_bbox
from .match import matches, sort_items


def _filter_items(items: Iterable[pystac.Item], params: dict) -> list[pystac.Item]:
    return [item for item in items if matches(item, params)]


def finish(source, items, params, max_items, collection_ids) -> list[pystac.Item]:
    """The items of a static source that match ``params``, sorted by its ``sortby``, at most ``max_items``."""
    if "filter" in params:
        raise CatalogError(
            f"{source} is a static catalog, filtered in Python, which does not evaluate CQL2: filter= needs a "
            "STAC API that conforms to https://api.stacspec.org/v1.0.0-rc.2/item-search#filter. Use query= "
            "(eq, neq, lt, lte, gt, gte, in on properties) instead, or serve the catalog through such an API."
        )
    unknown = unknown_collections(params, collection_ids)
    if unknown is not None:
        raise unknown
    items = sort_items(_filter_items(items, params), params.get("sortby"))
    return items[:max_items] if max_items else items


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


def no_match(source: str, params: dict) -> EmptySearchError:
    """What to widen when ``params`` matched nothing in ``source``."""
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "no filter"
    advice = []
    if "bbox" in params:
        advice.append(_bbox_advice(params["bbox"]))
    if "intersects" in params:
        advice.append("enlarge the intersects geometry (GeoJSON, WGS84 [longitude, latitude] order)")
    if "datetime" in params:
        advice.append("lengthen the datetime interval or open one end with '..'")
    if "query" in params:
        advice.append("relax or drop the query (e.g. a higher eo:cloud_cover limit)")
    if "filter" in params:
        advice.append("relax or drop the CQL2 filter")
    if "ids" in params:
        advice.append("check the ids")
    if "collections" in params:
        advice.append("add collections")
    advice = "; ".join(advice) if advice else "the catalog holds no item"
    return EmptySearchError(f"no item in {source} matches {shown}. To widen the search: {advice}.")


def _bbox_advice(bbox) -> str:
    advice = "enlarge the bbox (WGS84 degrees, [west, south, east, north], longitude first)"
    swapped = swapped_bbox(bbox)
    if swapped is not None:
        advice += (f"; if {list(bbox)} was written latitude first ([south, west, north, east]), "
                   f"pass bbox={list(swapped)}")
    return advice
