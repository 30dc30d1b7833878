"""Assertions every workflow's tests share: laziness, chunked == unchunked, CF outputs.

    from checks import assert_cf, assert_chunked_equals_unchunked, assert_lazy

    out = assert_lazy(superres, lst.chunk(8), 4)          # builds a graph, computes nothing
    assert_chunked_equals_unchunked(lambda a: superres(a, 4), lst, [{"y": 7, "x": 10}, {"y": 16}])
    assert_cf(out, units={"lst": "K"})                    # units, long_name, CRS, x/y attributes, history

The ``no_compute`` fixture of ``tests/conftest.py`` uses the same raising scheduler as :func:`assert_lazy`.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager

import dask
import dask.array as dsa
import numpy as np
import xarray as xr


class ComputeForbidden(RuntimeError):
    """Raised by the scheduler of :func:`forbid_compute`: something computed that should have stayed lazy."""


def raising_scheduler(dsk, keys, **kwargs):
    raise ComputeForbidden("something computed where the code should have stayed lazy")


@contextmanager
def forbid_compute():
    """Within this context any dask compute raises :class:`ComputeForbidden`."""
    with dask.config.set(scheduler=raising_scheduler):
        yield


def _arrays(obj, label="result"):
    """(label, array) for every array in ``obj``: DataArray data, Dataset data variables, arrays, containers."""
    if isinstance(obj, xr.DataArray):
        yield label, obj.data
    elif isinstance(obj, xr.Dataset):
        for name, da in obj.data_vars.items():
            yield f"{label}[{name!r}]", da.data
    elif isinstance(obj, (np.ndarray, dsa.Array)):
        yield label, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _arrays(value, f"{label}[{key!r}]")
    elif isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            yield from _arrays(value, f"{label}[{i}]")


def _assert_all_lazy(result, what: str) -> None:
    eager = [label for label, a in _arrays(result) if not isinstance(a, dsa.Array)]
    assert not eager, f"{what} returned computed (numpy) data for {eager}: it should build a dask graph"


def assert_lazy(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` where any compute raises; assert every array it returns is dask; return it."""
    what = getattr(fn, "__name__", repr(fn))
    with forbid_compute():
        try:
            result = fn(*args, **kwargs)
        except ComputeForbidden as err:
            raise AssertionError(f"{what} computed something: it should stay lazy until the caller computes") from err
    _assert_all_lazy(result, what)
    return result


def _chunk(obj, chunks):
    if isinstance(obj, (xr.DataArray, xr.Dataset)):
        return obj.chunk(chunks)
    if isinstance(obj, np.ndarray):
        return dsa.from_array(obj, chunks=chunks)
    return obj  # scalars and other arguments as they are


def assert_chunked_equals_unchunked(fn, data, chunks, *, rtol: float = 1e-9, atol: float = 1e-12):
    """``fn(data)`` equals ``fn(chunked data)`` (lazy, then computed) for each chunking in ``chunks``.

    ``data``: an xarray object or numpy array, or a tuple of them (``fn(*data)``, each chunked alike).
    ``chunks``: one chunking (a dict of dims, or a tuple for numpy) or a list of them. NaN must match NaN.
    """
    inputs = data if isinstance(data, tuple) else (data,)
    expected = list(_arrays(fn(*inputs)))
    assert expected, "fn returned no array to compare"
    what = getattr(fn, "__name__", repr(fn))
    for c in chunks if isinstance(chunks, list) else [chunks]:
        lazy = fn(*(_chunk(a, c) for a in inputs))
        _assert_all_lazy(lazy, f"{what} on data chunked {c}")
        got = list(_arrays(dask.compute(lazy)[0]))
        assert [label for label, _ in got] == [label for label, _ in expected]
        for (label, want), (_, have) in zip(expected, got):
            np.testing.assert_allclose(np.asarray(have), np.asarray(want), rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=f"{label} chunked {c} differs from the unchunked result")


def assert_cf_coordinates(obj) -> None:
    """The x/y coordinates of ``obj`` carry CF ``units``, ``long_name`` and ``standard_name`` (
    ``projection_x_coordinate`` / ``projection_y_coordinate`` in metre, or ``longitude`` / ``latitude`` in
    degrees), as :func:`eoxr.attrs.georeference` writes them from the CRS, so that ``.plot()`` labels the axes
    with their units."""
    from xarray.plot.utils import label_from_attrs

    projected = obj.rio.crs is not None and obj.rio.crs.is_projected
    for axis, geographic, degrees in (("x", "longitude", "degrees_east"), ("y", "latitude", "degrees_north")):
        attrs = obj[axis].attrs
        want = (f"projection_{axis}_coordinate", "metre") if projected else (geographic, degrees)
        assert (attrs.get("standard_name"), attrs.get("units")) == want, \
            f"coordinate {axis!r} has {attrs}, not standard_name {want[0]!r} and units {want[1]!r}"
        assert attrs.get("long_name"), f"coordinate {axis!r} has no long_name"
        assert f"[{attrs['units']}]" in label_from_attrs(obj[axis])


def assert_cf(obj, units: str | Mapping | None = None) -> None:
    """Every variable of ``obj`` has ``units`` (equal to ``units``: one string, or a mapping variable ->
    units) and a ``long_name``; a spatial (y, x) object has a CRS as rioxarray's ``spatial_ref`` and CF x/y
    coordinates (:func:`assert_cf_coordinates`); a Dataset says in ``attrs["history"]`` which eoxr method made
    it."""
    variables = {obj.name: obj} if isinstance(obj, xr.DataArray) else dict(obj.data_vars)
    assert variables, "no variable to check"
    for name, da in variables.items():
        found = da.attrs.get("units")
        assert found not in (None, ""), f"variable {name!r} has no units"
        want = units.get(name) if isinstance(units, Mapping) else units
        assert want is None or found == want, f"variable {name!r} is in {found!r}, not {want!r}"
        assert da.attrs.get("long_name"), f"variable {name!r} has no long_name"
        if {"y", "x"} <= set(da.dims):
            assert "spatial_ref" in obj.coords and obj.rio.crs is not None, \
                f"variable {name!r} is spatial but carries no CRS (rioxarray spatial_ref)"
            assert_cf_coordinates(obj)
    if isinstance(obj, xr.Dataset):
        assert "eoxr" in str(obj.attrs.get("history", "")), "the dataset has no eoxr history stamp"
