"""Bicubic, TsHARP, DisTrad: exactness on known relations, conservation, NaN masks, chunking, laziness, errors."""
import numpy as np
import pytest
import xarray as xr

import eoxr  # noqa: F401
from eoxr.errors import CRSError, GridError, MissingVariableError, ParameterError
from eoxr.lst import synth
from eoxr.lst.baselines import BACKPROJECTIONS, bicubic, conserve, distrad, tsharp
from eoxr.lst.degrade import aggregate, degrade


@pytest.fixture
def scene(rng):
    truth, obs = synth.observation(int(rng.integers(1000)), size=96, factor=4)
    return truth, obs["lst"]


def test_bicubic_reproduces_a_plane_and_keeps_grid():
    y = np.arange(20) * -1000.0
    x = np.arange(24) * 1000.0
    coarse = xr.DataArray(300 + 0.001 * x[None, :] - 0.0015 * y[:, None], dims=("y", "x"),  # 300-352 K
                          coords={"y": y, "x": x}).rio.write_crs("EPSG:32631")
    fine = bicubic(coarse, 4)
    assert fine.shape == (80, 96)
    assert fine.rio.crs == coarse.rio.crs and fine.attrs["units"] == "K"
    expect = 300 + 0.001 * fine.x.values[None, :] - 0.0015 * fine.y.values[:, None]
    inner = (slice(8, -8), slice(8, -8))  # edges replicate, the interior is exact for a plane
    np.testing.assert_allclose(fine.values[inner], expect[inner], atol=1e-9)


def test_tsharp_recovers_an_exact_linear_relation(rng):
    truth = synth.scene(int(rng.integers(1000)), size=64)
    ndvi = truth["ndvi"]
    a, b = 310.0 + rng.normal(), -18.0 + rng.normal()
    lst = (a + b * ndvi).assign_attrs(units="K")
    coarse = degrade(lst, 4, domain="temperature")
    fine = tsharp(coarse, ndvi, 4, domain="temperature")
    np.testing.assert_allclose(fine.values, lst.values, atol=1e-8)
    # in the radiance domain the aggregation is not linear: close, not exact
    fine_r = tsharp(degrade(lst, 4), ndvi, 4)
    assert float(np.abs(fine_r - lst).max()) < 0.1


@pytest.mark.parametrize("method", [tsharp, distrad])
def test_regressions_conserve_the_observation(scene, method):
    truth, lst = scene
    fine = method(lst, truth["ndvi"], 4)
    back = aggregate(fine, 4)
    np.testing.assert_allclose(back.values, lst.values, rtol=0, atol=1e-9)
    rmse = float(np.sqrt(((fine - truth["lst"]) ** 2).mean()))
    rmse_bicubic = float(np.sqrt(((bicubic(lst, 4).values - truth["lst"].values) ** 2).mean()))
    assert rmse < rmse_bicubic  # the NDVI guide carries information the coarse LST lacks


def test_nan_mask_preserved(scene):
    truth, lst = scene
    lst = lst.copy()
    lst[3:6, 7:9] = np.nan
    for out in (bicubic(lst, 4), tsharp(lst, truth["ndvi"], 4), distrad(lst, truth["ndvi"], 4)):
        parent_nan = np.repeat(np.repeat(np.isnan(lst.values), 4, 0), 4, 1)
        assert np.array_equal(np.isnan(out.values), parent_nan)


@pytest.mark.parametrize("method", ["bicubic", "tsharp", "distrad"])
def test_chunked_equals_unchunked(scene, method):
    truth, lst = scene
    kw = {} if method == "bicubic" else {"guide": truth["ndvi"]}
    a = lst.lst.superres(4, method=method, **kw)["lst"].values
    kwc = {} if method == "bicubic" else {"guide": truth["ndvi"].chunk(40)}
    b = lst.chunk({"y": 7, "x": 10}).lst.superres(4, method=method, **kwc)["lst"].values
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)


@pytest.mark.parametrize("method", ["bicubic", "tsharp", "distrad"])
def test_lazy(scene, method, no_compute):
    truth, lst = scene
    kw = {} if method == "bicubic" else {"guide": truth["ndvi"].chunk(48)}
    out = lst.chunk(8).lst.superres(4, method=method, **kw)
    assert out["lst"].chunks is not None and out["lst"].attrs["units"] == "K"
    assert out.rio.crs == lst.rio.crs and f"lst.superres[{method}]" in out.attrs["history"]


def test_guide_finer_by_an_integer_is_aggregated(scene):
    truth, lst = scene
    half = degrade(lst, 2)  # 2 km LST; the target of factor 2 is 1 km
    out = tsharp(half, truth["ndvi"], 2)  # target 1 km; the 250 m guide is block-averaged by 4
    assert out.shape == (half.shape[0] * 2, half.shape[1] * 2)
    np.testing.assert_allclose(aggregate(out, 2).values, half.values, atol=1e-9)


def test_guide_errors(scene):
    truth, lst = scene
    ndvi = truth["ndvi"]
    with pytest.raises(CRSError, match="reproject"):
        tsharp(lst, ndvi.rio.write_crs("EPSG:4326"), 4)
    with pytest.raises(GridError, match="coarser"):
        tsharp(lst, aggregate(ndvi, 2, domain="linear"), 4)
    shifted = ndvi.assign_coords(x=ndvi.x + 100.0)
    with pytest.raises(GridError, match="shifted"):
        tsharp(lst, shifted, 4)
    with pytest.raises(ParameterError, match="integer"):
        lst.lst.superres(2.5, method="bicubic")
    with pytest.raises(MissingVariableError, match="guide"):
        lst.lst.superres(4, method="tsharp")
    with pytest.raises(ParameterError, match="method"):
        lst.lst.superres(4, method="nearest")


def test_backprojected_conservation_is_exact_smooth_and_lazy(scene):
    truth, lst = scene
    lst = lst.copy()
    lst[5:7, 9:12] = np.nan  # a cloud
    up = bicubic(lst, 4)
    flat = conserve(up, lst, 4)
    smooth = conserve(up, lst, 4, backprojections=BACKPROJECTIONS)
    for out in (flat, smooth):
        ok = np.isfinite(lst.values)
        np.testing.assert_allclose(aggregate(out, 4).values[ok], lst.values[ok], rtol=0, atol=1e-9)
        assert np.array_equal(np.isnan(out.values), np.repeat(np.repeat(~ok, 4, 0), 4, 1))
    err = {k: float(np.sqrt(np.nanmean((v.values - truth["lst"].values) ** 2))) for k, v in
           {"flat": flat, "smooth": smooth}.items()}
    assert err["smooth"] < err["flat"]  # no steps at the coarse pixel edges
    lazy = conserve(up.chunk(40), lst.chunk(10), 4, backprojections=BACKPROJECTIONS)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, smooth.values, rtol=0, atol=1e-9)
