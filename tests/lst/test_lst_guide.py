"""DISR weighs its guided detail by how much the guide explains of the coarse LST (cross-validated R2)."""
import numpy as np
import pytest
import xarray as xr

import eoxr  # noqa: F401
from checks import assert_lazy
from eoxr.lst import synth
from eoxr.lst.guide import R2_IGNORE, R2_TRUST, guide_skill, guide_weight

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def scene():
    truth, obs = synth.observation(52, size=128, factor=4)
    return truth, obs["lst"]


def _noise_guide(truth, seed=3):
    rng = np.random.default_rng(seed)
    return truth["ndvi"].copy(data=rng.uniform(0.1, 0.8, truth["ndvi"].shape))


def test_r2_of_an_exact_line_is_one_and_of_noise_is_about_zero(scene):
    truth, lst = scene
    from eoxr.lst.degrade import aggregate

    ndvi_c = aggregate(truth["ndvi"], 4, domain="linear")
    line = (300.0 - 20.0 * ndvi_c).assign_attrs(units="K")  # the coarse LST is a line of the guide
    assert float(guide_skill(line, truth["ndvi"], 4)) == pytest.approx(1.0, abs=1e-9)
    noise = float(guide_skill(lst, _noise_guide(truth), 4))
    assert -0.3 < noise < R2_IGNORE  # out of sample: no better than the mean


def test_weight_ramps_between_the_two_thresholds():
    r2 = np.array([-1.0, R2_IGNORE, 0.5 * (R2_IGNORE + R2_TRUST), R2_TRUST, 0.99, np.nan])
    np.testing.assert_allclose(guide_weight(r2), [0.0, 0.0, 0.5, 1.0, 1.0, 0.0])


def test_a_guide_that_explains_nothing_gives_bicubic_plus_conservation(scene):
    truth, lst = scene
    out = lst.lst.superres(4, method="disr", guide=_noise_guide(truth), device="cpu")
    floor = lst.lst.superres(4, method="bicubic", conserve_coarse=True)["lst"]
    assert float(out["guide_weight"]) == 0.0 and out["lst"].attrs["guide_weight"] == 0.0
    np.testing.assert_allclose(out["lst"].values, floor.values, atol=1e-4)
    assert "guide_r2" in out["lst"].attrs["guide_weighting"]


def test_a_guide_that_explains_gives_the_network_its_detail(scene):
    truth, lst = scene
    out = lst.lst.superres(4, method="disr", guide=truth["ndvi"], device="cpu")
    floor = lst.lst.superres(4, method="bicubic", conserve_coarse=True)["lst"]
    assert float(out["guide_r2"]) > R2_IGNORE and float(out["guide_weight"]) > 0.5
    assert out["guide_r2"].attrs["units"] == "1" and out["guide_weight"].attrs["units"] == "1"
    assert np.abs(out["lst"].values - floor.values).max() > 0.5  # K: the guided detail is there


def test_disr_stays_lazy_with_its_guide_weight(scene):
    truth, lst = scene
    guide = truth["ndvi"].chunk(32)
    out = assert_lazy(lambda coarse: coarse.lst.superres(4, method="disr", guide=guide), lst.chunk(8))
    assert "guide_r2" not in out["lst"].attrs and "guide_weighting" in out["lst"].attrs


def test_guide_skill_lazy_equals_eager(scene):
    truth, lst = scene
    eager = float(guide_skill(lst, truth["ndvi"], 4))
    lazy = float(guide_skill(lst.chunk(7), truth["ndvi"].chunk(30), 4))
    assert lazy == pytest.approx(eager, rel=1e-9)
