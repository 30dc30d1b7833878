"""Multiscale statistics: structure functions, spectra, flatness, regression slopes, extrapolation."""
import numpy as np
import pytest
import xarray as xr

import eoxr  # noqa: F401
from eoxr.lst import synth
from eoxr.errors import ParameterError
from eoxr.lst.baselines import bicubic
from eoxr.lst.correction import (detail_energy, detail_gain, extrapolate_detail_energy, scale_correct,
                                 target_detail_energy)
from eoxr.lst.degrade import aggregate
from eoxr.lst.scaling import extrapolate, flatness, multiscale, regression_slope, spectral_slope, structure_function


def _grid(a, res=250.0):
    ny, nx = a.shape
    return xr.DataArray(a, dims=("y", "x"), coords={"y": -res * np.arange(ny), "x": res * np.arange(nx)},
                        attrs={"units": "K"}).rio.write_crs("EPSG:32631")


def test_structure_function_of_a_ramp():
    slope = 0.01
    da = _grid(300 + slope * np.arange(64)[None, :].repeat(48, 0).astype(float))
    sf = structure_function(da, lags=(1, 3), orders=(1, 2))
    nx_pairs = {1: 48 * 63, 3: 48 * 61}
    ny_pairs = {1: 47 * 64, 3: 45 * 64}
    for lag in (1, 3):
        share = nx_pairs[lag] / (nx_pairs[lag] + ny_pairs[lag])  # y increments are 0
        for q in (1, 2):
            assert float(sf.sel(order=q, lag=lag * 250.0)) == pytest.approx(share * (slope * lag) ** q, rel=1e-9)


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_spectral_slope_of_a_power_law_field(rng, beta):
    field = _grid(synth.gaussian_field((256, 256), beta, rng))
    assert float(spectral_slope(field)) == pytest.approx(-beta, abs=0.35)


def test_flatness_gaussian_vs_intermittent(rng):
    g = synth.gaussian_field((128, 128), 2.0, rng)
    assert float(flatness(_grid(g))) == pytest.approx(3.0, abs=0.4)
    assert float(flatness(_grid(np.exp(1.5 * g)))) > 4.0


def test_regression_slope_and_multiscale(rng):
    truth = synth.scene(int(rng.integers(1000)), size=128)
    lin = (300.0 - 12.0 * truth["ndvi"]).assign_attrs(units="K")
    assert float(regression_slope(lin, truth["ndvi"])) == pytest.approx(-12.0, rel=1e-9)
    m = multiscale(truth["lst"], truth["ndvi"], factors=(1, 2, 4, 16))
    assert list(m.scale.values) == [250.0, 500.0, 1000.0, 4000.0]
    assert set(m.data_vars) >= {"lst_s2", "lst_flatness", "lst_spectral_slope", "ndvi_s2", "regression_slope"}
    assert (m["lst_s2"] > 0).all() and m["lst_s2"].attrs["units"] == "(K)^2"
    assert np.isnan(m["lst_spectral_slope"].sel(scale=4000.0))  # 8 x 8 pixels: too small for a spectrum


def test_scaling_accessor_is_lazy(rng, no_compute):
    truth = synth.scene(int(rng.integers(1000)), size=64).chunk(32)
    out = truth.lst.scaling(factors=(1, 2, 4))
    assert out["lst_s2"].chunks is not None and "regression_slope" in out


def test_extrapolate_power_law_exactly():
    scale = np.array([1000.0, 2000.0, 4000.0])
    stat = xr.DataArray(3.0 * scale ** 0.7, dims="scale", coords={"scale": scale}, name="lst_s2")
    assert float(extrapolate(stat, 250.0)) == pytest.approx(3.0 * 250.0 ** 0.7, rel=1e-9)
    curved = xr.DataArray(np.exp(0.1 * np.log(scale) ** 2), dims="scale", coords={"scale": scale}, name="e_s2")
    assert float(extrapolate(curved, 250.0, order=2)) == pytest.approx(np.exp(0.1 * np.log(250.0) ** 2), rel=1e-9)


def test_detail_energy_and_gain(rng):
    truth, obs = synth.observation(int(rng.integers(1000)), size=256, factor=4)
    e = detail_energy(obs["lst"], 4)
    assert list(e.scale.values) == [1000.0, 2000.0, 4000.0] and (e > 0).all()
    assert np.isfinite(float(target_detail_energy(obs["lst"], 4)))
    d = rng.normal(size=(32, 32))
    assert float(detail_gain(d, 4.0 * d.var(), max_gain=2.0)) == pytest.approx(2.0)
    assert float(detail_gain(d, 4.0 * d.var())) == 1.0  # default: never amplify
    assert float(detail_gain(d, 0.25 * d.var())) == pytest.approx(0.5)
    assert float(detail_gain(d, 100.0 * d.var(), max_gain=3.0)) == 3.0


def _energy(values, scale=(1000.0, 2000.0, 4000.0)):
    return xr.DataArray(np.asarray(values, dtype=float), dims="scale", coords={"scale": list(scale)},
                        name="detail_energy")


def test_detail_energy_extrapolation_is_a_clipped_power_law():
    scale = np.array([1000.0, 2000.0, 4000.0])
    # exact power law decreasing towards small scales: extrapolated exactly
    assert float(extrapolate_detail_energy(_energy(2e-3 * scale ** 0.8), 250.0)) == pytest.approx(
        2e-3 * 250.0 ** 0.8, rel=1e-9)
    # energy growing towards small scales: never more than at the finest measured scale
    rising = _energy([9.0, 4.0, 1.0])
    assert float(extrapolate_detail_energy(rising, 250.0)) == pytest.approx(9.0)
    # noisy, curved: a quadratic overshoots, the clipped line stays below the finest measured energy
    curved = _energy([3.0, 2.0, 2.5])
    quad = float(extrapolate(curved, 250.0, order=2, log_value=True))
    lin = float(extrapolate_detail_energy(curved, 250.0))
    assert quad > 3.0 and lin <= 3.0
    assert np.isnan(float(extrapolate_detail_energy(_energy([np.nan, np.nan, np.nan]), 250.0)))


def test_scale_correction_modes(rng):
    truth, obs = synth.observation(int(rng.integers(1000)), size=128, factor=4)
    lst, target = obs["lst"], truth["lst"]
    base = bicubic(lst, 4)
    # a prediction whose detail is five times too strong: "shrink" damps it and lowers the error
    loud = base + 5.0 * (target - base).values
    rmse = lambda a: float(np.sqrt(np.mean((a.values - target.values) ** 2)))  # noqa: E731
    shrunk, g = scale_correct(loud, base, lst, 4, mode="shrink")
    assert 0.0 < float(g) < 1.0 and rmse(shrunk) < rmse(loud)
    kept, g1 = scale_correct(loud, base, lst, 4, mode="conserve")
    assert float(g1) == 1.0
    matched, g2 = scale_correct(loud, base, lst, 4, mode="match")
    assert float(g2) == pytest.approx(float(g))  # both hit the extrapolated energy when shrinking
    for out in (shrunk, kept, matched):  # every mode conserves the observation
        np.testing.assert_allclose(aggregate(out, 4).values, lst.values, atol=1e-6)
    # a weak detail is never amplified by the default mode
    weak = base + 0.2 * (target - base).values
    _, gw = scale_correct(weak, base, lst, 4)
    assert float(gw) == 1.0
    with pytest.raises(ParameterError, match="shrink"):
        scale_correct(loud, base, lst, 4, mode="louder")
    with pytest.raises(ParameterError, match="conserve"):
        lst.lst.superres(4, method="bicubic", scale_correction="louder")
    modes = {m: lst.lst.superres(4, method="bicubic", scale_correction=m) for m in ("shrink", "conserve")}
    assert "shrink" in modes["shrink"]["lst"].attrs["long_name"]
    np.testing.assert_allclose(aggregate(modes["conserve"]["lst"], 4).values, lst.values, atol=1e-6)


def test_scale_correction_lazy_equals_eager(rng):
    truth, obs = synth.observation(int(rng.integers(1000)), size=128, factor=4)
    lst = obs["lst"]
    base = bicubic(lst, 4)
    loud = base + 3.0 * (truth["lst"] - base).values
    eager, g = scale_correct(loud, base, lst, 4)
    lazy, gl = scale_correct(loud.chunk(64), base.chunk(64), lst.chunk(16), 4)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, eager.values, atol=1e-6)
    assert float(gl) == pytest.approx(float(g))
