"""``search``: one entry point for STAC APIs, static catalog files and named endpoints."""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pystac

from .api import search_api
from .filters import check_paging, normalise
from .http import Http
from .results import no_match
from .signing import signer
from .sources import resolve
from .stacio import StoreFile
from .static import search_static

logger = logging.getLogger(__name__)


def search(
    source: str | os.PathLike,
    *,
    collections: str | Sequence[str] | None = None,
    bbox: Sequence[float] | str | None = None,
    datetime: Any = None,
    query: dict | list[str] | None = None,
    ids: str | Sequence[str] | None = None,
    intersects: dict | Any = None,
    filter: dict | str | None = None,  # noqa: A002 - the STAC API parameter's name
    filter_lang: str | None = None,
    sortby: str | Sequence | None = None,
    max_items: int | None = None,
    limit: int = 100,
    retries: int = 3,
    backoff: float = 0.5,
    sign: bool | None = None,
    timeout: float = 30.0,
    require_items: bool = False,
    storage_options: dict | None = None,
) -> pystac.ItemCollection:
    """Search a STAC API, a static catalog file or a named endpoint; return the matching items.

    Parameters
    ----------
    source : API URL, path of a static catalog/collection/ItemCollection/.ndjson file, or a name
        from :func:`endpoints`.
    collections, ids : one id, a comma-separated string, or a sequence of ids.
    bbox : ``[west, south, east, north]`` in degrees (WGS84, longitude first), or 6 values with heights.
    datetime : an instant or interval as pystac-client takes it (``"2023-06"``, ``"2023-06-01/.."``,
        ``(start, end)`` with datetimes or None for an open end).
    query : STAC ``query`` extension filter, e.g. ``{"eo:cloud_cover": {"lt": 20}}``, or strings
        ``["eo:cloud_cover<20", "platform<>landsat-9"]`` read by pystac-client's parser (as ``stac-client
        search --query``; operators ``= <> < <= > >=``; a string it cannot read raises :class:`CatalogError`);
        applied client-side where the API does not implement it.
    intersects : a GeoJSON geometry (or Feature, or object with ``__geo_interface__``) in WGS84.
    filter, filter_lang : a CQL2 filter (STAC API Filter extension): CQL2-JSON as a dict or CQL2-text as a
        string (``filter_lang`` defaults to ``"cql2-json"`` / ``"cql2-text"`` accordingly). Sent to APIs that
        advertise ``.../item-search#filter``; others (and static catalogs) raise :class:`CatalogError`.
    sortby : ``"-properties.datetime"``, a list of such fields (``+``/``-`` for ascending/descending) or
        ``[{"field": ..., "direction": "asc" | "desc"}]``. Sent to APIs that advertise
        ``.../item-search#sort`` (others raise :class:`CatalogError`); applied here on static catalogs.
    max_items : stop after this many items (None: all).
    limit : page size asked of the API (1..10000).
    retries, backoff : retries of failed or timed-out connections and of 429/5xx answers, with a sleep of
        ``backoff * 2**(n-1)`` seconds before the n-th retry (from the second on).
    sign : sign asset hrefs with ``planetary_computer.sign_inplace``. None: sign when the source is
        the Planetary Computer API (or a named endpoint marked ``sign``) and the package is installed.
    timeout : seconds to wait for each HTTP connection and for each answer. A request takes at most
        ``(retries + 1) * timeout`` seconds plus the back-off sleeps.
    storage_options : fsspec options for a static catalog on an object store (``s3://bucket/catalog.json``).
    require_items : raise :class:`EmptySearchError` when nothing matches, instead of returning an empty
        ItemCollection.

    Returns
    -------
    pystac.ItemCollection
        The matching items; empty when nothing matches (logged at INFO on the ``eoxr.catalog`` logger with
        the filters and what to widen), as pystac-client returns it.

    Raises
    ------
    EmptySearchError : nothing matches and ``require_items=True`` (the message repeats the filters and says
        what to widen).
    CatalogError : unknown collection or endpoint name, bad bbox/datetime/query/filter/sortby, a filter or
        sortby the API does not implement, API unreachable or silent (the message names the URL).
    """
    check_paging(limit, max_items)
    http = Http(timeout=timeout, retries=retries, backoff=backoff)
    http.check()
    params = normalise(collections, bbox, datetime, query, ids, intersects, filter, filter_lang, sortby)
    target, entry = resolve(source, storage_options)
    sign_items = signer(target, sign, entry)
    if isinstance(target, (Path, StoreFile)):
        found = search_static(target, params, max_items, http)
    else:
        found = search_api(target, params, max_items, limit, http)
    if not len(found):
        empty = no_match(str(target), params)
        if require_items:
            raise empty
        logger.info("%s", empty)
    found = found if isinstance(found, pystac.ItemCollection) else pystac.ItemCollection(found, clone_items=False)
    if sign_items is not None:
        sign_items(found)  # one SAS token per storage container, cached by planetary_computer
    return found
