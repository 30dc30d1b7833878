"""Sensor model: radiance conservation, PSF MTF, NaN masks, chunked == unchunked, laziness, bad input."""
import numpy as np
import pytest

import eoxr  # noqa: F401  (registers accessors)
from eoxr.errors import ParameterError
from eoxr.lst import synth
from eoxr.lst.degrade import aggregate, degrade, psf_sigma


@pytest.fixture
def field(rng):
    truth = synth.scene(int(rng.integers(1000)), size=64)
    return truth["lst"]


def test_degrade_conserves_mean_radiance(field):
    coarse = degrade(field, 4)
    assert coarse.shape == (16, 16)
    np.testing.assert_allclose(float((coarse ** 4).mean()), float((field ** 4).mean()), rtol=1e-12)
    # each coarse pixel is the radiance mean of its block, not the temperature mean
    block = field.values[:4, :4]
    assert float(coarse[0, 0]) == pytest.approx(np.mean(block ** 4) ** 0.25, rel=1e-12)
    assert float(coarse[0, 0]) > block.mean() or np.ptp(block) == 0  # Jensen: T4 mean >= mean T
    assert coarse.rio.crs == field.rio.crs and coarse.attrs["units"] == "K"
    assert "lst.degrade" in coarse.attrs["history"]
    # coarse pixel centres are the block centres
    assert float(coarse.x[0]) == pytest.approx(float(field.x[:4].mean()))


def test_psf_mtf_at_nyquist_matches_parameter():
    factor, mtf = 4, 0.35
    s = psf_sigma(factor, mtf)
    n = 256
    line = np.zeros(n)
    line[n // 2] = 1.0
    from scipy.ndimage import gaussian_filter1d

    kernel = gaussian_filter1d(line, s, mode="wrap", truncate=6.0)
    spectrum = np.abs(np.fft.rfft(kernel))
    nyquist = n // (2 * factor)  # 1 / (2 factor) cycles per pixel
    assert spectrum[nyquist] == pytest.approx(mtf, abs=2e-3)


def test_psf_conserves_mean_radiance_away_from_edges(field):
    coarse = degrade(field, 4, mtf=0.3)
    # a smooth blur moves radiance between neighbours but keeps the scene total (reflective edges)
    assert float((coarse ** 4).mean()) == pytest.approx(float((field ** 4).mean()), rel=2e-3)
    assert not np.allclose(coarse.values, degrade(field, 4).values)


def test_nan_blocks_stay_masked(field):
    cloudy = field.copy()
    cloudy[5, 9] = np.nan
    coarse = degrade(cloudy, 4, mtf=0.3)
    assert np.isnan(coarse.values[1, 2])
    assert np.isfinite(coarse.values).sum() == coarse.size - 1
    lenient = aggregate(cloudy, 4, min_valid=0.5)
    assert np.isfinite(lenient.values).all()


def test_chunked_equals_unchunked_with_psf(field):
    a = degrade(field, 4, mtf=0.3).values
    b = degrade(field.chunk({"y": 24, "x": 20}), 4, mtf=0.3).values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_degrade_is_lazy(field, no_compute):
    out = field.chunk(32).lst.degrade(4, mtf=0.3)
    assert out.chunks is not None


@pytest.mark.parametrize("factor", [2.5, 0, "4", -2, True])
def test_bad_factor(field, factor):
    with pytest.raises(ParameterError, match="positive integer"):
        degrade(field, factor)


def test_bad_mtf(field):
    with pytest.raises(ParameterError, match="mtf"):
        degrade(field, 4, mtf=1.5)
