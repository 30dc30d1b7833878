"""The physical fusion's parts: the Kalman smoother, the reprojection, band adjustment, the merging of sensors and
the coarse/fine decomposition."""
import numpy as np
import pytest
import xarray as xr
from cubes import cube, linear_in_time

from eoxr.pivot import kalman, physical, regrid
from eoxr.pivot.sensors import SENSORS


def test_the_smoother_reproduces_a_linear_series_exactly_between_exact_observations():
    t = np.arange(60.0)
    truth = 0.1 + 0.003 * t
    y = np.where(np.isin(t, [3, 10, 11, 30, 47]), truth, np.nan)
    mean, var = kalman.smooth(y, 0.0, 1e-4)
    inside = slice(3, 48)
    np.testing.assert_allclose(mean[inside], truth[inside], atol=1e-9)
    assert var[[3, 10, 30, 47]] == pytest.approx(0.0, abs=1e-9)
    assert var[20] > var[15] > var[12] > 0  # away from the observations at 11 and 30, towards the middle


def test_the_smoother_variance_grows_with_the_days_since_the_last_observation():
    y = np.full(40, np.nan)
    y[[0, 5, 10]] = [0.2, 0.21, 0.22]
    _, var = kalman.smooth(y, 1e-4, 1e-5)
    assert np.all(np.diff(var[10:]) > 0)
    np.testing.assert_allclose(np.diff(var[10:]), 1e-5, rtol=1e-6)  # the process variance per day


def test_the_smoother_weighs_observations_by_their_noise():
    y = np.array([[0.0, np.nan, 1.0]])
    mean, _ = kalman.smooth(y, np.array([[1e-6, 0.0, 1.0]]), 1e-6)
    assert mean[0, 0] == pytest.approx(0.0, abs=1e-3)  # the noisy 1.0 barely moves the exact 0.0


def test_days_since_counts_from_the_last_true():
    seen = np.array([False, True, False, False, True, False])
    np.testing.assert_array_equal(kalman.days_since(seen), [np.nan, 0, 1, 2, 0, 1])


def test_average_reprojection_conserves_the_mean():
    rng = np.random.default_rng(0)
    fine = cube(lambda b, t, y, x: rng.uniform(0, 0.5, np.shape(t)), 10.0, 60, [0])
    grid = regrid.pivot_grid({"s2": fine}, regrid.crs_of(fine, "s2"), 30.0)
    coarse = regrid.reproject(fine["red"], grid, "average")
    assert coarse.sizes["y"] == coarse.sizes["x"] == 20
    np.testing.assert_allclose(float(coarse.mean()), float(fine["red"].mean()), rtol=1e-6)
    block = fine["red"].isel(time=0, y=slice(0, 3), x=slice(3, 6)).mean()
    np.testing.assert_allclose(float(coarse.isel(time=0, y=0, x=1)), float(block), rtol=1e-6)


def test_bilinear_upsampling_keeps_a_smooth_field_and_its_mean():
    coarse = cube(lambda b, t, y, x: 0.2 + 1e-4 * (x - 600_000.0), 250.0, 8, [0])
    grid = regrid.pivot_grid({"modis": coarse}, regrid.crs_of(coarse, "modis"), 10.0)
    fine = regrid.reproject(coarse["red"], grid, "bilinear")
    inner = fine.isel(x=slice(25, -25), y=slice(25, -25))  # beyond the outer pixel centres, a linear field is exact
    expected = (0.2 + 1e-4 * (inner.x - 600_000.0)).broadcast_like(inner.isel(time=0))
    np.testing.assert_allclose(inner.isel(time=0).values, expected.transpose("y", "x").values, atol=1e-5)
    assert float(inner.mean()) == pytest.approx(float(0.2 + 1e-4 * (inner.x.mean() - 600_000.0)), abs=1e-5)


def test_landsat_is_adjusted_to_msi_by_the_inverse_of_hls():
    oli = xr.DataArray([[0.3, 0.1]], dims=("time", "band"), coords={"band": ["nir", "blue"]})
    msi = physical.adjusted(oli, "landsat")
    np.testing.assert_allclose(msi.values, [[(0.3 + 0.0001) / 0.9983, (0.1 + 0.004) / 0.9778]])
    assert physical.adjusted(oli, "s2") is oli


def test_sensors_are_merged_by_inverse_variance():
    a = xr.DataArray([0.1, np.nan, 0.3], dims="time")
    b = xr.DataArray([0.2, 0.5, np.nan], dims="time")
    value, variance = physical.combined([(a, xr.DataArray(1.0)), (b, xr.DataArray(3.0))])
    np.testing.assert_allclose(value.values, [(0.1 / 1 + 0.2 / 3) / (1 / 1 + 1 / 3), 0.5, 0.3])
    np.testing.assert_allclose(variance.values, [1 / (1 + 1 / 3), 3.0, 1.0])


def test_noise_variance_is_the_sensor_models_unless_given():
    bands = ["red", "nir"]
    np.testing.assert_allclose(physical.noise_variance("s2", bands).values,
                               [SENSORS["s2"].noise_std[b] ** 2 for b in bands])
    np.testing.assert_allclose(physical.noise_variance("s2", bands, {"s2": 0.1}).values, [0.01, 0.01])


def test_the_coarse_sensor_carries_the_daily_change_and_the_fine_one_the_detail():
    days = np.arange(50)
    step = np.where(days >= 25, 0.1, 0.0)  # a change on day 25 that both scales see
    detail = np.array([0.05, -0.05])[:, None]  # two fine pixels inside one coarse pixel
    truth = 0.2 + step[None, :] + detail
    fine = np.full_like(truth, np.nan)
    fine[:, [0, 20, 45]] = truth[:, [0, 20, 45]]  # seen on days 0, 20 and 45 only
    coarse = np.broadcast_to(0.2 + step, truth.shape).copy()
    mean, var = physical.fuse_pixels(fine, np.full_like(truth, 1e-6), coarse, np.full_like(truth, 1e-6))
    np.testing.assert_allclose(mean, truth, atol=2e-3)  # the step on day 25 is there at the fine scale
    alone, _ = physical.fuse_pixels(fine, np.full_like(truth, 1e-6))
    assert np.abs(alone[:, 25:45] - truth[:, 25:45]).max() > 0.05  # the fine sensor alone misses it
    assert var[0, 33] > var[0, 22] > var[0, 20]  # uncertainty grows away from the fine observation


def test_series_never_observed_stay_missing():
    y = np.full((2, 10), np.nan)
    y[0, 3] = 0.2
    mean, var = physical.fuse_pixels(y, np.full_like(y, 1e-4))
    assert np.isfinite(mean[0]).all() and np.isnan(mean[1]).all() and np.isnan(var[1]).all()


def test_a_cube_on_the_pivot_days_averages_the_observations_of_a_day():
    s2 = cube(linear_in_time, 10.0, 4, [0.0, 0.2, 3.0])  # two observations on day 0
    grid = regrid.pivot_grid({"s2": s2}, regrid.crs_of(s2, "s2"), 10.0)
    import pandas as pd
    days = pd.date_range("2021-01-01", periods=5, freq="1D")
    stack = physical.on_pivot_days(s2, "s2", grid, days, ["red"])
    assert stack.dims == ("time", "band", "y", "x") and stack.sizes["time"] == 5
    expected = s2["red"].isel(time=[0, 1]).mean("time")
    np.testing.assert_allclose(stack.isel(time=0, band=0).values, expected.values, rtol=1e-6)
    assert np.isnan(stack.isel(time=1)).all() and np.isfinite(stack.isel(time=3)).all()
