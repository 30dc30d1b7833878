"""SISR / DISR: Wald pairs, training entry, prediction grid, NaN masks, chunking, laziness, correction, errors."""
import numpy as np
import pytest

import eoxr  # noqa: F401
from eoxr.errors import CheckpointError, MissingVariableError
from eoxr.lst import synth
from eoxr.lst.baselines import bicubic
from eoxr.lst.degrade import aggregate, degrade
from eoxr.lst.learned import wald_pairs

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny SISR and DISR checkpoints trained here through `eoxr train lst` (one epoch, four scenes)."""
    from eoxr.lst.train import main

    out = tmp_path_factory.mktemp("lst-models")
    for method in ("sisr", "disr"):
        argv = ["--method", method, "--factor", "4", "--out", str(out), "--scenes", "4", "--size", "192",
                "--epochs", "1", "--patch", "24", "--seed0", "500", "--ship"]
        assert main(argv) == 0
    return {m: out / f"lst-{m}-x4.ckpt" for m in ("sisr", "disr")}


@pytest.fixture
def scene():
    truth, obs = synth.observation(77, size=128, factor=4)
    return truth, obs["lst"]


def test_wald_pairs(scene):
    truth, lst = scene
    pairs = wald_pairs(lst, 4, guide=aggregate(truth["ndvi"], 4, domain="linear"))
    assert set(pairs.data_vars) == {"lst_up", "lst", "guide"} and pairs["lst"].shape == lst.shape
    np.testing.assert_allclose(pairs["lst_up"].values, bicubic(degrade(lst, 4), 4).values)
    np.testing.assert_allclose(pairs["guide"].values, aggregate(truth["ndvi"], 4, domain="linear").values)
    assert pairs.rio.crs == lst.rio.crs


def test_shipped_checkpoint_is_small_and_weights_only(models):
    from eoxr.ml import checkpoint

    for path in models.values():
        ck = checkpoint.load(path)
        assert ck.resume is None and path.stat().st_size < 400_000
        assert ck.config["metadata"]["factor"] == 4 and ck.inputs[0] == "lst_up"


@pytest.mark.parametrize("method", ["sisr", "disr"])
def test_superres_grid_mask_and_chunks(scene, models, method):
    truth, lst = scene
    lst = lst.copy()
    lst[10:14, 20:23] = np.nan
    kw = {"guide": truth["ndvi"]} if method == "disr" else {}
    out = lst.lst.superres(4, method=method, model=models[method], **kw)
    fine = out["lst"]
    assert fine.shape == truth["lst"].shape and fine.rio.crs == lst.rio.crs
    assert fine.attrs["units"] == "K" and "long_name" in fine.attrs
    np.testing.assert_allclose(fine.x.values, truth.x.values)
    v = fine.values
    parent_nan = np.repeat(np.repeat(np.isnan(lst.values), 4, 0), 4, 1)
    assert np.array_equal(np.isnan(v), parent_nan)
    kwc = {"guide": truth["ndvi"].chunk(64)} if method == "disr" else {}
    chunked = lst.chunk({"y": 12, "x": 20}).lst.superres(4, method=method, model=models[method], **kwc)
    np.testing.assert_allclose(chunked["lst"].values, v, atol=1e-3, equal_nan=True)


def test_superres_learned_is_lazy(scene, models, no_compute):
    truth, lst = scene
    out = lst.chunk(16).lst.superres(4, method="disr", guide=truth["ndvi"].chunk(64), model=models["disr"],
                                     scale_correction=True)
    assert out["lst"].chunks is not None and out["detail_gain"].chunks is not None


def test_scale_correction_conserves_the_observation(scene, models):
    truth, lst = scene
    out = lst.lst.superres(4, method="sisr", model=models["sisr"], scale_correction=True)
    np.testing.assert_allclose(aggregate(out["lst"], 4).values, lst.values, atol=1e-6)
    assert 0.0 <= float(out["detail_gain"]) <= 2.0
    default = lst.lst.superres(4, method="sisr", model=models["sisr"])  # learned methods conserve by default
    np.testing.assert_allclose(aggregate(default["lst"], 4).values, lst.values, atol=1e-6)
    raw = lst.lst.superres(4, method="sisr", model=models["sisr"], conserve_coarse=False)
    assert np.abs(aggregate(raw["lst"], 4).values - lst.values).max() > 1e-3


def test_learned_errors(scene, models):
    truth, lst = scene
    with pytest.raises(MissingVariableError, match="guide"):
        lst.lst.superres(4, method="disr", model=models["disr"])
    with pytest.raises(CheckpointError, match="factor=4"):
        degrade(lst, 1).lst.superres(2, method="sisr", model=models["sisr"])
    with pytest.raises(CheckpointError):
        lst.lst.superres(4, method="sisr", model=str(models["sisr"]) + ".missing")


@pytest.mark.parametrize("method", ["sisr", "disr"])
def test_shipped_models_work_out_of_the_box(scene, method):
    truth, lst = scene
    kw = {"guide": truth["ndvi"]} if method == "disr" else {}
    out = lst.lst.superres(4, method=method, **kw)["lst"].values
    rmse = np.sqrt(np.mean((out - truth["lst"].values) ** 2))
    rmse_bicubic = np.sqrt(np.mean((bicubic(lst, 4).values - truth["lst"].values) ** 2))
    assert rmse < rmse_bicubic
