"""Detection and calibration scores of an emission map against its truth (eoxr.no2.evaluate)."""
import numpy as np
import pytest

from eoxr.errors import NoDataError
from eoxr.no2 import ctm, evaluate

GRID = ctm.Grid(ny=32, nx=32)  # 5 km cells: a 15 km radius is 3 cells


def _map(points):
    return ctm.as_dataset(GRID, emission=ctm.Sources(points=points, background=1e-10).mean_emission(GRID))["emission"]


@pytest.fixture(scope="module")
def truth():
    """Two point sources, far apart, on a clean background."""
    return _map([(8, 8, 1.0), (24, 22, 0.5)])


def test_the_truth_detects_every_source_without_false_alarm(truth):
    assert evaluate.detection_scores(truth, truth) == {"pod": 1.0, "far": 0.0, "true_sources": 2, "detected": 2,
                                                       "peaks": 2, "false_alarms": 0}


def test_a_peak_within_the_radius_is_a_hit_one_beyond_it_a_miss_and_a_false_alarm(truth):
    near = _map([(10, 8, 1.0), (24, 22, 0.5)])  # 2 cells (10 km) off: still the first source
    assert evaluate.detection_scores(near, truth)["pod"] == 1.0
    far = _map([(8, 12, 1.0), (24, 22, 0.5), (2, 28, 0.3)])  # 4 cells (20 km) off, and a peak where none is
    scores = evaluate.detection_scores(far, truth)
    assert scores["pod"] == 0.5 and scores["false_alarms"] == 2 and scores["far"] == pytest.approx(2 / 3)
    strong_only = evaluate.detection_scores(far, truth, detection_threshold=5e-7)  # 1 kg s-1 in a cell: 8.7e-7
    assert strong_only["peaks"] == 1 and strong_only["pod"] == 0.0 and strong_only["far"] == 1.0


def test_a_map_below_the_threshold_detects_nothing(truth):
    scores = evaluate.detection_scores(truth * 0, truth)
    assert scores["pod"] == 0.0 and scores["peaks"] == 0 and np.isnan(scores["far"])
    with pytest.raises(NoDataError, match="no source above"):
        evaluate.detection_scores(truth, truth * 0)


def test_coverage_counts_the_source_cells_inside_the_interval(truth):
    std = truth * 0 + 1e-9
    strong = truth >= 5e-9  # the two source cells; the background (1e-10) is left out
    assert int(strong.sum()) == 2
    half_off = truth + np.where(truth.y > truth.y.median(), 0.5e-9, 1.5e-9)  # one source inside 1 std, one not
    assert evaluate.interval_coverage(half_off, std, truth, z=1.0) == {"coverage": 0.5, "inside": 1, "cells": 2}
    assert evaluate.interval_coverage(half_off, std, truth, z=1.96)["coverage"] == 1.0
    assert evaluate.interval_coverage(half_off.where(~strong | (truth.y > truth.y.median())), std, truth,
                                      z=1.0)["cells"] == 1  # a NaN mean leaves its cell out
    with pytest.raises(NoDataError, match="no cell"):
        evaluate.interval_coverage(truth, std, truth, z=1.0, threshold=1.0)
