"""STAC search: one function for STAC APIs, static catalogs and named endpoints.

``search(source, ...)`` returns a :class:`pystac.ItemCollection` whatever the source is:

* a STAC API URL, searched with pystac-client (Item Search, paged with ``limit``, retried on
  429/500/502/503/504 with exponential back-off);
* a local static catalog or collection JSON, an ItemCollection / FeatureCollection (``.json``,
  ``.geojson``) or newline-delimited items (``.ndjson``), filtered in Python with the semantics of
  STAC API Item Search (bbox and geometry intersection, closed or open datetime intervals, partial
  dates such as ``"2023-06"`` expanded as pystac-client expands them, ids, collections and the
  ``query`` extension's eq/neq/lt/lte/gt/gte/in operators);
* a name from ``catalogs/endpoints.yaml`` (``endpoints()`` lists them).

An API that does not advertise the ``query`` conformance class (``.../item-search#query``) is sent the
other filters only, and ``query`` is applied client-side to the pages it returns, so ``query`` means the
same thing everywhere. ``max_items`` then counts the items that pass the client-side filter.

The module also keeps an intake 2 catalog of Zarr datacubes (``register_cube`` / ``open_cube``).
"""
from __future__ import annotations

import importlib
import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime as _datetime
from datetime import timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pystac

from .errors import CatalogError, EmptySearchError

RETRY_STATUS = (429, 500, 502, 503, 504)
PLANETARY_COMPUTER_HOST = "planetarycomputer.microsoft.com"
QUERY_OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "in")
_REPO_CATALOGS = Path(__file__).resolve().parents[1] / "catalogs"
_STATIC_SUFFIXES = (".json", ".geojson", ".ndjson")


# --------------------------------------------------------------------------- named endpoints


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


# --------------------------------------------------------------------------- search


def search(
    source: str | os.PathLike,
    *,
    collections: str | Sequence[str] | None = None,
    bbox: Sequence[float] | str | None = None,
    datetime: Any = None,
    query: dict | list[str] | None = None,
    ids: str | Sequence[str] | None = None,
    intersects: dict | Any = None,
    max_items: int | None = None,
    limit: int = 100,
    retries: int = 3,
    backoff: float = 0.5,
    sign: bool | None = None,
    timeout: float = 30.0,
) -> pystac.ItemCollection:
    """Search a STAC API, a static catalog file or a named endpoint; return the matching items.

    Parameters
    ----------
    source : API URL, path of a static catalog/collection/ItemCollection/.ndjson file, or a name
        from :func:`endpoints`.
    collections, ids : one id, a comma-separated string, or a sequence of ids.
    bbox : ``[west, south, east, north]`` in degrees (WGS84), or 6 values with heights.
    datetime : an instant or interval as pystac-client takes it (``"2023-06"``, ``"2023-06-01/.."``,
        ``(start, end)`` with datetimes or None for an open end).
    query : STAC ``query`` extension filter, e.g. ``{"eo:cloud_cover": {"lt": 20}}`` or
        ``["eo:cloud_cover<20"]``.
    intersects : a GeoJSON geometry (or Feature, or object with ``__geo_interface__``) in WGS84.
    max_items : stop after this many items (None: all).
    limit : page size asked of the API (1..10000).
    retries, backoff : urllib3 retries of failed connections and of 429/5xx answers, with a sleep of
        ``backoff * 2**(n-1)`` seconds before the n-th retry.
    sign : sign asset hrefs with ``planetary_computer.sign_inplace``. None: sign when the source is
        the Planetary Computer API (or a named endpoint marked ``sign``) and the package is installed.
    timeout : seconds to wait for each HTTP connect and read.

    Raises
    ------
    EmptySearchError : nothing matches (the message repeats the filters and what to widen).
    CatalogError : unknown collection or endpoint name, bad bbox/datetime/query, API unreachable.
    """
    _check_paging(limit, max_items, retries, backoff)
    params = _normalise(collections, bbox, datetime, query, ids, intersects)
    target, entry = _resolve(source)
    signer = _signer(target, sign, entry)
    if isinstance(target, Path):
        found = _search_static(target, params, max_items)
    else:
        found = _search_api(target, params, max_items, limit, retries, backoff, timeout)
    if signer is not None:
        signer(found)  # one SAS token per storage container, cached by planetary_computer
    return found


def _check_paging(limit: int, max_items: int | None, retries: int, backoff: float) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= 10000:
        raise CatalogError(f"limit={limit!r} is not a page size; pass an integer from 1 to 10000 (default 100).")
    if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
        raise CatalogError(f"max_items={max_items!r}; pass a positive integer, or None for every match.")
    if not isinstance(retries, int) or retries < 0 or backoff < 0:
        raise CatalogError(f"retries={retries!r}, backoff={backoff!r}; pass retries >= 0 and backoff >= 0 seconds.")


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


def _normalise(collections, bbox, datetime, query, ids, intersects) -> dict[str, Any]:
    """Filters in the form a STAC API receives them (as pystac-client formats them for POST)."""
    from pystac_client.item_search import ItemSearch

    bbox = _check_bbox(bbox)
    query = query or None  # an empty query filters nothing
    if query is not None:
        _check_query_shape(query)
    try:
        formatted = ItemSearch(
            url="search", method="POST", collections=collections, bbox=bbox, datetime=datetime,
            query=query, ids=ids, intersects=intersects,
        ).get_parameters()
    except Exception as err:  # pystac-client raises bare Exception for malformed filters
        raise CatalogError(
            f"could not read the search filters ({err}). datetime takes '2023', '2023-06', '2023-06-01', "
            "'2023-06-01T10:00:00Z' or 'start/end' with '..' for an open end; intersects takes a GeoJSON geometry."
        ) from err
    params = dict(formatted)
    params.pop("limit", None)
    if "query" in params:
        _check_query_shape(params["query"])
    return params


def _check_query_shape(query) -> None:
    if isinstance(query, list):
        return  # ["eo:cloud_cover<10"] strings: checked after pystac-client turned them into a dict
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


def _resolve(source) -> tuple[str | Path, dict | None]:
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


# --------------------------------------------------------------------------- signing


def _signer(target, sign: bool | None, entry: dict | None):
    """``planetary_computer.sign_inplace`` when signing is asked for or automatic, else None."""
    if sign is False:
        return None
    if sign is None:
        is_pc = isinstance(target, str) and urlparse(target).hostname == PLANETARY_COMPUTER_HOST
        wanted = is_pc or bool(entry and entry.get("sign"))
        if not wanted:
            return None
        try:
            import planetary_computer
        except ImportError:
            warnings.warn(
                f"{target} serves assets that need signing, but planetary-computer is not installed: reading "
                "them will fail with 403. pip install planetary-computer (or eoxr[pc]), or pass sign=False.",
                stacklevel=3,
            )
            return None
        return planetary_computer.sign_inplace
    try:
        import planetary_computer
    except ImportError as err:
        raise CatalogError(
            "sign=True needs the planetary-computer package: pip install planetary-computer "
            "(or eoxr[pc]); or pass sign=False."
        ) from err
    return planetary_computer.sign_inplace


# --------------------------------------------------------------------------- STAC API


def _search_api(url, params, max_items, limit, retries, backoff, timeout) -> pystac.ItemCollection:
    from pystac_client import Client
    from pystac_client.conformance import ConformanceClasses
    from pystac_client.stac_api_io import StacApiIO
    from pystac_client.warnings import FallbackToPystac, NoConformsTo
    from urllib3 import Retry

    retry = Retry(
        total=retries, connect=retries, read=retries, status=retries, other=0,
        backoff_factor=backoff, status_forcelist=RETRY_STATUS,
        allowed_methods=frozenset({"GET", "POST", "HEAD"}),  # search is a POST: retry it too
        raise_on_status=True, respect_retry_after_header=True,
    )
    stac_io = StacApiIO(max_retries=retry, timeout=timeout)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoConformsTo)  # a static catalog over HTTP has none: walked below
            client = Client.open(url, stac_io=stac_io)
    except Exception as err:
        raise _unreachable(url, retries, err) from err
    if not client.conforms_to(ConformanceClasses.ITEM_SEARCH):
        # a static catalog served over HTTP: walk it and filter here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackToPystac)  # walking the links is the intent here
            items = list(client.get_items(recursive=True))
        return _finish(url, items, params, max_items, lambda: _static_collection_ids(client, items))
    _check_api_collections(client, params)

    server_params = dict(params)
    client_query = None
    if "query" in params and not client.conforms_to(ConformanceClasses.QUERY):
        client_query = server_params.pop("query")  # the API does not implement it: filter its pages here
    advertised = {link.extra_fields.get("method", "GET") or "GET" for link in client.get_links("search")}
    method = "POST" if "POST" in advertised or not advertised else "GET"
    item_search = client.search(
        method=method, limit=limit, max_items=None if client_query else max_items, **server_params,
    )
    found = []
    try:
        for item in item_search.items_as_dicts():
            if client_query and not _match_query(item.get("properties", {}), client_query):
                continue
            found.append(item)
            if max_items and len(found) >= max_items:
                break
    except Exception as err:
        unknown = _unknown_collections(params, lambda: _api_collection_ids(client))
        if unknown:
            raise unknown from err
        raise _unreachable(url, retries, err, what="search") from err
    if not found:
        raise _empty_or_unknown(url, params, lambda: _api_collection_ids(client))
    return pystac.ItemCollection.from_dict(
        {"type": "FeatureCollection", "features": found}, preserve_dict=False, root=client
    )


def _unreachable(url: str, retries: int, err: Exception, what: str = "open") -> CatalogError:
    return CatalogError(
        f"could not {what} the STAC API at {url} after {retries} retries: {type(err).__name__}: {err}. "
        "Check the URL and your network (or proxy), raise retries=/backoff= for a flaky server, "
        "or search a local static catalog instead."
    )


def _check_api_collections(client, params: dict) -> None:
    """Refuse a collection id the API does not have (one light GET /collections/{id} per id)."""
    from pystac_client.conformance import ConformanceClasses

    wanted = params.get("collections")
    if not wanted or not (client.conforms_to(ConformanceClasses.COLLECTIONS)
                          or client.conforms_to(ConformanceClasses.FEATURES)):
        return
    try:
        missing = [cid for cid in wanted if client.get_collection(cid) is None]
    except Exception:
        return  # the API cannot say; an empty search is checked again afterwards
    if missing:
        raise _unknown_collections({"collections": missing}, lambda: _api_collection_ids(client)) or CatalogError(
            f"unknown collection(s) {missing} at {client.get_self_href()}; list them with "
            "pystac_client.Client.open(url).get_collections()."
        )


def _api_collection_ids(client) -> list[str] | None:
    try:
        return sorted(c.id for c in client.get_collections())
    except Exception:
        return None  # the API lists no collections: nothing to compare with


# --------------------------------------------------------------------------- static catalogs


def _search_static(path: Path, params, max_items) -> pystac.ItemCollection:
    items, catalog = _read_static(path)
    return _finish(str(path), items, params, max_items, lambda: _static_collection_ids(catalog, items))


def _read_static(path: Path) -> tuple[list[pystac.Item], pystac.Catalog | None]:
    """Items of a static catalog/collection, ItemCollection, single item or .ndjson file."""
    try:
        if path.suffix.lower() == ".ndjson":
            with path.open() as lines:
                dicts = [json.loads(line) for line in lines if line.strip()]
            return _anchor_assets([pystac.Item.from_dict(d) for d in dicts], path.parent), None
        data = json.loads(path.read_text())
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "FeatureCollection":
            items = list(pystac.ItemCollection.from_dict(data, preserve_dict=False))
            return _anchor_assets(items, path.parent), None
        if kind == "Feature":
            return _anchor_assets([pystac.Item.from_dict(data)], path.parent), None
        if kind in ("Catalog", "Collection"):
            catalog = pystac.read_file(str(path))
            items = list(catalog.get_items(recursive=True))
            for item in items:
                item.make_asset_hrefs_absolute()  # loaders get paths that do not depend on the cwd
            return items, catalog
    except (OSError, ValueError, KeyError, pystac.STACError) as err:
        raise CatalogError(f"could not read STAC file {path}: {type(err).__name__}: {err}. Check it is valid STAC JSON.") from err
    raise CatalogError(
        f"{path} is not a STAC Catalog, Collection, Item, FeatureCollection or .ndjson of items; "
        "pass the catalog.json of a static catalog or a file of items."
    )


def _anchor_assets(items: list[pystac.Item], folder: Path) -> list[pystac.Item]:
    """Relative asset hrefs in a file of items are relative to that file: make them absolute paths."""
    for item in items:
        for asset in item.assets.values():
            if not urlparse(asset.href).scheme and not os.path.isabs(asset.href):
                asset.href = os.path.normpath(folder / asset.href)
    return items


def _static_collection_ids(catalog, items) -> list[str]:
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


def _filter_items(items: Iterable[pystac.Item], params: dict) -> list[pystac.Item]:
    return [item for item in items if _match(item, params)]


def _finish(source, items, params, max_items, collection_ids) -> pystac.ItemCollection:
    """Filter the items of a static source, refusing unknown collections and empty results."""
    unknown = _unknown_collections(params, collection_ids)
    if unknown is not None:
        raise unknown
    items = _filter_items(items, params)
    if not items:
        raise _empty_or_unknown(source, params, collection_ids)
    items = items[:max_items] if max_items else items
    return pystac.ItemCollection(items, clone_items=False)


# --------------------------------------------------------------------------- item matching


def _match(item: pystac.Item, params: dict) -> bool:
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
    if "query" in params and not _match_query(item.properties, params["query"]):
        return False
    return True


def _item_bounds(item: pystac.Item) -> tuple[float, float, float, float] | None:
    if item.bbox:
        b = item.bbox
        return (b[0], b[1], b[3], b[4]) if len(b) == 6 else tuple(b)
    if item.geometry:
        from shapely.geometry import shape

        return tuple(shape(item.geometry).bounds)
    return None


def _bbox_hits(item: pystac.Item, bbox: Sequence[float]) -> bool:
    box = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else tuple(bbox)
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


def _match_query(properties: dict, query: dict) -> bool:
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


# --------------------------------------------------------------------------- errors for empty searches


def _unknown_collections(params: dict, collection_ids) -> CatalogError | None:
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


def _empty_or_unknown(source: str, params: dict, collection_ids) -> CatalogError:
    unknown = _unknown_collections(params, collection_ids)
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


# --------------------------------------------------------------------------- intake catalog of datacubes


DEFAULT_CUBE_CATALOG = "catalogs/datacubes.yaml"


def _cube_catalog_path(catalog_path) -> Path:
    if str(catalog_path) == DEFAULT_CUBE_CATALOG:
        return catalogs_dir() / "datacubes.yaml"  # the default lives beside endpoints.yaml, whatever the cwd
    return Path(catalog_path).expanduser()


def register_cube(name: str, zarr_path, catalog_path=DEFAULT_CUBE_CATALOG, description: str = "") -> Path:
    """Add (or replace) the Zarr datacube ``zarr_path`` as entry ``name`` of an intake 2 YAML catalog.

    A cube inside the catalog's folder is stored relative to it (``{CATALOG_DIR}/...``) so the folder can
    move; others are stored as absolute paths. Returns the catalog path.
    """
    from intake.readers.datatypes import Zarr
    from intake.readers.entry import Catalog
    from intake.readers.readers import XArrayDatasetReader

    import intake

    if not name or not isinstance(name, str):
        raise CatalogError(f"name={name!r}; pass a non-empty string to name the cube in the catalog.")
    cube = Path(zarr_path).expanduser().resolve()
    if not (cube / "zarr.json").is_file() and not (cube / ".zgroup").is_file():
        raise CatalogError(f"{cube} is not a Zarr group (no zarr.json or .zgroup); write the cube first (eoxr.cube.write).")
    path = _cube_catalog_path(catalog_path)
    catalog = intake.from_yaml_file(str(path)) if path.is_file() else Catalog()
    if name in catalog.entries:
        _drop_entry(catalog, name)
    folder = path.resolve().parent
    url = f"{{CATALOG_DIR}}/{cube.relative_to(folder).as_posix()}" if cube.is_relative_to(folder) else str(cube)
    reader = XArrayDatasetReader(
        Zarr(url=url), engine="zarr", chunks={}, consolidated=_has_consolidated_metadata(cube),
        metadata={"description": description, "registered_by": "eoxr.catalog.register_cube"},
    )
    catalog[name] = reader
    path.parent.mkdir(parents=True, exist_ok=True)
    for up in ("CATALOG_DIR", "CATALOG_PATH", "STORAGE_OPTIONS"):
        catalog.user_parameters.pop(up, None)  # set again by from_yaml_file where the file is read
    partial = path.with_name(path.name + ".partial")
    catalog.to_yaml_file(str(partial))
    os.replace(partial, path)  # an interrupted write leaves the previous catalog intact
    return path


def _drop_entry(catalog, name: str) -> None:
    """Remove entry ``name`` and the data descriptions only it refers to (intake's delete cannot recurse)."""
    import re

    def data_refs(entry) -> set[str]:
        return set(re.findall(r"\{data\(([^)]+)\)\}", json.dumps(entry.kwargs, default=str)))

    entry = catalog.entries.pop(name)
    still_used = set().union(*(data_refs(e) for e in catalog.entries.values()))
    for token in data_refs(entry) - still_used:
        catalog.data.pop(token, None)
    catalog.aliases = {a: t for a, t in catalog.aliases.items() if t != name and a != name}


def _has_consolidated_metadata(cube: Path) -> bool:
    if (cube / ".zmetadata").is_file():
        return True
    root = cube / "zarr.json"
    if root.is_file():
        return json.loads(root.read_text()).get("consolidated_metadata") is not None
    return False


def cubes(catalog_path=DEFAULT_CUBE_CATALOG) -> dict[str, str]:
    """``{name: description}`` of the datacubes registered in the intake catalog."""
    catalog = _open_cube_catalog(catalog_path)
    return {name: entry.metadata.get("description", "") for name, entry in sorted(catalog.entries.items())}


def _open_cube_catalog(catalog_path):
    import intake

    path = _cube_catalog_path(catalog_path)
    if not path.is_file():
        raise CatalogError(f"no datacube catalog at {path}; register a cube first with eoxr.catalog.register_cube(name, zarr_path).")
    return intake.from_yaml_file(str(path))


def open_cube(name: str, catalog_path=DEFAULT_CUBE_CATALOG):
    """Open the registered datacube ``name`` as a lazy (dask-backed) :class:`xarray.Dataset`."""
    catalog = _open_cube_catalog(catalog_path)
    if name not in catalog.entries:
        raise CatalogError(
            f"no datacube {name!r} in {_cube_catalog_path(catalog_path)}; it has {sorted(catalog.entries)}. "
            "Register it with eoxr.catalog.register_cube(name, zarr_path)."
        )
    try:
        return catalog[name].read()
    except (OSError, ValueError, KeyError) as err:
        raise CatalogError(f"datacube {name!r} in {catalog_path} could not be opened: {type(err).__name__}: {err}.") from err


__all__ = ["search", "endpoints", "catalogs_dir", "register_cube", "open_cube", "cubes", "RETRY_STATUS"]
