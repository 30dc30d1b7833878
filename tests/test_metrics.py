import numpy as np
import pytest

from eoxr import metrics


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
