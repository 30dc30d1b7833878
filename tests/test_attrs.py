"""The provenance convention of eoxr.attrs: what stamp records, what it carries from inputs, what survives
Zarr and netCDF and appends."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from eoxr import cube
from eoxr.attrs import item_ref, provenance_attrs, stamp
from eoxr.lst import synth

SCENE = {"type": "Feature", "stac_version": "1.1.0", "id": "s2-a", "collection": "scenes", "geometry": None,
         "assets": {}, "properties": {"start_datetime": "2023-06-01T00:00:00Z", "end_datetime": "2023-06-02T00:00:00Z",
                        "datetime": None},
         "links": [{"rel": "self", "href": "/data/scenes/s2-a.json"}]}


def field(day: str = "2023-06-01", n: int = 2) -> xr.Dataset:
    time = pd.date_range(day, periods=n, freq="D")
    ds = xr.Dataset({"lst": (("time", "y", "x"), np.full((n, 4, 4), 290.0), {"units": "K", "long_name": "LST"})},
                    coords={"time": time, "y": 4e6 - 30.0 * np.arange(4), "x": 5e5 + 30.0 * np.arange(4)})
    return ds.rio.write_crs("EPSG:32631")


def test_stamp_records_a_product_and_leaves_bookkeeping_alone():
    made = stamp(field(), "lst.superres[sisr]", made_from=[SCENE], checkpoint_sha256="ab" * 32, factor=np.int64(4),
                 shape=(2, 3), crs=object())
    prov = provenance_attrs(made)
    assert prov["method"] == "lst.superres[sisr]" and prov["checkpoint_sha256"] == "ab" * 32
    assert prov["parameters"]["factor"] == 4 and prov["parameters"]["shape"] == [2, 3]
    assert prov["parameters"]["crs"].startswith("<object object")  # other objects as text
    assert prov["inputs"] == [{"id": "s2-a", "href": "/data/scenes/s2-a.json", "collection": "scenes",
                               "datetime": ["2023-06-01T00:00:00Z", "2023-06-02T00:00:00Z"], "product": False}]
    assert all(isinstance(made.attrs[k], str) for k in ("eoxr_parameters", "eoxr_inputs"))

    written = stamp(made, "eoxr.cube.write", chunks={"time": 1})  # bookkeeping: history only
    assert provenance_attrs(written) | {"history": None} == prov | {"history": None}
    assert written.attrs["history"].splitlines()[-1].endswith("eoxr.cube.write(chunks={'time': 1})")


def test_a_product_names_its_sources_items_and_keeps_their_model():
    learned = stamp(field(), "lst.superres[sisr]", made_from=[SCENE], checkpoint_sha256="ab" * 32)
    catalogued = field("2023-07-01")
    catalogued.attrs["eoxr_item"] = json.dumps({"id": "cube", "href": "/stac/cube.json", "product": True})
    catalogued.attrs["eoxr_inputs"] = json.dumps([{"id": "never-named", "href": "/x.json"}])

    out = stamp(xr.Dataset(), "lst.degrade", made_from=[learned, catalogued, learned], factor=2)
    prov = provenance_attrs(out)
    assert [(r["id"], r["href"]) for r in prov["inputs"]] == [("s2-a", "/data/scenes/s2-a.json"),
                                                             ("cube", "/stac/cube.json")]
    assert prov["checkpoint_sha256"] == "ab" * 32  # made in memory from a learned product: its model stays named
    assert prov["item"] is None
    own = stamp(xr.Dataset(), "ml.predict", made_from=[learned], checkpoint_sha256="cd" * 32)
    assert provenance_attrs(own)["checkpoint_sha256"] == "cd" * 32

    opened = stamp(catalogued, "lst.degrade", made_from=[catalogued])  # a product is never its source's item
    assert "eoxr_item" not in opened.attrs


def test_item_ref_of_pystac_items_and_eoxr_products():
    import pystac

    item = pystac.Item.from_dict(SCENE)
    assert item_ref(item) == item_ref(SCENE) and not item_ref(item)["product"]
    product = dict(SCENE, properties={**SCENE["properties"],
                                      "processing:expression": {"format": "eoxr", "expression": {}}})
    assert item_ref(product)["product"]


def test_the_attrs_survive_zarr_netcdf_and_appends(tmp_path):
    first = stamp(field(), "lst.superres[bicubic]", made_from=[SCENE], factor=4)
    second = stamp(field("2023-06-03"), "lst.superres[bicubic]", made_from=[dict(SCENE, id="s2-b")], factor=4)
    first.to_netcdf(tmp_path / "f.nc", engine="h5netcdf")
    with xr.open_dataset(tmp_path / "f.nc", engine="h5netcdf") as back:
        assert provenance_attrs(back) == provenance_attrs(first)
    cube.write(first, tmp_path / "c.zarr")
    assert provenance_attrs(cube.open(tmp_path / "c.zarr"))["inputs"] == provenance_attrs(first)["inputs"]
    cube.write(second, tmp_path / "c.zarr", mode="a", append_dim="time")
    prov = provenance_attrs(cube.open(tmp_path / "c.zarr"))
    assert [r["id"] for r in prov["inputs"]] == ["s2-a", "s2-b"] and prov["method"] == "lst.superres[bicubic]"


@pytest.mark.parametrize("method", ["bicubic", "tsharp"])
def test_lst_methods_name_the_inputs_of_the_dataset_they_were_given(method):
    truth, obs = synth.observation(0, size=64, factor=4)
    coarse = stamp(obs, "eoxr.io.load", made_from=[SCENE])
    guide = {} if method == "bicubic" else {"guide": truth["ndvi"]}
    for out in (coarse.lst.superres(4, method=method, **guide), coarse["lst"].lst.degrade(2)):
        assert "eoxr_method" in out.attrs
    fine = coarse.lst.superres(4, method=method, **guide)
    prov = provenance_attrs(fine)
    assert prov["method"] == f"lst.superres[{method}]" and [r["id"] for r in prov["inputs"]] == ["s2-a"]
    assert prov["parameters"]["factor"] == 4 and prov["checkpoint_sha256"] is None
