"""SISR / DISR: Wald pairs, training entry, prediction grid, NaN masks, chunking, laziness, correction, errors."""
import numpy as np
import pytest
import xarray as xr

import eoxr  # noqa: F401
from eoxr.errors import CheckpointError, MissingVariableError, ParameterError
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


def test_fit_scene_trains_on_the_coarse_input_only(scene, tmp_path):
    from eoxr.lst.learned import fit_scene
    from eoxr.ml import checkpoint

    truth, lst = scene
    coarse = lst.copy()  # the scene model learns (4 x coarse) -> coarse from it alone
    coarse[3, 4] = np.nan
    ck = fit_scene(coarse, 4, tmp_path / "scene.ckpt", epochs=2, width=8, blocks=1, patch=8, device="cpu")
    cfg = checkpoint.load(ck).config
    assert cfg["metadata"]["method"] == "sisr" and cfg["metadata"]["factor"] == 4 and cfg["inputs"] == ["lst_up"]
    out = coarse.lst.superres(4, method="sisr", model=ck)["lst"]
    assert out.shape == truth["lst"].shape
    assert np.array_equal(np.isnan(out.values), np.repeat(np.repeat(np.isnan(coarse.values), 4, 0), 4, 1))
    np.testing.assert_allclose(aggregate(out, 4).values, coarse.values, atol=1e-6, equal_nan=True)
    g = truth["ndvi"]  # guide on the grid 4x finer than the coarse input
    ckd = fit_scene(coarse, 4, tmp_path / "scene-disr.ckpt", guide=g, epochs=1, width=8, blocks=1, patch=8,
                    device="cpu")
    assert checkpoint.load(ckd).inputs == ["lst_up", "guide"]
    assert np.isfinite(coarse.lst.superres(4, method="disr", model=ckd, guide=g)["lst"].values).any()


def test_fit_fields_trains_on_other_fields_of_any_size(scene, tmp_path):
    from eoxr.lst.learned import fit_fields
    from eoxr.ml import checkpoint

    truth, lst = scene
    other = synth.observation(int(lst.size) + 7, size=128, factor=4)[1]["lst"]  # another scene, smaller
    ck = fit_fields([truth["lst"].isel(y=slice(0, 96)), other], 4, tmp_path / "fields.ckpt", epochs=1, width=8,
                    blocks=1, patch=8, device="cpu")
    cfg = checkpoint.load(ck).config
    assert cfg["metadata"]["fields"] == 2 and cfg["inputs"] == ["lst_up"]
    assert cfg["training_data"]["sizes"]["time"] == 2
    out = lst.lst.superres(4, method="sisr", model=ck)["lst"]
    np.testing.assert_allclose(aggregate(out, 4).values, lst.values, atol=1e-6)
    with pytest.raises(ParameterError, match="one guide per field"):
        fit_fields([lst, other], 4, tmp_path / "x.ckpt", guides=[truth["ndvi"]], device="cpu")


def test_train_init_starts_from_a_checkpoint(models, tmp_path):
    from eoxr.lst.train import main
    from eoxr.ml import checkpoint

    argv = ["--method", "sisr", "--factor", "4", "--out", str(tmp_path), "--scenes", "4", "--size", "192",
            "--epochs", "1", "--patch", "24", "--seed0", "500", "--ship", "--lr", "1e-9",
            "--init", str(models["sisr"])]
    assert main(argv) == 0
    new, old = checkpoint.load(tmp_path / "lst-sisr-x4.ckpt"), checkpoint.load(models["sisr"])
    assert new.config["metadata"]["init"]["checkpoint"] == str(models["sisr"])
    for k, v in old.state_dict.items():  # lr ~ 0: the weights stay those of the initial checkpoint
        np.testing.assert_allclose(new.state_dict[k].numpy(), v.numpy(), atol=1e-5)
    with pytest.raises(CheckpointError, match="same method"):
        main(argv[:-1] + [str(models["disr"])])


def test_train_network_size_and_scene_workers(tmp_path):
    from eoxr.lst.train import main, training_set
    from eoxr.ml import checkpoint

    serial, parallel = training_set("disr", 4, 3, 128, 500), training_set("disr", 4, 3, 128, 500, workers=2)
    xr.testing.assert_identical(serial.drop_attrs(), parallel.drop_attrs())
    argv = ["--method", "disr", "--factor", "4", "--out", str(tmp_path), "--scenes", "3", "--size", "128",
            "--epochs", "1", "--patch", "16", "--seed0", "500", "--ship", "--width", "12", "--blocks", "2",
            "--batch-size", "8"]
    assert main(argv) == 0
    ck = checkpoint.load(tmp_path / "lst-disr-x4.ckpt")
    assert {k: ck.config["arch"]["kwargs"][k] for k in ("width", "blocks")} == {"width": 12, "blocks": 2}
    assert "--width 12 --blocks 2" in ck.config["metadata"]["command"]
    assert "--batch-size 8" in ck.config["metadata"]["command"]
    with pytest.raises(CheckpointError, match="--width 12 --blocks 2"):
        main(argv[:-6] + ["--init", str(tmp_path / "lst-disr-x4.ckpt")])  # the default network size
    with pytest.raises(ParameterError, match="--width must be a positive"):
        main(argv[:-6] + ["--width", "0"])


def test_fit_scene_on_a_mostly_cloudy_scene(scene, tmp_path):
    from eoxr.lst.learned import fit_scene

    truth, lst = scene
    cloudy = lst.where((lst.y >= lst.y[11]) & (lst.x <= lst.x[11]))  # one clear 12 x 12 corner
    ck = fit_scene(cloudy, 4, tmp_path / "cloudy.ckpt", epochs=1, width=8, blocks=1, patch=8, device="cpu")
    out = cloudy.lst.superres(4, method="sisr", model=ck)["lst"].values
    assert np.isfinite(out).sum() == 16 * np.isfinite(cloudy.values).sum()


def test_self_ensemble_is_mirror_equivariant(scene, models):
    truth, lst = scene
    kw = {"method": "disr", "model": models["disr"], "conserve_coarse": False}
    mirror = lst.isel(x=slice(None, None, -1)).assign_coords(x=lst.x.values)
    guide_m = truth["ndvi"].isel(x=slice(None, None, -1)).assign_coords(x=truth.x.values)
    ens = lst.lst.superres(4, guide=truth["ndvi"], **kw)["lst"].values
    ens_m = mirror.lst.superres(4, guide=guide_m, **kw)["lst"].values
    np.testing.assert_allclose(ens_m[:, ::-1], ens, atol=1e-3)  # the mean over mirror images commutes with them
    single = lst.lst.superres(4, guide=truth["ndvi"], ensemble=False, **kw)
    assert np.abs(single["lst"].values - ens).max() > 1e-3 and "ensemble=False" in single.attrs["history"]


def _scaled_detail(checkpoint, path, scale):
    """A copy of ``checkpoint`` whose network adds ``scale`` times its detail (the last layer scaled)."""
    from eoxr.ml import checkpoint as ckpt_mod

    ck = ckpt_mod.load(checkpoint)
    state = {k: (scale * v if k.startswith("tail.") else v) for k, v in ck.state_dict.items()}
    return ckpt_mod.save(path, ck.config, state, resume=None)


def test_sisr_detail_weight_is_fitted_one_scale_coarser(scene, models, tmp_path):
    from eoxr.lst.baselines import BACKPROJECTIONS
    from eoxr.lst.learned import detail_skill, predict_fine

    truth, lst = scene
    out = lst.lst.superres(4, method="sisr", model=models["sisr"])
    w = float(out["detail_weight"])
    assert 0.0 <= w <= 1.0 and out["lst"].attrs["detail_weight"] == w and "detail_weighting" in out["lst"].attrs
    same = predict_fine(lst, 4, models["sisr"], backprojections=BACKPROJECTIONS, detail_weight=w)
    np.testing.assert_allclose(out["lst"].values, same.values, rtol=0, atol=1e-9)
    # a detail and its reverse: one of them hurts one scale coarser and gets none of its weight, the other some
    ckpts = [_scaled_detail(models["sisr"], tmp_path / f"x{s}.ckpt", s) for s in (5.0, -5.0)]
    weights = [float(detail_skill(lst, 4, c)) for c in ckpts]
    assert min(weights) == 0.0 and max(weights) > 0.05, weights
    harmful = ckpts[int(np.argmin(weights))]
    floor = lst.lst.superres(4, method="bicubic", conserve_coarse=True)["lst"]
    np.testing.assert_allclose(lst.lst.superres(4, method="sisr", model=harmful)["lst"].values, floor.values,
                               rtol=0, atol=1e-4)
