"""Learned emission inversions: a short training lowers the loss, checkpoints round-trip, halo prediction is
seamless and lazy, the shipped networks give finite emissions with units and provenance, bad input refused."""
import shutil

import numpy as np
import pytest
import torch
from checks import assert_cf, assert_chunked_equals_unchunked, assert_lazy

from eoxr.attrs import CHECKPOINT
from eoxr.errors import CheckpointError, ParameterError, UnitsError
from eoxr.ml import checkpoint as ckpt_mod
from eoxr.no2 import ctm, learned, synth, train
from eoxr.no2.divergence import NOX_TO_NO2

GRID = ctm.Grid(ny=32, nx=32)


@pytest.fixture(scope="module")
def scenes():
    return ctm.scenes(range(400, 408), GRID, ctm.Observation(cloud_fraction=0.1), spinup_h=12).persist()


@pytest.fixture(scope="module", params=["smaat-unet", "vae"])
def fitted(request, scenes, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / "net.ckpt"
    fit = learned.fit(scenes, path, method=request.param, epochs=10, width=8, depth=2, lr=3e-3, device="cpu",
                      source_weight=5.0)
    return request.param, path, fit


def test_a_short_training_lowers_the_loss(fitted):
    _, _, fit = fitted
    assert fit.train_loss[-1] < 0.9 * fit.train_loss[0]


def test_the_checkpoint_round_trips(fitted):
    method, path, fit = fitted
    ck = ckpt_mod.load(path)
    assert ck.config["arch"]["name"] == learned.METHODS[method] and ck.config["metadata"]["method"] == method
    assert ck.inputs == list(learned.INPUTS) and ck.units == "mol m-2 s-1"
    rebuilt = ck.build_model("cpu")
    for name, tensor in fit.model.state_dict().items():
        torch.testing.assert_close(rebuilt.state_dict()[name], tensor.cpu(), rtol=0, atol=0)


def test_halo_prediction_is_seamless_and_lazy(fitted):
    method, path, _ = fitted
    scene = ctm.scene(450, GRID, ctm.Observation(cloud_fraction=0.2), spinup_h=12)

    def run(ds):
        return learned.emissions(ds, method=method, model=path, device="cpu", n_samples=4)

    out = assert_lazy(run, scene.chunk({"y": 16, "x": 16}))
    assert ("emission_std" in out) == (method == "vae")
    assert_chunked_equals_unchunked(run, scene, [{"y": 16, "x": 16}, {"y": 8}], rtol=1e-5, atol=1e-12)


def test_a_checkpoint_of_the_other_method_is_refused(fitted):
    method, path, _ = fitted
    other = next(m for m in learned.METHODS if m != method)
    scene = ctm.scene(451, GRID, spinup_h=6)
    with pytest.raises(CheckpointError, match=f"method='{other}' takes a {learned.METHODS[other]}"):
        learned.emissions(scene, method=other, model=path)


def test_columns_in_molec_cm2_are_converted_and_unknown_units_refused(fitted):
    method, path, _ = fitted
    scene = ctm.scene(452, GRID, spinup_h=6)
    molec = scene.assign(no2_column=(scene["no2_column"] / ctm.MOLEC_CM2).assign_attrs(units="molec cm-2"))
    want = learned.emissions(scene, method=method, model=path, n_samples=4)["emission"]
    np.testing.assert_allclose(learned.emissions(molec, method=method, model=path, n_samples=4)["emission"], want,
                               rtol=1e-5, atol=1e-14)
    with pytest.raises(UnitsError, match="no2_column"):
        learned.emissions(scene.assign(no2_column=scene["no2_column"].assign_attrs(units="K")), method=method,
                          model=path)


@pytest.mark.parametrize("method", ["smaat-unet", "vae"])
def test_the_shipped_networks_give_finite_emissions_with_units_and_provenance(method):
    scene = synth.sample_scene()
    em = scene.no2.emissions(method=method)
    assert_cf(em, "mol m-2 s-1")
    assert em.rio.crs == scene.rio.crs
    values = em["emission"].values
    assert np.isfinite(values).all() and values.shape == scene["no2_column"].shape
    assert em.attrs[CHECKPOINT] == ckpt_mod.sha256(learned.resolve_model(None, method))
    if method == "vae":
        std = em["emission_std"].values
        assert np.isfinite(std).all() and (std >= 0).all() and std.max() > 0
    command = ckpt_mod.load(learned.resolve_model(None, method)).config["metadata"]["command"]
    assert command.startswith(f"eoxr train no2 --method {method} ")


def test_training_seeds_are_not_evaluation_seeds():
    with pytest.raises(ParameterError, match="overlap the validation"):
        train.fit("smaat-unet", seed0=train.EVALUATION_SEEDS.start - 5, n_scenes=10)


def test_the_physics_inputs_are_the_flux_divergence_terms_without_the_lifetime():
    # V = a x + b y in a uniform wind (u, v): div(V w) = u a + v b exactly, on the grid's metres
    scene = ctm.scene(453, GRID, spinup_h=6)
    a, b, u, v = 2e-9, -1e-9, 3.0, -4.0
    column = (a * scene.x + b * scene.y).transpose("y", "x").assign_attrs(units="mol m-2")
    ds = scene.assign(no2_column=column, u=scene["u"] * 0 + u, v=scene["v"] * 0 + v)
    inputs = learned.as_inputs(ds)
    divergence = inputs["nox_flux_divergence"].values
    np.testing.assert_allclose(divergence[1:-1, 1:-1], NOX_TO_NO2 * (u * a + v * b), rtol=1e-9)
    assert np.isnan(divergence[0]).all() and np.isnan(divergence[:, -1]).all()
    np.testing.assert_allclose(inputs["nox_column"], NOX_TO_NO2 * column, rtol=1e-12)
    assert inputs["nox_flux_divergence"].attrs["units"] == "mol m-2 s-1"
    assert inputs["nox_column"].attrs["units"] == "mol m-2"


def test_the_physics_inputs_are_lazy_and_seamless():
    scene = ctm.scene(454, GRID, ctm.Observation(cloud_fraction=0.2), spinup_h=6)

    def run(ds):
        return learned.as_inputs(ds)[["nox_flux_divergence", "nox_column"]]

    assert_lazy(run, scene.chunk({"y": 16, "x": 16}))
    assert_chunked_equals_unchunked(run, scene, [{"y": 16, "x": 16}, {"y": 8}])


def test_the_source_weighted_loss_weighs_source_cells():
    target = torch.tensor([[0.0, 0.0, 2.0, 0.0]])
    loss = learned.source_weighted_mse(threshold=1.0, weight=9.0)
    off_source = loss(target + torch.tensor([[1.0, 0, 0, 0]]), target)
    on_source = loss(target + torch.tensor([[0, 0, 1.0, 0]]), target)
    assert float(off_source) == pytest.approx(1 / 13) and float(on_source) == pytest.approx(10 / 13)
    with pytest.raises(ParameterError, match="source_weight"):
        learned.fit(None, "unused.ckpt", source_weight=-1.0)


def test_the_vae_spread_is_calibrated_on_the_validation_scenes(fitted, scenes, tmp_path):
    method, path, _ = fitted
    if method != "vae":
        pytest.skip("the spread is the VAE's")
    calibrated = tmp_path / "vae.ckpt"
    shutil.copyfile(path, calibrated)
    scale = train.calibrate_spread(calibrated, scenes)
    assert ckpt_mod.load(calibrated).config["metadata"]["spread_scale"] == scale
    times = scenes.rename(scene="time")
    raw = learned.emissions(times, method="vae", model=path)
    fitted_spread = learned.emissions(times, method="vae", model=calibrated)
    np.testing.assert_allclose(fitted_spread["emission_std"], scale * raw["emission_std"], rtol=1e-5)
    error = np.abs(scenes["emission"].values - fitted_spread["emission"].values)
    spread = fitted_spread["emission_std"].values
    inside = (error <= spread)[np.isfinite(error) & np.isfinite(spread)]
    assert inside.mean() == pytest.approx(0.68, abs=0.01)
