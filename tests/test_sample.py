import json

import numpy as np
import pystac
import pytest
import rasterio
import xarray as xr

import eoxr
from eoxr import sample


def test_s2_scene_depends_on_seed_and_has_cloud():
    a, b = sample.s2_scene(seed=0, size=64), sample.s2_scene(seed=1, size=64)
    assert not np.allclose(a["red"].values[0], b["red"].values[0])
    assert a["red"].isel(time=1).isnull().any()
    assert not a["red"].isel(time=0).isnull().any()
    ndvi = (a["nir"] - a["red"]) / (a["nir"] + a["red"])
    assert float(ndvi.max()) > 0.6 and float(ndvi.min()) < 0.1
    assert a.rio.crs.to_epsg() == 32631


def test_cog_item_carries_projection_v2_and_raster(tmp_path):
    ds = sample.s2_scene(seed=0, size=32)
    dn = (ds["red"].isel(time=0) / 1e-4).round().astype("uint16").rio.write_crs(sample.S2_CRS)
    path = sample.write_cog(dn, tmp_path / "red.tif", nodata=0)
    item = sample.cog_item("x", "2023-05-01T10:00:00", {"red": path}, collection="c",
                           band_info={"red": {"common_name": "red", "scale": 1e-4, "offset": 0.0}})
    d = item.to_dict()
    asset = d["assets"]["red"]
    assert d["properties"]["proj:code"] == "EPSG:32631"
    assert asset["proj:shape"] == [32, 32]
    assert asset["proj:transform"][:3] == [10.0, 0.0, 500000.0]
    assert asset["raster:bands"][0] == {"data_type": "uint16", "spatial_resolution": 10.0, "nodata": 0,
                                        "scale": 1e-4, "offset": 0.0}
    assert asset["eo:bands"][0]["common_name"] == "red"
    west, south, east, north = item.bbox
    assert 2.99 < west < 3.01 and 41.9 < south < 42.1  # 500 km easting is the 3 deg E meridian of zone 31
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_ensure_sample_is_idempotent_and_complete(tmp_path):
    root = tmp_path / "sample"
    path = sample.ensure_sample(root)
    mtime = path.stat().st_mtime_ns
    assert sample.ensure_sample(root) == path and path.stat().st_mtime_ns == mtime
    cat = pystac.Catalog.from_file(str(path))
    items = {i.id: i for i in cat.get_items(recursive=True)}
    s2 = [i for i in items.values() if i.collection_id == sample.S2_COLLECTION]
    assert len(s2) == 3
    for item in items.values():
        for asset in item.assets.values():
            if "geotiff" not in (asset.media_type or ""):
                continue  # swaths (HDF5, netCDF) have no affine grid: read below
            with rasterio.open(asset.get_absolute_href()) as src:
                assert src.crs is not None
    swath = eoxr.io.open_product(items["gmi-swath"].assets["1c"].get_absolute_href())
    assert swath["brightness_temperature"].shape[-1] == 13 and swath.attrs["instrument"] == "GMI"
    assert xr.open_dataset(items["gmi-swath"].assets["reference"].get_absolute_href())["rain_rate"].shape == \
        swath["brightness_temperature"].shape[:2]
    no2 = xr.open_dataset(items["s5p-like-scene"].assets["scene"].get_absolute_href())
    assert no2["no2_column"].attrs["units"] == "mol m-2" and {"u", "v"} <= set(no2.data_vars)
    assert json.loads((root / "sample.json").read_text())["seed"] == 0
    assert not (tmp_path / "sample_building").exists()


def test_write_cog_without_crs_names_the_fix(tmp_path):
    import pytest
    import xarray as xr

    from eoxr.errors import CRSError

    with pytest.raises(CRSError, match="rio.write_crs"):
        sample.write_cog(xr.DataArray(np.zeros((4, 4)), dims=("y", "x"), name="a"), tmp_path / "a.tif")


def test_real_data_dir_is_the_one_setting(tmp_path, monkeypatch):
    from eoxr.errors import NoDataError
    from eoxr.sample import REAL_DATA_SETTING, real_data_dir

    monkeypatch.delenv(REAL_DATA_SETTING, raising=False)
    monkeypatch.chdir(tmp_path)
    assert real_data_dir() is None  # unset, and no shared/data/real beside the working directory
    (tmp_path / "eoxr").mkdir()  # the default: the project's folder beside the checkout the command runs in
    monkeypatch.chdir(tmp_path / "eoxr")
    (tmp_path / "shared" / "data" / "real").mkdir(parents=True)
    assert real_data_dir() == tmp_path / "shared" / "data" / "real"
    monkeypatch.setenv(REAL_DATA_SETTING, str(tmp_path))
    assert real_data_dir() == tmp_path
    monkeypatch.setenv(REAL_DATA_SETTING, str(tmp_path / "absent"))
    with pytest.raises(NoDataError, match="EOXR_REAL_DATA='.*absent' names no folder"):
        real_data_dir()
