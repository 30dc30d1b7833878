"""Scores of an emission map against the known truth of a synthetic scene.

Sources are the truth's: the local maxima of the true emission above a threshold (as
:func:`eoxr.no2.divergence.sources` finds them), each owning the cells within ``radius_km`` that are nearer to
it than to any other. Both maps are integrated over the same cells, where the estimate is finite, so a
source's relative error compares like with like; the domain total is compared the same way. A source of which
less than ``seen`` of the true emission lies under finite estimate cells (under a cloud gap, on the edge) is
counted as hidden, not scored: its error would be that of a few cells of its tail.

Detection (:func:`detection_scores`) compares the local maxima of the estimate with the true sources, and
calibration (:func:`interval_coverage`) counts the true emissions inside the estimate's intervals.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import NoDataError
from .divergence import _peaks, cell_areas, owned_cells, positions


def _source_peaks(emission: xr.DataArray, threshold: float, radius_km: float) -> list[tuple[int, int]]:
    """(row, col) of the local maxima of ``emission`` above ``threshold``, at least ``radius_km`` apart."""
    area = cell_areas(emission).values
    radius_cells = max(1, int(round(radius_km * 1e3 / np.sqrt(np.median(area)))))
    return _peaks(emission.values, threshold, radius_cells)


def _true_peaks(truth: xr.DataArray, threshold: float, radius_km: float) -> list[tuple[int, int]]:
    peaks = _source_peaks(truth, threshold, radius_km)
    if not peaks:
        raise NoDataError(f"the true emission has no source above {threshold:g} mol m-2 s-1: lower the threshold")
    return peaks


def _true_sources(truth: xr.DataArray, threshold: float, radius_km: float) -> np.ndarray:
    """(source, y, x) masks of the cells each true source owns."""
    return owned_cells(truth, _true_peaks(truth, threshold, radius_km), radius_km)


def emission_scores(estimate: xr.DataArray, truth: xr.DataArray, *, threshold: float = 5e-9,
                    radius_km: float = 15.0, seen: float = 0.9) -> dict:
    """Per-source relative errors and the domain-total bias of ``estimate`` against ``truth`` (mol m-2 s-1).

    Parameters
    ----------
    estimate, truth : xarray.DataArray
        Emission maps on one (y, x) grid; NaN in ``estimate`` (edges, cloud gaps) leaves those cells out of
        both sides.
    threshold : float
        Smallest true emission (mol m-2 s-1) of a source's peak cell.
    radius_km : float
        Radius of the disk integrated around each true source.
    seen : float
        Fraction of a source's true emission that must lie under finite estimate cells for it to be scored.

    Returns
    -------
    dict
        ``source_relative_error`` (estimate / truth - 1, one per source, strongest first), its ``median`` and
        ``p90`` of the absolute value (``source_error_median``, ``source_error_p90``), ``total_bias_percent``
        (100 (sum estimate - sum truth) / sum truth over the cells where the estimate is finite), ``sources``
        scored and ``sources_hidden``.
    """
    estimate, truth = estimate.transpose("y", "x"), truth.transpose("y", "x")
    owned = _true_sources(truth, threshold, radius_km)
    area = cell_areas(truth).values
    finite = np.isfinite(estimate.values)
    est, tru = np.where(finite, estimate.values * area, 0.0), np.where(finite, truth.values * area, 0.0)
    whole = np.where(np.isfinite(truth.values), truth.values * area, 0.0)
    visible = [m for m in owned if tru[m].sum() >= seen * whole[m].sum()]
    if not visible or not tru.sum() > 0:
        raise NoDataError(f"none of the {len(owned)} true sources is seen by the estimate (NaN over more than "
                          f"{1 - seen:.0%} of each): score a map with fewer gaps")
    relative = np.array([est[m].sum() / tru[m].sum() - 1 for m in visible])
    return {"source_relative_error": relative.tolist(),
            "source_error_median": float(np.median(np.abs(relative))),
            "source_error_p90": float(np.percentile(np.abs(relative), 90)),
            "total_bias_percent": float(100 * (est.sum() - tru.sum()) / tru.sum()),
            "sources": len(relative), "sources_hidden": int(len(owned) - len(relative))}


def detection_scores(estimate: xr.DataArray, truth: xr.DataArray, *, threshold: float = 5e-9,
                     radius_km: float = 15.0, detection_threshold: float | None = None) -> dict:
    """Source detection of ``estimate`` against ``truth`` (mol m-2 s-1, one (y, x) grid).

    The sources of either map are its local maxima above a threshold (``threshold`` for the truth,
    ``detection_threshold`` for the estimate, the same if None), at least ``radius_km`` apart (as
    :func:`eoxr.no2.divergence.sources` finds them). A true source is detected when a peak of the estimate lies
    within ``radius_km`` of it; a peak of the estimate farther than ``radius_km`` from every true source is a
    false alarm.

    Returns
    -------
    dict
        ``pod`` (detected / true sources), ``far`` (false alarms / peaks of the estimate; NaN without a peak)
        and the counts ``true_sources``, ``detected``, ``peaks``, ``false_alarms``.
    """
    estimate, truth = estimate.transpose("y", "x"), truth.transpose("y", "x")
    east, north = (a.transpose("y", "x").values for a in xr.broadcast(*positions(truth)))
    true_xy = np.array([(east[p], north[p]) for p in _true_peaks(truth, threshold, radius_km)])
    found = _source_peaks(estimate, threshold if detection_threshold is None else detection_threshold, radius_km)
    found_xy = np.array([(east[p], north[p]) for p in found]).reshape(-1, 2)
    near = np.hypot(*(true_xy[:, None, :] - found_xy[None, :, :]).transpose(2, 0, 1)) <= radius_km * 1e3
    detected, false_alarms = int(near.any(axis=1).sum()), int((~near.any(axis=0)).sum())
    return {"pod": detected / len(true_xy), "far": false_alarms / len(found_xy) if len(found_xy) else float("nan"),
            "true_sources": len(true_xy), "detected": detected, "peaks": len(found_xy), "false_alarms": false_alarms}


def interval_coverage(mean: xr.DataArray, std: xr.DataArray, truth: xr.DataArray, *, z: float,
                      threshold: float = 5e-9) -> dict:
    """How often the true emission lies inside ``mean`` +- ``z`` ``std`` (z = 1: 68.3 %, 1.96: 95 %), over the
    cells whose true emission is at least ``threshold`` (mol m-2 s-1) and whose mean and spread are finite.

    Returns
    -------
    dict
        ``coverage`` (fraction of those cells inside), ``inside`` and ``cells`` (their counts).
    """
    m, s, t = (a.transpose("y", "x").values for a in (mean, std, truth))
    cells = (t >= threshold) & np.isfinite(m) & np.isfinite(s)
    if not cells.any():
        raise NoDataError(f"no cell with a true emission of at least {threshold:g} mol m-2 s-1 and a finite mean "
                          "and spread: lower the threshold or score a map with fewer gaps")
    inside = int((np.abs(t - m) <= z * s)[cells].sum())
    return {"coverage": inside / int(cells.sum()), "inside": inside, "cells": int(cells.sum())}
