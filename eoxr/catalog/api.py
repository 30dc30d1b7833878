"""Item Search on a STAC API with pystac-client: retries with back-off, paging, client-side ``query``."""
from __future__ import annotations

import warnings

import pystac

from ..errors import CatalogError
from .match import match_query
from .results import empty_or_unknown, finish, unknown_collections
from .static import static_collection_ids

RETRY_STATUS = (429, 500, 502, 503, 504)


def search_api(url, params, max_items, limit, retries, backoff, timeout) -> pystac.ItemCollection:
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
        return finish(url, items, params, max_items, lambda: static_collection_ids(client, items))
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
            if client_query and not match_query(item.get("properties", {}), client_query):
                continue
            found.append(item)
            if max_items and len(found) >= max_items:
                break
    except Exception as err:
        unknown = unknown_collections(params, lambda: _api_collection_ids(client))
        if unknown:
            raise unknown from err
        raise _unreachable(url, retries, err, what="search") from err
    if not found:
        raise empty_or_unknown(url, params, lambda: _api_collection_ids(client))
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
        raise unknown_collections({"collections": missing}, lambda: _api_collection_ids(client)) or CatalogError(
            f"unknown collection(s) {missing} at {client.get_self_href()}; list them with "
            "pystac_client.Client.open(url).get_collections()."
        )


def _api_collection_ids(client) -> list[str] | None:
    try:
        return sorted(c.id for c in client.get_collections())
    except Exception:
        return None  # the API lists no collections: nothing to compare with
