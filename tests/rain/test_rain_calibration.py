"""Synthetic against real GMI statistics: the IPWG reference file, and the comparison itself."""
import numpy as np
import pytest

from eoxr.errors import ReadError
from eoxr.rain import calibration, synth


@pytest.fixture(scope="module")
def reference(real_data):
    return calibration.reference_statistics(real_data / "ipwg_stats" / "obs_gmi.nc")


def test_reference_statistics_are_gmi_over_land(reference):
    assert reference["mean"].shape == (13,) and reference["counts"].shape == (13, 100)
    corr = reference["corr"]
    np.testing.assert_array_equal(corr, corr.T)
    assert np.abs(corr).max() <= 1.0 + 1e-6  # the file's bad lower triangle is not used
    assert 240 < reference["mean"].min() and reference["mean"].max() < 275


def test_compare_is_one_for_a_sample_with_the_reference_statistics(reference, rng):
    # the file's correlations come from unequal samples (S1, S2) and are not quite positive definite
    w, v = np.linalg.eigh(reference["corr"])
    corr = (v * np.maximum(w, 1e-3)) @ v.T
    corr /= np.sqrt(np.outer(np.diag(corr), np.diag(corr)))
    sample = rng.multivariate_normal(reference["mean"], corr * np.outer(reference["std"], reference["std"]),
                                     size=200_000)
    table = calibration.compare(sample, dict(reference, corr=corr))
    np.testing.assert_allclose(table["mean_ratio"], 1.0, atol=2e-3)
    np.testing.assert_allclose(table["std_ratio"], 1.0, atol=1e-2)
    assert table["corr_mad"].max() < 0.01 and table["histogram_overlap"].min() > 0.5


def test_synthetic_gmi_is_close_to_real(reference):
    tb = np.concatenate([synth.scene(s, scans=24, pixels=96)["brightness_temperature"].values.reshape(-1, 13)
                         for s in range(940_000, 940_004)])
    table = calibration.compare(tb, reference)
    assert np.all(np.abs(table["mean_ratio"] - 1) < 0.05)  # a few scenes: the means only, loosely
    assert table["histogram_overlap"].min() > 0.4


def test_missing_reference_file(tmp_path):
    with pytest.raises(ReadError, match="obs_gmi.nc"):
        calibration.reference_statistics(tmp_path / "none.nc")
