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
