"""Hostile input to eoxr.lst: superres (bicubic, TsHARP, DisTrad), degrade, aggregate, bicubic, tsharp, distrad and
the multiscale statistics, on small LST and NDVI fields drawn by ``strategies``.

Each property states the documented result: the grid factor times finer (or coarser), K and the input's CRS, and
NaN exactly where the method says (under a cloudy coarse pixel, a block with too few valid pixels), never a
result left all-NaN from a field with valid values; otherwise an eoxr error.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import ALL_NAN, CONSTANT, EMPTY, EXTREME, KINDS, MASKED, VALID, WRONG_DTYPE, fields, grids, \
    mismatched, outcome

from eoxr import lst
from eoxr.lst._grid import GUIDE_RANGE, LST_RANGE_K

FACTORS = st.sampled_from([1, 2, 3, 4])
PHYSICAL = (VALID, MASKED, CONSTANT, EXTREME)
LST_GRIDS = grids(min_side=1, max_side=8)


def _lst(kinds=None, grid=LST_GRIDS):
    return fields(LST_RANGE_K, name="lst", units="K", kinds=kinds or
                  (VALID, MASKED, CONSTANT, EXTREME, ALL_NAN, WRONG_DTYPE, EMPTY), grid=grid)


def _parents(valid: np.ndarray, factor: int) -> np.ndarray:
    """Each coarse pixel's flag repeated over its factor x factor fine pixels."""
    return np.repeat(np.repeat(valid, factor, axis=-2), factor, axis=-1)


def _assert_on_fine_grid(out, case, factor):
    assert out.sizes["y"] == case.grid.ny * factor and out.sizes["x"] == case.grid.nx * factor
    assert out.attrs["units"] == "K" and out.attrs["long_name"]
    assert out.rio.crs == case.da.rio.crs
    assert out.dtype.kind == "f"


def _usable(case) -> bool:
    """An LST field a method must accept: a physical field (ints in range too) with two pixels a side."""
    ints_in_range = case.kind == WRONG_DTYPE and case.dtype == "int"
    return (case.physical or ints_in_range) and case.grid.ny >= 2 and case.grid.nx >= 2


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), factor=FACTORS)
def test_bicubic_is_nan_exactly_under_cloudy_coarse_pixels(kind, data, factor):
    case = data.draw(_lst(kinds=(kind,)))
    out = outcome(lst.bicubic, case.da, factor)
    if _usable(case):
        assert out is not None, "a usable LST field was refused"
    if out is None:
        return
    _assert_on_fine_grid(out, case, factor)
    assert np.array_equal(np.isfinite(out.values), _parents(np.isfinite(case.da.values), factor))


@st.composite
def lst_and_guide(draw, guide_kinds=(VALID, MASKED, CONSTANT, EXTREME, ALL_NAN, WRONG_DTYPE, EMPTY)):
    """A coarse LST and a guide on its grid ``factor`` times finer, or on a mismatched grid."""
    factor = draw(st.sampled_from([2, 3, 4]))
    coarse = draw(_lst(kinds=PHYSICAL, grid=grids(min_side=2, max_side=6)))
    fine = coarse.grid.refined(factor)
    if draw(st.integers(0, 4)) == 0:
        fine = draw(mismatched(fine))
    guide = draw(fields(GUIDE_RANGE, name="ndvi", units="1", kinds=guide_kinds, grid=fine))
    return coarse, guide, factor


def _guide_matches(coarse, guide, factor) -> bool:
    return guide.grid == coarse.grid.refined(factor)


def _sharpened_valid(coarse, guide, factor) -> np.ndarray:
    """Where a regression-sharpened LST is defined: a clear coarse parent and a finite guide."""
    return _parents(np.isfinite(coarse.da.values), factor) & np.isfinite(guide.da.values)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), method=st.sampled_from(["tsharp", "distrad"]))
def test_guided_sharpening_is_defined_wherever_parent_and_guide_are(kind, data, method):
    coarse, guide, factor = data.draw(lst_and_guide(guide_kinds=(kind,)))
    out = outcome(getattr(lst, method), coarse.da, guide.da, factor)
    usable = guide.physical and _guide_matches(coarse, guide, factor) and \
        np.isfinite(coarse.da.values).sum() >= 3 and not (guide.kind == MASKED)
    if usable:
        assert out is not None, "a usable LST and guide were refused"
    if out is None:
        return
    assert _guide_matches(coarse, guide, factor), "a guide on another grid or CRS was accepted"
    _assert_on_fine_grid(out, coarse, factor)
    expected = _sharpened_valid(coarse, guide, factor)
    got = np.isfinite(out.values)
    assert not (got & ~expected).any(), "values where the parent or the guide is NaN"
    if guide.kind != MASKED:  # with a masked guide a coarse pixel may lose its fit pixels: then it stays NaN
        assert np.array_equal(got, expected), "NaN where the parent and the guide are valid"
    assert got.any() or not expected.any()


@given(data=lst_and_guide(guide_kinds=(VALID, CONSTANT, EXTREME)),
       method=st.sampled_from(["bicubic", "tsharp", "distrad"]), fill=st.sampled_from([None, "mean", 300.0]))
def test_superres_returns_k_on_the_fine_grid_with_the_crs(data, method, fill):
    coarse, guide, factor = data
    out = outcome(lst.superres, coarse.da, factor=factor, method=method, guide=guide.da, fill=fill)
    matching = _guide_matches(coarse, guide, factor)
    if matching and np.isfinite(coarse.da.values).sum() >= 3:
        assert out is not None
    if out is None:
        return
    assert matching
    _assert_on_fine_grid(out["lst"], coarse, factor)
    assert out.attrs["eoxr_method"] == f"lst.superres[{method}]"
    valid = np.isfinite(out["lst"].values)
    if fill is not None:
        assert valid.all(), "filled clouds left NaN"
    else:
        assert valid.any()


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), factor=FACTORS, mtf=st.sampled_from([None, 0.05, 0.3, 0.9, 1.0, 0.0, -1.0]),
       min_valid=st.sampled_from([0.0, 0.5, 1.0]), domain=st.sampled_from(["radiance", "temperature"]))
def test_degrade_keeps_the_cloud_mask_rule(kind, data, factor, mtf, min_valid, domain):
    case = data.draw(_lst(kinds=(kind,), grid=grids(min_side=1, max_side=12)))
    out = outcome(lst.degrade, case.da, factor, mtf=mtf, domain=domain, min_valid=min_valid)
    if _usable(case) and mtf in (None, 0.05, 0.3, 0.9):
        assert out is not None
    if out is None:
        return
    ny, nx = case.grid.ny // factor, case.grid.nx // factor
    assert out.shape == (ny, nx) and out.attrs["units"] == "K" and out.rio.crs == case.da.rio.crs
    values = np.asarray(case.da.values, dtype=float)[: ny * factor, : nx * factor]
    count = np.isfinite(values).reshape(ny, factor, nx, factor).sum(axis=(1, 3))
    enough = (count > 0) & (count >= min_valid * factor * factor - 1e-9)
    assert np.array_equal(np.isfinite(out.values), enough)
    # a coarse temperature lies between the block's extremes (any mean of T or T^4 does); a blur widens the blocks
    if mtf is None and enough.any():
        blocks = values.reshape(ny, factor, nx, factor)
        lo, hi = np.nanmin(blocks, axis=(1, 3)), np.nanmax(blocks, axis=(1, 3))
        got = out.values[enough]
        assert (got >= lo[enough] * (1 - 1e-9)).all() and (got <= hi[enough] * (1 + 1e-9)).all()


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), factor=FACTORS, min_valid=st.sampled_from([0.0, 0.5, 1.0]))
def test_aggregate_of_a_guide_in_the_linear_domain(kind, data, factor, min_valid):
    case = data.draw(fields(GUIDE_RANGE, name="ndvi", units=None, kinds=(kind,), grid=grids(min_side=1, max_side=12)))
    out = outcome(lst.aggregate, case.da, factor, domain="linear", min_valid=min_valid)
    if case.physical:
        assert out is not None
    if out is None:
        return
    assert out.dtype.kind == "f" and out.rio.crs == case.da.rio.crs
    assert out.shape == (case.grid.ny // factor, case.grid.nx // factor)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), with_ndvi=st.booleans(),
       factors=st.sampled_from([(1,), (1, 2), (1, 4, 16), (2, 3), (0,), (1.5,)]), min_pixels=st.integers(1, 8))
def test_multiscale_statistics_or_an_error(kind, data, with_ndvi, factors, min_pixels):
    case = data.draw(_lst(kinds=(kind,), grid=grids(min_side=4, max_side=20)))
    ndvi = None
    if with_ndvi:
        shape = (case.grid.ny, case.grid.nx)
        ndvi = case.grid.array(np.linspace(-0.2, 0.9, shape[0] * shape[1]).reshape(shape), "ndvi", "1")
    out = outcome(lst.multiscale, case.da, ndvi, factors=factors, min_pixels=min_pixels)
    if out is None:
        return
    assert case.kind not in (ALL_NAN, EMPTY) and out.sizes["scale"] >= 1
    for name, var in out.data_vars.items():
        assert var.attrs.get("units") and var.attrs.get("long_name"), name
    s2 = out["lst_s2"].values
    assert (s2[np.isfinite(s2)] >= 0).all()
    if case.kind in (VALID, EXTREME, CONSTANT):  # every pixel valid: each scale's increment variance is known
        assert np.isfinite(s2).all()
