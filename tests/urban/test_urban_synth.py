"""Synthetic urban scenes: sample catalog items (COGs + STAC), seeds, and the urban demo on them."""
import json

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from figures import check_urban_demo

from eoxr.urban import synth


def test_sample_items_write_cogs_and_items(tmp_path):
    items = synth.sample_items(tmp_path, seed=0)
    assert sorted(i.collection_id for i in items) == ["eoxr-urban-city", "eoxr-urban-ecostress", "eoxr-urban-s2"]
    total = sum(p.stat().st_size for p in tmp_path.rglob("*.tif"))
    assert total < 20e6
    by = {i.collection_id: i for i in items}
    city = by["eoxr-urban-city"]
    assert "proj:code" in city.properties and city.properties["urban:element_names"][0] == "roof"
    dsm = xr.open_dataarray(city.assets["dsm"].href, engine="rasterio")
    assert dsm.rio.crs.to_epsg() == 32631 and float(dsm.max()) > 4.0  # buildings
    s2 = by["eoxr-urban-s2"]
    assert {"B02", "B12"} <= set(s2.assets) and s2.properties["sun_zenith"] == pytest.approx(35.0)
    red = xr.open_dataarray(s2.assets["B04"].href, engine="rasterio")
    assert red.rio.resolution()[0] == pytest.approx(10.0) and np.isfinite(red.values).all()
    eco = by["eoxr-urban-ecostress"]
    tir = xr.open_dataarray(eco.assets["TIR4"].href, engine="rasterio")
    assert tir.rio.resolution()[0] == pytest.approx(70.0) and 5 < float(tir.mean()) < 15  # W m-2 sr-1 um-1
    # another seed, another city
    other = synth.sample_items(tmp_path / "other", seed=1)
    dsm1 = xr.open_dataarray(other[0].assets["dsm"].href, engine="rasterio")
    assert not np.array_equal(dsm.values, dsm1.values)


def test_observe_misregistration_and_noise_change_the_image():
    city = synth.make_city(120.0, 2.0, seed=2)
    from eoxr.urban import Atmosphere, Geometry, get_sensor

    sen = get_sensor("sentinel-2").subset(["B04", "B08"])
    g, a = Geometry(30.0, 160.0), Atmosphere()
    truth = synth.draw_properties(city, sen, 2, g)
    clean = synth.observe(city, truth, sen, g, a, pixel_size=10.0)
    shifted = synth.observe(city, truth, sen, g, a, pixel_size=10.0, misregistration=0.3)
    noisy = synth.observe(city, truth, sen, g, a, pixel_size=10.0, noise=0.02, seed=5)
    rel = lambda d: float(np.abs(d.radiance - clean.radiance).mean() / clean.radiance.mean())  # noqa: E731
    assert 0.001 < rel(shifted) < 0.2
    assert 0.005 < rel(noisy) < 0.05
    assert clean.radiance.attrs["units"] == "W m-2 sr-1 um-1" and clean.rio.crs == city.crs


@pytest.mark.slow
def test_urban_demo_runs_on_the_sample(tmp_path, monkeypatch, capsys, sample_dir):
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    from eoxr.urban import demo

    paths = demo.run(tmp_path / "out")
    assert paths["quicklook"].exists() and (paths["s2_cube"] / "zarr.json").exists()
    from eoxr import cube

    res = cube.open(paths["s2_cube"])
    assert res.albedo.attrs["units"] == "1" and res.rio.crs is not None
    assert 0.0 < float(res.albedo.mean()) < 0.6
    out = capsys.readouterr().out
    assert "net shortwave" in out and "element temperature" in out
    check_urban_demo(json.loads(paths["metrics"].read_text()))
