"""Training: a known linear filter is learned, runs are reproducible, interrupted runs resume exactly."""
import json

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

torch = pytest.importorskip("torch")

from eoxr import ml  # noqa: E402
from eoxr.errors import CheckpointError, ConvergenceError, MissingVariableError, ParameterError  # noqa: E402

KERNEL = np.array([[0.0, 0.1, 0.0], [0.1, 1.0, 0.2], [0.0, -0.1, 0.05]])


@ml.nets.register("testml.Filter")
class Filter(torch.nn.Module):
    """One 3x3 convolution: can represent the known filter exactly."""

    def __init__(self, in_channels=1, out_channels=1):
        super().__init__()
        self.in_channels = in_channels
        self.conv = torch.nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


def filtered_scene(seed, shift=0.0, n=2, size=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 2.0, size=(n, size, size))
    # correlate (not convolve) so that the kernel is what a Conv2d learns
    y = np.stack([ndimage.correlate(v, KERNEL, mode="constant", cval=shift) for v in x])
    return xr.Dataset({"x": (("time", "y", "x"), x.astype("float32"), {"units": "K"}),
                       "y": (("time", "y", "x"), y.astype("float32"), {"units": "K", "long_name": "filtered"})}
                      ).chunk({"time": 1, "y": 32, "x": 32})


def mse_of(model, gen, stats):
    from eoxr.ml.train import Normaliser

    nin, nout = Normaliser(stats, ["x"]), Normaliser(stats, ["y"])
    x, y = gen.get(np.arange(len(gen)))
    with torch.no_grad():
        pred = model.eval()(torch.from_numpy(nin.forward(x).astype("float32"))).numpy()
    return float(np.mean((pred - nout.forward(y)) ** 2))


def test_learns_a_known_linear_filter(tmp_path):
    gen = ml.patches(filtered_scene(seed=11), ["x"], "y", size=16, seed=0)
    model = ml.nets.build("testml.Filter", seed=0)
    stats = gen.statistics()
    untrained = mse_of(model, gen, stats)
    fit = ml.train(model, gen, epochs=25, lr=0.05, batch_size=8, checkpoint=tmp_path / "f.ckpt", progress=False)
    trained = mse_of(fit.model, gen, stats)
    assert untrained > 0.3
    assert trained < 0.02 < untrained
    assert fit.train_loss[-1] < fit.train_loss[0]
    # the weights are the filter, rescaled by the stored normalisation
    w = fit.model.conv.weight.detach().numpy()[0, 0] * stats["y"]["std"][0] / stats["x"]["std"][0]
    np.testing.assert_allclose(w, KERNEL, atol=0.03)
    # prediction on a scene with another mean uses the training statistics and still applies the filter
    # (statistics recomputed on it would shift the output by about sum(KERNEL) * 5 = 6.8 K)
    new = filtered_scene(seed=12, shift=5.0, n=1)
    out = ml.predict(new[["x"]], tmp_path / "f.ckpt").y.compute()
    inner = (0, slice(2, -2), slice(2, -2))
    assert float(np.abs(out.values[inner] - new.y.values[inner]).mean()) < 0.15
    assert out.attrs["units"] == "K" and out.attrs["long_name"] == "filtered"


def test_checkpoint_files(tmp_path):
    gen = ml.patches(filtered_scene(seed=13), ["x"], "y", size=16)
    train, val = ml.split(gen, by="space", fraction=0.25, seed=0)
    ckpt = tmp_path / "runs" / "m.ckpt"
    model = ml.nets.build("UNet", in_channels=1, width=4, depth=1, seed=0)
    fit = ml.train(model, train, val=val, epochs=3, checkpoint=ckpt, metadata={"scene": "filtered", "factor": 2},
                   progress=False)
    payload = torch.load(ckpt, weights_only=True)
    config = json.loads(payload["config"])
    side = json.loads((tmp_path / "runs" / "m.ckpt.json").read_text())
    for cfg in (config, side):
        assert cfg["arch"] == {"name": "UNet", "module": "eoxr.ml.nets",
                               "kwargs": {"in_channels": 1, "out_channels": 1, "width": 4, "depth": 1,
                                          "norm": "batch", "upsample": "transpose"}}
        assert cfg["inputs"] == ["x"] and cfg["target"] == "y" and cfg["units"] == "K"
        assert cfg["normalisation"] == train.statistics()
        assert cfg["metadata"] == {"scene": "filtered", "factor": 2}
        assert cfg["training_data"]["n_patches"] == len(train) and cfg["validation_data"]["n_patches"] == len(val)
        assert [row["epoch"] for row in cfg["log"]] == [1, 2, 3]
        for row in cfg["log"]:  # the RMSE in kelvin is the normalised MSE rescaled by the target's std
            expected = np.sqrt(row["val_loss"]) * cfg["normalisation"]["y"]["std"][0]
            assert abs(row["val_rmse"] - expected) < 1e-4 * expected
    assert set(payload["resume"]) >= {"state_dict", "optimizer", "rng", "epoch"}
    rows = (tmp_path / "runs" / "m.ckpt.log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,train_loss,val_loss,val_rmse") and len(rows) == 4
    # the checkpoint's weights are the best validation epoch's, and so are the returned model's
    best = min(range(3), key=lambda i: fit.val_loss[i])
    assert fit.best_epoch == best + 1
    for k, v in fit.model.state_dict().items():
        assert torch.equal(v, payload["state_dict"][k])


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    gen = ml.patches(filtered_scene(seed=14), ["x"], "y", size=16)

    def run(seed):
        model = ml.nets.build("ConvVAE", in_channels=1, width=4, depth=1, latent_channels=2, seed=0)
        return ml.train(model, gen, epochs=2, seed=seed, progress=False).model.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the VAE's sampling follows the torch seed


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    gen = ml.patches(filtered_scene(seed=15), ["x"], "y", size=16)
    train, val = ml.split(gen, by="space", fraction=0.25, seed=0)

    def model():
        return ml.nets.build("ConvVAE", in_channels=1, width=4, depth=1, latent_channels=2, seed=0)

    straight = ml.train(model(), train, val=val, epochs=4, checkpoint=tmp_path / "a.ckpt", progress=False)
    ml.train(model(), train, val=val, epochs=2, checkpoint=tmp_path / "b.ckpt", progress=False)  # stopped here
    resumed = ml.train(model(), train, val=val, epochs=4, checkpoint=tmp_path / "b.ckpt", resume=True,
                       progress=False)
    assert [r["epoch"] for r in resumed.log] == [1, 2, 3, 4]
    assert [r["train_loss"] for r in resumed.log] == [r["train_loss"] for r in straight.log]
    sa, sb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ra = torch.load(tmp_path / "a.ckpt", weights_only=True)["resume"]["state_dict"]
    rb = torch.load(tmp_path / "b.ckpt", weights_only=True)["resume"]["state_dict"]
    assert all(torch.equal(ra[k], rb[k]) for k in ra)


def test_resume_after_a_crash_in_the_middle_of_an_epoch(tmp_path):
    gen = ml.patches(filtered_scene(seed=18), ["x"], "y", size=16)
    calls = {"n": 0, "crash_at": None}

    def loss(pred, target):
        calls["n"] += 1
        if calls["n"] == calls["crash_at"]:
            raise KeyboardInterrupt  # the machine goes away mid-epoch
        return torch.mean((pred - target) ** 2)

    def model():
        return ml.nets.build("UNet", in_channels=1, width=4, depth=1, seed=0)

    straight = ml.train(model(), gen, epochs=3, batch_size=8, loss=loss, checkpoint=tmp_path / "a.ckpt", progress=False)
    per_epoch = calls["n"] // 3
    calls.update(n=0, crash_at=2 * per_epoch + per_epoch // 2)  # half-way through the third epoch
    with pytest.raises(KeyboardInterrupt):
        ml.train(model(), gen, epochs=3, batch_size=8, loss=loss, checkpoint=tmp_path / "b.ckpt", progress=False)
    assert ml.load_checkpoint(tmp_path / "b.ckpt").config["epoch"] == 2  # the last finished epoch survived
    calls["crash_at"] = None
    resumed = ml.train(model(), gen, epochs=3, batch_size=8, loss=loss, checkpoint=tmp_path / "b.ckpt", progress=False)
    sa, sb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_early_stopping_and_resume_guards(tmp_path):
    gen = ml.patches(filtered_scene(seed=16), ["x"], "y", size=16)
    model = ml.nets.build("testml.Filter", seed=0)
    fit = ml.train(model, gen, epochs=20, lr=0.0, early_stopping=2, min_delta=1e-6, checkpoint=tmp_path / "e.ckpt",
                   progress=False)
    assert fit.stopped_early and len(fit.log) == 3
    other = ml.nets.build("UNet", in_channels=1, width=4, depth=1)
    with pytest.raises(CheckpointError, match="resume=False"):
        ml.train(other, gen, epochs=1, checkpoint=tmp_path / "e.ckpt", progress=False)
    with pytest.raises(MissingVariableError, match="in_channels=1"):
        ml.train(ml.nets.UNet(in_channels=3, width=4, depth=1), gen, epochs=1, progress=False)
    with pytest.raises(MissingVariableError, match="no target"):
        ml.train(model, ml.patches(filtered_scene(seed=16), ["x"], size=16), epochs=1, progress=False)


def test_custom_loss_callable():
    gen = ml.patches(filtered_scene(seed=17), ["x"], "y", size=16)
    calls = []

    def loss(pred, target):
        calls.append(pred.shape)
        return torch.mean(torch.abs(pred - target) ** 3)

    fit = ml.train(ml.nets.build("testml.Filter", seed=0), gen, epochs=2, loss=loss, progress=False)
    assert len(calls) >= 2 and calls[0][1:] == (1, 16, 16)
    assert fit.train_loss[1] < fit.train_loss[0]
    with pytest.raises(ParameterError, match="loss must be"):
        ml.train(ml.nets.build("testml.Filter"), gen, epochs=1, loss="nope", progress=False)
    with pytest.raises(ParameterError, match="ml.patches"):
        ml.train(ml.nets.build("testml.Filter"), filtered_scene(seed=17), epochs=1, progress=False)


def test_a_diverging_loss_names_the_fix():
    gen = ml.patches(filtered_scene(seed=18), ["x"], "y", size=16)
    with pytest.raises(ConvergenceError, match="lower lr="):
        ml.train(ml.nets.build("testml.Filter", seed=0), gen, epochs=5, lr=1e30, progress=False)
