"""Hostile swaths to eoxr.no2.grid: columns drawn by ``strategies`` (valid, masked, constant, extreme, all-NaN, wrong
dtypes, empty) on small tilted swaths.

The documented result: no2_column (mol m-2) on a lat/lon grid (EPSG:4326), finite exactly where some valid pixel
overlaps a cell (count > 0), within the range of the valid pixels' columns (an area-weighted mean); otherwise an
eoxr error.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from strategies import ALL_NAN, KINDS, VALID, WRONG_DTYPE, fields, grids, outcome

from eoxr.no2 import grid

COLUMN_RANGE = (-1e-4, 1e-3)  # mol m-2, negative columns of noisy retrievals included


def _swath(case, rng_seed: int) -> xr.Dataset:
    values = case.da.values
    n_scan, n_pixel = values.shape
    s, p = np.meshgrid(np.arange(n_scan), np.arange(n_pixel), indexing="ij")
    rng = np.random.default_rng(rng_seed)
    lat = 45.0 + 0.05 * s - 0.01 * p + 0.003 * rng.standard_normal(s.shape)
    lon = 10.0 + 0.01 * s + 0.07 * p + 0.003 * rng.standard_normal(s.shape)
    dims = ("scanline", "ground_pixel")
    return xr.Dataset({"no2_column": (dims, values, {"units": "mol m-2"})},
                      coords={"latitude": (dims, lat), "longitude": (dims, lon),
                              "time": np.datetime64("2022-03-01T12:00")})


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), resolution=st.sampled_from([0.02, 0.05, 0.2]), seed=st.integers(0, 1000))
def test_grid_is_a_weighted_mean_where_pixels_are(kind, data, resolution, seed):
    case = data.draw(fields(COLUMN_RANGE, name="no2_column", units="mol m-2", kinds=(kind,),
                            grid=grids(min_side=1, max_side=8)))
    out = outcome(grid, _swath(case, seed), resolution=resolution, qa_min=None)
    usable = min(case.grid.ny, case.grid.nx) >= 2  # footprints from centres need 2 x 2 pixels
    if usable and (kind == VALID or (kind == WRONG_DTYPE and case.dtype == "int")):
        assert out is not None, "a usable swath was refused"
    if out is None:
        return
    column, count = out["no2_column"].values, out["count"].values
    assert out.rio.crs.to_epsg() == 4326 and out["no2_column"].attrs["units"] == "mol m-2"
    assert np.array_equal(np.isfinite(column), count > 0)
    valid = np.asarray(case.da.values, dtype="f8")
    valid = valid[np.isfinite(valid)]
    if valid.size:
        spread = 1e-9 * max(np.abs(valid).max(), 1e-30)
        assert valid.min() - spread <= np.nanmin(column) and np.nanmax(column) <= valid.max() + spread
    if kind != ALL_NAN and case.physical:
        assert count.sum() > 0, "valid pixels gridded to no cell"
