"""Learned fusion: window layout, masked-reconstruction training, checkpoint round trip, lazy halo prediction,
hybrid input."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from checks import forbid_compute  # noqa: E402
from eoxr import ml  # noqa: E402
from eoxr.errors import CheckpointError, MissingVariableError  # noqa: E402
from eoxr.pivot import learned, synth  # noqa: E402

SIZE, DAYS, WINDOW = 32, 40, 2


@pytest.fixture(scope="module")
def scene():
    return synth.scene(seed=7, size=SIZE, days=DAYS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, scene):
    path = tmp_path_factory.mktemp("pivot") / "mae.ckpt"
    train_cubes = synth.scene(seed=8, size=SIZE, days=DAYS)[1]
    log = learned.fit([train_cubes], path, window=WINDOW, days_per_scene=16, epochs=15, latent=4, width=8, lr=5e-3, seed=0)
    return path, log


def test_window_channels_hold_each_offset_then_masks():
    days = pd.date_range("2021-01-01", periods=6, freq="1D")
    values = np.full((6, 2, 1, 1), np.nan, np.float32)
    values[1, :, 0, 0] = [0.1, 0.2]
    values[4, :, 0, 0] = [0.4, 0.5]
    da = xr.DataArray(values, dims=("time", "band", "y", "x"), coords={"time": days, "y": [0.0], "x": [0.0]})
    out = learned.window_channels(da, 1, "s2")
    assert out.dims == ("time", "s2_channel", "y", "x") and out.sizes["s2_channel"] == 3 * 2 + 3
    day2 = out.isel(time=2, y=0, x=0).values  # offsets -1, 0, +1 around day 2: day 1 observed
    np.testing.assert_allclose(day2[:2], [0.1, 0.2])
    assert np.isnan(day2[2:6]).all()
    np.testing.assert_array_equal(day2[6:], [1, 0, 0])
    np.testing.assert_array_equal(out.isel(time=5, y=0, x=0).values[6:], [1, 0, 0])  # day 4 before, edge after


def test_short_training_lowers_the_masked_reconstruction_loss(trained):
    _, log = trained
    assert np.mean(log["train_loss"][-3:]) < 0.8 * log["train_loss"][0]


def test_checkpoint_round_trip(trained):
    path, _ = trained
    ck = ml.load_checkpoint(path)
    model = ck.build_model()
    assert type(model).__name__ == "MultiMAE"
    lay = ck.config["layout"]
    assert list(lay["sensors"]) == ["s2", "landsat", "modis", "s1"] and lay["window"] == WINDOW
    assert len(ck.config["input_channels"]) == model.in_channels
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, ck.state_dict[k])


def test_fused_variables_on_the_pivot_grid_and_days(trained, scene):
    path, _ = trained
    truth, cubes = scene
    piv = learned.learned_fuse(cubes, model=path)
    assert piv.reflectance.dims == ("time", "band", "y", "x")
    assert list(piv.band.values) == list(learned.BANDS)
    assert piv.embedding.dims == ("time", "feature", "y", "x") and piv.sizes["feature"] == 4
    assert piv.backscatter.dims == ("time", "polarization", "y", "x")
    assert piv.sizes["time"] == DAYS and (np.diff(piv.time.values) == np.timedelta64(1, "D")).all()
    np.testing.assert_allclose(piv.x.values, truth.x.values)
    assert piv.rio.crs == truth.rio.crs
    for name in ("reflectance", "ndvi", "backscatter", "embedding"):
        assert piv[name].attrs["units"] == "1" and piv[name].attrs["long_name"]
    refl = piv.reflectance.isel(time=slice(10, 14)).values
    assert np.isfinite(refl).all() and (np.abs(refl) < 1.5).all()


def test_lazy_and_chunked_equals_unchunked(trained, scene):
    path, _ = trained
    _, cubes = scene
    days = ("2021-01-10", "2021-01-15")
    with forbid_compute():
        small = learned.learned_fuse(cubes, model=path, chunks=8, time=days)
        whole = learned.learned_fuse(cubes, model=path, chunks=SIZE, time=days)
    assert small.reflectance.chunks is not None
    np.testing.assert_allclose(small.reflectance.values, whole.reflectance.values, atol=1e-5)
    np.testing.assert_allclose(small.embedding.values, whole.embedding.values, atol=1e-5)


def test_hybrid_needs_a_model_and_an_input_that_agree(trained, scene):
    path, _ = trained
    _, cubes = scene
    with pytest.raises(CheckpointError, match="hybrid model"):
        learned.hybrid_fuse(cubes, physical=xr.Dataset(), model=path)
    with pytest.raises(MissingVariableError, match="physical="):
        learned.hybrid_fuse(cubes, physical=None, model=path)


def perfect_prior(truth):
    """A physical result that is the truth itself (std 0.01): what a hybrid model must learn to trust."""
    refl = truth.reflectance.transpose("time", "band", "y", "x")
    refl = refl.assign_coords(time=refl.time.dt.floor("D"))
    return xr.Dataset({"reflectance": refl, "reflectance_std": xr.full_like(refl, 0.01)})


def test_hybrid_reads_the_physical_input(tmp_path, scene):
    truth, cubes = scene
    train_truth, train_cubes = synth.scene(seed=9, size=SIZE, days=DAYS)
    path = tmp_path / "hybrid.ckpt"
    learned.fit([train_cubes], path, window=WINDOW, days_per_scene=16, epochs=8, latent=4, width=8,
                physical=[perfect_prior(train_truth)])
    good = learned.hybrid_fuse(cubes, perfect_prior(truth), model=path).reflectance
    bad_prior = perfect_prior(truth)
    bad_prior["reflectance"] = bad_prior.reflectance + 0.2
    bad = learned.hybrid_fuse(cubes, bad_prior, model=path).reflectance
    assert float(np.abs(good - bad).mean()) > 1e-3  # the network reads its physical input


def test_the_shipped_model_fuses_a_subset_of_its_sensors():
    truth, cubes = synth.scene(seed=12, size=SIZE, days=DAYS)
    piv = learned.learned_fuse({"s2": cubes["s2"], "modis": cubes["modis"]}, time=("2021-01-15", "2021-01-20"))
    assert piv.embedding.sizes["feature"] == 16
    assert np.isfinite(piv.reflectance.values).all()


def test_fuse_dispatches_learned_and_hybrid_to_the_network(trained, scene):
    from eoxr.pivot import fuse

    path, _ = trained
    truth, cubes = scene
    piv = fuse(cubes, method="learned", model=path, time=("2021-01-10", "2021-01-14"))
    direct = learned.learned_fuse(cubes, model=path, time=("2021-01-10", "2021-01-14"))
    xr.testing.assert_allclose(piv.reflectance, direct.reflectance)
    assert "learned_fuse[learned]" in piv.attrs["history"]
    with pytest.raises(CheckpointError, match="train one with `eoxr train pivot --hybrid"):
        fuse(cubes, method="hybrid")  # no shipped hybrid network: the error names the command that makes one


def test_eoxr_train_pivot_hybrid_makes_the_network_fuse_hybrid_uses(tmp_path):
    from eoxr.pivot import fuse, train

    path = train.fit(tmp_path, n_scenes=1, size=50, epochs=1, days_per_scene=4, latent=4, width=4, hybrid=True)
    assert path.name == "pivot-mae-hybrid.ckpt"
    assert ml.checkpoint.load(path).config["metadata"]["command"].endswith("--hybrid")
    _, cubes = synth.scene(seed=9, size=50, days=30)
    piv = fuse({k: cubes[k] for k in ("s2", "modis")}, method="hybrid", model=path, time=("2021-01-01", "2021-01-30"))
    assert "learned_fuse[hybrid]" in piv.attrs["history"] and np.isfinite(piv.reflectance.values).all()
