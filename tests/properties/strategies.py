"""Hypothesis strategies for hostile input, and the contract every public function is held to.

Strategies draw small xarray objects on (y, x) grids with a CRS (rioxarray ``spatial_ref``): random NaN masks,
all-NaN and constant fields, values at the ends of a physical range, wrong dtypes (int, bool, object, complex),
empty dimensions, and pairs on mismatched grids or CRSs. Each field is a :class:`Case`, whose ``kind`` says which
hostility it carries, so a property can state what the documented outcome of that kind is.

The contract (:func:`outcome`): a call returns a result or raises an :class:`eoxr.errors.EoxrError`; any other
exception propagates and fails the property. :func:`assert_honest` then checks that a result is not all-NaN
where its input held valid values, unless a validity flag says so.

    @given(case=fields(LST_RANGE))
    def test_bicubic(case):
        out = outcome(bicubic, case.da, 2)
        if out is not None:
            assert_honest(out["lst"], case)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from hypothesis import strategies as st

from eoxr.errors import EoxrError

#: projected and geographic CRSs the grids are drawn on
CRSS = ("EPSG:32633", "EPSG:3857", "EPSG:4326")
#: the kinds of field :func:`fields` draws
VALID, MASKED, CONSTANT, EXTREME, ALL_NAN, WRONG_DTYPE, EMPTY = (
    "valid", "masked", "constant", "extreme", "all-nan", "wrong-dtype", "empty")
KINDS = (VALID, MASKED, CONSTANT, EXTREME, ALL_NAN, WRONG_DTYPE, EMPTY)
#: dtypes no physical field should arrive in, and how a float field is turned into each
WRONG_DTYPES = {
    "int": lambda v: np.nan_to_num(v).astype("i4"),
    "bool": lambda v: np.nan_to_num(v) > np.nanmean(v) if np.isfinite(v).any() else np.zeros(v.shape, bool),
    "object": lambda v: v.astype(object),
    "complex": lambda v: v.astype("c16") + 1j,
}


@dataclass(frozen=True)
class Grid:
    """A regular (y, x) grid: north-up, ``size`` CRS units per pixel, on ``crs``."""

    ny: int
    nx: int
    size: float
    x0: float
    y0: float
    crs: str

    @property
    def x(self) -> np.ndarray:
        return self.x0 + (np.arange(self.nx) + 0.5) * self.size

    @property
    def y(self) -> np.ndarray:
        return self.y0 - (np.arange(self.ny) + 0.5) * self.size

    def array(self, values: np.ndarray, name: str, units: str | None, lead: dict | None = None) -> xr.DataArray:
        """``values`` (lead dims..., y, x) on this grid, with ``units`` (none when None) and the CRS."""
        lead = dict(lead or {})
        coords = {**{d: np.arange(n) for d, n in lead.items()}, "y": self.y, "x": self.x}
        da = xr.DataArray(values, dims=(*lead, "y", "x"), coords=coords, name=name)
        if units is not None:
            da.attrs["units"] = units
        return da.rio.write_crs(self.crs)

    def refined(self, factor: int) -> "Grid":
        """The grid ``factor`` times finer over the same area."""
        return Grid(self.ny * factor, self.nx * factor, self.size / factor, self.x0, self.y0, self.crs)


@dataclass(frozen=True)
class Case:
    """A drawn field and what it is: ``kind`` (one of :data:`KINDS`), the dtype name for wrong dtypes."""

    da: xr.DataArray
    kind: str
    grid: Grid
    dtype: str = "float64"

    @property
    def physical(self) -> bool:
        """Whether the field is a real float field with at least one finite value: a method must use it."""
        return self.kind in (VALID, MASKED, CONSTANT, EXTREME)

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        values = np.asarray(self.da.values)
        return (f"Case(kind={self.kind!r}, dtype={self.dtype!r}, dims={dict(self.da.sizes)}, crs={self.grid.crs!r}, "
                f"size={self.grid.size:g}, values={np.array2string(values.ravel()[:12], precision=6)}...)")


@st.composite
def grids(draw, min_side: int = 2, max_side: int = 10, multiple: int = 1, crs: str | None = None) -> Grid:
    """A small grid: ``min_side``-``max_side`` pixels a side (times ``multiple``), on one of :data:`CRSS`."""
    ny = draw(st.integers(min_side, max_side)) * multiple
    nx = draw(st.integers(min_side, max_side)) * multiple
    crs = crs or draw(st.sampled_from(CRSS))
    if crs == "EPSG:4326":
        size = draw(st.sampled_from([0.001, 0.01, 0.25]))
        x0, y0 = draw(st.floats(-170, 160)), draw(st.floats(-60, 80))
    else:
        size = draw(st.sampled_from([10.0, 30.0, 250.0, 1000.0]))
        x0, y0 = draw(st.floats(1e5, 8e5)), draw(st.floats(1e6, 6e6))
    return Grid(ny, nx, size, round(x0, 3), round(y0, 3), crs)


def _valid_values(draw, shape, lo: float, hi: float) -> np.ndarray:
    """Smooth-ish random values inside [lo, hi]: a random mean and spread, clipped."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mid = draw(st.floats(lo, hi))
    spread = draw(st.floats(0.0, 0.5)) * (hi - lo)
    return np.clip(mid + spread * rng.standard_normal(shape), lo, hi)


@st.composite
def fields(draw, valid_range: tuple[float, float], *, name: str = "field", units: str | None = None,
           kinds=KINDS, grid=None, lead: dict | None = None) -> Case:
    """A field on ``grid`` (or a drawn one) of one of ``kinds``, its valid values inside ``valid_range``.

    valid: finite everywhere; masked: a random NaN mask (some value left); constant: one value; extreme: values
    at both ends of the range and its smallest and largest magnitudes; all-nan; wrong-dtype: the values cast to
    int, bool, object or complex; empty: y or x of size 0.
    """
    lo, hi = valid_range
    kind = draw(st.sampled_from(kinds))
    g = draw(grid) if isinstance(grid, st.SearchStrategy) else grid or draw(grids())
    if kind == EMPTY:
        g = Grid(0, g.nx, g.size, g.x0, g.y0, g.crs) if draw(st.booleans()) else \
            Grid(g.ny, 0, g.size, g.x0, g.y0, g.crs)
    shape = (*(lead or {}).values(), g.ny, g.nx)
    values = _valid_values(draw, shape, lo, hi)
    dtype = "float64"
    if kind == MASKED:
        cut = draw(st.floats(0.05, 0.95))
        mask = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random(shape) < cut
        mask.flat[draw(st.integers(0, values.size - 1))] = False  # at least one valid value stays
        values[mask] = np.nan
    elif kind == CONSTANT:
        values[...] = draw(st.floats(lo, hi))
    elif kind == EXTREME:
        ends = [lo, hi, np.nextafter(lo, hi), np.nextafter(hi, lo)]
        picks = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, len(ends), shape)
        values = np.asarray(ends)[picks]
    elif kind == ALL_NAN:
        values[...] = np.nan
    elif kind == WRONG_DTYPE:
        dtype = draw(st.sampled_from(sorted(WRONG_DTYPES)))
        values = WRONG_DTYPES[dtype](values)
    if draw(st.booleans()) and kind not in (VALID, EXTREME, EMPTY):  # float32 data too
        values = values.astype("f4") if values.dtype == "f8" else values
    return Case(g.array(values, name, units, lead), kind, g, dtype)


@st.composite
def mismatched(draw, grid: Grid) -> Grid:
    """A grid that differs from ``grid`` by its CRS, an offset of part of a pixel, or its pixel size."""
    how = draw(st.sampled_from(["crs", "shift", "size"]))
    if how == "crs":
        other = next(c for c in CRSS if c != grid.crs)
        return Grid(grid.ny, grid.nx, grid.size, grid.x0, grid.y0, other)
    if how == "shift":
        frac = draw(st.sampled_from([0.3, 0.5, 0.7]))
        return Grid(grid.ny, grid.nx, grid.size, grid.x0 + frac * grid.size, grid.y0, grid.crs)
    return Grid(grid.ny, grid.nx, grid.size * draw(st.sampled_from([0.7, 1.5, 3.0])), grid.x0, grid.y0, grid.crs)


# --------------------------------------------------------------------------------------------- the contract


def outcome(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, computed, or None when it raised an :class:`~eoxr.errors.EoxrError` (at the call
    or at compute). Any other exception propagates: it is a bug of the function, not of the input."""
    try:
        return _computed(fn(*args, **kwargs))
    except EoxrError:
        return None


def _computed(result):
    if isinstance(result, (xr.DataArray, xr.Dataset)):
        return result.compute()
    if isinstance(result, tuple):
        return tuple(_computed(r) for r in result)
    return result


def all_nan(da: xr.DataArray) -> bool:
    """Whether ``da`` holds no finite value (an empty array holds none)."""
    values = np.asarray(da.values)
    return values.dtype.kind in "fc" and not np.isfinite(values).any()


def assert_honest(out: xr.DataArray, case: Case, *, flag: xr.DataArray | None = None) -> None:
    """A result made from ``case`` is not all-NaN where the input was a physical field (some value finite),
    unless ``flag`` (a validity flag of the result) is False everywhere; its data are a real float type."""
    assert np.asarray(out.values).dtype.kind == "f", f"{out.name} has dtype {out.dtype}, not a float type"
    if case.physical and out.size and all_nan(out):
        assert flag is not None and not bool(np.asarray(flag.values).any()), (
            f"{out.name} is all-NaN from a {case.kind} input with finite values, and no flag says so")


def assert_cf_like(out: xr.DataArray, units: str, crs) -> None:
    """``out`` carries ``units``, a ``long_name`` and the CRS ``crs``."""
    assert out.attrs.get("units") == units, (out.name, out.attrs.get("units"), units)
    assert out.attrs.get("long_name"), f"{out.name} has no long_name"
    assert out.rio.crs == crs, (out.name, out.rio.crs, crs)
