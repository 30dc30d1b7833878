"""Item Search on a STAC API with pystac-client: bounded, retried requests, paging, client-side ``query``,
CQL2 ``filter`` and ``sortby`` where the API conforms to them."""
from __future__ import annotations

import warnings

import pystac

from ..errors import CatalogError
from .http import Http, open_client, request_failed
from .match import match_query
from .results import finish, unknown_collections
from .static import static_collection_ids

# Search parameters an API must advertise a conformance class for: (parameter, class name, what it is).
_NEEDS_CONFORMANCE = (
    ("filter", "FILTER", "the Filter extension (CQL2)"),
    ("sortby", "SORT", "the Sort extension"),
)


def search_api(url, params, max_items, limit, http: Http) -> list[dict] | pystac.ItemCollection:
    """Items of ``url`` matching ``params``: an ItemCollection, or an empty list when nothing matches."""
    from pystac_client.conformance import ConformanceClasses
    from pystac_client.warnings import FallbackToPystac

    client = open_client(url, http)
    if not client.conforms_to(ConformanceClasses.ITEM_SEARCH):
        # a static catalog served over HTTP: walk it and filter here
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FallbackToPystac)  # walking the links is the intent here
                items = list(client.get_items(recursive=True))
        except Exception as err:  # noqa: BLE001 - any failure to fetch a child or an item
            failure = request_failed(url, err, http, "walk the static catalog at")
        else:
            return finish(url, items, params, max_items, lambda: static_collection_ids(client, items))
        raise failure  # outside the except block, as in open_client
    _check_conformance(client, url, params)
    _check_api_collections(client, params)

    server_params = dict(params)
    if "filter-lang" in server_params:
        server_params["filter_lang"] = server_params.pop("filter-lang")  # the keyword of Client.search
    client_query = None
    if "query" in params and not client.conforms_to(ConformanceClasses.QUERY):
        client_query = server_params.pop("query")  # the API does not implement it: filter its pages here
    advertised = {link.extra_fields.get("method", "GET") or "GET" for link in client.get_links("search")}
    method = "POST" if "POST" in advertised or not advertised else "GET"
    item_search = client.search(
        method=method, limit=limit, max_items=None if client_query else max_items, **server_params,
    )
    found, failure = [], None
    try:
        for item in item_search.items_as_dicts():
            if client_query and not match_query(item.get("properties", {}), client_query):
                continue
            found.append(item)
            if max_items and len(found) >= max_items:
                break
    except Exception as err:  # noqa: BLE001 - requests, urllib3 and pystac-client errors
        failure = unknown_collections(params, lambda: _api_collection_ids(client)) \
            or request_failed(url, err, http, "search the STAC API at")
    if failure is not None:
        raise failure
    if not found:
        unknown = unknown_collections(params, lambda: _api_collection_ids(client))
        if unknown is not None:
            raise unknown
        return []
    return pystac.ItemCollection.from_dict(
        {"type": "FeatureCollection", "features": found}, preserve_dict=False, root=client
    )


def _check_conformance(client, url: str, params: dict) -> None:
    """Refuse a parameter the API does not implement: it would ignore it and return unfiltered items."""
    from pystac_client.conformance import ConformanceClasses

    for parameter, name, extension in _NEEDS_CONFORMANCE:
        conformance = ConformanceClasses[name]
        if parameter in params and not client.conforms_to(conformance):
            raise CatalogError(
                f"{parameter}= needs {extension}, but the STAC API at {url} does not advertise its conformance "
                f"class https://api.stacspec.org/v1.0.0{conformance.value} (nor another version of it) in "
                f"conformsTo. Drop {parameter}= (use query= to filter on properties: eoxr applies it client-side "
                "where the API lacks it; sort the ItemCollection yourself), or search an API that implements it."
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
    except Exception:  # noqa: BLE001
        return  # the API cannot say; an empty search is checked again afterwards
    if missing:
        raise unknown_collections({"collections": missing}, lambda: _api_collection_ids(client)) or CatalogError(
            f"unknown collection(s) {missing} at {client.get_self_href()}; list them with "
            "pystac_client.Client.open(url).get_collections()."
        )


def _api_collection_ids(client) -> list[str] | None:
    try:
        return sorted(c.id for c in client.get_collections())
    except Exception:  # noqa: BLE001
        return None  # the API lists no collections: nothing to compare with
