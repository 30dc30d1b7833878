"""Synthetic scenes (seeded, realistic ranges, broken scale invariance), the sample items and the demo."""
import json

import numpy as np
from figures import check_lst_demo

import eoxr  # noqa: F401
from eoxr.lst import synth
from eoxr.lst.correction import detail_energy
from eoxr.lst.degrade import aggregate


def test_scene_changes_with_seed_and_is_reproducible():
    a, b, a2 = synth.scene(1, 64), synth.scene(2, 64), synth.scene(1, 64)
    assert not np.allclose(a["lst"].values, b["lst"].values)
    np.testing.assert_array_equal(a["lst"].values, a2["lst"].values)


def test_scene_ranges_units_and_crs():
    ds = synth.scene(5, 128)
    assert ds.rio.crs.to_epsg() == 32631
    assert 260 < float(ds["lst"].min()) and float(ds["lst"].max()) < 350
    assert -0.2 <= float(ds["ndvi"].min()) and float(ds["ndvi"].max()) <= 0.95
    for name in ds.data_vars:
        assert {"units", "long_name"} <= set(ds[name].attrs)
    assert float(ds.x[1] - ds.x[0]) == 250.0
    # LST falls with vegetation, but not along one line: the regime (soil moisture) changes the slope
    lst, ndvi, soil = (ds[v].values.ravel() for v in ("lst", "ndvi", "soil_moisture"))
    veg = (ndvi > 0.15) & (ndvi < 0.85)
    dry, wet = veg & (soil < np.median(soil)), veg & (soil >= np.median(soil))
    slope_dry = np.polyfit(ndvi[dry], lst[dry], 1)[0]
    slope_wet = np.polyfit(ndvi[wet], lst[wet], 1)[0]
    assert slope_dry < slope_wet < 0


def test_scale_invariance_is_broken():
    ds = synth.scene(8, 512)
    e = [float(detail_energy(aggregate(ds["lst"], s) if s > 1 else ds["lst"], 4, scales=(1,)).values[0])
         for s in (1, 2, 4, 8)]
    # a scale-invariant field has log E linear in log L; here the log-log increments differ
    steps = np.diff(np.log(e))
    assert np.ptp(steps) > 0.3


def test_observation_clouds():
    truth, obs = synth.observation(3, 128, factor=4, cloud_fraction=0.1)
    frac = float(np.isnan(obs["lst"].values).mean())
    assert obs["lst"].shape == (32, 32) and 0.05 < frac < 0.15


def test_sample_items(tmp_path):
    items = synth.sample_items(tmp_path, seed=0)
    assert {it.id for it in items} == {"lst-1km", "ndvi-250m", "lst-truth-250m"}
    assert all(it.collection_id == "eoxr-lst-sample" for it in items)
    total = sum(p.stat().st_size for p in tmp_path.rglob("*.tif"))
    assert total < 20e6
    lst_item = next(it for it in items if it.id == "lst-1km")
    assert lst_item.properties["proj:code"] == "EPSG:32631"


def test_demo_runs_on_the_sample(tmp_path, monkeypatch, capsys, sample_dir):
    from eoxr.lst import demo

    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    outputs = demo.run(tmp_path / "out")
    assert outputs["quicklook"].stat().st_size > 10_000 and outputs["cube"].is_dir()
    import eoxr.cube

    cube = eoxr.cube.open(outputs["cube"])
    assert {"lst_bicubic", "lst_tsharp", "lst_disr", "lst_disr_corrected", "ndvi"} <= set(cube.data_vars)
    assert cube.rio.crs.to_epsg() == 32631 and cube["lst_disr"].attrs["units"] == "K"
    printed = capsys.readouterr().out
    assert "RMSE vs truth" in printed
    check_lst_demo(json.loads(outputs["metrics"].read_text()))
