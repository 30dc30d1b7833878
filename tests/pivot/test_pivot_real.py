"""The pivot's methods on real data: STARFM fusion of Landsat and MODIS LST at Yanco, and the daily reconstruction
of a real MODIS NDVI series with dates hidden (eoxr.pivot.evaluate; figures in the benchmark)."""
import numpy as np
import pytest
from checks import assert_chunked_equals_unchunked

from eoxr.errors import GridError
from eoxr.pivot import evaluate, predict_fine


@pytest.fixture(scope="module")
def yanco(real_data):
    return evaluate.read_yanco(real_data)


def test_yanco_reads_as_lst_on_one_grid(yanco):
    assert yanco.landsat.attrs["units"] == yanco.modis.attrs["units"] == "K"
    assert yanco.landsat.shape == yanco.modis.shape == (2, 400, 400)
    assert 290 < float(yanco.landsat.min()) and float(yanco.landsat.max()) < 325
    assert int(yanco.landsat.isnull().sum()) == 1  # the one fill pixel of 2016-02-05


def test_starfm_beats_persistence_by_the_target_both_ways(real_data):
    for row in evaluate.yanco_scores(real_data):
        assert row["ratio_to_persistence"] <= 0.7, row
        assert row["rmse_starfm_K"] < row["rmse_persistence_K"]


def test_starfm_carries_the_coarse_change_to_the_fine_scale(yanco):
    fine0, coarse0, coarse1 = (yanco.landsat.isel(time=0), yanco.modis.isel(time=0), yanco.modis.isel(time=1))
    predicted = predict_fine(fine0, coarse0, coarse1)
    change = float((predicted - fine0).mean())
    assert change == pytest.approx(float((coarse1 - coarse0).mean()), abs=0.2)
    same = predict_fine(fine0, coarse0, coarse0)  # no coarse change: the fine image, smoothed among its like
    assert evaluate.rmse(same, fine0) < 0.5
    assert predicted.attrs["units"] == "K" and predicted.rio.crs is not None


def test_starfm_chunked_equals_unchunked(yanco):
    crop = yanco.isel(y=slice(0, 60), x=slice(0, 50))
    fields = (crop.landsat.isel(time=0), crop.modis.isel(time=0), crop.modis.isel(time=1))
    assert_chunked_equals_unchunked(lambda a, b, c: predict_fine(a, b, c, half_window=4), fields,
                                    [{"y": 20, "x": 25}], rtol=1e-6, atol=1e-6)


def test_starfm_refuses_fields_on_other_grids(yanco):
    with pytest.raises(GridError, match="not on fine_t0's grid"):
        predict_fine(yanco.landsat.isel(time=0), yanco.modis.isel(time=0, x=slice(1, None)), yanco.modis.isel(time=1))


@pytest.fixture(scope="module")
def ndvi(real_data):
    return evaluate.read_ndvi_series(real_data)


def test_the_ndvi_series_reads_scaled_with_its_fill_masked(ndvi):
    assert ndvi.sizes == {"time": 23, "y": 122, "x": 65}
    assert -0.21 < float(ndvi.min()) and float(ndvi.max()) <= 1.0
    assert int(ndvi.isnull().sum()) > 0  # 32767 fill values are NaN, scaled or not


@pytest.mark.parametrize("every", [2, 3])
def test_hidden_ndvi_dates_are_rebuilt_as_well_as_linear_interpolation(ndvi, every):
    scores = evaluate.ndvi_reconstruction_scores(ndvi, every)
    assert scores["hidden_dates"] == (11 if every == 2 else 7)
    assert scores["rmse_smoother"] <= 1.02 * scores["rmse_linear"], scores
    assert scores["rmse_smoother"] < 0.11, scores  # the 16-day composites' own noise: see the benchmark
