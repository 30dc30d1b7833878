"""ds.rain.retrieve: outputs, laziness, chunks, swath and grid layouts, units, and bad input."""
import numpy as np
import pytest
import xarray as xr
from checks import assert_cf, assert_chunked_equals_unchunked, assert_lazy

import eoxr  # noqa: F401  (registers ds.rain)
from eoxr.errors import GridError, MissingVariableError, ParameterError, PhysicalRangeError
from eoxr.rain import retrieve, surface_from_tb


def test_outputs_on_the_swath(swath, database):
    out = swath.rain.retrieve(database=database)
    assert set(out.data_vars) == {"rain_rate", "rain_rate_std", "rain_probability"}
    assert_cf(out, units={"rain_rate": "mm h-1", "rain_rate_std": "mm h-1", "rain_probability": "1"})
    assert out["rain_rate"].dims == ("along_track", "cross_track")
    np.testing.assert_array_equal(out["latitude"].values, swath["latitude"].values)
    assert "rain.retrieve[bayes]" in out.attrs["history"]
    assert out.attrs["eoxr_method"] == "rain.retrieve[bayes]" and "eoxr_checkpoint_sha256" not in out.attrs
    p = out["rain_probability"].values
    assert np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1
    wet = swath["rain_rate"].values > 1.0
    assert out["rain_rate"].values[wet].mean() > 5 * out["rain_rate"].values[~wet].mean()


def test_lazy_and_chunked_equals_unchunked(swath, database, tmp_path):
    path = database.save(tmp_path / "db.npz")
    lazy = assert_lazy(retrieve, swath["brightness_temperature"].chunk({"along_track": 8}), database=path,
                       surface=swath["surface_type"])
    assert lazy["rain_rate"].chunks == ((8, 8, 8), (64,))

    def run(tb, surface):
        return retrieve(tb, database=database, surface=surface)

    assert_chunked_equals_unchunked(run, (swath["brightness_temperature"], swath["surface_type"]),
                                    [{"along_track": 5, "cross_track": 40}, {"along_track": 24}], rtol=1e-6)


def test_gridded_input_keeps_grid_and_crs(swath, database):
    grid = swath.drop_vars(["latitude", "longitude", "scan_time", "spatial_ref"]).rename(
        along_track="y", cross_track="x")
    grid = grid.assign_coords(y=np.arange(grid.sizes["y"]) * -4000.0, x=np.arange(grid.sizes["x"]) * 4000.0)
    grid = grid.rio.write_crs("EPSG:32615")
    out = grid.rain.retrieve(database=database)
    assert out["rain_rate"].dims == ("y", "x") and out.rio.crs.to_epsg() == 32615
    assert_cf(out)
    np.testing.assert_allclose(out["rain_rate"].values, swath.rain.retrieve(database=database)["rain_rate"].values)


def test_celsius_is_converted_and_fill_is_nan(swath, database):
    tb = swath["brightness_temperature"].copy()
    tb.values[0, :3] = -9999.9  # 1C fill
    base = retrieve(tb, database=database, surface=swath["surface_type"])
    assert np.isnan(base["rain_rate"].values[0, :3]).all() and np.isfinite(base["rain_rate"].values[1:]).all()
    celsius = (tb - 273.15).where(tb > -9000, -9999.9).assign_attrs(units="degC")
    out = retrieve(celsius, database=database, surface=swath["surface_type"])
    np.testing.assert_allclose(out["rain_rate"].values, base["rain_rate"].values, rtol=1e-4, atol=1e-6, equal_nan=True)


def test_values_outside_the_physical_range(swath, database):
    tb = swath["brightness_temperature"] - 273.15  # Celsius, but labelled K
    with pytest.raises(PhysicalRangeError, match="brightness_temperature.*units"):
        retrieve(tb, database=database)
    lazy = retrieve(tb.chunk({"along_track": 12}), database=database, surface=swath["surface_type"])
    with pytest.raises(PhysicalRangeError):
        lazy["rain_rate"].compute()


def test_missing_channels_are_named(swath, database):
    s1 = swath.isel(channel=slice(0, 9))
    with pytest.raises(MissingVariableError, match=r"lack the GMI channels \['166V', '166H', '183.31\+-3V'"):
        s1.rain.retrieve(database=database)
    out = s1.rain.retrieve(database=database, channels=s1.channel.values.tolist())  # the Bayesian way round
    assert np.isfinite(out["rain_rate"].values).all()


def test_unknown_sensor_and_method(swath, database):
    with pytest.raises(ParameterError, match="unknown sensor 'trmm'"):
        swath.rain.retrieve(sensor="trmm", database=database)
    with pytest.raises(ParameterError, match="method must be one of"):
        swath.rain.retrieve(method="neural", database=database)


def test_ancillary_of_another_swath(swath, database):
    other = swath.isel(along_track=slice(0, 10))
    with pytest.raises(GridError, match="same swath"):
        swath.rain.retrieve(surface=other["surface_type"], database=database)
    with pytest.raises(GridError, match="same swath"):
        swath.rain.retrieve(tpw=np.zeros((3, 3)), database=database)


def test_surface_from_polarisation(swath):
    guess = surface_from_tb(swath["brightness_temperature"]).values
    truth = swath["surface_type"].values
    assert np.mean(guess[truth == 1] == 1) > 0.95
    if (truth == 0).any():
        assert np.mean(guess[truth == 0] == 0) > 0.9
    with pytest.raises(MissingVariableError, match="surface="):
        surface_from_tb(swath["brightness_temperature"].sel(channel=["89V", "166V"]))


def test_real_1c_file_with_fill_only(real_data, database):
    ds = eoxr.io.open_product(next((real_data / "gpm_gmi_dpr").glob("1C.GPM.GMI*.HDF5")))
    out = ds.rain.retrieve(database=database).compute()
    assert out["rain_rate"].shape == ds["brightness_temperature"].shape[:2]
    assert np.isnan(out["rain_rate"].values).all()  # Antarctic fill: nothing invented
    assert "latitude" in out.coords
