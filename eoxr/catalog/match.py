"""Whether an item passes the filters, with the semantics of STAC API Item Search."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime as _datetime
from datetime import timezone

import pystac

from ..errors import CatalogError
from .filters import QUERY_OPERATORS, _horizontal


def matches(item: pystac.Item, params: dict) -> bool:
    """Whether ``item`` passes every filter, with STAC API Item Search semantics."""
    if "ids" in params and item.id not in params["ids"]:
        return False
    if "collections" in params and item.collection_id not in params["collections"]:
        return False
    if "bbox" in params and not _bbox_hits(item, params["bbox"]):
        return False
    if "intersects" in params and not _geometry_hits(item, params["intersects"]):
        return False
    if "datetime" in params and not _time_hits(item, params["datetime"]):
        return False
    if "query" in params and not match_query(item.properties, params["query"]):
        return False
    return True


def _item_bounds(item: pystac.Item) -> tuple[float, float, float, float] | None:
    if item.bbox:
        return _horizontal(item.bbox)
    if item.geometry:
        from shapely.geometry import shape

        return tuple(shape(item.geometry).bounds)
    return None


def _bbox_hits(item: pystac.Item, bbox: Sequence[float]) -> bool:
    box = _horizontal(bbox)
    bounds = _item_bounds(item)
    if bounds is None:
        return False
    west, south, east, north = bounds
    if west > east:  # item bbox across the antimeridian: test both halves
        return _boxes_overlap((west, south, 180.0, north), box) or _boxes_overlap((-180.0, south, east, north), box)
    if not _boxes_overlap(bounds, box):
        return False
    if item.geometry:  # the API tests the footprint, not only its bounding box
        from shapely.geometry import box as make_box

        return _footprint(item).intersects(make_box(*box))
    return True


def _boxes_overlap(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _footprint(item: pystac.Item):
    """The item geometry as a valid shapely geometry (some recorded footprints self-intersect)."""
    import shapely
    from shapely.geometry import shape

    geometry = shape(item.geometry)
    return geometry if geometry.is_valid else shapely.make_valid(geometry)


def _geometry_hits(item: pystac.Item, geometry: dict) -> bool:
    from shapely.geometry import box, shape

    if item.geometry:
        return _footprint(item).intersects(shape(geometry))
    bounds = _item_bounds(item)
    return bounds is not None and box(*bounds).intersects(shape(geometry))


def _parse_instant(text: str) -> _datetime:
    from pystac.utils import str_to_datetime

    moment = str_to_datetime(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _time_hits(item: pystac.Item, interval: str) -> bool:
    """Closed-interval overlap of the item's [start, end] with the searched instant or interval."""
    props = item.properties
    start_text = props.get("start_datetime") or props.get("datetime")
    end_text = props.get("end_datetime") or props.get("datetime")
    if not start_text or not end_text:
        return False
    item_start, item_end = _parse_instant(start_text), _parse_instant(end_text)
    low, slash, high = interval.partition("/")
    if not slash:
        moment = _parse_instant(low)
        return item_start <= moment <= item_end
    if low not in ("", "..") and item_end < _parse_instant(low):
        return False
    if high not in ("", "..") and item_start > _parse_instant(high):
        return False
    return True


def match_query(properties: dict, query: dict) -> bool:
    """The STAC ``query`` extension: every operator of every property must hold."""
    for prop, ops in query.items():
        if prop not in properties or properties[prop] is None:
            return False
        value = properties[prop]
        for op, wanted in ops.items():
            if not _compare(value, op, wanted):
                return False
    return True


def _compare(value, op: str, wanted) -> bool:
    if op == "in":
        return any(_compare(value, "eq", w) for w in wanted)
    value, wanted = _comparable(value, wanted)
    try:
        if op == "eq":
            return value == wanted
        if op == "neq":
            return value != wanted
        if op == "lt":
            return value < wanted
        if op == "lte":
            return value <= wanted
        if op == "gt":
            return value > wanted
        if op == "gte":
            return value >= wanted
    except TypeError:
        return False  # a number compared with a string matches nothing, as in the APIs
    raise CatalogError(f"unknown query operator {op!r}; use {list(QUERY_OPERATORS)}.")


def _comparable(value, wanted):
    """Numbers written as strings (``["eo:cloud_cover<10"]``) compare as numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(wanted, str):
        try:
            return value, float(wanted)
        except ValueError:
            return value, wanted
    return value, wanted


def sort_items(items: list[pystac.Item], sortby: list[dict] | None) -> list[pystac.Item]:
    """``items`` ordered as the STAC Sort extension orders them: by each ``{"field", "direction"}`` in turn
    (``id``, ``collection`` or a property, ``properties.`` prefix optional); items lacking a field go last."""
    for key in reversed(sortby or []):  # stable sorts, least significant key first
        field, descending = key["field"], key.get("direction", "asc") == "desc"
        values = {id(item): _sort_value(item, field) for item in items}
        present = [item for item in items if values[id(item)] is not None]
        try:
            present.sort(key=lambda item: values[id(item)], reverse=descending)
        except TypeError as err:
            raise CatalogError(
                f"sortby field {field!r} holds values of different types ({err}); sort by a field whose values "
                "are all numbers, all text or all dates."
            ) from None
        items = present + [item for item in items if values[id(item)] is None]
    return items


def _sort_value(item: pystac.Item, field: str):
    if field == "id":
        return item.id
    if field == "collection":
        return item.collection_id
    name = field.removeprefix("properties.")
    value = item.properties.get(name)
    if isinstance(value, str) and name.endswith("datetime"):
        return _parse_instant(value)
    return value
