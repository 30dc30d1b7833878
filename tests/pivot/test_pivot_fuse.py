"""eoxr.pivot.fuse: the grid, CRS and daily axis asked, laziness, chunked == unchunked, exactness on a linear
series, uncertainty growing with the time since the last clear observation, and clear errors on bad input."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from checks import assert_cf
from cubes import constant, cube, linear_in_time

import eoxr
from eoxr.errors import CRSError, GridError, MissingVariableError, NoDataError, ParameterError
from eoxr.pivot import fuse, synth

S2_DAYS = np.arange(0, 40, 5)
LINEAR = {"s2": 0.0, "modis": 0.0}


def _s2(days=S2_DAYS, values=linear_in_time, size=12):
    return cube(values, 10.0, size, days)


def _modis(days=np.arange(40), values=linear_in_time):
    return cube(values, 250.0, 2, days)


def test_the_output_has_the_asked_grid_crs_daily_axis_and_units():
    piv = fuse({"s2": _s2(), "modis": _modis()}, resolution=20)
    assert piv.rio.crs.to_epsg() == 32631
    assert float(piv.x[1] - piv.x[0]) == 20.0 and float(piv.y[0] - piv.y[1]) == 20.0
    assert piv.sizes["x"] == piv.sizes["y"] == 6  # the area both cover: the S2 cube's 120 m
    assert (piv.x.values - 10.0) % 20.0 == pytest.approx(np.zeros(6))  # cell edges on multiples of 20 m
    np.testing.assert_array_equal(piv.time.values, pd.date_range("2021-01-01", "2021-02-09", freq="1D").values)
    assert piv.reflectance.dims == ("time", "band", "y", "x")
    assert list(piv.band.values) == ["blue", "green", "red", "nir", "swir1", "swir2"]
    assert_cf(piv, units={"reflectance": "1", "reflectance_std": "1", "ndvi": "1", "ndvi_std": "1",
                          "lai": "m2 m-2", "days_since_clear": "d"})
    assert piv.attrs["eoxr_method"] == "pivot.fuse[physical]"


def test_a_given_crs_and_period_are_kept():
    piv = fuse({"s2": _s2()}, resolution=10, crs="EPSG:3035", time=("2021-01-03", "2021-01-20"), freq="2D")
    assert piv.rio.crs.to_epsg() == 3035
    assert pd.Timestamp(piv.time.values[0]) == pd.Timestamp("2021-01-03") and piv.sizes["time"] == 9


def test_fusion_stays_lazy(no_compute):
    cubes = {"s2": _s2().chunk({"x": 4}), "modis": _modis().chunk({"time": 10})}
    piv = fuse(cubes, chunks={"y": 4, "x": 4})
    for name, var in piv.data_vars.items():
        assert var.chunks is not None, name


def test_chunked_equals_unchunked():
    cubes = {"s2": _s2(), "modis": _modis(), "landsat": cube(linear_in_time, 30.0, 4, [2, 18, 34])}
    whole = fuse(cubes, chunks={"y": -1, "x": -1}).compute()
    parts = fuse({k: v.chunk({"x": 5}) for k, v in cubes.items()}, chunks={"y": 5, "x": 7}).compute()
    for name in whole.data_vars:
        np.testing.assert_allclose(parts[name].values, whole[name].values, rtol=1e-6, atol=1e-7, equal_nan=True,
                                   err_msg=name)


@pytest.mark.parametrize("sensors", [["s2"], ["s2", "modis"]])
def test_a_linear_series_is_reproduced_exactly_between_observations(sensors):
    cubes = {"s2": cube(linear_in_time, 10.0, 12, S2_DAYS, hour=0.0),
             "modis": cube(linear_in_time, 250.0, 2, np.arange(40), hour=0.0)}
    piv = fuse({s: cubes[s] for s in sensors}, obs_std=LINEAR).compute()
    between = piv.isel(time=slice(0, 36))  # the first to the last S2 day
    t = (between.time - between.time[0]).dt.days
    truth = linear_in_time(xr.DataArray(np.arange(6), dims="band"), t, between.y, between.x)
    np.testing.assert_allclose(between.reflectance.values, truth.transpose(*between.reflectance.dims).values,
                               atol=2e-5)


def test_the_std_grows_with_the_days_since_the_last_fine_clear_observation():
    s2 = _s2(days=[0, 5, 10])  # then 29 days of MODIS only
    piv = fuse({"s2": s2, "modis": _modis()}).isel(y=3, x=3, band=3).compute()
    after = piv.where(piv.days_since_clear > 0, drop=True).sel(time=slice("2021-01-12", None))
    assert np.all(np.diff(after.days_since_clear.values) == 1)
    assert np.all(np.diff(after.reflectance_std.values) > 0)
    assert float(piv.days_since_clear.isel(time=-1)) == 29


def test_clouds_are_gaps():
    s2 = _s2()
    s2["cloud"] = xr.zeros_like(s2["red"], dtype=bool).where(s2.time != s2.time[3], True).astype(bool)
    piv = fuse({"s2": s2}).compute()
    assert float(piv.days_since_clear.isel(time=15, y=0, x=0)) == 5  # day 15 clouded: the last clear was day 10


def test_derived_variables_follow_the_reflectance():
    piv = fuse({"s2": _s2(values=constant(0.1))}).compute()
    red, nir = piv.reflectance.sel(band="red"), piv.reflectance.sel(band="nir")
    np.testing.assert_allclose(piv.ndvi.values, ((nir - red) / (nir + red)).values, rtol=1e-5)
    assert (piv.ndvi_std > 0).all() and (piv.lai >= 0).all()


def test_with_s1_backscatter_and_soil_moisture_are_given():
    s1 = cube(lambda b, t, y, x: np.full(np.shape(t), 0.05 + 0.01 * b), 10.0, 12, np.arange(0, 40, 6),
              bands=("vv", "vh"))
    piv = fuse({"s2": _s2(), "s1": s1})
    assert piv.backscatter.dims == ("time", "polarization", "y", "x")
    assert list(piv.polarization.values) == ["VV", "VH"]
    assert piv.soil_moisture.attrs["units"] == "m3 m-3"
    np.testing.assert_allclose(piv.backscatter.sel(polarization="VV").isel(time=slice(0, 37)).values, 0.05,
                               rtol=1e-5)


def test_the_package_and_accessor_expose_it():
    assert eoxr.pivot.fuse is fuse
    out = _s2().pivot.gapfill()
    assert out.sizes["time"] == 36 and "red_std" in out


def test_different_crs_without_a_target_crs_is_refused():
    other = cube(linear_in_time, 250.0, 2, np.arange(40), crs="EPSG:32632", origin=(100_000.0, 4_800_000.0))
    with pytest.raises(CRSError, match=r"different CRSs.*crs="):
        fuse({"s2": _s2(), "modis": other})


def test_no_overlap_in_space_is_refused():
    far = cube(linear_in_time, 250.0, 2, np.arange(40), origin=(700_000.0, 4_800_000.0))
    with pytest.raises(GridError, match="does not overlap"):
        fuse({"s2": _s2(), "modis": far})


def test_no_overlap_in_time_is_refused():
    with pytest.raises(ParameterError, match="share no period"):
        fuse({"s2": _s2(), "modis": _modis(days=np.arange(100, 120))})


def test_a_sensor_without_a_clear_observation_is_refused():
    with pytest.raises(NoDataError, match=r"'modis' has no clear observation"):
        fuse({"s2": _s2(), "modis": _modis(values=constant(np.nan))})


def test_unknown_sensors_bands_and_methods_are_refused():
    with pytest.raises(ParameterError, match="unknown sensor key"):
        fuse({"sentinel2": _s2()})
    with pytest.raises(MissingVariableError):
        fuse({"s2": _s2().rename({b: b.upper() + "X" for b in ("blue", "green", "red", "nir", "swir1", "swir2")})})
    with pytest.raises(ParameterError, match="method must be one of"):
        fuse({"s2": _s2()}, method="kalman")


@pytest.fixture(scope="module")
def scene():
    return synth.scene(seed=5, size=48, days=60, start="2021-04-15")  # green-up: the surface changes


def _rmse(piv, truth, mask=None):
    err = piv.reflectance - truth.reflectance.transpose(*piv.reflectance.dims).values
    err = err if mask is None else err.where(mask)
    return float(np.sqrt((err ** 2).mean()))


def test_a_synthetic_scene_is_fused_close_to_its_truth_and_landsat_adds_to_s2(scene):
    truth, cubes = scene
    period = (truth.time.values[0], truth.time.values[-1])
    piv = fuse(cubes, time=period).compute()
    s2_alone = fuse({"s2": cubes["s2"]}, time=period).compute()
    fine = fuse({"s2": cubes["s2"], "landsat": cubes["landsat"]}, time=period).compute()
    assert piv.sizes["x"] == piv.sizes["y"] == 48 and piv.sizes["time"] == 60
    cloudy = s2_alone.days_since_clear > 0
    assert _rmse(piv, truth) < 0.03 and _rmse(piv, truth, cloudy) < 0.03
    assert _rmse(fine, truth, cloudy) < _rmse(s2_alone, truth, cloudy)
    inside = piv.reflectance_std.notnull()
    assert float(inside.mean()) == 1.0  # every pixel and day has a value and an uncertainty
