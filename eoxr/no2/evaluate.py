"""Scores of an emission map against the known truth of a synthetic scene.

Sources are the truth's: the local maxima of the true emission above a threshold (as
:func:`eoxr.no2.divergence.sources` finds them), each owning the cells within ``radius_km`` that are nearer to
it than to any other. Both maps are integrated over the same cells, where the estimate is finite, so a
source's relative error compares like with like; the domain total is compared the same way. A source of which
less than ``seen`` of the true emission lies under finite estimate cells (under a cloud gap, on the edge) is
counted as hidden, not scored: its error would be that of a few cells of its tail.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import NoDataError
from .divergence import _peaks, cell_areas, owned_cells


def _true_sources(truth: xr.DataArray, threshold: float, radius_km: float) -> np.ndarray:
    """(source, y, x) masks of the cells each true source owns."""
    area = cell_areas(truth).values
    radius_cells = max(1, int(round(radius_km * 1e3 / np.sqrt(np.median(area)))))
    peaks = _peaks(truth.values, threshold, radius_cells)
    if not peaks:
        raise NoDataError(f"the true emission has no source above {threshold:g} mol m-2 s-1: lower the threshold")
    return owned_cells(truth, peaks, radius_km)


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
            "sources": int(len(relative)), "sources_hidden": int(len(owned) - len(relative))}
