"""eoxr.catalog.search against servers that hang, fail, drop connections or sit behind a broken proxy: every
call ends in bounded time, with a CatalogError that names the URL, what happened and the fix."""
from __future__ import annotations

import json
import time

import pytest
from servers import ConformanceProxy, Empty404Proxy, FileServer, silent_server
from stac_api import build_static_catalog, real_items, stac_api  # noqa: F401  (stac_api is a fixture)

import eoxr.catalog as catalog
from eoxr.errors import CatalogError, EmptySearchError

TIMEOUT = 1.0  # seconds per connection and answer in these tests
CQL2 = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 10]}
FILTER_CLASS = "https://api.stacspec.org/v1.0.0/item-search#filter"
SORT_CLASS = "https://api.stacspec.org/v1.0.0/item-search#sort"


def _bound(retries: int) -> float:
    """Generous limit of a failing search: ten times what its tries may take."""
    return 10 * TIMEOUT * (retries + 1)


def test_silent_api_fails_in_bounded_time_naming_the_url():
    with silent_server() as url:
        start = time.monotonic()
        with pytest.raises(CatalogError) as err:
            catalog.search(url, timeout=TIMEOUT, retries=1, backoff=0.01)
        took = time.monotonic() - start
    message = str(err.value)
    assert took < _bound(1), took
    assert took >= 2 * TIMEOUT * 0.9  # both tries waited for the timeout: the retry happened
    assert f"could not open the STAC API at {url}" in message
    assert "did not answer within timeout=1.0 s, 2 tries" in message and "larger timeout=" in message


def test_static_catalog_linking_to_a_silent_server_fails_in_bounded_time(tmp_path):
    with silent_server() as url:
        # written by hand: pystac itself would wait without end on the child while saving
        (tmp_path / "catalog.json").write_text(json.dumps({
            "type": "Catalog", "id": "root", "stac_version": "1.0.0",
            "description": "a catalog whose child is on a server that never answers",
            "links": [{"rel": "child", "href": f"{url}/child/catalog.json", "type": "application/json"}],
        }))
        start = time.monotonic()
        with pytest.raises(CatalogError) as err:
            catalog.search(tmp_path / "catalog.json", timeout=TIMEOUT, retries=1, backoff=0.01)
        took = time.monotonic() - start
    assert took < _bound(1), took
    assert f"could not fetch the STAC file {url}/child/catalog.json" in str(err.value)


@pytest.mark.parametrize("fault", ["503", "drop"])
def test_static_catalog_over_a_flaky_server_is_read_whole(fault, real_data, tmp_path):
    items = [i for i in real_items(real_data) if i["collection"] in ("sentinel-2-l2a", "landsat-c2-l2")]
    path = build_static_catalog(items, tmp_path)
    with FileServer(tmp_path, fault=fault, fail=1, every=3) as server:
        found = catalog.search(server.href(path), datetime="2020-06", timeout=5, retries=3, backoff=0.01)
    want = {i["id"] for i in items if i["properties"]["datetime"].startswith("2020-06")}
    assert want and {i.id for i in found} == want
    assert sum(entry[3] == fault for entry in server.log) >= 2  # failures happened and were retried


def test_api_that_fails_every_request_gives_up_after_the_retries(tmp_path):
    (tmp_path / "catalog.json").write_text("{}")
    with FileServer(tmp_path, fault="503", fail=1, every=1) as server:
        start = time.monotonic()
        with pytest.raises(CatalogError) as err:
            catalog.search(server.href(tmp_path / "catalog.json"), timeout=TIMEOUT, retries=2, backoff=0.01)
        took = time.monotonic() - start
    assert took < _bound(2) and len(server.log) == 3  # the first try and two retries
    assert server.url in str(err.value) and "503" in str(err.value) and "retries=" in str(err.value)


def test_empty_404_from_a_proxy_names_the_status_and_the_proxy(monkeypatch):
    url = "http://stac.example.org/v1"  # never reached: the proxy answers for it
    with Empty404Proxy() as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        start = time.monotonic()
        with pytest.raises(CatalogError) as err:
            catalog.search(url, timeout=TIMEOUT, retries=1, backoff=0.01)
    message = str(err.value)
    assert time.monotonic() - start < _bound(1)
    assert proxy.requests and proxy.requests[0] == ("GET", url)  # the request went through the proxy
    assert "APIError: ." not in message
    assert f"could not open the STAC API at {url}: it answered HTTP 404 with an empty body" in message
    assert f"through the proxy {proxy.url}" in message and "NO_PROXY" in message


@pytest.mark.parametrize("kwargs, conformance", [({"filter": CQL2}, FILTER_CLASS),
                                                 ({"sortby": "-properties.datetime"}, SORT_CLASS)])
def test_filter_and_sortby_are_refused_where_the_api_lacks_them(kwargs, conformance, stac_api):  # noqa: F811
    # rustac serve ignores both without saying so: eoxr must refuse rather than return unfiltered items
    with pytest.raises(CatalogError) as err:
        catalog.search(stac_api, collections="sentinel-2-l2a", **kwargs)
    message = str(err.value)
    assert conformance in message and stac_api in message and "Drop" in message


def test_filter_and_sortby_reach_an_api_that_advertises_them(stac_api):  # noqa: F811
    with ConformanceProxy(stac_api, extra=(FILTER_CLASS, SORT_CLASS)) as api:
        sorted_ = catalog.search(api.url, collections="sentinel-2-l2a", sortby="-properties.datetime", max_items=5)
        catalog.search(api.url, collections="sentinel-2-l2a", filter=CQL2, sortby="-datetime", max_items=5)
        catalog.search(api.url, collections="sentinel-2-l2a", filter="eo:cloud_cover <= 10", max_items=1)
    searches = [body for body in api.bodies if "collections" in body]
    assert searches[0]["sortby"] == [{"field": "properties.datetime", "direction": "desc"}] and len(sorted_) == 5
    assert searches[1]["filter"] == CQL2 and searches[1]["filter-lang"] == "cql2-json"
    assert searches[1]["sortby"] == [{"field": "datetime", "direction": "desc"}]
    assert searches[2]["filter"] == "eo:cloud_cover <= 10" and searches[2]["filter-lang"] == "cql2-text"


def test_bbox_out_of_range_or_latitude_first_names_the_fix(stac_api):  # noqa: F811
    with pytest.raises(CatalogError) as err:  # Tokyo written [south, west, north, east]
        catalog.search(stac_api, bbox=[35.6, 139.6, 35.8, 139.8])
    assert "pass bbox=[139.6, 35.6, 139.8, 35.8]" in str(err.value) and "latitude first" in str(err.value)
    with pytest.raises(CatalogError, match="metres of a projected CRS"):
        catalog.search(stac_api, bbox=[500000, 4800000, 510000, 4810000])
    # Items of 35MNM (27.5 E, 8.5 S): written latitude first the bbox is valid and matches nothing; the
    # message of the empty search gives the swapped one, which finds them.
    with pytest.raises(EmptySearchError) as err:
        catalog.search(stac_api, bbox=[-8.6, 27.4, -8.4, 27.6], require_items=True)
    assert "pass bbox=[27.4, -8.6, 27.6, -8.4]" in str(err.value)
    assert len(catalog.search(stac_api, bbox=[27.4, -8.6, 27.6, -8.4])) > 0


def test_servers_module_serves_ranges(tmp_path):
    """The file server answers byte ranges as object stores do (GDAL relies on it)."""
    import urllib.request

    (tmp_path / "f.bin").write_bytes(bytes(range(100)))
    with FileServer(tmp_path) as server:
        request = urllib.request.Request(server.href(tmp_path / "f.bin"), headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 206 and answer.read() == bytes(range(10, 20))
    assert server.log == [("GET", "/f.bin", "bytes=10-19", None)]
