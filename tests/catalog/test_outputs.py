"""STAC items of eoxr's outputs: written with the cube, valid against the extensions' schemas (offline), found by
search, opened by cube.open and io.load, followed back to the scenes by provenance; kept in step with appends,
region writes and replacements."""
from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from pystac.errors import STACValidationError

import eoxr
from eoxr import catalog, cube, io
from eoxr.attrs import item_ref, provenance_attrs, stamp
from eoxr.errors import CatalogError, CubeError, EmptySearchError, ParameterError

CRS = "EPSG:32631"
EXTENSIONS = {"https://stac-extensions.github.io/datacube/v2.2.0/schema.json",
              "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
              "https://stac-extensions.github.io/processing/v1.2.0/schema.json"}


def scene_item(folder: Path, iid: str, when: str) -> pystac.Item:
    """A raw scene item (not made by eoxr) saved at ``folder/iid.json``."""
    item = pystac.Item(iid, {"type": "Point", "coordinates": [1.0, 43.0]}, [1.0, 43.0, 1.0, 43.0],
                       pd.Timestamp(when, tz="UTC").to_pydatetime(), {}, collection="scenes")
    item.set_self_href(str(folder / f"{iid}.json"))
    return item


@pytest.fixture
def scenes(tmp_path) -> dict[str, pystac.Item]:
    return {iid: scene_item(tmp_path / "scenes", iid, when)
            for iid, when in (("s2-a", "2023-06-01T10:30"), ("s2-b", "2023-06-04T10:30"), ("s2-c", "2023-07-01"))}


def product(start: str, n: int, made_from: list, *, method: str = "lst.superres[tsharp]", seed: int = 0,
            reflectance: bool = True) -> xr.Dataset:
    """``n`` daily steps on a 30 m UTM grid, stamped as ``method``'s output made from the items ``made_from``."""
    rng = np.random.default_rng(seed)
    ny, nx = 12, 10
    time = pd.date_range(start, periods=n, freq="D") + pd.Timedelta(hours=10)
    ds = xr.Dataset(
        {"lst": (("time", "y", "x"), 280 + 30 * rng.random((n, ny, nx)),
                 {"units": "K", "long_name": "land surface temperature"})},
        coords={"time": time, "y": 4_800_000.0 - 30.0 * (np.arange(ny) + 0.5),
                "x": 500_000.0 + 30.0 * (np.arange(nx) + 0.5)},
        attrs={"title": "a product"})
    if reflectance:
        ds["reflectance"] = (("time", "band", "y", "x"), rng.random((n, 2, ny, nx)),
                             {"units": "1", "long_name": "surface reflectance"})
        ds = ds.assign_coords(band=["red", "nir"])
    return stamp(ds.rio.write_crs(CRS), method, made_from=[item_ref(s) for s in made_from], factor=4)


def only_item(cat, **filters) -> pystac.Item:
    found = catalog.search(cat, **filters)
    assert len(found) == 1, [i.id for i in found]
    return found[0]


def expression(item: pystac.Item) -> dict:
    return item.properties["processing:expression"]["expression"]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


# ------------------------------------------------------------------------------------------------ the item
def test_the_item_describes_the_cube_and_validates_offline(tmp_path, scenes, monkeypatch):
    ds = product("2023-06-01", 3, [scenes["s2-a"], scenes["s2-b"]])
    path, cat = tmp_path / "cubes" / "basel.zarr", tmp_path / "stac" / "catalog.json"
    cube.write(ds, path, catalog=cat)
    item = only_item(cat, collections=["eoxr-lst"], datetime="2023-06-02")

    def no_network(*args, **kwargs):
        raise AssertionError("validation tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert EXTENSIONS <= set(catalog.validate(item))
    catalog.validate(pystac.Catalog.from_file(str(cat)))
    catalog.validate(pystac.Collection.from_file(str(cat.parent / "eoxr-lst" / "collection.json")))

    assert item.id == "basel" and item.collection_id == "eoxr-lst"
    assert item.get_self_href() == str(cat.parent / "eoxr-lst" / "basel" / "basel.json")
    asset = item.assets["zarr"]
    assert asset.href == str(path) and asset.media_type == "application/vnd.zarr" and asset.roles == ["data"]
    assert item.datetime is None and item.properties["title"] == "a product"
    assert utc(item.properties["start_datetime"]) == pd.Timestamp("2023-06-01T10:00", tz="UTC")
    assert utc(item.properties["end_datetime"]) == pd.Timestamp("2023-06-03T10:00", tz="UTC")
    west, south, east, north = ds.rio.transform_bounds("EPSG:4326")
    assert item.bbox[0] <= west and item.bbox[1] <= south and item.bbox[2] >= east and item.bbox[3] >= north
    assert np.allclose(item.bbox, [west, south, east, north], atol=1e-4)

    props = item.properties
    assert props["proj:code"] == CRS and props["proj:shape"] == [12, 10]
    assert props["proj:transform"] == list(ds.rio.transform())[:6]
    assert props["proj:bbox"] == list(ds.rio.bounds())
    dims = props["cube:dimensions"]
    assert dims["x"] == {"type": "spatial", "axis": "x", "reference_system": 32631, "extent": [500015.0, 500285.0],
                         "step": 30.0}
    assert dims["y"]["extent"] == [4799655.0, 4799985.0] and dims["y"]["step"] == -30.0
    assert dims["time"]["extent"] == ["2023-06-01T10:00:00Z", "2023-06-03T10:00:00Z"]
    assert pd.Timedelta(dims["time"]["step"]) == pd.Timedelta(days=1)
    assert dims["band"] == {"type": "bands", "values": ["red", "nir"]}
    assert props["cube:variables"]["lst"] == {"dimensions": ["time", "y", "x"], "type": "data", "unit": "K",
                                              "description": "land surface temperature"}
    assert props["cube:variables"]["reflectance"]["dimensions"] == ["time", "band", "y", "x"]

    made = expression(item)
    assert props["processing:expression"]["format"] == "eoxr"
    assert made["method"] == "lst.superres[tsharp]" and made["parameters"] == {"factor": 4}
    assert [(i["id"], i["href"]) for i in made["inputs"]] == [
        ("s2-a", scenes["s2-a"].get_self_href()), ("s2-b", scenes["s2-b"].get_self_href())]
    assert made["checkpoint_sha256"] is None
    assert props["processing:version"] == eoxr.__version__ == props["processing:software"]["eoxr"]
    assert "lst.superres[tsharp](factor=4)" in props["processing:lineage"]
    derived = item.get_links("derived_from")
    assert [(lk.title, lk.href) for lk in derived] == [(i["id"], i["href"]) for i in made["inputs"]]


def test_validation_refuses_broken_items_and_unshipped_schemas(tmp_path, scenes):
    cat = tmp_path / "catalog.json"
    cube.write(product("2023-06-01", 2, [scenes["s2-a"]]), tmp_path / "c.zarr", catalog=cat)
    good = only_item(cat).to_dict()

    def broken(change) -> pystac.Item:
        d = json.loads(json.dumps(good))
        change(d)
        return pystac.Item.from_dict(d)

    # a CRS that is neither WKT2, an EPSG code nor PROJJSON (the PROJJSON branch resolves the shipped schema)
    item = broken(lambda d: d["properties"]["cube:dimensions"]["x"].update(reference_system=-5))
    with pytest.raises(STACValidationError, match="datacube"):
        catalog.validate(item)
    item = broken(lambda d: d["properties"].update({"processing:datetime": "2024-01-01T00:00:00+02:00"}))
    with pytest.raises(STACValidationError, match="processing"):
        catalog.validate(item)
    item = broken(lambda d: d["properties"].update({"proj:shape": [12]}))
    with pytest.raises(STACValidationError, match="projection"):
        catalog.validate(item)
    item = broken(lambda d: d["stac_extensions"].append("https://stac-extensions.github.io/eo/v1.1.0/schema.json"))
    with pytest.raises(CatalogError, match="no schema https://stac-extensions.github.io/eo/v1.1.0/schema.json"):
        catalog.validate(item)


def test_the_catalog_layout_links_and_collections(tmp_path, scenes):
    cat = tmp_path / "stac"  # a folder: its catalog.json is created
    cube.write(product("2023-06-01", 2, [scenes["s2-a"]]), tmp_path / "lst.zarr", catalog=cat)
    cube.write(product("2023-06-01", 2, [scenes["s2-a"]], method="urban.invert"), tmp_path / "city.zarr",
               catalog=cat)
    root = pystac.Catalog.from_file(str(cat / "catalog.json"))
    assert root.catalog_type == pystac.CatalogType.SELF_CONTAINED
    assert sorted(c.id for c in root.get_children()) == ["eoxr-lst", "eoxr-urban"]
    assert [i.id for i in root.get_items(recursive=True)] == ["lst", "city"]
    links = json.loads((cat / "eoxr-urban" / "city" / "city.json").read_text())["links"]
    assert {lk["rel"]: lk["href"] for lk in links if lk["rel"] != "derived_from"} == {
        "root": "../../catalog.json", "parent": "../collection.json", "collection": "../collection.json"}
    assert catalog.outputs.collection_id("eoxr.io.load") == "eoxr-ingest"
    assert catalog.outputs.collection_id(None) == "eoxr-cubes"


# ---------------------------------------------------------------------------- round trip and provenance
@pytest.fixture(scope="module")
def lst_scenes(tmp_path_factory) -> Path:
    """A static catalog of the sample's LST scenes (1 km LST with a cloud, 250 m NDVI)."""
    from eoxr.lst.synth import sample_items

    folder = tmp_path_factory.mktemp("scenes")
    collection = pystac.Collection("eoxr-lst-sample", "synthetic MODIS-like scenes", pystac.Extent(
        pystac.SpatialExtent([[-180, -90, 180, 90]]), pystac.TemporalExtent([[None, None]])))
    root = pystac.Catalog("scenes", "sample LST scenes")
    root.add_child(collection)
    collection.add_items(sample_items(folder))
    root.normalize_hrefs(str(folder))
    root.save(pystac.CatalogType.SELF_CONTAINED)
    return folder / "catalog.json"


@pytest.fixture(scope="module")
def chain(lst_scenes, tmp_path_factory) -> dict:
    """Ingest the 1 km LST scene into a catalogued cube, super-resolve that cube's item with the shipped SISR
    network, write the result to the same catalog."""
    folder = tmp_path_factory.mktemp("chain")
    cat = folder / "stac" / "catalog.json"
    scenes = catalog.search(lst_scenes, ids=["lst-1km"])
    cube.ingest(scenes, folder / "lst-1km.zarr", catalog=cat, progress=False)
    coarse = cube.open(only_item(cat, collections=["eoxr-ingest"]))
    fine = coarse.lst.superres(factor=4, method="sisr", ensemble=False)
    expected = fine.compute()
    cube.write(fine, folder / "lst-250m.zarr", catalog=cat)
    return {"cat": cat, "scene": scenes[0], "coarse": coarse, "expected": expected, "folder": folder}


def test_round_trip_ingest_superres_write_search_open(chain):
    found = only_item(chain["cat"], collections=["eoxr-lst"], datetime="2023-07", bbox=[0, 43, 2, 45])
    expected = chain["expected"]
    for opened in (cube.open(found), io.load(found), io.load([found.to_dict()])):
        assert opened.rio.crs == expected.rio.crs
        np.testing.assert_array_equal(opened.x.values, expected.x.values)
        np.testing.assert_array_equal(opened.time.values, expected.time.values)
        np.testing.assert_array_equal(opened["lst"].values, expected["lst"].values.astype("float32"))
        assert opened["lst"].attrs["units"] == "K"
        assert json.loads(opened.attrs["eoxr_item"])["href"] == found.get_self_href()
    assert provenance_attrs(chain["coarse"])["item"]["id"] == "lst-1km"  # opened from its item


def test_provenance_of_two_steps_names_the_scenes_and_the_model(chain):
    from eoxr.ml import registry

    found = only_item(chain["cat"], collections=["eoxr-lst"])
    shipped = hashlib.sha256(Path(registry.path("lst-sisr-x4")).read_bytes()).hexdigest()
    prov = catalog.provenance(found)
    assert prov.method == "lst.superres[sisr]" and prov.eoxr_version == eoxr.__version__
    assert prov.checkpoint_sha256 == shipped and prov.parameters["factor"] == 4
    assert prov.parameters["ensemble"] is False
    (ingest,) = prov.inputs
    assert (ingest.id, ingest.collection, ingest.method) == ("lst-1km", "eoxr-ingest", "eoxr.io.load")
    assert ingest.parameters["bands"] == ["lst"] and ingest.checkpoint_sha256 is None
    scene = chain["scene"]
    assert [(r.id, r.href, r.collection) for r in prov.raw_inputs()] == [
        ("lst-1km", scene.get_self_href(), "eoxr-lst-sample")]
    assert not prov.raw_inputs()[0].made_by_eoxr
    assert catalog.provenance(found.get_self_href()).to_dict() == prov.to_dict()
    assert "eoxr-lst-sample/lst-1km" in str(prov)

    # the cube opened by path names its item too: what is made from it links back the same way
    again = cube.open(chain["folder"] / "lst-1km.zarr").lst.superres(factor=4, method="bicubic")
    (ref,) = provenance_attrs(again)["inputs"]
    assert (ref["id"], ref["href"], ref["product"]) == ("lst-1km", ingest.href, True)


def test_provenance_names_an_input_item_that_is_gone(tmp_path, scenes):
    cat = tmp_path / "catalog.json"
    cube.write(product("2023-06-01", 2, [scenes["s2-a"]]), tmp_path / "a.zarr", catalog=cat)
    first = cube.open(only_item(cat))
    cube.write(stamp(first, "lst.degrade", made_from=[first], factor=2), tmp_path / "b.zarr", catalog=cat)
    second = only_item(cat, ids=["b"])
    assert [r.id for r in catalog.provenance(second).raw_inputs()] == ["s2-a"]
    Path(first.attrs and json.loads(first.attrs["eoxr_item"])["href"]).unlink()
    with pytest.raises(CatalogError, match=r"cannot read the item at .*a\.json \(input 'a' of 'b'\)"):
        catalog.provenance(second)


# ----------------------------------------------------------------------------- changes after the first write
def test_an_append_updates_the_items_time_range_and_inputs(tmp_path, scenes):
    path, cat = tmp_path / "c.zarr", tmp_path / "catalog.json"
    cube.write(product("2023-06-01", 3, [scenes["s2-a"]]), path, catalog=cat)
    first = only_item(cat)
    cube.write(product("2023-06-04", 2, [scenes["s2-b"]], seed=1), path, mode="a", append_dim="time", catalog=cat)
    item = only_item(cat, datetime="2023-06-05")
    assert utc(item.properties["start_datetime"]) == pd.Timestamp("2023-06-01T10:00", tz="UTC")
    assert utc(item.properties["end_datetime"]) == pd.Timestamp("2023-06-05T10:00", tz="UTC")
    assert item.properties["cube:dimensions"]["time"]["extent"][1] == "2023-06-05T10:00:00Z"
    assert [i["id"] for i in expression(item)["inputs"]] == ["s2-a", "s2-b"]
    assert item.properties["created"] == first.properties["created"]
    assert item.properties["updated"] > first.properties["updated"]
    collection = pystac.Collection.from_file(str(tmp_path / "eoxr-lst" / "collection.json"))
    assert collection.extent.temporal.intervals[0][1] == pd.Timestamp("2023-06-05T10:00", tz="UTC")
    assert [i["id"] for i in json.loads(cube.open(path).attrs["eoxr_inputs"])] == ["s2-a", "s2-b"]

    before = (tmp_path / "eoxr-lst" / "c" / "c.json").read_bytes()
    with pytest.warns(UserWarning, match="has a STAC item .* that this append without catalog= leaves as it was"):
        cube.write(product("2023-06-06", 1, [scenes["s2-c"]], seed=2), path, mode="a", append_dim="time")
    assert (tmp_path / "eoxr-lst" / "c" / "c.json").read_bytes() == before


def test_a_replaced_cube_replaces_its_item(tmp_path, scenes):
    path, cat = tmp_path / "c.zarr", tmp_path / "catalog.json"
    cube.write(product("2023-06-01", 3, [scenes["s2-a"]]), path, catalog=cat)
    first = only_item(cat)
    cube.write(product("2023-07-01", 1, [scenes["s2-c"]], reflectance=False), path, mode="w", catalog=cat)
    item = only_item(cat)
    assert item.datetime == pd.Timestamp("2023-07-01T10:00", tz="UTC") and "start_datetime" not in item.properties
    assert [i["id"] for i in expression(item)["inputs"]] == ["s2-c"]
    assert list(item.properties["cube:variables"]) == ["lst"] and "band" not in item.properties["cube:dimensions"]
    assert item.properties["created"] > first.properties["created"]
    assert not len(catalog.search(cat, datetime="2023-06"))  # the replaced cube's June is gone
    with pytest.raises(EmptySearchError):
        catalog.search(cat, datetime="2023-06", require_items=True)

    # replaced by another workflow's output: the item moves to that workflow's collection
    cube.write(product("2023-07-01", 1, [scenes["s2-c"]], method="urban.invert"), path, mode="w", catalog=cat)
    assert only_item(cat).collection_id == "eoxr-urban"
    assert not (tmp_path / "eoxr-lst" / "c").exists()
    assert not pystac.Collection.from_file(str(tmp_path / "eoxr-lst" / "collection.json")).get_item_links()


def test_a_region_write_updates_an_existing_item_only(tmp_path, scenes):
    path, cat = tmp_path / "c.zarr", tmp_path / "catalog.json"
    cube.write(product("2023-06-01", 3, [scenes["s2-a"]]), path, catalog=cat)
    first = only_item(cat)
    patch = product("2023-06-02", 2, [scenes["s2-b"]], seed=3)
    cube.write(patch, path, region="auto", catalog=cat)
    item = only_item(cat)
    assert [i["id"] for i in expression(item)["inputs"]] == ["s2-a", "s2-b"]
    assert item.properties["end_datetime"] == first.properties["end_datetime"]
    assert item.properties["updated"] > first.properties["updated"]
    np.testing.assert_array_equal(cube.open(path)["lst"].values[1:], patch["lst"].values.astype("float32"))

    other, before = tmp_path / "other.zarr", product("2023-06-01", 3, [scenes["s2-a"]])
    cube.write(before, other)
    with pytest.raises(CatalogError, match="a region write updates an item, it does not add one"):
        cube.write(patch, other, region="auto", catalog=cat)
    np.testing.assert_array_equal(cube.open(other)["lst"].values, before["lst"].values.astype("float32"))
    with pytest.raises(CatalogError, match="needs compute=True"):
        cube.write(before, tmp_path / "template.zarr", compute=False, catalog=cat)
    assert not (tmp_path / "template.zarr").exists()


def test_register_item_catalogues_a_cube_written_without_catalog(tmp_path, scenes):
    path, cat = tmp_path / "c.zarr", tmp_path / "catalog.json"
    cube.write(product("2023-06-01", 2, [scenes["s2-a"]]), path)
    item = catalog.register_item(path, cat)
    found = only_item(cat)
    assert found.get_self_href() == item.get_self_href() and found.properties == item.properties
    assert json.loads(cube.open(path).attrs["eoxr_item"])["href"] == item.get_self_href()
    again = catalog.register_item(path, cat)
    assert again.properties["created"] == item.properties["created"] and len(catalog.search(cat)) == 1


def test_clashes_and_data_without_a_footprint_or_time_are_refused_before_writing(tmp_path, scenes):
    cat = tmp_path / "catalog.json"
    cube.write(product("2023-06-01", 2, [scenes["s2-a"]]), tmp_path / "a" / "x.zarr", catalog=cat)
    with pytest.raises(CatalogError, match=r"already has an item 'x' .* for the cube .*a/x\.zarr"):
        cube.write(product("2023-06-01", 2, [scenes["s2-a"]]), tmp_path / "b" / "x.zarr", catalog=cat)
    assert not (tmp_path / "b").exists()
    flat = product("2023-06-01", 2, [scenes["s2-a"]]).drop_vars("spatial_ref")
    flat["lst"].attrs.pop("grid_mapping", None)
    with pytest.raises(CatalogError, match="no CRS"):
        cube.write(flat, tmp_path / "flat.zarr", catalog=cat)
    timeless = stamp(product("2023-06-01", 1, []).isel(time=0, drop=True), "lst.degrade", made_from=[])
    with pytest.raises(CatalogError, match="no time coordinate"):
        cube.write(timeless, tmp_path / "timeless.zarr", catalog=cat)
    assert not (tmp_path / "flat.zarr").exists() and not (tmp_path / "timeless.zarr").exists()
    # without a time coordinate, the inputs' times date the item
    cube.write(stamp(timeless, "lst.degrade", made_from=[scenes["s2-a"].to_dict(), item_ref(scenes["s2-c"])]),
               tmp_path / "dated.zarr", catalog=cat)
    dated = only_item(cat, ids=["dated"])
    assert utc(dated.properties["start_datetime"]) == pd.Timestamp("2023-06-01T10:30", tz="UTC")
    assert utc(dated.properties["end_datetime"]) == pd.Timestamp("2023-07-01", tz="UTC")


def test_load_joins_the_cubes_of_several_items(tmp_path, scenes):
    cat = tmp_path / "catalog.json"
    june = product("2023-06-01", 3, [scenes["s2-a"]])
    later = product("2023-06-04", 2, [scenes["s2-b"]], seed=1)
    cube.write(later, tmp_path / "later.zarr", catalog=cat)
    cube.write(june, tmp_path / "june.zarr", catalog=cat)
    items = catalog.search(cat)
    ds = io.load(items, bands=["lst"])
    assert list(ds.data_vars) == ["lst"]
    np.testing.assert_array_equal(ds["lst"].values,
                                  xr.concat([june, later], "time")["lst"].values.astype("float32"))
    part = june.isel(x=slice(0, 4))
    clipped = io.load(items, bbox=part.rio.transform_bounds("EPSG:4326"), chunks={"time": 1})
    assert set(part.x.values) <= set(clipped.x.values) and clipped.sizes["x"] < june.sizes["x"]
    assert clipped["lst"].chunks[0] == (1,) * 5
    prov = provenance_attrs(ds)
    assert prov["method"] == "eoxr.io.load" and prov["item"] is None
    assert sorted(r["id"] for r in prov["inputs"]) == ["june", "later"] and all(r["product"] for r in prov["inputs"])
    with pytest.raises(ParameterError, match=r"\['resolution'\] apply to raster assets"):
        io.load(items, resolution=10.0)
    raster = scene_item(tmp_path, "raster", "2023-06-01")
    raster.add_asset("red", pystac.Asset(str(tmp_path / "red.tif"), media_type=pystac.MediaType.COG))
    with pytest.raises(ParameterError, match=r"\['raster'\] are not"):
        io.load([items[0], raster])
    with pytest.raises(CubeError, match=r"the item 'raster' has no Zarr asset .* \['red'\]"):
        cube.open(raster)


def test_a_catalog_in_memory(scenes):
    import fsspec

    root = "memory://eoxr-test-outputs"
    try:
        cube.write(product("2023-06-01", 3, [scenes["s2-a"]]), f"{root}/cubes/c.zarr", catalog=f"{root}/stac")
        found = only_item(f"{root}/stac", collections=["eoxr-lst"])
        assert found.assets["zarr"].href == f"{root}/cubes/c.zarr"
        np.testing.assert_array_equal(cube.open(found)["lst"].values, cube.open(f"{root}/cubes/c.zarr")["lst"].values)
        assert [r.id for r in catalog.provenance(found).raw_inputs()] == ["s2-a"]
    finally:
        fsspec.filesystem("memory").rm(root, recursive=True)


def test_ingest_command_passes_its_catalog(monkeypatch):
    from eoxr import cli

    seen = {}
    monkeypatch.setattr(catalog, "search", lambda *a, **k: ["an item"])
    monkeypatch.setattr(cube, "ingest", lambda items, out, **kwargs: seen.update(kwargs))
    assert cli.main(["ingest", "src", "--out", "c.zarr", "--catalog", "s3://b/catalog.json", "--cluster", "none"]) == 0
    assert seen["catalog"] == "s3://b/catalog.json"
