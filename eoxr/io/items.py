"""STAC items as plain dicts: from pystac objects, with absolute hrefs and a UTC acquisition time."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from urllib.parse import urljoin, urlparse

import pandas as pd

from ..errors import GridError, MissingVariableError, ParameterError, ReadError
from .assets import eo_bands, native_epsg


def as_item_dicts(items) -> list[dict]:
    """Item dicts (deep copies) from a pystac ItemCollection, a list of pystac Items or of dicts."""
    if isinstance(items, Mapping):
        if items.get("type") == "FeatureCollection":
            items = items["features"]
        else:
            items = [items]
    elif callable(getattr(items, "items", None)):
        items = items.items()  # pystac_client.ItemSearch
    elif isinstance(getattr(items, "items", None), list):
        items = items.items  # pystac.ItemCollection
    elif hasattr(items, "to_dict") and hasattr(items, "assets"):
        items = [items]
    out = []
    for it in items:
        if isinstance(it, Mapping):
            d = copy.deepcopy(dict(it))
        elif hasattr(it, "to_dict"):
            # transform_hrefs=False: resolving links would fetch the root catalog over the network.
            d = it.to_dict(transform_hrefs=False)
            self_href = it.get_self_href() if hasattr(it, "get_self_href") else None
            if self_href and not any(lk.get("rel") == "self" for lk in d.get("links", [])):
                d.setdefault("links", []).append({"rel": "self", "href": self_href})
        else:
            raise ParameterError(f"load() takes STAC items (pystac.Item or dict), got {type(it).__name__}; pass the "
                                 "ItemCollection of eoxr.catalog.search, a list of pystac.Item or of item dicts")
        out.append(d)
    if not out:
        raise MissingVariableError("load() got no STAC item; pass the items of a non-empty search")
    return out


def absolute_href(href: str, item: dict) -> str:
    """Resolve a relative asset href against the item's self link (STAC rule); keep absolute ones."""
    if urlparse(href).scheme or href.startswith("/"):
        return href
    self_href = next((lk["href"] for lk in item.get("links", []) if lk.get("rel") == "self"), None)
    resolved = urljoin(self_href, href) if self_href else href
    if not (urlparse(resolved).scheme or resolved.startswith("/")):
        raise ReadError(
            f"asset href {href!r} of item {item['id']!r} is relative and the item has no absolute self link to "
            "resolve it against; make it absolute (pystac: item.set_self_href(...) then "
            "item.make_asset_hrefs_absolute())"
        )
    return resolved


def item_time(item: dict) -> pd.Timestamp:
    p = item["properties"]
    value = p.get("datetime") or p.get("start_datetime")
    if value is None:
        raise GridError(f"item {item['id']!r} has no datetime; set properties.datetime")
    when = pd.Timestamp(value)
    return when.tz_convert("UTC").tz_localize(None) if when.tzinfo else when


# item fields that say which product the pixels are (surface or top-of-atmosphere reflectance, ...): recorded
# in the loaded Dataset's attrs where every item agrees, so that methods can tell an L2A image from an L1C one
PRODUCT_FIELDS = ("collection", "processing:level", "s2:product_type")


def product_attrs(items: list[dict]) -> dict:
    """The :data:`PRODUCT_FIELDS` (the item's ``collection``, or a property) that every item shares."""
    out = {}
    for key in PRODUCT_FIELDS:
        values = {str(d.get(key) if key == "collection" else d.get("properties", {}).get(key)) for d in items}
        if len(values) == 1 and values != {"None"}:
            out[key] = values.pop()
    return out


def engine_items(items: list[dict], per_item: list[dict]) -> tuple[list[dict], dict[str, tuple[str, str]]]:
    """Items as the engines take them, and ``{href: (item id, band)}`` for the error messages.

    Assets are keyed by the requested names with absolute hrefs, and ``proj:epsg`` is set next to
    ``proj:code`` (stackstac 0.5 only reads proj:epsg).
    """
    where: dict[str, tuple[str, str]] = {}
    out = []
    for it, chosen in zip(items, per_item):
        d = {k: v for k, v in it.items() if k != "assets"}
        d["properties"] = dict(it["properties"])
        epsg_item = native_epsg(it["properties"])
        if epsg_item is not None:
            d["properties"]["proj:epsg"] = epsg_item
        d["assets"] = {}
        for name, info in chosen.items():
            asset = dict(it["assets"][info.key])
            asset["href"] = absolute_href(asset["href"], it)
            if "eo:bands" in asset:  # pre-1.0 items hold indices into the item's eo:bands
                asset["eo:bands"] = eo_bands(asset, it)
            if info.epsg is not None:
                asset["proj:epsg"] = info.epsg
            d["assets"][name] = asset
            where[asset["href"]] = (it["id"], name)
        out.append(d)
    return out, where
