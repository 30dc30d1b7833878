import numpy as np
import pytest

from eoxr import metrics
from eoxr.errors import ParameterError


def test_pointwise_scores_ignore_nan(rng):
    truth = rng.normal(300, 5, (40, 40))
    pred = truth + 0.5
    pred[0, 0] = np.nan
    assert metrics.bias(pred, truth) == pytest.approx(0.5)
    assert metrics.rmse(pred, truth) == pytest.approx(0.5)
    assert metrics.mae(pred, truth) == pytest.approx(0.5)
    assert metrics.correlation(pred, truth) == pytest.approx(1.0)
    noisy = truth + rng.normal(0, 5, truth.shape)
    assert 0.5 < metrics.correlation(noisy, truth) < 0.9


def test_psnr_and_ssim(rng):
    truth = np.cumsum(np.cumsum(rng.normal(size=(64, 64)), 0), 1)
    assert metrics.ssim(truth, truth) == pytest.approx(1.0)
    assert metrics.psnr(truth, truth) == np.inf
    worse = truth + rng.normal(0, truth.std(), truth.shape)
    better = truth + rng.normal(0, 0.1 * truth.std(), truth.shape)
    assert metrics.ssim(better, truth) > metrics.ssim(worse, truth)
    assert metrics.psnr(better, truth) == pytest.approx(metrics.psnr(worse, truth) + 20, abs=0.5)


def test_psnr_and_ssim_are_scikit_images_with_the_papers_settings(rng):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    truth = np.cumsum(np.cumsum(rng.normal(size=(48, 40)), 0), 1)
    pred = truth + rng.normal(0, 0.3 * truth.std(), truth.shape)
    peak = truth.max() - truth.min()
    wang = structural_similarity(pred, truth, data_range=peak, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert metrics.ssim(pred, truth) == pytest.approx(wang, rel=1e-12)
    assert metrics.ssim(pred, truth, data_range=2 * peak) > metrics.ssim(pred, truth)  # weaker constants
    assert metrics.psnr(pred, truth) == pytest.approx(peak_signal_noise_ratio(truth, pred, data_range=peak))
    assert metrics.psnr(pred, truth) == pytest.approx(10 * np.log10(peak**2 / np.mean((pred - truth) ** 2)))


def test_psnr_and_ssim_leave_nan_pixels_out(rng):
    truth = np.cumsum(np.cumsum(rng.normal(size=(64, 64)), 0), 1)
    pred = truth + rng.normal(0, 0.5 * truth.std(), truth.shape)
    cloudy = pred.copy()
    cloudy[:, 32:] = np.nan  # half the scene under a cloud
    ok = np.isfinite(cloudy)
    peak = truth[ok].max() - truth[ok].min()
    assert metrics.psnr(cloudy, truth) == pytest.approx(10 * np.log10(peak**2 / np.mean((pred - truth)[ok] ** 2)))
    # the cloud's pixels are not scored as perfect matches (they would lift the mean halfway to 1)
    assert metrics.ssim(cloudy, truth) < metrics.ssim(pred, truth) + 0.1
    garbage = np.where(ok, pred, 0.0)  # the same pixels scored instead of left out
    assert metrics.ssim(garbage, truth) < metrics.ssim(cloudy, truth) - 0.05
    with pytest.raises(ParameterError, match="11-pixel window"):
        metrics.ssim(truth[:10, :10], truth[:10, :10])


def test_contingency_known_table():
    truth = np.array([1, 1, 1, 0, 0, 0, 0, 0], float)
    pred = np.array([1, 1, 0, 1, 0, 0, 0, 0], float)
    s = metrics.contingency(pred, truth, threshold=0.5)
    assert s["pod"] == pytest.approx(2 / 3)
    assert s["far"] == pytest.approx(1 / 3)
    assert s["csi"] == pytest.approx(0.5)
    # HSS from the 2x2 table a=2 b=1 c=1 d=4
    a, b, c, d = 2, 1, 1, 4
    hss = 2 * (a * d - b * c) / ((a + c) * (c + d) + (a + b) * (b + d))
    assert s["hss"] == pytest.approx(hss)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        metrics.rmse(np.zeros(3), np.zeros(4))


def test_errors_are_eoxr_errors():
    from eoxr.errors import NoDataError, ParameterError

    with pytest.raises(ParameterError, match="same grid"):
        metrics.bias(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(NoDataError, match="masks"):
        metrics.rmse(np.full(3, np.nan), np.zeros(3))


# ------------------------------------------------------------------------ precipitation (IPWG)


def test_precip_hand_computed():
    pred = np.array([0.0, 0.5, 2.0, 0.0, 1.0, np.nan])
    ref = np.array([0.0, 1.0, 1.0, 0.2, 0.0, 3.0])  # the last pair is left out (pred unknown)
    s = metrics.precip(pred, ref, threshold=0.1)
    assert s["n"] == 5
    assert s["bias_percent"] == pytest.approx(100 * (3.5 - 2.2) / 2.2)
    assert s["mae_mm_h"] == pytest.approx((0 + 0.5 + 1 + 0.2 + 1) / 5)
    assert s["mse_mm2_h2"] == pytest.approx((0 + 0.25 + 1 + 0.04 + 1) / 5)
    # deviations from the means 0.7 and 0.44: cov sum 0.96, sums of squares 2.8 and 1.072
    assert s["correlation"] == pytest.approx(0.96 / np.sqrt(2.8 * 1.072))
    # rain >= 0.1: hits 2 (pixels 1, 2), false alarm 1 (4), miss 1 (3), correct no-rain 1 (0)
    a, b, c, d = 2, 1, 1, 1
    assert s["pod"] == pytest.approx(a / (a + c)) and s["far"] == pytest.approx(b / (a + b))
    assert s["csi"] == pytest.approx(a / (a + b + c))
    assert s["hss"] == pytest.approx(2 * (a * d - b * c) / ((a + c) * (c + d) + (a + b) * (b + d)))


def test_precip_threshold_is_inclusive_and_agrees_with_contingency(rng):
    truth = np.where(rng.random(5000) < 0.2, rng.lognormal(0, 1, 5000), 0.0)
    pred = np.clip(truth * rng.lognormal(0, 0.5, 5000) + rng.normal(0, 0.1, 5000), 0, None)
    pred[:50], truth[50:100] = 0.1, 0.1  # exactly at the threshold: rain
    s = metrics.precip(pred, truth, threshold=0.1)
    assert {k: s[k] for k in ("pod", "far", "csi", "hss")} == metrics.contingency(pred, truth, 0.1)
    assert metrics.precip([0.1], [0.1])["pod"] == 1.0
    assert s["correlation"] == pytest.approx(metrics.correlation(pred, truth))


def test_precip_reads_xarray_units_and_dask():
    import xarray as xr

    ref = xr.DataArray(np.array([[0.0, 1.0], [2.0, 4.0]]), dims=("y", "x"), attrs={"units": "mm h-1"})
    flux = (ref / 3600.0).assign_attrs(units="kg m-2 s-1")
    s = metrics.precip(flux.chunk({"y": 1}), ref)
    assert s["mae_mm_h"] == pytest.approx(0.0) and s["bias_percent"] == pytest.approx(0.0)
    assert metrics.precip(ref.values * 2, ref)["bias_percent"] == pytest.approx(100.0)
    from eoxr.errors import ParameterError

    with pytest.raises(ParameterError, match=r"units 'K'.*mm h-1"):
        metrics.precip(ref.assign_attrs(units="K"), ref)


def test_psnr_of_a_tiny_range_is_finite_and_a_constant_truth_needs_a_range():
    tiny = np.array([[5.9e-190, -6.3e-190]])  # its range squared underflows to 0
    assert np.isfinite(metrics.psnr(np.array([[1e3, -1e3]]), tiny))
    constant, off = np.ones((16, 16)), np.full((16, 16), 2.0)
    for score in (metrics.psnr, metrics.ssim):
        with pytest.raises(ParameterError, match="data_range"):
            score(off, constant)
    assert metrics.psnr(off, constant, data_range=10.0) == pytest.approx(20.0)
    with pytest.raises(ParameterError, match="window"):  # too small for the 11-pixel window of sigma 1.5
        metrics.ssim(off[:1, :2], constant[:1, :2], data_range=1.0)
