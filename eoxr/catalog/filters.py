"""Search filters: checked and put in the form a STAC API Item Search receives them."""
from __future__ import annotations

import math
import re
from typing import Any

from ..errors import CatalogError

QUERY_OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "in")


def check_paging(limit: int, max_items: int | None) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= 10000:
        raise CatalogError(f"limit={limit!r} is not a page size; pass an integer from 1 to 10000 (default 100).")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise CatalogError(f"max_items={max_items!r}; pass a positive integer, or None for every match.")


def _check_bbox(bbox) -> tuple[float, ...] | None:
    if bbox is None:
        return None
    try:
        values = tuple(float(v) for v in (bbox.split(",") if isinstance(bbox, str) else bbox))
    except (TypeError, ValueError) as err:
        raise CatalogError(f"bbox={bbox!r} is not a list of numbers ({err}); pass [west, south, east, north].") from err
    if len(values) not in (4, 6):
        raise CatalogError(
            f"bbox={bbox!r} has {len(values)} values; pass 4 ([west, south, east, north]) "
            "or 6 ([west, south, min height, east, north, max height])."
        )
    if not all(math.isfinite(v) for v in values):
        raise CatalogError(f"bbox={bbox!r} holds a non-finite value; pass finite degrees.")
    _check_degrees(values)
    half = len(values) // 2
    names = ("west/east", "south/north", "bottom/top")
    for axis in range(half):
        low, high = values[axis], values[axis + half]
        if low > high:
            hint = " To cover an area across the antimeridian, search twice, once on each side." if axis == 0 else ""
            raise CatalogError(
                f"bbox={list(values)}: {names[axis]} = {low} > {high}; the order is "
                f"[west, south, east, north] with west <= east and south <= north.{hint}"
            )
    return values


def _horizontal(bbox) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a 4- or 6-value (with heights) bbox."""
    return (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else tuple(bbox)


def _in_degrees(west, south, east, north) -> bool:
    return all(-180 <= v <= 180 for v in (west, east)) and all(-90 <= v <= 90 for v in (south, north))


def swapped_bbox(bbox) -> tuple[float, float, float, float] | None:
    """The bbox read latitude first (``[south, west, north, east]``) put in STAC order, when that is a valid
    lon/lat box different from ``bbox``; else None."""
    west, south, east, north = _horizontal(bbox)
    swapped = (south, west, north, east)
    return swapped if swapped != (west, south, east, north) and _in_degrees(*swapped) else None


def _check_degrees(values: tuple[float, ...]) -> None:
    """Refuse a bbox outside longitude/latitude ranges, naming the swapped order or projected units."""
    box = _horizontal(values)
    if _in_degrees(*box):
        return
    swapped = swapped_bbox(values)
    if swapped is not None:
        hint = (f"it reads as latitude first ([south, west, north, east]): pass bbox={list(swapped)} "
                "([west, south, east, north], longitude first)")
    elif max(abs(v) for v in box) > 360:
        hint = ("its values look like metres of a projected CRS: search takes WGS84 degrees; convert it, e.g. "
                "pyproj.Transformer.from_crs('EPSG:<code>', 'EPSG:4326', always_xy=True).transform_bounds(*bbox)")
    else:
        hint = "pass [west, south, east, north] in degrees, longitude first"
    raise CatalogError(f"bbox={list(values)} is outside longitude [-180, 180] / latitude [-90, 90]; {hint}.")


def normalise(collections, bbox, datetime, query, ids, intersects, filter=None, filter_lang=None,
              sortby=None) -> dict[str, Any]:
    """Filters in the form a STAC API receives them (as pystac-client formats them for POST)."""
    from pystac_client.item_search import ItemSearch

    bbox = _check_bbox(bbox)
    query = query or None  # an empty query filters nothing
    if query is not None:
        _check_query_shape(query)
    if filter is not None and filter_lang is None:
        filter_lang = "cql2-text" if isinstance(filter, str) else "cql2-json"
    try:
        formatted = ItemSearch(
            url="search", method="POST", collections=collections, bbox=bbox, datetime=datetime,
            query=query, ids=ids, intersects=intersects, filter=filter or None, filter_lang=filter_lang,
            sortby=sortby or None,
        ).get_parameters()
    except Exception as err:  # noqa: BLE001 - pystac-client raises bare Exception for malformed filters
        raise CatalogError(
            f"could not read the search filters ({err}). datetime takes '2023', '2023-06', '2023-06-01', "
            "'2023-06-01T10:00:00Z' or 'start/end' with '..' for an open end; intersects takes a GeoJSON geometry; "
            "sortby takes 'field', '-field' or [{'field': ..., 'direction': 'asc' | 'desc'}]; filter takes "
            "CQL2-JSON (a dict) or CQL2-text (a string)."
        ) from err
    params = dict(formatted)
    params.pop("limit", None)
    if "query" in params:
        _check_query_shape(params["query"])
    return params


def _check_query_strings(query: list) -> None:
    """Each ``"PROPERTY<op>VALUE"`` string reads as one property filter in pystac-client's syntax.

    pystac-client turns the strings into the ``query`` dict (its own parser, as ``stac-client search
    --query``), but it drops a string without an operator (``["cloudy"]`` becomes no filter at all: every
    item matches) and reads ``"platform!=x"`` as a property named ``platform!``; both are refused here.
    """
    from pystac_client.item_search import OPS, ItemSearch

    for expr in query:
        if isinstance(expr, str) and expr.lstrip().startswith("{"):
            continue  # a JSON object, merged by pystac-client
        parsed = ItemSearch(url="search", method="POST", query=[expr]).get_parameters().get("query", {}) \
            if isinstance(expr, str) else {}
        if len(parsed) != 1 or not re.fullmatch(r"[\w:.\-]+", next(iter(parsed))):
            raise CatalogError(f"cannot read query {expr!r}: write PROPERTY<op>VALUE without spaces, op one of "
                               f"{' '.join(OPS)} (<> is 'not equal'), e.g. \"eo:cloud_cover<20\"; or pass a dict "
                               "such as {'eo:cloud_cover': {'lt': 20}}.")


def _check_query_shape(query) -> None:
    if isinstance(query, list):
        _check_query_strings(query)  # the dict pystac-client makes of them is checked after formatting
        return
    if not isinstance(query, dict):
        raise CatalogError(f"query={query!r}; pass a dict such as {{'eo:cloud_cover': {{'lt': 20}}}}.")
    for prop, ops in query.items():
        if not isinstance(ops, dict) or not ops:
            raise CatalogError(f"query[{prop!r}]={ops!r}; pass operators such as {{'lt': 20}} or {{'eq': 'landsat-8'}}.")
        unknown = sorted(set(ops) - set(QUERY_OPERATORS))
        if unknown:
            raise CatalogError(f"query[{prop!r}] uses unknown operator(s) {unknown}; use {list(QUERY_OPERATORS)}.")
        if "in" in ops and not isinstance(ops["in"], (list, tuple)):
            raise CatalogError(f"query[{prop!r}]['in']={ops['in']!r}; pass a list of values.")
