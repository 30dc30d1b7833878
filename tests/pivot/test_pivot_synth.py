"""Synthetic pivot landscape and its sensor observations: phenology, soil moisture, clouds, grids, revisits."""
import numpy as np
import pandas as pd
import pytest
from checks import assert_cf

from eoxr.errors import ParameterError
from eoxr.pivot import sensors, synth
from eoxr.pivot.sensors import PIVOT_BANDS, SENSORS


@pytest.fixture(scope="module")
def year():
    """A year of a 96 x 96 cell landscape and every sensor's cube."""
    return synth.scene(seed=4, size=96, days=365)


def test_same_seed_same_scene_other_seed_other_scene():
    (a, cubes_a), (b, cubes_b) = synth.scene(1, size=40, days=30), synth.scene(1, size=40, days=30)
    c, cubes_c = synth.scene(2, size=40, days=30)
    for name in ("lai", "soil_moisture", "cloud", "land_cover", "reflectance"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    for key in cubes_a:
        for name in cubes_a[key].data_vars:
            np.testing.assert_array_equal(cubes_a[key][name].values, cubes_b[key][name].values)
    assert not np.array_equal(a["parcel"].values, c["parcel"].values)
    assert not np.allclose(a["soil_moisture"].values, c["soil_moisture"].values)
    assert not np.array_equal(cubes_a["s2"]["time"].values, cubes_c["s2"]["time"].values) or \
        not np.array_equal(cubes_a["s1"]["vv"].values, cubes_c["s1"]["vv"].values)


def test_truth_variables_carry_units_names_and_crs(year):
    truth, _ = year
    assert_cf(truth, {"land_cover": "1", "parcel": "1", "lai": "m2 m-2", "soil_moisture": "m3 m-3",
                      "rain": "mm d-1", "cloud": "1", "cloud_cover": "1", "reflectance": "1", "ndvi": "1",
                      "backscatter": "1"})
    assert truth.rio.crs.to_epsg() == 32631
    assert list(truth.band.values) == list(PIVOT_BANDS) and list(truth.polarization.values) == ["VV", "VH"]
    assert truth.land_cover.attrs["flag_meanings"].split() == list(synth.CLASS_NAMES)
    assert truth["reflectance"].dtype == np.float32 and truth["reflectance"].chunks is not None  # lazy
    assert (pd.DatetimeIndex(truth.time.values).to_series().diff().dropna() == pd.Timedelta("1D")).all()


def test_class_phenology_peaks_in_the_class_season(year):
    truth, _ = year
    doy = truth.time.dt.dayofyear.values
    peaks = {}
    for i, name in enumerate(synth.CLASS_NAMES):
        season = synth.CLASSES[name][0]
        where = truth.land_cover.values == i
        if season.lai_max - season.lai_min < 1 or not where.any():
            continue
        mean_lai = truth["lai"].values[:, where].mean(axis=1)
        peaks[name] = doy[mean_lai.argmax()]
        assert season.sos < peaks[name] < season.eos, name
        assert mean_lai.max() > season.lai_min + 0.7 * (season.lai_max - season.lai_min)
    assert {"wheat", "maize"} <= set(peaks) and peaks["wheat"] < peaks["maize"] - 40
    # parcels of one class are jittered (peak LAI, start and end of season): not all alike
    lai, cls = truth["lai"].values, truth.land_cover.values
    first_pixel = {p: np.argwhere(truth.parcel.values == p)[0] for p in np.unique(truth.parcel.values)}
    jittered = 0
    for i in range(2, len(synth.CLASS_NAMES)):  # the vegetated classes
        curves = np.array([lai[:, y, x] for y, x in first_pixel.values() if cls[y, x] == i])
        if len(curves) >= 2:
            assert np.unique(curves.max(axis=1)).size == len(curves)
            half_up = (curves > (curves.min(axis=1) + curves.max(axis=1))[:, None] / 2).argmax(axis=1)
            jittered += np.unique(half_up).size > 1
    assert jittered >= 1


def test_soil_moisture_follows_rain_within_physical_bounds(year):
    truth, _ = year
    moisture = truth["soil_moisture"].values
    assert moisture.min() >= synth.WILTING_POINT / 2 and moisture.max() <= sensors.POROSITY
    mean = moisture.mean(axis=(1, 2))
    rain = truth["rain"].values
    change = np.diff(mean)
    assert change[rain[1:] > 5.0].mean() > 0.03  # rain wets the soil
    assert (change[rain[1:] == 0] <= 1e-6).all()  # without rain it dries


def test_each_sensor_grid_revisit_and_overpass(year):
    truth, cubes = year
    lon_hours = 4.2 / 15  # the scene is near 4.2 E: local solar time leads UTC by ~17 minutes
    for key, cube in cubes.items():
        model = SENSORS[key]
        assert float(np.diff(cube.x.values)[0]) == pytest.approx(model.resolution_m)
        assert float(cube.x[0]) - model.resolution_m / 2 == pytest.approx(float(truth.x[0]) - 5.0)
        assert float(cube.y[0]) + model.resolution_m / 2 == pytest.approx(float(truth.y[0]) + 5.0)
        assert cube.sizes["x"] == -(-96 * 10 // int(model.resolution_m))
        steps = np.diff(cube.time.values) / np.timedelta64(1, "D")
        assert (steps == model.revisit_days).all(), key
        hours = pd.DatetimeIndex(cube.time.values).hour + pd.DatetimeIndex(cube.time.values).minute / 60
        np.testing.assert_allclose(hours, model.overpass_hour - lon_hours, atol=0.05)
        assert cube.rio.crs == truth.rio.crs
        assert_cf(cube, "1")


def test_revisit_phase_follows_the_seed():
    truth = synth.landscape(0, size=16, days=40)
    phases = {int(synth.observe(truth, "s2", seed).time.dt.dayofyear[0]) for seed in range(8)}
    assert len(phases) > 1 and phases <= {1, 2, 3, 4, 5}


def test_clouds_only_on_optical_sensors_and_nan_where_flagged(year):
    _, cubes = year
    assert "cloud" not in cubes["s1"] and not np.isnan(cubes["s1"]["vv"].values).any()
    for key in ("s2", "landsat", "modis"):
        cube = cubes[key]
        cloud = cube["cloud"].values
        assert 0.35 < cloud.mean() < 0.8, key
        assert cloud.any(axis=(1, 2)).mean() > 0.5  # most acquisitions have some cloud
        assert (~cloud).all(axis=(1, 2)).any()  # and some are clear
        for band in PIVOT_BANDS:
            np.testing.assert_array_equal(np.isnan(cube[band].values), cloud)


def test_clouds_are_spatially_correlated(year):
    truth, _ = year
    cloud = truth["cloud"].values.astype(float)
    partly = (cloud.mean(axis=(1, 2)) > 0.2) & (cloud.mean(axis=(1, 2)) < 0.8)
    same_as_neighbour = (cloud[partly, :, 1:] == cloud[partly, :, :-1]).mean()
    assert same_as_neighbour > 0.95  # white noise of the same cover would give about 0.5


def test_observed_reflectance_matches_the_truth_within_noise(year):
    truth, cubes = year
    s2 = cubes["s2"]
    clear = ~s2["cloud"].values
    days = pd.DatetimeIndex(s2.time.values).normalize()
    true_red = truth["reflectance"].sel(band="red", time=days).values
    error = s2["red"].values[clear] - true_red[clear]
    assert abs(error.mean()) < 0.002 and error.std() < 0.02
    ndvi = sensors.ndvi(s2["red"], s2["nir"]).values[clear]
    assert np.nanpercentile(ndvi, 95) > 0.7 and np.nanpercentile(ndvi, 5) < 0.3


def test_each_sensor_sees_the_surface_through_its_own_bands(year):
    truth, _ = year
    drivers = [truth[name].values[150:152] for name in ("lai", "soil_moisture")] + [truth.land_cover.values]
    s2 = synth.surface_reflectance(*drivers)
    np.testing.assert_array_equal(s2, truth["reflectance"].values[150:152])  # the truth is Sentinel-2's view
    for key in ("landsat", "modis"):
        difference = np.abs(synth.surface_reflectance(*drivers, sensor=key) - s2)
        assert 1e-3 < difference.max() < 0.03, key


def test_observations_are_each_sensors_view(year):
    truth, cubes = year
    modis = cubes["modis"]
    clear = np.flatnonzero(~modis["cloud"].values.any(axis=(1, 2)))
    days = np.searchsorted(truth.time.values, pd.DatetimeIndex(modis.time.values).normalize()[clear])
    drivers = [truth[name].values[days] for name in ("lai", "soil_moisture")] + [truth.land_cover.values]
    for i, band in ((0, "blue"), (4, "swir1")):  # where MODIS's bands differ most from Sentinel-2's
        seen = np.nanmean(modis[band].values[clear])
        own, reference = (synth.surface_reflectance(*drivers, sensor=key)[:, i].mean() for key in ("modis", "s2"))
        assert abs(seen - own) < 0.3 * abs(seen - reference), band


def test_coarse_sensors_average_the_truth(year):
    truth, cubes = year
    modis = cubes["modis"]
    clear_day = int(np.flatnonzero(~modis["cloud"].values.any(axis=(1, 2)))[0])
    day = pd.DatetimeIndex(modis.time.values).normalize()[clear_day]
    true_nir = truth["reflectance"].sel(band="nir", time=day).values
    scene_mean = float(np.nanmean(modis["nir"].values[clear_day]))
    assert scene_mean == pytest.approx(true_nir.mean(), abs=0.02)
    blue = modis["blue"].values[clear_day]  # 500 m pixels on the 250 m grid: 2 x 2 alike
    assert blue.shape == (4, 4) and np.array_equal(blue[::2, ::2], blue[1::2, 1::2])
    assert not np.array_equal(modis["red"].values[clear_day][::2, ::2], modis["red"].values[clear_day][1::2, 1::2])
    assert modis["blue"].attrs["native_resolution_m"] == 500.0


def test_block_mean_conserves_the_mean_and_averages_partial_edges():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(3, 30, 30))
    for factor in (1, 3, 5, 15):
        coarse = synth.block_mean(a, factor)
        assert coarse.shape == (3, 30 // factor, 30 // factor)
        np.testing.assert_allclose(coarse.mean(axis=(1, 2)), a.mean(axis=(1, 2)))
    edge = synth.block_mean(a[0, :7, :7], 3)
    assert edge.shape == (3, 3)
    assert edge[2, 2] == pytest.approx(a[0, 6, 6]) and edge[0, 2] == pytest.approx(a[0, :3, 6].mean())


def test_speckle_on_s1_around_the_water_cloud_backscatter(year):
    truth, cubes = year
    s1 = cubes["s1"]
    days = pd.DatetimeIndex(s1.time.values).normalize()
    ratio = s1["vv"].values / truth["backscatter"].sel(polarization="VV", time=days).values
    assert ratio.mean() == pytest.approx(1.0, abs=0.01)
    assert ratio.std() == pytest.approx(1 / np.sqrt(SENSORS["s1"].looks), rel=0.05)


def test_bad_input_names_the_fix():
    with pytest.raises(ParameterError, match="unknown sensor 'sentinel-2'"):
        synth.observe(synth.landscape(0, size=16, days=3), "sentinel-2")
    with pytest.raises(ParameterError, match="resolution that divides"):
        synth.observe(synth.landscape(0, size=16, days=3, resolution=7.0), "s2")
    with pytest.raises(ParameterError, match="size >= 8"):
        synth.landscape(0, size=4)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return {item.id: item for item in synth.sample_items(tmp_path_factory.mktemp("pivot"), seed=0)}


def test_sample_items_round_trip_through_eoxr_io_load(sample):
    import eoxr

    truth, cubes = synth.sample_scene(0)
    assert set(sample) == {"pivot-s2", "pivot-landsat", "pivot-modis", "pivot-s1", "pivot-truth"}
    for key, cube in cubes.items():
        item = sample[f"pivot-{key}"]
        assert item.collection_id == synth.SAMPLE_COLLECTION and item.properties["eoxr:sensor"] == key
        loaded = eoxr.io.load([item])
        assert set(loaded.data_vars) == set(cube.data_vars) and loaded.rio.crs == cube.rio.crs
        for name in cube.data_vars:
            np.testing.assert_array_equal(loaded[name].values, cube[name].values)
            assert loaded[name].attrs["units"] == cube[name].attrs["units"]
        np.testing.assert_array_equal(loaded.time.values, cube.time.values)
        np.testing.assert_array_equal(loaded.x.values, cube.x.values)
    stored = synth.open_scene(sample["pivot-truth"])
    assert stored["reflectance"].chunks is not None  # made again lazily from lai and soil moisture
    np.testing.assert_array_equal(stored["reflectance"].values, truth["reflectance"].values)
    np.testing.assert_array_equal(stored["land_cover"].values, truth["land_cover"].values)
    assert stored["land_cover"].attrs["flag_meanings"] == truth["land_cover"].attrs["flag_meanings"]


def test_open_scene_names_a_missing_scene(tmp_path):
    from eoxr.errors import ReadError

    with pytest.raises(ReadError, match=r"absent\.zarr: no such scene; build the sample"):
        synth.open_scene(tmp_path / "absent.zarr")
