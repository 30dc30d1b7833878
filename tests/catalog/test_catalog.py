"""eoxr.catalog: STAC API and static catalog search on real recorded items, errors, retries, intake cubes."""
from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pystac
import pytest
import xarray as xr
from shapely.geometry import box, shape
from stac_api import build_static_catalog, free_port, real_items, serve_items, stac_api  # noqa: F401

import eoxr.catalog as catalog
from eoxr.errors import CatalogError, EmptySearchError

# --------------------------------------------------------------------------- independent expectations


def _utc(text: str) -> np.datetime64:
    return np.datetime64(text.replace("Z", "").split("+")[0], "us")


def expected_ids(items, collections=None, bbox=None, start=None, end=None, where=None, geometry=None) -> set[str]:
    """Ids the filters must return, worked out directly on the raw item dicts."""
    out = set()
    for item in items:
        if collections and item["collection"] not in collections:
            continue
        if bbox and not shape(item["geometry"]).intersects(box(*bbox)):
            continue
        if geometry and not shape(item["geometry"]).intersects(shape(geometry)):
            continue
        moment = _utc(item["properties"]["datetime"])
        if start and moment < _utc(start):
            continue
        if end and moment > _utc(end):
            continue
        if where and not where(item["properties"]):
            continue
        out.add(item["id"])
    return out


@pytest.fixture(scope="module")
def items(real_data) -> list[dict]:
    return real_items(real_data)


@pytest.fixture(scope="module")
def static_catalog(items, tmp_path_factory) -> Path:
    return build_static_catalog(items, tmp_path_factory.mktemp("static"))


# Filters with the ids each must return, as (search kwargs, expected_ids kwargs).
FILTERS = {
    "collections": ({"collections": ["landsat-c2-l2", "sentinel-2-l2a"]},
                    {"collections": {"landsat-c2-l2", "sentinel-2-l2a"}}),
    "bbox": ({"bbox": [27.2, -9.5, 27.8, -8.0]}, {"bbox": (27.2, -9.5, 27.8, -8.0)}),
    "month": ({"datetime": "2020-06"}, {"start": "2020-06-01T00:00:00", "end": "2020-06-30T23:59:59"}),
    "open_end": ({"datetime": "2023-01-01/.."}, {"start": "2023-01-01T00:00:00"}),
    "open_start": ({"datetime": "../2012-12-31"}, {"end": "2012-12-31T23:59:59"}),
    "query_lt": ({"query": {"eo:cloud_cover": {"lt": 1}}},
                 {"where": lambda p: p.get("eo:cloud_cover") is not None and p["eo:cloud_cover"] < 1}),
    "query_strings": ({"query": ["eo:cloud_cover>=20"], "collections": "landsat-c2-l2"},
                      {"collections": {"landsat-c2-l2"},
                       "where": lambda p: p.get("eo:cloud_cover") is not None and p["eo:cloud_cover"] >= 20}),
    "query_in_neq": ({"query": {"s2:mgrs_tile": {"in": ["35MNM", "35LNL"], "neq": "35LNL"}}},
                     {"where": lambda p: p.get("s2:mgrs_tile") == "35MNM"}),
    "combined": ({"collections": "sentinel-2-l2a", "bbox": [26.5, -12.0, 28.5, -7.0],
                  "datetime": "2020-06-06/2020-07-15", "query": {"eo:cloud_cover": {"lte": 1.0}}},
                 {"collections": {"sentinel-2-l2a"}, "bbox": (26.5, -12.0, 28.5, -7.0),
                  "start": "2020-06-06T00:00:00", "end": "2020-07-15T23:59:59",
                  "where": lambda p: p["eo:cloud_cover"] <= 1.0}),
    "intersects": ({"intersects": {"type": "Point", "coordinates": [-73.1, 43.95]}},
                   {"geometry": {"type": "Point", "coordinates": [-73.1, 43.95]}}),
}


# --------------------------------------------------------------------------- STAC API (rustac on loopback)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_api_and_static_searches_return_the_expected_items(name, stac_api, static_catalog, items):  # noqa: F811
    kwargs, expectation = FILTERS[name]
    want = expected_ids(items, **expectation)
    assert want, f"filter {name} should match some recorded items"
    assert len(want) < len(items), f"filter {name} should exclude some recorded items"
    from_api = catalog.search(stac_api, limit=9, **kwargs)
    from_static = catalog.search(static_catalog, **kwargs)
    assert isinstance(from_api, pystac.ItemCollection)
    assert sorted(i.id for i in from_api) == sorted(want)  # no duplicates across pages either
    assert {i.id for i in from_static} == want


def test_api_paging_returns_every_item_and_max_items_caps(stac_api, items):  # noqa: F811
    naip = expected_ids(items, collections={"naip"})
    assert len(naip) == 52
    every = catalog.search(stac_api, collections="naip", limit=7)  # 8 pages
    assert sorted(i.id for i in every) == sorted(naip)
    capped = catalog.search(stac_api, collections="naip", limit=7, max_items=20)
    assert len(capped) == 20 and {i.id for i in capped} <= naip
    # max_items counts items after a client-side query, so it still returns max_items matches
    cloudy = catalog.search(stac_api, query={"eo:cloud_cover": {"gt": 5}}, limit=3, max_items=4)
    assert len(cloudy) == 4 and all(i.properties["eo:cloud_cover"] > 5 for i in cloudy)


def test_query_is_applied_client_side_where_the_api_lacks_it(stac_api):  # noqa: F811
    from pystac_client import Client
    from pystac_client.conformance import ConformanceClasses

    assert not Client.open(stac_api).conforms_to(ConformanceClasses.QUERY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DoesNotConformTo("QUERY"): eoxr does not send it
        found = catalog.search(stac_api, query={"platform": {"eq": "landsat-9"}})
    assert len(found) == 10 and {i.properties["platform"] for i in found} == {"landsat-9"}


def test_items_by_id(stac_api, static_catalog):  # noqa: F811
    wanted = ["LC09_L2SR_084056_20250722_02_T1", "S2A_13TDE_20231008_0_L2A"]
    assert sorted(i.id for i in catalog.search(stac_api, ids=wanted)) == sorted(wanted)
    assert sorted(i.id for i in catalog.search(static_catalog, ids=",".join(wanted))) == sorted(wanted)


# --------------------------------------------------------------------------- static files


def test_static_item_files_ndjson_and_geojson(real_data, tmp_path, items):
    site2 = real_data / "stac_odc_stac" / "site2-2020_jun_jul-35MNM.geojson"
    july = catalog.search(site2, datetime="2020-07")
    assert len(july) == 7 and all(i.datetime.month == 7 for i in july)
    ndjson = tmp_path / "items.ndjson"
    ndjson.write_text("".join(json.dumps(i) + "\n" for i in items))
    assert len(catalog.search(ndjson)) == len(items)
    one_day = catalog.search(str(ndjson), datetime="2020-06-06")
    assert {i.properties["s2:mgrs_tile"] for i in one_day} >= {"35MNM", "35LND"} and len(one_day) == 9


def test_static_catalog_items_have_absolute_asset_hrefs(tmp_path):
    item = pystac.Item("a", {"type": "Point", "coordinates": [1.0, 2.0]}, [1.0, 2.0, 1.0, 2.0],
                       pystac.utils.str_to_datetime("2023-06-15T10:00:00Z"), {"eo:cloud_cover": 3.0})
    item.add_asset("red", pystac.Asset(href="./a_red.tif"))
    coll = pystac.Collection("c", "c", pystac.Extent.from_items([item]))
    coll.add_item(item)
    coll.normalize_hrefs(str(tmp_path))
    coll.save(pystac.CatalogType.SELF_CONTAINED)
    found = catalog.search(tmp_path / "collection.json", bbox=[0, 1, 2, 3], datetime="2023-06-15")
    href = found[0].assets["red"].href
    assert Path(href).is_absolute() and Path(href).parent == (tmp_path / "a").resolve()
    # a folder holding collection.json is accepted too, and the collection id is known for errors
    with pytest.raises(CatalogError, match=r"has \['c'\]"):
        catalog.search(tmp_path, collections="d")


# --------------------------------------------------------------------------- errors


def test_empty_search_returns_no_item_and_says_what_to_widen(stac_api, static_catalog, caplog):  # noqa: F811
    filters = {"collections": "naip", "bbox": [0, 0, 1, 1], "datetime": "2019"}
    for source in (stac_api, static_catalog):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="eoxr.catalog"):
            found = catalog.search(source, **filters)
        assert isinstance(found, pystac.ItemCollection) and len(found) == 0
        logged = [r for r in caplog.records if r.name.startswith("eoxr.catalog") and r.levelno == logging.INFO]
        assert len(logged) == 1 and "enlarge the bbox" in logged[0].getMessage()
        with pytest.raises(EmptySearchError) as err:
            catalog.search(source, require_items=True, **filters)
        message = str(err.value)
        assert "naip" in message and "(0.0, 0.0, 1.0, 1.0)" in message and "2019-01-01" in message
        assert "enlarge the bbox" in message and "lengthen the datetime" in message
        assert message == logged[0].getMessage()


def test_unknown_collection_lists_the_available_ones(stac_api, static_catalog):  # noqa: F811
    for source in (stac_api, static_catalog):
        with pytest.raises(CatalogError) as err:
            catalog.search(source, collections=["sentinel-2-l2a", "landsat-8"])
        assert not isinstance(err.value, EmptySearchError)
        assert "['landsat-8']" in str(err.value)
        assert "['landsat-c2-l2', 'naip', 'sentinel-2-l2a']" in str(err.value)


def test_unreachable_api_names_the_url_and_the_cause():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(CatalogError) as err:
        catalog.search(url, retries=1, backoff=0.01, timeout=2)
    assert url in str(err.value) and "after 1 retries" in str(err.value)
    assert "refused" in str(err.value).lower() or "max retries" in str(err.value).lower()
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(
    "bbox, fragment",
    [([1, 2, 3], "has 3 values"), ([10, 0, 5, 1], "west/east = 10.0 > 5.0"), ([0, 5, 1, 2], "south/north = 5.0 > 2.0"),
     ("a,b,c,d", "not a list of numbers"), ([0, 0, float("nan"), 1], "non-finite")],
)
def test_bad_bbox_is_refused_before_any_request(bbox, fragment, static_catalog):
    with pytest.raises(CatalogError, match=fragment):
        catalog.search(static_catalog, bbox=bbox)


def test_bad_filters_and_unknown_name(static_catalog):
    with pytest.raises(CatalogError, match="datetime takes"):
        catalog.search(static_catalog, datetime="June 2020")
    with pytest.raises(CatalogError, match="unknown operator"):
        catalog.search(static_catalog, query={"eo:cloud_cover": {"below": 3}})
    with pytest.raises(CatalogError, match="limit"):
        catalog.search(static_catalog, limit=0)
    for bad in ({"timeout": 0}, {"timeout": None}, {"timeout": float("inf")}):  # None would wait without end
        with pytest.raises(CatalogError, match="pass a positive number of seconds"):
            catalog.search(static_catalog, **bad)
    for bad in ({"retries": -1}, {"retries": 1.5}, {"backoff": "1s"}):
        with pytest.raises(CatalogError, match="pass retries >= 0 and backoff >= 0"):
            catalog.search(static_catalog, **bad)
    with pytest.raises(CatalogError) as err:
        catalog.search("earth-serch")
    assert "unknown catalog name 'earth-serch'" in str(err.value)
    assert "'earth-search'" in str(err.value) and "'planetary-computer'" in str(err.value)
    with pytest.raises(CatalogError, match="no file"):
        catalog.search("does/not/exist.json")


# --------------------------------------------------------------------------- retries


class FlakyAPI:
    """A minimal STAC API in a thread whose first ``failures[verb]`` GET / POST requests answer 503."""

    def __init__(self, features: list[dict], failures: dict[str, int], conforms_to: tuple[str, ...] = ()):
        self.features, self.failures, self.statuses = features, failures, {"GET": [], "POST": []}
        self.bodies: list[dict] = []
        conformance = ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
                       *conforms_to]
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                api.answer(self, {"type": "Catalog", "id": "flaky", "description": "flaky", "stac_version": "1.0.0",
                                  "conformsTo": conformance,
                                  "links": [{"rel": "self", "href": api.url + "/"},
                                            {"rel": "root", "href": api.url + "/"},
                                            {"rel": "search", "href": api.url + "/search", "method": "POST",
                                             "type": "application/geo+json"}]})

            def do_POST(self):
                api.bodies.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"))
                api.answer(self, {"type": "FeatureCollection", "features": api.features, "links": []})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, handler, body: dict) -> None:
        seen = self.statuses[handler.command]
        status = 503 if len(seen) < self.failures.get(handler.command, 0) else 200
        seen.append(status)
        data = json.dumps(body).encode() if status == 200 else b"busy"
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_search_retries_503_then_succeeds(items):
    features = [i for i in items if i["collection"] == "sentinel-2-l2a"][:3]
    # the landing page (GET) fails twice, the search (POST) once: both verbs are retried
    with FlakyAPI(features, failures={"GET": 2, "POST": 1}) as api:
        found = catalog.search(api.url, retries=3, backoff=0.01)
    assert [i.id for i in found] == [f["id"] for f in features]
    assert api.statuses["GET"][:3] == [503, 503, 200] and set(api.statuses["GET"][2:]) == {200}
    assert api.statuses["POST"] == [503, 200]


def test_search_gives_up_after_the_retries(items):
    with FlakyAPI(items[:1], failures={"GET": 100}) as api:
        with pytest.raises(CatalogError) as err:
            catalog.search(api.url, retries=2, backoff=0.01)
    assert api.statuses["GET"] == [503, 503, 503]  # the first try and two retries
    assert api.url in str(err.value) and "503" in str(err.value)


# --------------------------------------------------------------------------- signing and named endpoints


@pytest.fixture
def fake_signer(monkeypatch):
    """Replace planetary_computer.sign_inplace by one that marks what it signed (no network)."""
    import planetary_computer

    signed = []

    def sign_inplace(obj):
        for item in obj.items if isinstance(obj, pystac.ItemCollection) else [obj]:
            signed.append(item.id)
            for asset in item.assets.values():
                asset.href += "?sig=test"
        return obj

    monkeypatch.setattr(planetary_computer, "sign_inplace", sign_inplace)
    return signed


def test_signing_is_forced_or_refused(fake_signer, stac_api, real_data):  # noqa: F811
    site1 = real_data / "stac_odc_stac" / "site1-20200606-tall-strip-africa.geojson"
    assert not fake_signer and "sig=" not in catalog.search(site1)[0].assets["B04"].href  # auto: static files unsigned
    signed = catalog.search(site1, sign=True)
    assert all(a.href.endswith("?sig=test") for i in signed for a in i.assets.values())
    assert sorted(fake_signer) == sorted(i.id for i in signed)
    from_api = catalog.search(stac_api, collections="landsat-c2-l2", sign=True)
    assert all(a.href.endswith("?sig=test") for i in from_api for a in i.assets.values())
    fake_signer.clear()
    unsigned = catalog.search(stac_api, collections="landsat-c2-l2", sign=False)
    assert not fake_signer and not any("sig=" in a.href for i in unsigned for a in i.assets.values())


def test_planetary_computer_is_signed_automatically(fake_signer):
    import planetary_computer

    pc = catalog.endpoints()["planetary-computer"]
    assert catalog._signer(pc["url"], None, None) is planetary_computer.sign_inplace
    assert catalog._signer(catalog.endpoints()["earth-search"]["url"], None, None) is None
    assert catalog._signer(pc["url"], False, pc) is None


def test_endpoints_yaml_lists_the_named_sources():
    named = catalog.endpoints()
    assert {"earth-search", "planetary-computer", "sample"} <= set(named)
    assert named["planetary-computer"]["sign"] is True and named["earth-search"]["sign"] is False
    assert named["earth-search"]["url"].startswith("https://")
    assert named["sample"]["builder"] == "eoxr.sample:ensure_sample"
    for name, entry in named.items():
        assert entry["description"], f"{name} needs a description"
        assert sum(bool(entry.get(k)) for k in ("url", "path", "builder")) == 1


def test_named_static_and_built_sources(tmp_path, monkeypatch, real_data):
    site2 = real_data / "stac_odc_stac" / "site2-2020_jun_jul-35MNM.geojson"
    (tmp_path / "endpoints.yaml").write_text(
        f"local:\n  path: {site2}\n  description: recorded items\n"
        "built:\n  builder: test_catalog:_built_catalog\n  description: built on demand\n"
    )
    monkeypatch.setenv("EOXR_CATALOGS", str(tmp_path))
    monkeypatch.setenv("BUILT_CATALOG_SOURCE", str(site2))
    assert set(catalog.endpoints()) == {"local", "built"}
    assert len(catalog.search("local", datetime="2020-06-21")) == 1
    assert len(catalog.search("built", query={"eo:cloud_cover": {"gt": 20}})) == 2


def _built_catalog() -> Path:
    import os

    return Path(os.environ["BUILT_CATALOG_SOURCE"])


# --------------------------------------------------------------------------- intake catalog of datacubes


def _tiny_cube(path: Path, seed: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    ds = xr.Dataset(
        {"lst": (("y", "x"), rng.normal(300.0, 5.0, (4, 6)), {"units": "K", "long_name": "land surface temperature"})},
        coords={"y": np.arange(4) * -10.0, "x": np.arange(6) * 10.0},
    )
    ds.to_zarr(path, mode="w", consolidated=False, encoding={"lst": {"chunks": (2, 6)}})
    return ds


def test_register_and_open_cube(tmp_path, no_compute):
    catalog_path = tmp_path / "cubes" / "datacubes.yaml"
    _tiny_cube(tmp_path / "cubes" / "a.zarr", seed=1)
    _tiny_cube(tmp_path / "b.zarr", seed=2)
    catalog.register_cube("a", tmp_path / "cubes" / "a.zarr", catalog_path=catalog_path, description="cube A")
    catalog.register_cube("b", tmp_path / "b.zarr", catalog_path=catalog_path)
    text = catalog_path.read_text()
    assert "{CATALOG_DIR}/a.zarr" in text and str((tmp_path / "b.zarr").resolve()) in text
    assert catalog.cubes(catalog_path) == {"a": "cube A", "b": ""}

    opened = catalog.open_cube("a", catalog_path=catalog_path)  # lazy: no_compute forbids reading values
    assert opened["lst"].chunks is not None and opened["lst"].attrs["units"] == "K"

    # re-registering a name points it at the new cube and drops the old data entry
    catalog.register_cube("a", tmp_path / "b.zarr", catalog_path=catalog_path, description="now B")
    assert catalog.cubes(catalog_path)["a"] == "now B"
    assert "{CATALOG_DIR}/a.zarr" not in catalog_path.read_text()
    with pytest.raises(CatalogError, match=r"it has \['a', 'b'\]"):
        catalog.open_cube("c", catalog_path=catalog_path)
    with pytest.raises(CatalogError, match="not a Zarr group"):
        catalog.register_cube("d", tmp_path / "nothing.zarr", catalog_path=catalog_path)


def test_open_cube_values_roundtrip(tmp_path):
    ds = _tiny_cube(tmp_path / "c.zarr", seed=3)
    path = catalog.register_cube("c", tmp_path / "c.zarr", catalog_path=tmp_path / "cat.yaml")
    xr.testing.assert_identical(catalog.open_cube("c", catalog_path=path).compute(), ds)


def test_static_catalog_served_over_http_is_walked_and_filtered(static_catalog, items):
    import functools
    from http.server import SimpleHTTPRequestHandler

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(static_catalog.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/catalog.json"
        found = catalog.search(url, datetime="2020-06", bbox=[27.2, -9.5, 27.8, -8.0])
        with pytest.raises(CatalogError, match="unknown collection"):
            catalog.search(url, collections="sentinel-1-grd")
    finally:
        server.shutdown()
        server.server_close()
    want = expected_ids(items, bbox=(27.2, -9.5, 27.8, -8.0), start="2020-06-01T00:00:00", end="2020-06-30T23:59:59")
    assert {i.id for i in found} == want and 0 < len(want) < len(items)


def test_sample_name_builds_and_searches_the_embedded_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(tmp_path / "sample"))
    every = catalog.search("sample")
    assert (tmp_path / "sample" / "catalog.json").is_file()
    assert len(every) >= 3 and all(Path(a.href).exists() for i in every for a in i.assets.values())  # files, or Zarr stores
    s2 = catalog.search("sample", collections="eoxr-s2-sample", datetime="2023-06")
    assert [i.datetime.strftime("%Y-%m-%d") for i in s2] == ["2023-06-15"]


def _item(item_id: str, props: dict, href: str = "./scene.tif") -> dict:
    """A minimal STAC 1.0 item dict over [0, 1] x [0, 1] degrees with one asset."""
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "c", "links": [],
            "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
            "bbox": [0.0, 0.0, 1.0, 1.0], "properties": props, "assets": {"data": {"href": href}}}


def test_time_ranges_relative_hrefs_and_partial_dates(tmp_path):
    month = _item("month", {"datetime": None, "start_datetime": "2023-06-01T00:00:00Z",
                            "end_datetime": "2023-06-30T12:00:00Z"})
    instant = _item("instant", {"datetime": "2023-07-01T00:00:00Z"}, href="sub/b.tif")
    path = tmp_path / "two.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [month, instant]}))

    def ids(**kw):
        return sorted(i.id for i in catalog.search(path, **kw))

    assert ids(datetime="2023-06-15") == ["month"]  # a day inside the item's range
    assert ids(datetime="2023-07") == ["instant"]
    assert ids(datetime="../2023-06-01T00:00:00Z") == ["month"]  # closed bounds touch the range start
    assert ids(datetime="2023-06-30T12:00:00Z/2023-07-01T00:00:00Z") == ["instant", "month"]
    assert ids(datetime="2023-05-31T23:59:59Z") == []
    found = catalog.search(path, ids="instant")
    assert found[0].assets["data"].href == str(tmp_path / "sub" / "b.tif")


def test_query_is_sent_to_an_api_that_implements_it(items):
    """Where the API advertises the query extension, eoxr sends it and keeps what the API returns."""
    features = [i for i in items if i["collection"] == "landsat-c2-l2"][:2]
    query = {"eo:cloud_cover": {"lt": 1}}  # these two items do not pass it: the API is trusted
    with FlakyAPI(features, failures={}, conforms_to=("https://api.stacspec.org/v1.0.0/item-search#query",)) as api:
        found = catalog.search(api.url, query=query, limit=50)
    assert api.bodies[0]["query"] == query and api.bodies[0]["limit"] == 50
    assert [i.id for i in found] == [f["id"] for f in features]
    with FlakyAPI(features, failures={}) as api:  # no query conformance: filtered here instead
        with pytest.raises(EmptySearchError, match="relax or drop the query"):
            catalog.search(api.url, query=query, require_items=True)
    assert "query" not in api.bodies[0]
