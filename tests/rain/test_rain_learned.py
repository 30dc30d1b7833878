"""U-Net retrieval: training lowers the loss, checkpoints round trip, halo prediction, `eoxr train rain`, errors."""
import numpy as np
import pytest
import torch
from checks import assert_cf, assert_chunked_equals_unchunked, assert_lazy

import eoxr  # noqa: F401
from eoxr.errors import CheckpointError
from eoxr.ml import checkpoint
from eoxr.rain import learned, retrieve, synth
from eoxr.rain.radiometers import GMI, get

PATCH, STRIDE = {"y": 16, "x": 32}, {"y": 8, "x": 16}


@pytest.fixture(scope="module")
def scenes():
    return list(synth.scenes(range(600, 604), "gmi", scans=24, pixels=64))


@pytest.fixture(scope="module")
def trained(scenes, tmp_path_factory):
    path = tmp_path_factory.mktemp("rain-unet") / "unet.ckpt"
    fit = learned.fit(scenes, path, epochs=4, width=4, depth=2, patch=PATCH, stride=STRIDE, lr=5e-3,
                      validation=None, device="cpu")
    return path, fit


def test_training_lowers_the_loss(trained):
    _, fit = trained
    losses = fit.train_loss
    assert np.all(np.diff(losses) < 0) and losses[-1] < 0.95 * losses[0], losses


def test_checkpoint_round_trip(trained, scenes):
    path, fit = trained
    ck = checkpoint.load(path)
    assert ck.config["metadata"]["sensor"] == "gmi" and ck.config["metadata"]["channels"] == GMI.channel_names
    net = ck.build_model("cpu")
    x = torch.randn(2, 17, 16, 32)
    with torch.no_grad():
        np.testing.assert_allclose(net(x).numpy(), fit.model.to("cpu")(x).numpy(), rtol=1e-5, atol=1e-6)


def test_unet_retrieval_outputs(trained, swath):
    path, _ = trained
    out = swath.rain.retrieve(method="unet", model=path, device="cpu").compute()
    assert_cf(out, units={"rain_rate": "mm h-1", "rain_rate_std": "mm h-1", "rain_probability": "1"})
    assert out["rain_rate"].dims == ("along_track", "cross_track") and "latitude" in out.coords
    assert out.attrs["eoxr_checkpoint_sha256"] == checkpoint.sha256(path)  # the network it came from
    v = {k: out[k].values for k in out.data_vars}
    assert np.isfinite(v["rain_rate"]).all() and v["rain_rate"].min() >= 0
    assert v["rain_rate_std"].min() >= 0.01 and 0 <= v["rain_probability"].min() <= v["rain_probability"].max() <= 1


def test_unet_is_lazy_and_seamless(trained, swath):
    path, _ = trained
    tb, surface = swath["brightness_temperature"], swath["surface_type"]
    assert_lazy(retrieve, tb.chunk({"along_track": 8}), "unet", surface=surface, model=path, device="cpu")

    def run(tb, surface):
        return retrieve(tb, "unet", surface=surface, model=path, device="cpu")

    # chunks far smaller than the network's receptive field: the halo must hide every seam
    assert_chunked_equals_unchunked(run, (tb, surface), [{"along_track": 8, "cross_track": 20}], rtol=1e-4,
                                    atol=1e-5)


def test_fill_pixels_stay_nan(trained, swath):
    path, _ = trained
    tb = swath["brightness_temperature"].copy()
    tb.values[3, 5:9] = -9999.9
    out = retrieve(tb, "unet", surface=swath["surface_type"], model=path, device="cpu")
    assert np.isnan(out["rain_rate"].values[3, 5:9]).all() and np.isfinite(out["rain_rate"].values[4]).all()


def test_eoxr_train_rain_ships_a_small_checkpoint(tmp_path):
    from eoxr import cli

    argv = ["train", "rain", "--out", str(tmp_path), "--seed0", "700", "--scenes", "2", "--scans", "96",
            "--epochs", "1", "--width", "4", "--ship"]
    assert cli.main(argv) == 0
    ck = checkpoint.load(tmp_path / "rain-unet-gmi.ckpt")
    assert ck.resume is None and (tmp_path / "rain-unet-gmi.ckpt").stat().st_size < 200_000
    assert ck.config["metadata"]["command"].startswith("eoxr train rain --sensor gmi --seed0 700 --scenes 2")
    assert not (tmp_path / ".runs" / "rain-unet-gmi.ckpt").exists()


def test_model_errors(trained, swath):
    path, _ = trained
    with pytest.raises(CheckpointError, match="eoxr train rain --sensor ssmis"):
        learned.resolve_model(None, get("ssmis"))
    amsr2 = synth.scene(701, "amsr2", scans=16, pixels=32)
    with pytest.raises(CheckpointError, match="serves GMI"):
        amsr2.rain.retrieve(method="unet", model=path, device="cpu")
