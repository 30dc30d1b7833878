"""Units and physical ranges of the lst methods: Celsius converted, unknown units and implausible values refused
(lazily on dask), partly-cloudy coarse pixels averaged over their valid fine pixels."""
import numpy as np
import pytest
from checks import assert_cf, assert_lazy

import eoxr  # noqa: F401  (registers ds.lst)
from eoxr import lst as lst_pkg
from eoxr.errors import NoDataError, PhysicalRangeError, UnitsError
from eoxr.lst import synth
from eoxr.lst.degrade import aggregate, degrade
from eoxr.lst.evaluate import scores
from eoxr.lst.learned import predict_fine, wald_pairs
from eoxr.lst.scaling import multiscale
from eoxr.lst.superres import superres


@pytest.fixture
def scene(rng):
    truth, obs = synth.observation(int(rng.integers(1000)), size=64, factor=4)
    return truth, obs["lst"]


def _celsius(da):
    return (da - 273.15).assign_attrs(dict(da.attrs, units="degC"))


@pytest.mark.parametrize("method", ["bicubic", "tsharp", "distrad"])
def test_a_celsius_lst_is_converted_to_kelvin(scene, method):
    truth, lst = scene
    kw = {} if method == "bicubic" else {"guide": truth["ndvi"]}
    kelvin = superres(lst, 4, method=method, **kw)
    celsius = lst.rename(None).pipe(_celsius).to_dataset(name="lst").lst.superres(4, method=method, **kw)
    np.testing.assert_allclose(celsius["lst"].values, kelvin["lst"].values, rtol=0, atol=1e-9)
    assert_cf(celsius, units={"lst": "K"})


def test_celsius_through_degrade_aggregate_scaling_and_scores(scene):
    truth, lst = scene
    t = truth["lst"]
    np.testing.assert_allclose(degrade(_celsius(t), 4, mtf=0.3).values, degrade(t, 4, mtf=0.3).values, atol=1e-9)
    assert degrade(_celsius(t), 4).attrs["units"] == "K"
    np.testing.assert_allclose(aggregate(_celsius(t), 4, domain="temperature").values,
                               aggregate(t, 4, domain="temperature").values, atol=1e-9)
    pct = (truth["ndvi"] * 100).assign_attrs(units="%")
    m_c = multiscale(_celsius(t), pct, factors=(1, 4))
    m_k = multiscale(t, truth["ndvi"], factors=(1, 4))
    np.testing.assert_allclose(m_c["regression_slope"].values, m_k["regression_slope"].values, rtol=1e-9)
    s = scores(_celsius(t), t)
    assert s["rmse_K"] == pytest.approx(0.0, abs=1e-9)


def test_every_public_lst_function_declares_its_units():
    for name in ("aggregate", "bicubic", "conserve", "degrade", "distrad", "multiscale", "superres", "tsharp"):
        assert getattr(lst_pkg, name).__eoxr_units__, name
    assert superres.__eoxr_units__ == {"lst": "K", "guide": "1"}
    assert predict_fine.__eoxr_units__ == wald_pairs.__eoxr_units__ == {"lst": "K", "guide": "1"}


def test_unknown_or_foreign_units_are_refused(scene):
    truth, lst = scene
    with pytest.raises(UnitsError, match="'furlong'.*'K' is expected"):
        superres(lst.assign_attrs(units="furlong"), 4)
    with pytest.raises(UnitsError, match="argument 'guide' of tsharp is in 'm'"):
        lst_pkg.tsharp(lst, truth["elevation"], 4)
    assert aggregate(truth["elevation"], 4, domain="linear").attrs["units"] == "m"  # linear: anything goes


def test_celsius_labelled_kelvin_and_percent_ndvi_labelled_one_are_named(scene):
    truth, lst = scene
    with pytest.raises(PhysicalRangeError, match="lst holds values from .* K.*Celsius labelled K: set units='degC'"):
        superres(lst - 273.15, 4)  # arithmetic dropped nothing: still labelled K
    with pytest.raises(PhysicalRangeError, match="look like percent"):
        lst_pkg.tsharp(lst, truth["ndvi"] * 100, 4)
    with pytest.raises(PhysicalRangeError, match="ndvi holds"):
        multiscale(truth["lst"], truth["ndvi"] * 100)
    with pytest.raises(NoDataError, match="every pixel is NaN"):
        superres(lst * np.nan, 4)


def test_range_checks_stay_lazy_and_raise_at_compute(scene):
    truth, lst = scene
    bad = (lst - 273.15).chunk(8)
    out = assert_lazy(superres, bad, 4, method="tsharp", guide=truth["ndvi"].chunk(32))
    with pytest.raises(PhysicalRangeError, match="Celsius"):
        out["lst"].compute()
    with pytest.raises(PhysicalRangeError, match="percent"):
        superres(lst.chunk(8), 4, method="tsharp", guide=(truth["ndvi"] * 100).chunk(32))["lst"].compute()


@pytest.mark.parametrize("domain", ["radiance", "linear"])
def test_a_partly_cloudy_block_is_the_mean_of_its_valid_pixels(scene, domain):
    truth, _ = scene
    fine = truth["lst"].copy()
    fine[1:3, 4:7] = np.nan  # block (0, 1): 6 of 16 pixels cloudy
    coarse = aggregate(fine, 4, domain=domain, min_valid=0.5)
    block = fine.values[0:4, 4:8]
    valid = block[np.isfinite(block)]
    expected = np.mean(valid ** 4) ** 0.25 if domain == "radiance" else valid.mean()
    assert float(coarse[0, 1]) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(aggregate(fine, 4, domain=domain, min_valid=0.7)[0, 1])  # 10/16 valid < 0.7
    lazy = aggregate(fine.chunk({"y": 6, "x": 10}), 4, domain=domain, min_valid=0.5)
    np.testing.assert_allclose(lazy.values, coarse.values, rtol=1e-13)
