"""``search``: one entry point for STAC APIs, static catalog files and named endpoints."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pystac

from .api import search_api
from .filters import check_paging, normalise
from .signing import signer
from .sources import resolve
from .stacio import StoreFile
from .static import search_static


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
    storage_options: dict | None = None,
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
    storage_options : fsspec options for a static catalog on an object store (``s3://bucket/catalog.json``).

    Raises
    ------
    EmptySearchError : nothing matches (the message repeats the filters and what to widen).
    CatalogError : unknown collection or endpoint name, bad bbox/datetime/query, API unreachable.
    """
    check_paging(limit, max_items, retries, backoff)
    params = normalise(collections, bbox, datetime, query, ids, intersects)
    target, entry = resolve(source, storage_options)
    sign_items = signer(target, sign, entry)
    if isinstance(target, (Path, StoreFile)):
        found = search_static(target, params, max_items)
    else:
        found = search_api(target, params, max_items, limit, retries, backoff, timeout)
    if sign_items is not None:
        sign_items(found)  # one SAS token per storage container, cached by planetary_computer
    return found
