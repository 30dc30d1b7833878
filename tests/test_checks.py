"""tests/checks.py: each shared assertion passes on good input and fails on a deliberately bad one."""
import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from checks import ComputeForbidden, assert_cf, assert_chunked_equals_unchunked, assert_lazy, forbid_compute

from eoxr.attrs import cf, georeference, stamp


def _field(rng, chunks=None):
    da = xr.DataArray(rng.normal(size=(12, 10)), dims=("y", "x"), name="t",
                      coords={"y": np.arange(12.0), "x": np.arange(10.0)})
    return da.chunk(chunks) if chunks else da


def test_assert_lazy_returns_the_lazy_result(rng):
    out = assert_lazy(lambda a: a * 2, _field(rng, 4))
    assert isinstance(out.data, dsa.Array)


def test_assert_lazy_fails_when_the_function_computes(rng):
    with pytest.raises(AssertionError, match="computed something"):
        assert_lazy(lambda a: a * float(a.mean()), _field(rng, 4))


def test_assert_lazy_fails_when_the_result_is_numpy(rng):
    with pytest.raises(AssertionError, match=r"returned computed \(numpy\) data"):
        assert_lazy(lambda a: xr.Dataset({"t": a.copy(data=np.zeros(a.shape))}), _field(rng, 4))


def test_forbid_compute_raises_on_any_compute(rng):
    with forbid_compute(), pytest.raises(ComputeForbidden):
        _field(rng, 4).sum().compute()


def test_assert_chunked_equals_unchunked(rng):
    field = _field(rng)
    assert_chunked_equals_unchunked(lambda a: a.rolling(y=3, center=True).mean(), field, [{"y": 5}, {"y": 4, "x": 3}])
    assert_chunked_equals_unchunked(lambda a, b: a + b, (field, field * 2), {"y": 5})
    assert_chunked_equals_unchunked(lambda a: dsa.cumsum(dsa.asarray(a), axis=0) if isinstance(a, dsa.Array)
                                    else np.cumsum(a, axis=0), field.values, (5, 10))


def test_assert_chunked_equals_unchunked_fails_on_a_seam(rng):
    def seamy(a):  # a per-chunk mean: differs with every chunking
        if isinstance(a.data, dsa.Array):
            return a.copy(data=a.data.map_blocks(lambda b: b - b.mean()))
        return a - a.mean()

    with pytest.raises(AssertionError, match="differs from the unchunked"):
        assert_chunked_equals_unchunked(seamy, _field(rng), {"y": 5})


def test_assert_chunked_equals_unchunked_fails_when_the_chunked_run_computes(rng):
    with pytest.raises(AssertionError, match="computed"):
        assert_chunked_equals_unchunked(lambda a: a.copy(data=np.asarray(a)), _field(rng), {"y": 5})


def _product(rng):
    da = cf(_field(rng), "K", "surface temperature")
    ds = georeference(xr.Dataset({"t": da}), "EPSG:32631")
    return stamp(ds, "test.method", factor=4)


def test_assert_cf_passes_on_a_finished_output(rng):
    ds = _product(rng)
    assert_cf(ds, units="K")
    assert_cf(ds, units={"t": "K"})
    assert_cf(ds["t"], units="K")


@pytest.mark.parametrize("breakage,message", [
    (lambda ds: ds.assign(t=ds.t.assign_attrs(units="degC")), "is in 'degC', not 'K'"),
    (lambda ds: ds.assign(t=ds.t.copy().drop_attrs()), "has no units"),
    (lambda ds: ds.assign(t=ds.t.copy(deep=False).assign_attrs(long_name="")), "no long_name"),
    (lambda ds: ds.drop_vars("spatial_ref"), "no CRS"),
    (lambda ds: ds.assign_coords(x=("x", ds.x.values)), "coordinate 'x' has"),
    (lambda ds: ds.assign_coords(y=ds.y.copy().assign_attrs(long_name="")), "coordinate 'y' has no long_name"),
    (lambda ds: ds.drop_attrs(deep=False), "no eoxr history"),
])
def test_assert_cf_fails_on_each_missing_piece(rng, breakage, message):
    with pytest.raises(AssertionError, match=message):
        assert_cf(breakage(_product(rng)), units="K")
