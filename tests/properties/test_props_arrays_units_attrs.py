"""Hostile input to the shared layer: eoxr.arrays (factors, coordinates, block means, halos, fits), eoxr.units
(spellings, conversions, ranges) and eoxr.attrs (CF attributes, provenance stamps, required variables)."""
from __future__ import annotations

import json
import math

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st
from strategies import ALL_NAN, CONSTANT, EMPTY, EXTREME, KINDS, MASKED, VALID, WRONG_DTYPE, fields, grids, outcome

from eoxr import arrays, attrs, units
from eoxr.errors import MissingVariableError, NoDataError, ParameterError, PhysicalRangeError, UnitsError

ANY_SCALAR = st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                       st.none(), st.text(max_size=4), st.just(np.float32(2.0)), st.just(np.int64(3)))
SMALL_SCALAR = st.one_of(st.integers(-2, 12), st.floats(-2, 12), st.booleans(), st.none(), st.text(max_size=2))
UNIT_TEXT = st.one_of(st.sampled_from([u for c in units.CANONICAL for u in (c, c.upper())]),
                      st.sampled_from(["kelvin", "Celsius", "percent", "W/m2", "molec/cm2", "mm/hr", "furlongs"]),
                      st.text(max_size=6))


@given(factor=ANY_SCALAR)
def test_check_factor_returns_a_positive_int_or_refuses(factor):
    got = outcome(arrays.check_factor, factor)
    if got is not None:
        assert type(got) is int and got >= 1 and got == factor and not isinstance(factor, bool)


@given(n=st.integers(-5, 50), step=st.integers(-3, 9), field=st.integers(-4, 40), align=st.integers(-2, 8))
def test_round_up_and_halo_depth(n, step, field, align):
    up = outcome(arrays.round_up, n, step)
    assert (up is None) == (step < 1)
    if up is not None:
        assert up % step == 0 and n <= up < n + step
    depth = outcome(arrays.halo_depth, field, align)
    if depth is not None:
        assert depth >= field / 2 and depth % align == 0


@pytest.mark.parametrize("kind", [k for k in KINDS if k != WRONG_DTYPE])
@given(data=st.data(), factor=st.integers(1, 5), min_valid=st.floats(0.0, 1.0), lazy=st.booleans())
def test_block_mean_is_the_mean_of_the_valid_pixels_of_each_block(kind, data, factor, min_valid, lazy):
    case = data.draw(fields((-1e6, 1e6), kinds=(kind,)))
    data = case.da.data
    got = arrays.block_mean(dsa.from_array(data, chunks=3) if lazy else data, factor, min_valid)
    got = np.asarray(got)
    ny, nx = data.shape[-2] // factor, data.shape[-1] // factor
    assert got.shape == (ny, nx)
    blocks = data[: ny * factor, : nx * factor].reshape(ny, factor, nx, factor).swapaxes(1, 2)
    count = np.isfinite(blocks).sum(axis=(-2, -1))
    enough = (count > 0) & (count >= min_valid * factor * factor - 1e-9)
    assert np.array_equal(np.isfinite(got), enough)  # NaN exactly where a block has too few valid pixels
    with np.errstate(invalid="ignore"):
        expected = np.nanmean(np.where(np.isfinite(blocks), blocks, np.nan), axis=(-2, -1)) if blocks.size else got
    np.testing.assert_allclose(got[enough], expected[enough], rtol=1e-6, atol=1e-9 * 1e6)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_as_float_gives_floats_or_refuses(kind, data):
    case = data.draw(fields((-50.0, 50.0), kinds=(kind,)))
    got = outcome(arrays.as_float, case.da.data)
    if case.kind == WRONG_DTYPE and case.dtype in ("object", "complex"):
        assert got is None  # no physical quantity is complex, and object arrays hide what they hold
    else:
        assert got.dtype.kind == "f" and got.shape == case.da.shape


@pytest.mark.parametrize("kind", [VALID, MASKED, CONSTANT, EXTREME, ALL_NAN])
@given(data=st.data(), slope=st.floats(-100, 100), intercept=st.floats(-1e3, 1e3))
def test_linear_fit_recovers_an_exact_line_or_says_nan(kind, data, slope, intercept):
    x = data.draw(fields((-1.0, 1.0), kinds=(kind,)))
    xv = x.da.values
    a, b, n = arrays.linear_fit(xv, intercept + slope * xv)
    finite = np.isfinite(xv)
    assert int(n) == finite.sum()
    if finite.sum() >= 2 and np.ptp(xv[finite]) > 1e-3:
        tol = 1e-6 if xv.dtype == "f8" else 1e-3  # float32 x: its mean and the line's values are rounded
        assert math.isclose(b, slope, rel_tol=tol, abs_tol=tol) and math.isclose(a, intercept, rel_tol=tol, abs_tol=tol)
    else:  # too few pairs or no spread: the line is undefined, and says so
        assert np.isnan(b) or np.ptp(xv[finite]) > 0


@given(grid=grids(min_side=1), factor=st.integers(1, 6))
def test_coarse_and_fine_coordinates_nest(grid, factor):
    y = xr.DataArray(grid.y, dims="y")
    fine = outcome(arrays.fine_coord, y, factor)
    if grid.ny < 2:
        assert fine is None  # one pixel has no spacing: GridError
        return
    assert fine.size == grid.ny * factor
    np.testing.assert_allclose(arrays.coarse_coord(xr.DataArray(fine, dims="y"), factor), grid.y,
                               rtol=0, atol=1e-9 * max(1.0, abs(grid.y0)))


@pytest.mark.parametrize("kind", [VALID, MASKED, ALL_NAN, EMPTY])
@given(data=st.data(), depth=SMALL_SCALAR,
       boundary=st.one_of(st.sampled_from([*arrays.BOUNDARIES, "mirror", True]), st.floats(-1, 1)),
       lazy=st.booleans())
def test_halo_map_of_the_identity_returns_the_data_or_refuses(kind, data, depth, boundary, lazy):
    case = data.draw(fields((-5.0, 5.0), kinds=(kind,)))
    data = case.da.data
    data = dsa.from_array(data, chunks=4) if lazy and data.size else data
    got = outcome(arrays.halo_map, lambda block: block, data, depth, boundary)
    if got is not None:
        if boundary == "none":
            return  # edge blocks keep no halo to trim: the kernel must cope, the identity does not
        np.testing.assert_array_equal(np.asarray(got), case.da.values)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), lo=st.floats(-1e3, 1e3), width=st.floats(0, 1e3), lazy=st.booleans())
def test_check_range_passes_in_range_values_and_names_the_rest(kind, data, lo, width, lazy):
    case = data.draw(fields((200.0, 320.0), kinds=(kind,)))
    lazy = lazy and case.da.size > 0
    da = case.da.chunk(3) if lazy else case.da
    hi = lo + width
    got = outcome(units.check_range, da, lo, hi, name="t")
    values = np.asarray(case.da.values)
    if case.kind == WRONG_DTYPE and case.dtype in ("object", "complex"):
        assert got is None
        return
    finite = values[np.isfinite(values)] if values.size else values
    inside = finite.size == 0 or (finite.min() >= lo and finite.max() <= hi)
    if not lazy and finite.size == 0:
        assert got is None  # NoDataError: nothing to check
    else:
        assert (got is not None) == inside
    if got is not None:
        np.testing.assert_array_equal(got.values, values)


@given(case=fields((0.0, 100.0), kinds=(VALID, MASKED, CONSTANT, EXTREME)), found=UNIT_TEXT,
       to=st.sampled_from(units.CANONICAL))
def test_convert_maps_known_units_and_refuses_the_rest(case, found, to):
    da = case.da.assign_attrs(units=found)
    got = outcome(units.convert, da, to)
    assert (got is None) == (not units.convertible(found, to) and found.strip() != "")
    if got is not None:
        assert got.attrs["units"] == to
        back = units.convert(got.assign_attrs(units=to), found) if found.strip() else got
        np.testing.assert_allclose(back.values, case.da.values, rtol=1e-9, atol=1e-9)


@given(text=st.one_of(st.text(max_size=12), st.sampled_from(["K", " kelvin ", "%", "mol/m2"])))
def test_canonical_spells_or_refuses(text):
    got = outcome(units.canonical, text)
    assert got is None or got in units.CANONICAL


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                     max_size=3), max_leaves=8)


@given(params=st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True),
                              JSONISH | st.sampled_from([np.float32(1.5), np.arange(3), {1, 2}, range(2)]),
                              max_size=4),
       inputs=st.one_of(st.none(), st.sampled_from(["", "[]", "not json", "5", "{\"id\": 1}", "[{\"id\": \"a\"}]"])))
def test_stamp_records_parameters_and_inputs_or_refuses_broken_provenance(params, inputs):
    source = xr.Dataset({"v": ("x", np.arange(3.0))})
    if inputs is not None:
        source.attrs[attrs.INPUTS] = inputs
    out = outcome(attrs.stamp, xr.Dataset({"w": ("x", np.zeros(3))}), "test.method", made_from=[source], **params)
    try:
        valid = isinstance(json.loads(inputs or "[]"), list) and all(isinstance(r, dict)
                                                                    for r in json.loads(inputs or "[]"))
    except json.JSONDecodeError:
        valid = False
    assert (out is None) == (not valid)
    if out is not None:
        prov = attrs.provenance_attrs(out)
        assert prov["method"] == "test.method" and set(prov["parameters"]) == set(params)
        assert prov["inputs"] == json.loads(inputs or "[]")


@given(names=st.lists(st.sampled_from(["lst", "ndvi", "y", "x", "band"]), max_size=3),
       dims=st.lists(st.sampled_from(["y", "x", "lat", "lon", "time", "band"]), max_size=3, unique=True))
def test_require_and_require_dims_name_what_is_missing(names, dims):
    ds = xr.Dataset({"lst": (("y", "x"), np.zeros((2, 2)))})
    try:
        attrs.require(ds, names)
        assert set(names) <= set(ds.variables)
    except MissingVariableError as err:
        assert any(n in str(err) for n in set(names) - set(ds.variables))
    da = xr.DataArray(np.zeros((1,) * len(dims)), dims=dims)
    with pytest.raises(MissingVariableError) if not {"y", "x"} <= set(dims) else _nothing():
        attrs.require_dims(da, ("y", "x"))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_check_range_errors_are_the_documented_ones():
    with pytest.raises(NoDataError):
        units.check_range(xr.DataArray(np.full(3, np.nan)), 0, 1)
    with pytest.raises(PhysicalRangeError):
        units.check_range(xr.DataArray(np.array([0.5, np.inf])), 0, 1)
    with pytest.raises(UnitsError):
        units.convert(xr.DataArray([1.0], attrs={"units": "K"}), "m")
    with pytest.raises(ParameterError):
        arrays.check_factor(float("nan"))
