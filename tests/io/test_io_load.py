"""eoxr.io.load: recorded real STAC items -> lazy cubes (no pixel read), then local COGs -> values."""
import copy
import dataclasses
import json

import cloudpickle
import numpy as np
import pandas as pd
import pystac
import pytest
import xarray as xr

from cogs import asset_grid, localize, write_sparse_cog
from eoxr.errors import CRSError, MissingVariableError, NoDataError, ReadError, SourceDtypeError
from eoxr.io import load
from eoxr.io.gdal import DEFAULT_GDAL_OPTIONS, gdal_options, stackstac_env
from eoxr.io.stac import check_valid

ENGINES = ["stackstac", "odc"]


def _features(path):
    data = json.loads(path.read_text())
    return data["features"] if "features" in data else [data]


@pytest.fixture(scope="module")
def es_items(real_data):
    """Earth Search v1: [sentinel-2-l2a S2A_13TDE_20231008, landsat-c2-l2 LC08_L2SP_033032_20231008]."""
    return _features(real_data / "stac_pystac_client/extracted/test_multiple_collections__0.json")


@pytest.fixture(scope="module")
def pc_landsat(real_data):
    """Planetary Computer landsat-c2-l2 items of 2025-07-22 (the L2SP ones carry lwir11)."""
    return _features(real_data / "stac_pystac_client/extracted/test_fallback_strategy__2.json")


@pytest.fixture(scope="module")
def pc_s2_site2(real_data):
    """13 Planetary Computer sentinel-2-l2a items over MGRS 35MNM (EPSG:32735), June-July 2020."""
    return pystac.ItemCollection.from_dict(
        json.loads((real_data / "stac_odc_stac/site2-2020_jun_jul-35MNM.geojson").read_text())
    )


def _x0(ds):
    return float(ds.x[0]), float(ds.y[0])


# ---------------------------------------------------------------------------------------------
# real recorded items, lazy only (the hrefs are remote and never touched)


@pytest.mark.parametrize("engine", ENGINES)
def test_pc_sentinel2_common_names_lazy(pc_s2_site2, engine, no_compute):
    # pystac 1.15 migrates these items to projection v2: only proj:code is left.
    assert "proj:epsg" not in pc_s2_site2.items[0].to_dict(transform_hrefs=False)["properties"]
    ds = load(pc_s2_site2, bands=["red", "nir", "B11"], engine=engine)
    assert list(ds.data_vars) == ["red", "nir", "B11"]
    assert ds["red"].attrs["asset_key"] == "B04" and ds["nir"].attrs["asset_key"] == "B08"
    assert ds.rio.crs.to_epsg() == 32735
    assert ds.sizes == {"time": 13, "y": 10980, "x": 10980}  # one MGRS tile, 10 m (B11 is 20 m)
    assert _x0(ds) == (499980.0 + 5, 9200020.0 - 5)  # pixel centres of the native 10 m grid
    assert float(ds.x[1] - ds.x[0]) == 10.0 and float(ds.y[1] - ds.y[0]) == -10.0
    assert np.all(np.diff(ds.time.values) > np.timedelta64(0))
    for v in ds.data_vars.values():
        assert v.dims == ("time", "y", "x") and v.dtype == np.float32
        assert v.attrs["units"] == "1" and v.attrs["long_name"]
    assert ds["red"].attrs["long_name"] == "Band 4 - Red"
    assert "eoxr.io.load" in ds.attrs["history"]


@pytest.mark.parametrize("engine", ENGINES)
def test_pc_landsat_thermal_units_and_scale(pc_landsat, engine, no_compute):
    items = [it for it in pc_landsat if "lwir11" in it["assets"]]
    assert len(items) == 2
    ds = load(items, bands=["lwir11", "red"], engine=engine, bbox=(164.0, -12.4, 164.1, -12.3))
    assert ds.rio.crs.to_epsg() == 32658
    assert ds["lwir11"].attrs["units"] == "K"
    assert ds["lwir11"].attrs["long_name"] == "Long-wave infrared"
    assert ds["lwir11"].attrs["applied_scale_offset"] == (0.00341802, 149.0)
    assert ds["red"].attrs["units"] == "1" and ds["red"].attrs["applied_scale_offset"] == (2.75e-05, -0.2)
    # The native Landsat grid is offset by 15 m from multiples of 30 m: kept, not resampled.
    assert float(ds.x[0]) % 30 == 0.0 and (float(ds.x[0]) - 15 - 317685.0) % 30 == 0
    assert ds.sizes["time"] == 2 and ds.sizes["x"] > 300


@pytest.mark.parametrize("engine", ENGINES)
def test_earth_search_v1_both_collections_native_grid(es_items, engine, no_compute):
    s2, ls = es_items
    ds = load([s2], bands=["red", "nir08", "scl"], engine=engine)
    assert ds.sizes == {"time": 1, "y": 10980, "x": 10980}
    assert _x0(ds) == (399965.0, 4499995.0)
    assert ds["scl"].attrs["units"] == "1"
    lt = load(pystac.ItemCollection([pystac.Item.from_dict(ls)]), bands=["lwir11", "nir08"], engine=engine)
    assert lt.sizes == {"time": 1, "y": 7831, "x": 7711}  # proj:shape of the Landsat scene
    assert lt.rio.crs.to_epsg() == 32613 and lt["lwir11"].attrs["units"] == "K"


@pytest.mark.parametrize("name, bands, epsg, res, shape", [
    ("S2A_28QCH_20200714_0_L2A.json", ["B04", "B8A"], 32628, 10, (10980, 10980)),  # Earth Search v0
    ("S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531_raster_ext.json", ["red", "B8A"], 32606, 10,
     (10980, 10980)),
    ("LC08_L2SP_028030_20200114_20200824_02_T1_SR.json", ["red", "nir08"], 32615, 30, (8041, 7931)),  # USGS
    ("LE07_L2SP_044033_20210329_20210424_02_T1_SR.json", ["swir16"], 32610, 30, (7131, 8151)),
])
@pytest.mark.parametrize("engine", ENGINES)
def test_recorded_items_native_grid_lazy(real_data, name, bands, epsg, res, shape, engine, no_compute):
    item = json.loads((real_data / "stac_odc_stac" / name).read_text())
    ds = load(pystac.Item.from_dict(item), bands=bands, engine=engine)
    assert ds.rio.crs.to_epsg() == epsg and list(ds.data_vars) == bands
    assert (ds.sizes["y"], ds.sizes["x"]) == shape and float(ds.x[1] - ds.x[0]) == res
    assert ds.rio.resolution() == (res, -res)
    assert all(ds[b].dtype == np.float32 and ds[b].attrs["units"] and ds[b].attrs["long_name"] for b in bands)


def test_items_without_transform_need_a_resolution(real_data, no_compute):
    # DEA item: proj:epsg 4326 only, no proj:transform/shape on item or assets.
    item = json.loads((real_data / "stac_odc_stac/only_crs_proj.json").read_text())
    with pytest.raises(CRSError, match="resolution="):
        load(item, bands=["PV_PC_50"])
    with pytest.raises(CRSError, match="degrees"):
        load(item, bands=["PV_PC_50"], resolution=30)
    for engine in ENGINES:
        ds = load(item, bands=["PV_PC_50", "BS_PC_50"], resolution=0.001, engine=engine)
        assert ds.rio.crs.to_epsg() == 4326 and ds["PV_PC_50"].dims == ("time", "y", "x")
        west, south, east, north = item["bbox"]
        assert ds.sizes["x"] == int(np.ceil(east / 0.001 - 1e-6) - np.floor(west / 0.001 + 1e-6))
        assert ds.x.attrs["units"] == "degrees_east" and ds.y.attrs["units"] == "degrees_north"


def test_default_bands_are_single_band_data_assets(pc_s2_site2, no_compute):
    ds = load(pc_s2_site2.items[:2], bbox=(27.1, -8.0, 27.11, -7.99))
    assert "B04" in ds and "SCL" in ds
    assert "visual" not in ds and "preview" not in ds  # multi-band / overview assets are left out


def test_relative_hrefs_and_pre_1_0_band_indices(real_data, tmp_path):
    item = json.loads((real_data / "stac_odc_stac/LC08_L2SR_081119_20200101_20200823_02_T2.json").read_text())
    with pytest.raises(ReadError, match="relative"):  # its self link is relative too: nothing to resolve against
        load([item], bands=["blue"])
    item["links"] = [{"rel": "self", "href": str(tmp_path / "catalog" / "item.json")}]
    for engine in ENGINES:
        ds = load([item], bands=["blue"], engine=engine)
        assert ds["blue"].attrs["asset_key"] == "SR_B2.TIF"  # eo:bands [1] -> the item's second band, "blue"
        assert ds.rio.crs.to_epsg() == 3031 and ds.sizes["x"] == 200
    with pytest.raises(ReadError, match=str(tmp_path / "catalog" / "tests/data-files/landsat")):
        ds["blue"].compute()


def test_engines_give_the_same_grid(es_items, pc_s2_site2, real_data):
    requests = [
        ([es_items[0]], dict(bands=["red"], bbox=(-105.8, 40.4, -105.7, 40.5))),
        ([es_items[0]], dict(bands=["nir08"], resolution=60, bbox=(-105.9, 40.3, -105.6, 40.55))),
        ([es_items[1]], dict(bands=["lwir11"], bbox=(-104.5, 40.0, -104.3, 40.2))),
        ([es_items[0]], dict(bands=["red"], crs="EPSG:4326", resolution=0.001, bbox=(-105.8, 40.4, -105.7, 40.5))),
        (pc_s2_site2, dict(bands=["red"], bbox=(27.1, -8.0, 27.2, -7.9), groupby="solar_day")),
    ]
    for items, kw in requests:
        a = load(items, engine="stackstac", **kw)
        b = load(items, engine="odc", **kw)
        assert a.sizes == b.sizes, kw
        np.testing.assert_array_equal(a.x.values, b.x.values)
        np.testing.assert_array_equal(a.y.values, b.y.values)
        np.testing.assert_array_equal(a.time.values, b.time.values)
        assert a.rio.crs == b.rio.crs
        assert a.rio.transform() == b.rio.transform()
    assert a.rio.crs.to_epsg() == 32735


def test_reprojected_geographic_output(es_items):
    ds = load([es_items[0]], bands=["red"], crs=4326, resolution=0.001, bbox=(-105.8, 40.4, -105.7, 40.5), engine="odc")
    assert ds.rio.crs.to_epsg() == 4326 and ds["red"].dims == ("time", "y", "x")
    assert ds.sizes["x"] == 100 and ds.sizes["y"] == 100
    np.testing.assert_allclose(ds.x.values[[0, -1]], [-105.7995, -105.7005])


def test_chunks(es_items):
    ds = load([es_items[0]], bands=["red"], bbox=(-105.8, 40.4, -105.7, 40.5), chunks={"x": 256, "y": 300})
    assert ds["red"].chunks[1][0] == 300 and ds["red"].chunks[2][0] == 256 and ds["red"].chunks[0] == (1,)


def test_missing_band_lists_what_exists(es_items):
    with pytest.raises(MissingVariableError) as err:
        load(es_items, bands=["red", "lwir11"])  # the S2 item has no thermal band
    msg = str(err.value)
    assert "lwir11" in msg and "S2A_13TDE_20231008_0_L2A" in msg and "nir08" in msg and "coastal" in msg


def test_crs_and_bbox_errors(es_items, pc_landsat):
    # Items on two UTM zones (32613 and 32657) without crs=.
    with pytest.raises(CRSError, match="crs="):
        load([es_items[0], pc_landsat[4]], bands=["red"])
    with pytest.raises(CRSError, match="bbox_crs"):
        load([es_items[0]], bands=["red"], bbox=(400000, 4400000, 401000, 4401000))  # metres given as lon/lat
    with pytest.raises(CRSError, match="does not overlap"):
        load([es_items[0]], bands=["red"], bbox=(10.0, 45.0, 10.1, 45.1))
    with pytest.raises(CRSError, match="EPSG"):
        load([es_items[0]], bands=["red"], crs="not-a-crs")
    with pytest.raises(CRSError, match="resolution="):
        load([es_items[0]], bands=["red"], crs="EPSG:4326", bbox=(-105.8, 40.4, -105.7, 40.5))
    no_proj = copy.deepcopy(es_items[0])
    no_proj["properties"].pop("proj:epsg")
    with pytest.raises(CRSError, match="crs="):
        load([no_proj], bands=["red"])


def test_projection_v2_dicts(es_items, no_compute):
    v2 = copy.deepcopy(es_items[0])
    v2["properties"]["proj:code"] = f"EPSG:{v2['properties'].pop('proj:epsg')}"
    for engine in ENGINES:
        ds = load([v2], bands=["blue"], engine=engine, bbox=(-105.8, 40.4, -105.7, 40.5))
        assert ds.rio.crs.to_epsg() == 32613


# ---------------------------------------------------------------------------------------------
# local COGs matching the items' metadata: pixel values


def _native_box(grid, col, row, ncols, nrows):
    """Bounds (in the asset CRS) of ncols x nrows pixels of ``grid`` starting at (col, row)."""
    t = grid.transform
    return (t.c + col * t.a, t.f + (row + nrows) * t.e, t.c + (col + ncols) * t.a, t.f + row * t.e)


@pytest.mark.parametrize("engine", ENGINES)
def test_pixels_with_scale_offset_nodata_and_mixed_resolution(es_items, tmp_path, rng, engine):
    s2 = es_items[0]
    g10, g20 = asset_grid(s2, "red"), asset_grid(s2, "nir08")
    col, row = 2 * int(rng.integers(10, 5000)), 2 * int(rng.integers(10, 5000))  # even: on the 20 m grid
    box = _native_box(g10, col, row, 64, 40)
    w10, w20 = g10.window_for(box), g20.window_for(box)
    red = rng.integers(1, 10000, (w10.height, w10.width))
    red[rng.random(red.shape) < 0.1] = 0  # raster:bands nodata
    nir = rng.integers(1, 10000, (w20.height, w20.width))
    red = write_sparse_cog(tmp_path / "B04.tif", g10, w10, red)
    nir = write_sparse_cog(tmp_path / "B8A.tif", g20, w20, nir)
    assert (tmp_path / "B04.tif").stat().st_size < 200_000  # 10980 x 10980, sparse
    item = localize(s2, {"red": tmp_path / "B04.tif", "nir08": tmp_path / "B8A.tif"})

    ds = load([item], bands=["red", "nir08"], bbox=box, bbox_crs="EPSG:32613", engine=engine).compute()
    assert ds.sizes == {"time": 1, "y": 40, "x": 64}
    expected_red = np.where(red == 0, np.nan, red * 1e-4 - 0.1)
    np.testing.assert_allclose(ds["red"].values[0], expected_red, rtol=0, atol=1e-6)
    assert np.isnan(ds["red"].values[0]).sum() == (red == 0).sum() > 0
    expected_nir = np.repeat(np.repeat(nir * 1e-4 - 0.1, 2, axis=0), 2, axis=1)  # 20 m -> 10 m, nearest
    np.testing.assert_allclose(ds["nir08"].values[0], expected_nir, rtol=0, atol=1e-6)
    assert float(ds.x[0]) == box[0] + 5 and float(ds.y[0]) == box[3] - 5


@pytest.mark.parametrize("engine", ENGINES)
def test_stac_1_1_band_metadata(es_items, tmp_path, rng, engine):
    # STAC 1.1 / raster v2 spelling: "bands" with eo:common_name, asset-level nodata and raster:scale/offset.
    item = copy.deepcopy(es_items[0])
    item["properties"]["proj:code"] = f"EPSG:{item['properties'].pop('proj:epsg')}"
    asset = item["assets"].pop("red")
    scale, offset = float(rng.uniform(1e-5, 1e-3)), float(rng.uniform(-1, 1))
    for key in ("eo:bands", "raster:bands"):
        asset.pop(key)
    asset.update({"bands": [{"name": "B04", "eo:common_name": "red", "description": "Red, 665 nm"}],
                  "nodata": 65535, "data_type": "uint16", "raster:scale": scale, "raster:offset": offset})
    item["assets"]["B04"] = asset
    g = dataclasses.replace(asset_grid(item, "B04"), nodata=None)
    assert g.nodata is None and asset_grid(item, "B04").nodata == 65535
    box = _native_box(g, int(rng.integers(0, 9000)), int(rng.integers(0, 9000)), 20, 10)
    w = g.window_for(box)
    dn = rng.integers(0, 10000, (w.height, w.width))
    dn[rng.random(dn.shape) < 0.2] = 65535
    dn = write_sparse_cog(tmp_path / "B04.tif", g, w, dn)
    ds = load([localize(item, {"B04": tmp_path / "B04.tif"})], bands=["red"], bbox=box, bbox_crs="EPSG:32613",
              engine=engine).compute()
    assert ds["red"].attrs["asset_key"] == "B04" and ds["red"].attrs["long_name"] == "Red, 665 nm"
    expected = np.where(dn == 65535, np.nan, dn * scale + offset)
    np.testing.assert_allclose(ds["red"].values[0], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_landsat_surface_temperature_kelvin(pc_landsat, tmp_path, rng, engine):
    item = next(it for it in pc_landsat if "lwir11" in it["assets"])
    g = asset_grid(item, "lwir11")
    box = _native_box(g, int(rng.integers(100, 7000)), int(rng.integers(100, 7000)), 30, 20)
    w = g.window_for(box)
    dn = rng.integers(30000, 50000, (w.height, w.width))
    dn[rng.random(dn.shape) < 0.2] = 0
    # File without a nodata tag (the reader masks nothing): the STAC raster:bands nodata (0) must mask.
    dn = write_sparse_cog(tmp_path / "ST_B10.tif", dataclasses.replace(g, nodata=None), w, dn)
    ds = load([localize(item, {"lwir11": tmp_path / "ST_B10.tif"})], bands=["lwir11"], engine=engine,
              bbox=box, bbox_crs="EPSG:32658").compute()
    np.testing.assert_allclose(ds["lwir11"].values[0], np.where(dn == 0, np.nan, dn * 0.00341802 + 149.0), rtol=1e-6)
    assert np.isnan(ds["lwir11"].values[0]).sum() == (dn == 0).sum() > 0
    assert ds["lwir11"].attrs["units"] == "K" and 250 < float(ds["lwir11"].mean()) < 330


def _day_items(s2, tmp_path, rng, box):
    """Three copies of an S2 item (longitude -105.2, solar time = UTC - 7 h): the first two 10 min apart
    across UTC midnight but on one solar day, the first with holes; the third on the next solar day."""
    g = asset_grid(s2, "red")
    w = g.window_for(box)
    holes = rng.random((w.height, w.width)) < 0.5
    out, raws = [], []
    for i, when in enumerate(["2023-10-08T23:55:00Z", "2023-10-09T00:05:00Z", "2023-10-09T17:55:00Z"]):
        raw = rng.integers(1, 10000, (w.height, w.width))
        if i == 0:
            raw[holes] = 0
        path = tmp_path / f"red{i}.tif"
        raws.append(write_sparse_cog(path, g, w, raw))
        it = localize(s2, {"red": path})
        it["id"] = f"{s2['id']}-copy{i}"
        it["properties"]["datetime"] = when
        out.append(it)
    return out, raws


@pytest.mark.parametrize("engine", ENGINES)
def test_groupby_solar_day_mosaics_first_valid(es_items, tmp_path, rng, engine):
    s2 = es_items[0]
    box = _native_box(asset_grid(s2, "red"), int(rng.integers(0, 9000)), int(rng.integers(0, 9000)), 32, 24)
    items, raws = _day_items(s2, tmp_path, rng, box)
    lazy = load(items[::-1], bands=["red"], bbox=box, bbox_crs="EPSG:32613", engine=engine, groupby="solar_day")
    ds = lazy.compute()
    assert ds.sizes["time"] == 2  # grouping by UTC day would pair the second and third instead
    assert str(ds.time.values[0]).startswith("2023-10-08T23:55") and str(ds.time.values[1]).startswith("2023-10-09T17:55")
    assert ds["solar_day"].values.astype("datetime64[D]").tolist() == [np.datetime64("2023-10-08"), np.datetime64("2023-10-09")]
    first = np.where(raws[0] == 0, raws[1], raws[0]) * 1e-4 - 0.1  # holes of the first filled by the second
    np.testing.assert_allclose(ds["red"].values[0], first, atol=1e-6)
    np.testing.assert_allclose(ds["red"].values[1], raws[2] * 1e-4 - 0.1, atol=1e-6)
    assert ds["red"].attrs["units"] == "1" and ds.rio.crs.to_epsg() == 32613


@pytest.mark.parametrize("engine", ENGINES)
def test_groupby_solar_day_scales_each_item_before_mosaicking(es_items, tmp_path, rng, engine):
    # the second item of the day was processed with another baseline (no offset): its pixels that fill the first
    # one's holes keep its own scaling (fusing the files' integers first would shift them by 0.1)
    s2 = es_items[0]
    box = _native_box(asset_grid(s2, "red"), int(rng.integers(0, 9000)), int(rng.integers(0, 9000)), 20, 16)
    items, raws = _day_items(s2, tmp_path, rng, box)
    for band in items[1]["assets"]["red"]["raster:bands"]:
        band["offset"] = 0.0
    ds = load(items, bands=["red"], bbox=box, bbox_crs="EPSG:32613", engine=engine, groupby="solar_day").compute()
    expected = np.where(raws[0] == 0, raws[1] * 1e-4, raws[0] * 1e-4 - 0.1)
    np.testing.assert_allclose(ds["red"].values[0], expected, atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_solar_days_are_odc_stacs(es_items, engine, no_compute):
    # at longitude -105.2 odc-stac shifts times by whole hours (-7 h): 06:59 and 07:01 UTC fall on two solar days
    # (by the exact offset, -7 h 01 min, both would be on the first)
    import odc.stac

    items = []
    for i, when in enumerate(["2023-10-09T06:59:00Z", "2023-10-09T07:01:00Z", "2023-10-09T17:55:00Z"]):
        item = copy.deepcopy(es_items[0])
        item["id"], item["properties"]["datetime"] = f"copy{i}", when
        items.append(item)
    bbox = (-105.3, 40.4, -105.2, 40.5)
    ds = load(items, bands=["red"], bbox=bbox, engine=engine, groupby="solar_day")
    odc_days = odc.stac.load([pystac.Item.from_dict(copy.deepcopy(i)) for i in items], bands=["red"], bbox=bbox,
                             groupby="solar_day", chunks={})
    np.testing.assert_array_equal(ds["time"].values, odc_days["time"].values.astype("datetime64[ns]"))
    assert ds["solar_day"].values.astype("datetime64[D]").tolist() == [np.datetime64("2023-10-08"),
                                                                       np.datetime64("2023-10-09")]


@pytest.mark.parametrize("engine", ENGINES)
def test_unreadable_href_raises_read_error_at_compute(es_items, tmp_path, engine):
    item = localize(es_items[0], {"red": tmp_path / "missing" / "B04.tif"})
    ds = load([item], bands=["red"], bbox=(-105.8, 40.4, -105.79, 40.41), engine=engine)  # lazy: no error yet
    with pytest.raises(ReadError) as err:
        ds["red"].compute()
    msg = str(err.value)
    assert "S2A_13TDE_20231008_0_L2A" in msg and str(tmp_path / "missing" / "B04.tif") in msg
    assert "on_error='nodata'" in msg


@pytest.mark.parametrize("engine", ENGINES)
def test_on_error_nodata_fills_nan_and_flags(es_items, tmp_path, rng, engine):
    s2 = es_items[0]
    box = _native_box(asset_grid(s2, "red"), int(rng.integers(0, 9000)), int(rng.integers(0, 9000)), 16, 12)
    items, raws = _day_items(s2, tmp_path, rng, box)
    items[1] = localize(items[1], {"red": tmp_path / "gone.tif"})
    ds = load(items, bands=["red"], bbox=box, bbox_crs="EPSG:32613", engine=engine, on_error="nodata").compute()
    assert ds["red"].shape == (3, 12, 16)
    assert ds["read_ok"].dims == ("time", "band") and ds["read_ok"].dtype == bool
    assert ds["read_ok"].sel(band="red").values.tolist() == [True, False, True]
    assert np.isnan(ds["red"].values[1]).all()
    np.testing.assert_allclose(ds["red"].values[2], raws[2] * 1e-4 - 0.1, atol=1e-6)
    grouped = load(items, bands=["red"], bbox=box, bbox_crs="EPSG:32613", engine=engine, on_error="nodata",
                   groupby="solar_day")
    assert grouped["read_ok"].sel(band="red").values.tolist() == [False, True]


def test_load_reads_no_pixel(es_items, tmp_path, no_compute):
    # Hrefs that do not exist and a scheduler that refuses to compute: load must still succeed.
    item = localize(es_items[0], {"red": tmp_path / "nope.tif", "nir08": tmp_path / "nope2.tif"})
    for engine in ENGINES:
        for on_error in ("raise", "nodata"):
            ds = load([item], bands=["red", "nir08"], engine=engine, on_error=on_error, groupby="solar_day")
            assert ds["red"].shape == (1, 10980, 10980)


def test_all_nodata_scene_check_valid(es_items, tmp_path, rng):
    s2 = es_items[0]
    g = asset_grid(s2, "red")
    box = _native_box(g, 100, 100, 8, 8)
    items, raws = _day_items(s2, tmp_path, rng, box)
    w = g.window_for(box)
    write_sparse_cog(tmp_path / "red1.tif", g, w, np.zeros((w.height, w.width)))  # second scene all nodata
    ds = load(items, bands=["red"], bbox=box, bbox_crs="EPSG:32613")
    kept = check_valid(ds)
    assert kept.sizes["time"] == 2 and kept.attrs["empty_times"] == [str(ds.time.values[1])]
    assert check_valid(ds, drop=False).sizes["time"] == 3
    # An area outside every scene's written window: nothing valid anywhere.
    empty = load(items, bands=["red"], bbox=_native_box(g, 5000, 5000, 8, 8), bbox_crs="EPSG:32613")
    with pytest.raises(NoDataError, match="bbox"):
        check_valid(empty)


def test_gdal_settings_travel_in_the_graph(es_items):
    agent = f"eoxr-test-{np.random.default_rng().integers(1e9)}"
    opts = gdal_options({"GDAL_HTTP_USERAGENT": agent, "GDAL_HTTP_MAX_RETRY": 9, "VSI_CACHE": None})
    assert opts["GDAL_HTTP_MAX_RETRY"] == 9 and "VSI_CACHE" not in opts
    assert opts["GDAL_DISABLE_READDIR_ON_OPEN"] == DEFAULT_GDAL_OPTIONS["GDAL_DISABLE_READDIR_ON_OPEN"]
    assert stackstac_env({"GDAL_HTTP_USERAGENT": agent}).open.options["GDAL_HTTP_USERAGENT"] == agent
    for engine in ENGINES:
        ds = load([es_items[0]], bands=["red"], bbox=(-105.8, 40.4, -105.79, 40.41), engine=engine,
                  gdal_env={"GDAL_HTTP_USERAGENT": agent})
        graph = cloudpickle.dumps(dict(ds["red"].data.__dask_graph__()))
        assert agent.encode() in graph, engine
        assert b"GDAL_HTTP_MAX_RETRY" in graph and b"CPL_VSIL_CURL_ALLOWED_EXTENSIONS" in graph


def test_rejects_bad_arguments(es_items):
    with pytest.raises(ValueError, match="engine"):
        load([es_items[0]], bands=["red"], engine="gdal")
    with pytest.raises(ValueError, match="float"):
        load([es_items[0]], bands=["red"], dtype="uint16")
    with pytest.raises(ValueError, match="groupby"):
        load([es_items[0]], bands=["red"], groupby="month")
    ds = load([es_items[0]], bands=["red"], bbox=(-105.8, 40.4, -105.79, 40.41), dtype="float64")
    assert ds["red"].dtype == np.float64
    assert pd.Timestamp(ds.time.values[0]) == pd.Timestamp("2023-10-08T18:02:55.276")
    assert "engine='stackstac'" in ds.attrs["history"] and "bands=['red']" in ds.attrs["history"]


def test_distributed_workers_read_and_raise_read_error(es_items, tmp_path, rng):
    # Readers, GDAL settings and the ReadError must survive pickling to worker processes.
    from distributed import Client, LocalCluster

    s2 = es_items[0]
    g = asset_grid(s2, "red")
    box = _native_box(g, int(rng.integers(0, 9000)), int(rng.integers(0, 9000)), 16, 8)
    w = g.window_for(box)
    raw = write_sparse_cog(tmp_path / "B04.tif", g, w, rng.integers(1, 10000, (w.height, w.width)))
    good = localize(s2, {"red": tmp_path / "B04.tif"})
    bad = localize(s2, {"red": tmp_path / "absent.tif"})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        for engine in ENGINES:
            ds = load([good], bands=["red"], bbox=box, bbox_crs="EPSG:32613", engine=engine).compute()
            np.testing.assert_allclose(ds["red"].values[0], raw * 1e-4 - 0.1, atol=1e-6)
            with pytest.raises(ReadError, match="S2A_13TDE_20231008_0_L2A"):
                load([bad], bands=["red"], bbox=box, bbox_crs="EPSG:32613", engine=engine).compute()


def _uint16_items(tmp_path, rng, scales):
    """One local uint16 COG per item (nodata 0, some zeros) on a 32 x 24 UTM grid; item i has scale scales[i]."""
    import rasterio
    from rasterio.transform import from_origin

    from rasterio.warp import transform_bounds

    transform = from_origin(600_000.0, 4_700_000.0, 20.0, 20.0)
    w, s, e, n = transform_bounds("EPSG:32631", "EPSG:4326", 600_000.0, 4_700_000.0 - 480, 600_640.0, 4_700_000.0)
    items, dns = [], []
    for i, scale in enumerate(scales):
        dn = rng.integers(1, 60_000, size=(24, 32), dtype="uint16")
        dn[rng.random(dn.shape) < 0.1] = 0
        href = tmp_path / f"b{i}.tif"
        with rasterio.open(href, "w", driver="GTiff", width=32, height=24, count=1, dtype="uint16",
                           crs="EPSG:32631", transform=transform, nodata=0) as dst:
            dst.write(dn, 1)
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"s{i}", "bbox": [w, s, e, n],
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
            "properties": {"datetime": f"2023-07-{i + 1:02d}T10:30:00Z", "proj:epsg": 32631,
                           "proj:transform": list(transform)[:6], "proj:shape": [24, 32]},
            "assets": {"red": {"href": str(href), "type": "image/tiff; application=geotiff", "roles": ["data"],
                               "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": scale,
                                                 "offset": -0.1}]}},
            "links": [],
        })
        dns.append(dn)
    return items, np.stack(dns)


@pytest.mark.parametrize("engine", ENGINES)
def test_per_item_scale_is_exact_and_attrs_only_when_shared(tmp_path, rng, engine):
    scales = [float(rng.uniform(1e-5, 1e-4)), float(rng.uniform(1e-4, 1e-3))]
    items, dn = _uint16_items(tmp_path, rng, scales)
    ds = load(items, bands=["red"], engine=engine, chunks={"time": 1, "y": 16, "x": 16})
    values = ds["red"].values
    assert values.dtype == np.float32
    for t, scale in enumerate(scales):
        # float64 arithmetic cast once: the same numbers CF decoding of the integers gives
        expected = np.where(dn[t] == 0, np.nan, (dn[t].astype(np.float64) * scale - 0.1).astype(np.float32))
        np.testing.assert_array_equal(values[t], expected)
    # Scales differ between items: no single scale/offset describes the band, nor can it be packed.
    assert not {"applied_scale_offset", "source_dtype", "source_nodata"} & set(ds["red"].attrs)
    with pytest.raises(SourceDtypeError, match="scale/offset"):
        load(items, bands=["red"], engine=engine, dtype="source")
    (tmp_path / "same").mkdir()
    same, _ = _uint16_items(tmp_path / "same", rng, [scales[0], scales[0]])
    attrs = load(same, bands=["red"], engine=engine)["red"].attrs
    assert attrs["applied_scale_offset"] == (scales[0], -0.1)
    assert attrs["source_dtype"] == "uint16" and attrs["source_nodata"] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_source_dtype_gives_integers_that_decode_to_the_float_load(tmp_path, rng, engine):
    scale = float(rng.uniform(1e-5, 1e-3))
    items, dn = _uint16_items(tmp_path, rng, [scale, scale])
    # bbox wider than the scenes: pixels outside them are nodata too
    kwargs = dict(bands=["red"], engine=engine, chunks={"time": 1, "y": 16, "x": 16},
                  bbox=(599_900.0, 4_699_400.0, 600_700.0, 4_700_000.0), bbox_crs="EPSG:32631")
    source = load(items, dtype="source", **kwargs)
    assert source["red"].chunks is not None  # dask-backed, nothing read yet
    assert source["red"].dtype == np.uint16 and source["red"].attrs["units"] == "1"
    assert source["red"].attrs["scale_factor"] == scale and source["red"].attrs["add_offset"] == -0.1
    assert source["red"].attrs["_FillValue"] == 0
    floats = load(items, **kwargs)["red"].values
    codes = source["red"].values
    assert codes.shape == (2, 30, 40)  # 5 columns of 20 m west, 3 east and 6 rows south of the scenes
    np.testing.assert_array_equal(codes[:, :24, 5:37], dn)
    for outside in (np.s_[:, :, :5], np.s_[:, :, 37:], np.s_[:, 24:, :]):
        assert (codes[outside] == 0).all() and np.isnan(floats[outside]).all()
    decoded = xr.decode_cf(source.compute())["red"].values.astype(np.float32)
    np.testing.assert_array_equal(decoded, floats)  # NaN at nodata and outside the scenes


def test_source_dtype_refuses_what_it_cannot_keep(tmp_path, rng):
    items, _ = _uint16_items(tmp_path, rng, [1e-4, 1e-4])
    for bad in ({"groupby": "solar_day"}, {"on_error": "nodata"}, {"resampling": "bilinear"}):
        with pytest.raises(ValueError, match="dtype='source'"):
            load(items, bands=["red"], dtype="source", **bad)
    items[1]["assets"]["red"]["raster:bands"][0]["nodata"] = 65535
    with pytest.raises(SourceDtypeError, match="nodata"):
        load(items, bands=["red"], dtype="source")
