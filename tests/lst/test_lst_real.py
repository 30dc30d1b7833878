"""Real MOD11A1 LST: Wald's protocol on a clear window, cloud masks, laziness on the product reader."""
import numpy as np
import pytest

import eoxr
from eoxr.lst.degrade import aggregate, degrade
from eoxr.lst.evaluate import clear_windows, modis_emissivity, scores


@pytest.fixture(scope="module")
def mod11(real_data):
    ds = eoxr.io.open_product(real_data / "modis_lsttools" / "MOD11A1.hdf")
    return ds


def test_product_reads_as_lst(mod11):
    lst = mod11["lst"]
    assert lst.attrs["units"] == "K" and mod11.rio.crs is not None
    v = lst.values
    assert 0.1 < np.isfinite(v).mean() < 0.5  # the tile is mostly cloudy
    assert 250 < np.nanmin(v) and np.nanmax(v) < 340


def test_wald_protocol_on_a_clear_window(mod11):
    lst = mod11["lst"].load()
    win = clear_windows(lst, 64, 0.95, limit=1)[0]
    truth = lst.isel(**win)
    guide = modis_emissivity(mod11).isel(**win).load()
    coarse = degrade(truth, 4)
    bic = coarse.lst.superres(4, method="bicubic")["lst"]
    ts = coarse.lst.superres(4, method="tsharp", guide=guide)["lst"]
    s = scores(bic, truth, coarse, 4)
    assert 0.2 < s["rmse_K"] < 2.5 and s["correlation"] > 0.8
    np.testing.assert_allclose(bic.x.values, truth.x.values, atol=1e-6)  # 4 km -> 1 km lands on the 1 km grid
    back = aggregate(ts, 4).values
    ok = np.isfinite(coarse.values)
    np.testing.assert_allclose(back[ok], coarse.values[ok], atol=1e-6)


def test_clouds_stay_clouds_on_real_data(mod11):
    lst = mod11["lst"].load()
    wins = clear_windows(lst, 128, 0.5)
    part = next(lst.isel(**w) for w in wins if np.isnan(lst.isel(**w).values).any())
    out = part.lst.superres(4, method="bicubic")["lst"].values
    parent_nan = np.repeat(np.repeat(np.isnan(part.values), 4, 0), 4, 1)
    assert np.array_equal(np.isnan(out), parent_nan)
    filled = part.lst.superres(4, method="bicubic", fill="mean")["lst"].values
    assert np.isfinite(filled).all()


def test_superres_on_the_product_is_lazy(mod11, no_compute):
    coarse = mod11.lst.degrade(4)
    out = coarse.lst.superres(4, method="tsharp", guide=modis_emissivity(mod11))
    assert out["lst"].chunks is not None and out["lst"].shape == (1200, 1200)
    assert out.rio.crs == mod11.rio.crs


# ---------------------------------------------------------------------------------------------- real scenes


@pytest.fixture(scope="module")
def lodi(real_data):
    from eoxr.lst.scenes import open_scene

    return open_scene("lodi", real_data)


@pytest.mark.parametrize("name, kelvin, clear", [
    ("yanco", (295.0, 323.0), 0.99), ("nyc", (279.0, 312.0), 0.8), ("lodi", (284.0, 344.0), 1.0),
    ("h14v09", (250.0, 340.0), 0.2), ("h11v05", (250.0, 340.0), 0.03),
])
def test_every_real_scene_reads_as_lst_in_kelvin_with_its_crs(real_data, name, kelvin, clear):
    from eoxr.lst.scenes import SCENES, open_scene

    ds = open_scene(name, real_data)
    lst = ds["lst"]
    assert lst.dims == ("time", "y", "x") and lst.attrs["units"] == "K" and ds.rio.crs is not None
    v = lst.values
    assert kelvin[0] <= np.nanmin(v) and np.nanmax(v) <= kelvin[1], (np.nanmin(v), np.nanmax(v))
    assert np.isfinite(v).mean() >= clear  # clouds (ECOSTRESS mask, MODIS QC) are NaN, nothing else
    assert ("guide" in ds) == (name in ("lodi", "h14v09", "h11v05"))
    if "guide" in ds:
        g = ds["guide"].values
        assert ds["guide"].attrs["units"] == "1" and 0.0 <= np.nanmin(g) and np.nanmax(g) <= 1.0
        assert ds["guide"].shape == lst.shape[1:]
    assert ds.attrs["scene"] == name and ds.attrs["sensor"] == SCENES[name].sensor


def test_ecostress_is_scaled_and_its_clouds_masked(real_data):
    import rioxarray

    from eoxr.lst.scenes import SCENES, open_scene

    folder = real_data / SCENES["nyc"].folder
    cloud = rioxarray.open_rasterio(next(folder.glob("ECO2CLD*.tif"))).values[0]
    lst = open_scene("nyc", real_data)["lst"].values[0]
    flagged = (cloud > 0) & ((cloud.astype(int) >> 1) & 1 == 1)
    assert flagged.sum() > 1000 and np.isnan(lst[flagged]).all()
    assert np.nanmedian(lst) == pytest.approx(293.1, abs=0.5)  # PROVENANCE: median 293.1 K


def test_holdout_blocks_split_the_scene_in_disjoint_halves(lodi):
    from eoxr.lst.scenes import holdout_blocks
    from eoxr.lst.train import HOLDOUT_BLOCK, HOLDOUT_SEED

    test = holdout_blocks(lodi["lst"], HOLDOUT_BLOCK, HOLDOUT_SEED).values
    assert test.shape == lodi["lst"].shape[1:] and 0.3 < test.mean() < 0.7
    tiles = test[::HOLDOUT_BLOCK, ::HOLDOUT_BLOCK]  # constant over each block
    np.testing.assert_array_equal(np.repeat(np.repeat(tiles, HOLDOUT_BLOCK, 0), HOLDOUT_BLOCK, 1)[
        : test.shape[0], : test.shape[1]], test)


def test_real_training_fields_hold_no_test_pixel(real_data, lodi):
    from eoxr.lst.scenes import holdout_blocks
    from eoxr.lst.train import HOLDOUT_BLOCK, HOLDOUT_SEED, real_fields

    fields, guides = real_fields("disr", real_data, ["lodi", "nyc"], 4)  # nyc has no guide: not in a DISR training
    test = holdout_blocks(lodi["lst"], HOLDOUT_BLOCK, HOLDOUT_SEED).values
    assert len(fields) == len(guides) == 2  # morning, afternoon
    for field in fields:
        v = field.values
        assert np.isnan(v[test]).all() and np.isfinite(v[~test]).all()


def test_train_lst_real_records_how_to_rebuild_the_model(real_data, tmp_path):
    from eoxr.lst.train import main
    from eoxr.ml import checkpoint

    argv = ["--real", str(real_data), "--real-scenes", "lodi", "--method", "sisr", "--factor", "4", "--epochs", "1",
            "--width", "4", "--blocks", "1", "--patch", "16", "--out", str(tmp_path), "--name", "tiny", "--device",
            "cpu"]
    assert main(argv) == 0
    ck = checkpoint.load(tmp_path / "tiny.ckpt")
    meta = ck.config["metadata"]
    assert ck.resume is None and meta["scenes"] == ["lodi"] and meta["upsampling"] == "backprojected"
    assert meta["command"] == "eoxr train lst " + " ".join(argv) and meta["holdout"]["block_px"] == 64
    assert not (tmp_path / ".runs").exists()
    out = open_lodi_coarse(real_data).lst.superres(4, method="sisr", model=tmp_path / "tiny.ckpt", device="cpu")
    assert np.isfinite(out["lst"].values).all()


def open_lodi_coarse(real_data):
    from eoxr.lst.scenes import open_scene

    return degrade(open_scene("lodi", real_data)["lst"].isel(time=1, y=slice(0, 128), x=slice(0, 128)), 4)


def test_wald_on_a_real_scene_conservation_helps_and_tsharp_conserves(lodi):
    from eoxr.lst.evaluate import score_scene

    methods = {"bicubic": {"method": "bicubic"}, "bicubic-cons": {"method": "bicubic", "conserve_coarse": True},
               "tsharp": {"method": "tsharp"}}
    s = score_scene(lodi, 4, methods)
    assert s["bicubic"]["n_pixels"] == 2 * 464 * 164  # both dates, the grid trimmed to a multiple of 4
    assert s["bicubic-cons"]["rmse_K"] < s["bicubic"]["rmse_K"] < 2.5
    truth = lodi["lst"].isel(time=1, y=slice(0, 464), x=slice(0, 164))
    coarse = degrade(truth, 4)
    ts = coarse.lst.superres(4, method="tsharp", guide=lodi["guide"].isel(y=slice(0, 464), x=slice(0, 164)))
    np.testing.assert_allclose(aggregate(ts["lst"], 4).values, coarse.values, rtol=1e-6)


def test_clearest_window_is_whole_blocks_and_the_clearest(real_data):
    from eoxr.lst.scenes import clearest_window, holdout_blocks, open_scene

    nyc = open_scene("nyc", real_data)  # clouds: the windows differ
    test = holdout_blocks(nyc["lst"], 64, 0)
    scene, cut = clearest_window(nyc, test, 128, 64)
    assert scene["lst"].shape[1:] == cut.shape == (128, 128)
    iy, ix = int(np.argmin(np.abs(nyc.y.values - scene.y.values[0]))), int(np.argmin(np.abs(nyc.x.values - scene.x.values[0])))
    assert iy % 64 == 0 and ix % 64 == 0
    np.testing.assert_array_equal(cut.values, test.values[iy:iy + 128, ix:ix + 128])
    clear = np.isfinite(nyc["lst"].values[0])
    windows = [clear[y:y + 128, x:x + 128].mean() for y in range(0, clear.shape[0] - 127, 64)
               for x in range(0, clear.shape[1] - 127, 64)]
    assert np.isfinite(scene["lst"].values[0]).mean() == max(windows) > windows[0]  # not the first one by chance
