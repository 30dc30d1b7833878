"""The learned chain on one torch device (bicubic, network, conservation) equals the numpy path within round-off."""
import numpy as np
import pytest
import xarray as xr

import eoxr  # noqa: F401
from eoxr import ml
from eoxr.arrays import repeat_blocks
from eoxr.lst import synth
from eoxr.lst.baselines import BACKPROJECTIONS, bicubic, conserve, upsample_data
from eoxr.lst.degrade import aggregate
from eoxr.lst.learned import resolve_model

torch = pytest.importorskip("torch")
from eoxr.lst import ondevice  # noqa: E402  (imports torch)

MIRRORS = ((1, 1), (-1, 1), (1, -1), (-1, -1))


def _mirror(ds, fy, fx):
    return ds.isel(y=slice(None, None, fy), x=slice(None, None, fx)).assign_coords(y=ds.y.values, x=ds.x.values)


def numpy_path(lst, factor, checkpoint, guide=None, weight=1.0):
    """bicubic (-> baselines.conserve for a network trained on that) -> eoxr.ml.predict over the four mirror
    images -> weighted detail -> baselines.conserve."""
    from eoxr.ml import checkpoint as ckpt_mod

    up = bicubic(lst, factor).rename("lst_up")
    if ckpt_mod.load(checkpoint).config["metadata"].get("upsampling") == "backprojected":
        up = conserve(up, lst, factor, backprojections=BACKPROJECTIONS)
    ds = xr.Dataset({"lst_up": up})
    if guide is not None:
        ds["guide"] = guide.assign_coords(y=up.y, x=up.x)
    runs = [_mirror(ml.predict(_mirror(ds, fy, fx), checkpoint)["lst"], fy, fx) for fy, fx in MIRRORS]
    net = (sum(runs) / len(runs)).astype(lst.dtype)
    fine = up + weight * (net - up)
    fine = fine.where(repeat_blocks(np.isfinite(lst.values), factor))
    return conserve(fine, lst, factor, backprojections=BACKPROJECTIONS)


@pytest.fixture(scope="module")
def cloudy():
    truth, obs = synth.observation(41, size=96, factor=4)
    lst = obs["lst"].copy()
    lst[5:8, 9:11] = np.nan
    lst[0, 0] = np.nan  # a cloud at the image's corner
    return truth, lst


@pytest.mark.parametrize("method", ["sisr", "disr"])
def test_chain_on_cpu_equals_the_numpy_path(cloudy, method):
    truth, lst = cloudy
    from eoxr.lst.learned import predict_fine

    guide = truth["ndvi"] if method == "disr" else None
    ck = resolve_model(None, method, 4)
    got = predict_fine(lst, 4, ck, guide=guide, device="cpu", backprojections=BACKPROJECTIONS,
                       detail_weight=0.7).values
    ref = numpy_path(lst, 4, ck, guide, 0.7).values
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.nanmax(np.abs(got - ref)) < 2e-4  # K: float32 round-off at 300 K (the network), operations reordered


def test_chain_tiles_and_chunks_do_not_show(cloudy):
    truth, lst = cloudy
    ck = resolve_model(None, "sisr", 4)
    whole = lst.lst.superres(4, method="sisr", device="cpu")["lst"].values
    from eoxr.lst.learned import predict_fine

    tiled = predict_fine(lst, 4, ck, device="cpu", tile=7, batch_size=3, backprojections=BACKPROJECTIONS)
    chunked = lst.chunk({"y": 10, "x": 13}).lst.superres(4, method="sisr", device="cpu")["lst"]
    assert chunked.chunks is not None
    np.testing.assert_allclose(aggregate(tiled, 4).values, lst.values, atol=1e-6)  # the tiles conserve
    # the halo holds every dependency: tiles and chunks give the whole image's numbers (a halo without the
    # back-projections' reach is off by ~1e-5 K at tile edges)
    np.testing.assert_allclose(tiled.values, whole, rtol=0, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(chunked.values, whole, rtol=0, atol=1e-6, equal_nan=True)


def test_torch_kernels_match_the_numpy_kernels(rng):
    coarse = 290.0 + 5.0 * rng.random((2, 9, 11))
    coarse[0, 3, 4] = np.nan
    for factor in (2, 3, 4):
        got = ondevice.upsample(torch.from_numpy(coarse), factor).numpy()
        np.testing.assert_allclose(got, upsample_data(coarse, factor), rtol=1e-12, equal_nan=True)
    fine = 290.0 + 5.0 * rng.random((2, 36, 44))
    got = ondevice.conserve(torch.from_numpy(fine), torch.from_numpy(coarse), 4, BACKPROJECTIONS).numpy()
    ref = conserve(xr.DataArray(fine, dims=("t", "y", "x")), xr.DataArray(coarse, dims=("t", "y", "x")), 4,
                   backprojections=BACKPROJECTIONS).values
    np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)
    back = aggregate(xr.DataArray(got[1], dims=("y", "x"), coords={"y": np.arange(36.0), "x": np.arange(44.0)}), 4)
    np.testing.assert_allclose(back.values, coarse[1], rtol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["sisr", "disr"])
def test_chain_on_cuda_equals_cpu_and_conserves(cloudy, method):
    truth, lst = cloudy
    kw = {"guide": truth["ndvi"]} if method == "disr" else {}
    cpu, gpu = (lst.lst.superres(4, method=method, device=d, **kw)["lst"] for d in ("cpu", "cuda"))
    assert np.nanmax(np.abs(gpu.values - cpu.values)) < 0.05  # K: TF32 / cuDNN convolutions round differently
    np.testing.assert_allclose(aggregate(gpu, 4).values, lst.values, atol=1e-6, equal_nan=True)
