"""Halo prediction: no seams, lazy, grid/CRS/units kept, model loaded once, NaN handling, clear errors."""
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")

from checks import assert_chunked_equals_unchunked  # noqa: E402

from eoxr import ml  # noqa: E402
from eoxr.arrays import halo_depth  # noqa: E402
from eoxr.errors import CheckpointError, EoxrWarning, GridError, MissingVariableError, ParameterError  # noqa: E402
from eoxr.ml.predict import clear_cache, infer_array  # noqa: E402


def scene(seed, ny=90, nx=110, nt=None):
    rng = np.random.default_rng(seed)
    shape = (ny, nx) if nt is None else (nt, ny, nx)
    dims = ("y", "x") if nt is None else ("time", "y", "x")
    a = rng.normal(300, 4, size=shape).astype("float32")
    b = rng.uniform(0, 1, size=shape).astype("float32")
    ds = xr.Dataset(
        {"a": (dims, a, {"units": "K"}), "b": (dims, b, {"units": "1"}),
         "t": (dims, a + 5 * b, {"units": "K", "long_name": "surface temperature"})},
        coords={"y": 5e6 - 30.0 * np.arange(ny), "x": 4e5 + 30.0 * np.arange(nx)},
    )
    return ds.rio.write_crs("EPSG:32631")


@pytest.fixture(scope="module")
def unet_ckpt(tmp_path_factory):
    """A small trained UNet, made before any function-scoped fixture (no_compute) starts."""
    return trained(tmp_path_factory.mktemp("ckpt"), "UNet", width=4, depth=1)


def trained(tmp_path, arch, seed=0, **kwargs):
    ds = scene(seed)
    gen = ml.patches(ds, ["a", "b"], "t", size=32)
    path = tmp_path / f"{arch}.ckpt"
    model = ml.nets.build(arch, in_channels=2, seed=seed, **kwargs)
    ml.train(model, gen, epochs=1, checkpoint=path, progress=False)
    return path


@pytest.mark.parametrize("arch,kwargs", [
    ("UNet", {"width": 4, "depth": 3}),
    ("SmaAtUNet", {"width": 8, "depth": 2}),
    ("ConvVAE", {"width": 4, "depth": 2, "latent_channels": 2}),
])
def test_chunked_prediction_equals_one_forward_over_the_whole_array(tmp_path, arch, kwargs):
    path = trained(tmp_path, arch, **kwargs)
    ds = scene(1)
    ck = ml.load_checkpoint(path)
    model = ck.build_model()
    x = np.stack([ds.a.values, ds.b.values])
    ref = infer_array(model, ck.config, x, tile=10**6, n_samples=4)  # whole array in one forward
    if arch == "UNet":  # and the same by hand: normalise, one torch call, denormalise
        st = ck.normalisation
        xn = (x - np.array([st["a"]["mean"][0], st["b"]["mean"][0]])[:, None, None]) / \
            np.array([st["a"]["std"][0], st["b"]["std"][0]])[:, None, None]
        with torch.no_grad():
            by_hand = model(torch.from_numpy(xn[None].astype("float32"))).numpy()[0, 0]
        np.testing.assert_allclose(ref[0], by_hand * st["t"]["std"][0] + st["t"]["mean"][0], atol=1e-4)
    for chunks in ({"y": 37, "x": 41}, {"y": 64, "x": 30}):
        lazy = ml.predict(ds[["a", "b"]].chunk(chunks), path, tile=48, n_samples=4)
        assert lazy.t.chunks == ds.a.chunk(chunks).chunks  # the caller's chunks come back
        out = lazy.compute()
        np.testing.assert_allclose(out.t.values, ref[0], atol=1e-4)
        if arch == "ConvVAE":
            np.testing.assert_allclose(out.t_std.values, ref[1], atol=1e-5)
            assert (out.t_std.values >= 0).all() and out.t_std.attrs["units"] == "K"
    with pytest.warns(EoxrWarning, match="seams"):
        seams = ml.predict(ds[["a", "b"]].chunk({"y": 37, "x": 41}), path, halo=0, tile=48, n_samples=4).compute()
    assert np.abs(seams.t.values - ref[0]).max() > 1e-3  # without the halo the chunk edges show


@pytest.mark.parametrize("arch,kwargs", [("UNet", {"width": 4, "depth": 2}), ("SmaAtUNet", {"width": 8, "depth": 2})])
def test_no_halo_seams_in_y_over_several_y_chunks(tmp_path, arch, kwargs):
    """A tall scene cut into y-chunks only: every seam is a y seam."""
    path = trained(tmp_path, arch, **kwargs)
    ds = scene(7, ny=200, nx=36)[["a", "b"]]
    chunked = ml.predict(ds.chunk({"y": 30}), path)
    assert len(chunked.t.chunks[0]) >= 3 and len(chunked.t.chunks[1]) == 1
    assert_chunked_equals_unchunked(lambda d: ml.predict(d, path, tile=64).t, ds, [{"y": 30}, {"y": 41}],
                                    rtol=0, atol=1e-4)


def test_halo_is_half_the_receptive_field_rounded_up_to_the_pooling_factor(tmp_path):
    path = trained(tmp_path, "UNet", width=4, depth=2)  # receptive field 44 px, pooling factor 4
    cfg = ml.load_checkpoint(path).config
    rf, align = cfg["receptive_field"], cfg["align"]
    ds = scene(8)[["a", "b"]].chunk({"y": 30, "x": 40})

    def halo_of(out):
        return int(re.search(r"halo=(\d+)", out.attrs["history"]).group(1))

    default = halo_of(ml.predict(ds, path))
    assert default == halo_depth(rf, align) and default % align == 0 and 2 * default >= rf
    asked = rf // 2 - 1  # one pixel short of the need, not a multiple of the pooling factor
    assert asked % align and round(asked / align) * align < rf // 2  # rounding to nearest or down would fall short
    assert halo_of(ml.predict(ds, path, halo=asked)) == -(-asked // align) * align >= rf // 2
    with pytest.warns(EoxrWarning, match="seams"):
        assert halo_of(ml.predict(ds, path, halo=align)) == align
    with pytest.raises(ParameterError, match="halo must be >= 0"):
        ml.predict(ds, path, halo=-1)


def test_output_is_lazy_and_keeps_grid_crs_units_history(unet_ckpt, no_compute):
    ds = scene(2, nt=2).chunk({"time": 1, "y": 40, "x": 40})
    out = ml.predict(ds[["a", "b"]], unet_ckpt)
    t = out.t
    assert t.chunks is not None and t.dims == ("time", "y", "x") and t.dtype == np.float32
    np.testing.assert_array_equal(t.y.values, ds.y.values)
    np.testing.assert_array_equal(t.x.values, ds.x.values)
    assert out.rio.crs.to_epsg() == 32631 and "spatial_ref" in out.coords
    assert t.attrs["units"] == "K" and t.attrs["long_name"] == "surface temperature"
    assert "ml.predict" in out.attrs["history"] and str(unet_ckpt) in out.attrs["history"]
    assert out.attrs["eoxr_method"] == "ml.predict"
    assert out.attrs["eoxr_checkpoint_sha256"] == hashlib.sha256(Path(unet_ckpt).read_bytes()).hexdigest()


def test_values_per_time_step_and_nan_handling(unet_ckpt):
    ds = scene(3, nt=2)
    ds["a"][0, 10:20, 10:20] = np.nan  # one input missing: predicted from the other (NaN -> mean)
    ds["a"][1, 30:40, 50:60] = np.nan
    ds["b"][1, 30:40, 50:60] = np.nan  # every input missing: NaN out
    out = ml.predict(ds[["a", "b"]].chunk({"time": 1, "y": 32, "x": 48}), unet_ckpt).t.compute()
    assert np.isfinite(out.values[0]).all()
    assert np.isnan(out.values[1, 30:40, 50:60]).all()
    assert np.isfinite(out.values[1]).sum() == 90 * 110 - 100
    ck = ml.load_checkpoint(unet_ckpt)
    for i in range(2):
        ref = infer_array(ck.build_model(), ck.config, np.stack([ds.a.values[i], ds.b.values[i]]))
        np.testing.assert_allclose(out.values[i], ref[0], atol=1e-4)


def test_model_loads_once_per_process_and_again_when_the_file_changes(unet_ckpt, tmp_path):
    import dask

    path = tmp_path / "copy.ckpt"
    path.write_bytes(unet_ckpt.read_bytes())
    ds = scene(4).chunk({"y": 32, "x": 32})  # 12 chunks
    clear_cache()
    before = ml.load_count(path)
    with dask.config.set(scheduler="threads", num_workers=2):
        ml.predict(ds[["a", "b"]], path).compute()
        ml.predict(ds[["a", "b"]], path).compute()
    assert ml.load_count(path) - before == 1
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a retrained file
    ml.predict(ds[["a", "b"]], path).compute()
    assert ml.load_count(path) - before == 2


def test_dataarray_input_and_registry(unet_ckpt, tmp_path, monkeypatch):
    one = ml.nets.build("UNet", in_channels=1, width=4, depth=1, seed=0)
    ds = scene(5)
    path = tmp_path / "one.ckpt"
    ml.train(one, ml.patches(ds, ["a"], "t", size=32), epochs=1, checkpoint=path, progress=False)
    from_da = ml.predict(ds.a.chunk({"y": 45}), path).t.compute()
    from_ds = ml.predict(ds[["a"]], path).t.compute()
    np.testing.assert_allclose(from_da.values, from_ds.values, atol=1e-5)

    monkeypatch.setenv("EOXR_MODELS", str(tmp_path / "store"))
    dest = ml.registry.add("test.one_input", path, folder=tmp_path / "store")
    assert dest.exists() and "test.one_input" in ml.registry.names()
    assert "resume" not in torch.load(dest, weights_only=True)  # shipped without optimizer state
    assert dest.stat().st_size < path.stat().st_size
    assert ml.registry.info("test.one_input")["inputs"] == ["a"]
    by_name = ml.predict(ds[["a"]], "test.one_input").t.compute()
    np.testing.assert_allclose(by_name.values, from_ds.values, atol=1e-6)
    with pytest.raises(CheckpointError, match="overwrite=True"):
        ml.registry.add("test.one_input", path, folder=tmp_path / "store")
    with pytest.raises(CheckpointError, match="known"):
        ml.registry.path("test.absent")


def test_bad_inputs_and_checkpoints_raise_clear_errors(unet_ckpt, tmp_path):
    ds = scene(6)
    with pytest.raises(MissingVariableError, match="'b'"):
        ml.predict(ds[["a"]], unet_ckpt)
    with pytest.raises(GridError, match="transpose"):
        ml.predict(ds[["a", "b"]].transpose("x", "y"), unet_ckpt)
    with pytest.raises(CheckpointError, match="trained on inputs"):
        ml.predict(ds.rename({"a": "c", "b": "d"})[["c", "d"]], unet_ckpt)
    bands = ds.assign(b=ds.b.expand_dims(band=3).transpose("band", "y", "x"))
    with pytest.raises(CheckpointError, match="input channels"):
        ml.predict(bands[["a", "b"]], unet_ckpt)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        ml.predict(ds[["a", "b"]], tmp_path / "absent.ckpt")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(unet_ckpt.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated"):
        ml.predict(ds[["a", "b"]], corrupt)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not an eoxr checkpoint"):
        ml.predict(ds[["a", "b"]], foreign)
    wrong = tmp_path / "wrong.ckpt"
    payload = torch.load(unet_ckpt, weights_only=True)
    payload["state_dict"] = {k: v[..., :1] if v.dim() else v for k, v in payload["state_dict"].items()}
    torch.save(payload, wrong)
    with pytest.raises(CheckpointError, match="do not fit"):
        ml.predict(ds[["a", "b"]], wrong).compute()
