"""Hostile input to eoxr.no2's flux divergence: columns and winds drawn by ``strategies`` on small grids.

The documented result: emission, emission_std, flux_divergence and sink in mol m-2 s-1 with the input's CRS, NaN on
the grid's outer ring, finite inside where the columns and winds of a cell's neighbours are; otherwise an eoxr
error.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import CONSTANT, EXTREME, KINDS, VALID, assert_cf_like, assert_honest, fields, grids, outcome

from eoxr.no2 import divergence

COLUMN_RANGE = (0.0, 1e-3)  # mol m-2
WIND_RANGE = (-20.0, 20.0)  # m s-1
FULL = (VALID, CONSTANT, EXTREME)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), lifetime=st.sampled_from([2.0, 6.0, "fit"]))
def test_emissions_are_finite_inside_and_cf(kind, data, lifetime):
    column = data.draw(fields(COLUMN_RANGE, name="no2_column", units="mol m-2", kinds=(kind,),
                              grid=grids(min_side=1, max_side=7)))
    u = data.draw(fields(WIND_RANGE, name="u", units="m s-1", kinds=FULL, grid=column.grid))
    v = data.draw(fields(WIND_RANGE, name="v", units="m s-1", kinds=FULL, grid=column.grid))
    ds = column.da.to_dataset().assign(u=u.da, v=v.da)
    out = outcome(divergence.emissions, ds, lifetime_h=lifetime)
    if kind in FULL and min(column.grid.ny, column.grid.nx) >= 3 and lifetime != "fit":
        assert out is not None, "a usable field was refused"
    if out is None:
        return
    for name in ("emission", "flux_divergence", "sink"):
        assert_cf_like(out[name], "mol m-2 s-1", column.da.rio.crs)
    emission = out["emission"].values
    assert np.isnan(emission[0]).all() and np.isnan(emission[:, -1]).all()
    if kind in FULL and lifetime != "fit":
        assert np.isfinite(emission[1:-1, 1:-1]).all()
    if lifetime != "fit":  # a field with no plume has no cell to fit on: its lifetime is NaN (documented)
        assert_honest(out["emission"], column, flag=out["count"] > 0)
