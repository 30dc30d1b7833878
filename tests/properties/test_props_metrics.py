"""Hostile input to eoxr.metrics: pairs of fields with NaN masks, all-NaN, constants, extreme values, wrong
dtypes, empty and mismatched shapes. The documented result: a float (NaN only where the docstring says: a
constant side's correlation, a detection score whose denominator is zero), in its range; or an eoxr error
(ParameterError for shapes, units and dtypes; NoDataError with no pixel where both are finite)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import KINDS, MASKED, VALID, WRONG_DTYPE, fields, grids, outcome

from eoxr import metrics

SAME_GRID = grids(min_side=1, max_side=8, crs="EPSG:32633")


@st.composite
def pairs(draw, kind: str):
    """(prediction of ``kind``, truth) cases: on one grid, or on grids of other shapes."""
    grid = draw(SAME_GRID)
    pred = draw(fields((-1e3, 1e3), grid=grid, kinds=(kind,)))
    truth = draw(fields((-1e3, 1e3), grid=grid if draw(st.integers(0, 5)) else SAME_GRID))
    return pred, truth


def _compared(pred, truth) -> np.ndarray:
    """The truth's values where both are finite: none for other shapes or complex and object data."""
    if pred.da.shape != truth.da.shape or {pred.dtype, truth.dtype} & {"complex", "object"}:
        return np.array([])
    p, t = (np.asarray(c.da.values, dtype="f8") for c in (pred, truth))
    return t[np.isfinite(p) & np.isfinite(t)]


def _inside_ssim_window(pred, truth, radius: int = 5) -> bool:
    """Some pixel finite in both lies ``radius`` px inside the edges (the default sigma's 11-tap window)."""
    if _compared(pred, truth).size == 0 or min(pred.da.shape) <= 2 * radius:
        return False
    inner = (slice(radius, -radius),) * pred.da.ndim
    p, t = (np.asarray(c.da.values, dtype="f8")[inner] for c in (pred, truth))
    return bool((np.isfinite(p) & np.isfinite(t)).any())


def _both_finite(pred, truth) -> int:
    return _compared(pred, truth).size


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_error_scores_are_ordered_floats(kind, data):
    pair = data.draw(pairs(kind))
    pred, truth = pair
    scores = {name: outcome(getattr(metrics, name), pred.da, truth.da) for name in ("rmse", "mae", "bias")}
    if _both_finite(pred, truth):
        assert None not in scores.values(), scores
    if None in scores.values():
        assert set(scores.values()) == {None}  # the same inputs are refused by every score
        return
    assert all(isinstance(v, float) and math.isfinite(v) for v in scores.values()), scores
    assert abs(scores["bias"]) <= scores["mae"] * (1 + 1e-9) + 1e-12
    assert scores["mae"] <= scores["rmse"] * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_correlation_psnr_and_ssim_stay_in_their_ranges(kind, data):
    pair = data.draw(pairs(kind))
    pred, truth = pair
    compared = _compared(pred, truth)
    r = outcome(metrics.correlation, pred.da, truth.da)
    assert (r is not None) == (compared.size > 0)
    if r is not None:
        assert math.isnan(r) or -1 - 1e-9 <= r <= 1 + 1e-9
    # a truth without spread gives the scores no data range: refused, unless identical (psnr inf)
    spread = compared.size > 0 and np.ptp(compared) > 0
    s = outcome(metrics.ssim, pred.da, truth.da)
    assert (s is not None) == (spread and _inside_ssim_window(pred, truth)), (s, spread)
    if s is not None:
        assert -1 - 1e-9 <= s <= 1 + 1e-9
    p = outcome(metrics.psnr, pred.da, truth.da)
    if spread:
        assert p is not None
    if p is not None:
        assert not math.isnan(p) and p != -math.inf


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), threshold=st.floats(-2e3, 2e3))
def test_detection_scores_are_ratios(kind, data, threshold):
    pair = data.draw(pairs(kind))
    pred, truth = pair
    got = outcome(metrics.contingency, pred.da, truth.da, threshold)
    assert (got is not None) == (_both_finite(pred, truth) > 0)
    if got is not None:
        for name in ("pod", "far", "csi"):
            assert math.isnan(got[name]) or 0 <= got[name] <= 1, (name, got[name])
        assert math.isnan(got["hss"]) or got["hss"] <= 1 + 1e-9


@given(pair=pairs(VALID) | pairs(MASKED) | pairs(WRONG_DTYPE),
       units=st.sampled_from([None, "mm h-1", "kg m-2 s-1", "mm/hr", "K", ""]))
def test_precip_counts_the_pixels_it_compares(pair, units):
    pred, truth = pair
    if units is not None:
        pred = type(pred)(pred.da.assign_attrs(units=units), pred.kind, pred.grid, pred.dtype)
    got = outcome(metrics.precip, pred.da, truth.da)
    if got is not None:
        assert units in (None, "mm h-1", "kg m-2 s-1", "mm/hr")
        assert got["n"] == _both_finite(pred, truth) > 0
