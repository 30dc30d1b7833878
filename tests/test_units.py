"""eoxr.units: one vocabulary, lazy conversions, declared units on functions, lazy physical-range guards."""
import inspect

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from checks import assert_lazy

from eoxr import units
from eoxr.errors import NoDataError, ParameterError, PhysicalRangeError, UnitsError


def _da(values, unit=None, name="v", chunks=None):
    da = xr.DataArray(np.asarray(values, dtype="f8"), dims=("x",), name=name,
                      attrs={} if unit is None else {"units": unit, "long_name": "a field"})
    return da.chunk(chunks) if chunks else da


# ------------------------------------------------------------------------------------------ vocabulary


@pytest.mark.parametrize("raw,name", [
    ("K", "K"), ("kelvin", "K"), ("k", "K"), ("Celsius", "degC"), ("degree Celsius", "degC"), ("degC", "degC"),
    ("1", "1"), ("bit index", "1"), ("none", "1"), ("percent", "%"), ("%", "%"),
    ("degree", "degree"), ("degrees", "degree"), ("deg", "degree"),  # the two tables of io disagreed here
    ("hrs", "h"), ("meters", "m"), ("metre", "m"), ("kilometer", "km"), ("W/m2", "W m-2"),
    ("watt/steradian/square_meter/micrometer", "W m-2 sr-1 um-1"), ("molecules/cm2", "molec cm-2"),
    ("mol m-2", "mol m-2"), ("mm/hr", "mm h-1"), ("kg m-2 s-1", "kg m-2 s-1"), ("m/s", "m s-1"), ("GHz", "GHz"),
    ("dB", "dB"), ("  W   m-2 ", "W m-2"), ("degrees_north", "degrees_north"),
])
def test_canonical_spellings(raw, name):
    assert units.canonical(raw) == name


def test_every_alias_names_one_unit_and_every_unit_is_its_own_alias():
    seen = {}
    for name, (_, _, _, aliases) in units._TABLE.items():
        assert units.canonical(name) == name
        for alias in aliases:
            key = units._key(alias)
            assert seen.setdefault(key, name) == name, f"{alias!r} is an alias of {seen[key]} and {name}"


def test_unknown_units():
    with pytest.raises(UnitsError, match="furlong.*eoxr knows"):
        units.canonical("furlong")
    assert units.canonical("furlong", default="furlong") == "furlong"
    assert units.canonical("NDVI", default="1") == "1"
    assert units.convertible("degC", "K") and not units.convertible("m", "K") and not units.convertible("x", "K")


# ----------------------------------------------------------------------------------------- conversions


@pytest.mark.parametrize("frm,to,value,expected", [
    ("degC", "K", 20.0, 293.15),
    ("K", "degC", 273.15, 0.0),
    ("%", "1", 87.0, 0.87),
    ("1", "%", 0.5, 50.0),
    ("molec cm-2", "mol m-2", 6.02214076e19, 1.0),  # Avogadro: 1 mol m-2 = 6.02214076e19 molec cm-2
    ("mol m-2", "molec cm-2", 1e-4, 6.02214076e15),
    ("mm h-1", "kg m-2 s-1", 3600.0, 1.0),  # 1 mm of water on 1 m2 weighs 1 kg
    ("kg m-2 s-1", "mm h-1", 1e-3, 3.6),
    ("mm d-1", "mm h-1", 24.0, 1.0),
    ("GHz", "Hz", 89.0, 89e9),
    ("km h-1", "m s-1", 36.0, 10.0),
    ("rad", "degree", np.pi, 180.0),
    ("molec cm-2 s-1", "mol m-2 s-1", 6.02214076e19, 1.0),
])
def test_convert(frm, to, value, expected):
    out = units.convert(_da([value, np.nan], frm), to)
    assert out.values[0] == pytest.approx(expected, rel=1e-12, abs=1e-12) and np.isnan(out.values[1])
    assert out.attrs == {"units": units.canonical(to), "long_name": "a field"}
    back = units.convert(out, frm)
    assert back.values[0] == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_convert_is_lazy_keeps_dtype_and_relabels_without_touching_data():
    lazy = assert_lazy(units.convert, _da([20.0, 30.0], "degC", chunks=1), "K")
    np.testing.assert_allclose(lazy.values, [293.15, 303.15])
    f32 = units.convert(_da([20.0], "degC").astype("f4").assign_attrs(units="degC"), "K")
    assert f32.dtype == np.float32
    same = _da([1.0], "K")
    assert units.convert(same, "K") is same
    relabelled = units.convert(_da([1.0], "kelvin"), "K")
    assert relabelled.attrs["units"] == "K" and relabelled.values[0] == 1.0
    assert units.convert(_da([5.0]), "K").attrs["units"] == "K"  # no units: taken as already in K


def test_convert_errors_name_the_unit_found_the_one_expected_and_the_fix():
    with pytest.raises(UnitsError, match=r"'lst' has units 'furlong'.*'K' is expected.*attrs\['units'\].*degC"):
        units.convert(_da([1.0], "furlong", name="lst"), "K")
    with pytest.raises(UnitsError, match=r"'lst' is in 'm', which cannot be converted to 'K'"):
        units.convert(_da([1.0], "m", name="lst"), "K")
    with pytest.raises(UnitsError, match="unknown units"):
        units.convert(_da([1.0], "K"), "kelvinish")


# ------------------------------------------------------------------------------------------ declare_units


@units.declare_units(lst="K", guide="1")
def _sharpen(lst, guide=None, factor: int = 4):
    """Docstring of the function."""
    return lst, guide


@units.declare_units(ds={"lst": "K", "ndvi": "1"})
def _on_dataset(ds, scale=1.0):
    return ds


@units.declare_units(da=units.when("domain", radiance="K"))
def _domain_dependent(da, domain="radiance"):
    return da


def test_declare_units_converts_refuses_and_records():
    lst, guide = _sharpen(_da([20.0], "degC"), _da([50.0], "%"))
    assert lst.values[0] == pytest.approx(293.15) and lst.attrs["units"] == "K"
    assert guide.values[0] == pytest.approx(0.5) and guide.attrs["units"] == "1"
    bare = _da([300.0])
    assert _sharpen(bare)[0] is not None and _sharpen(bare)[0].values[0] == 300.0  # no units: already K
    assert _sharpen(np.array([1.0]))[0][0] == 1.0  # not an xarray object: passed as is
    with pytest.raises(UnitsError, match="argument 'lst' of _sharpen has units 'furlong'"):
        _sharpen(_da([1.0], "furlong"))
    with pytest.raises(UnitsError, match="argument 'guide' of _sharpen is in 'K'"):
        _sharpen(_da([300.0], "K"), guide=_da([1.0], "K"))
    assert _sharpen.__eoxr_units__ == {"lst": "K", "guide": "1"}
    assert _sharpen.__doc__ == "Docstring of the function." and _sharpen.__name__ == "_sharpen"
    assert list(inspect.signature(_sharpen).parameters) == ["lst", "guide", "factor"]


def test_declare_units_on_datasets_and_by_another_argument():
    ds = xr.Dataset({"lst": _da([25.0], "degC"), "ndvi": _da([40.0], "%"), "other": _da([7.0], "m")})
    out = _on_dataset(ds)
    assert out["lst"].values[0] == pytest.approx(298.15) and out["ndvi"].values[0] == pytest.approx(0.4)
    assert out["other"].values[0] == 7.0
    with pytest.raises(UnitsError, match="variable 'lst' of argument 'ds'"):
        _on_dataset(ds.assign(lst=ds["lst"].assign_attrs(units="m")))
    assert _domain_dependent(_da([0.0], "degC"))[0] == pytest.approx(273.15)
    assert _domain_dependent(_da([0.4], "1"), domain="linear")[0] == 0.4  # no units expected there
    with pytest.raises(UnitsError):
        _domain_dependent(_da([0.4], "1"), "radiance")


def test_declare_units_refuses_a_parameter_the_function_lacks():
    with pytest.raises(ParameterError, match="not parameters"):
        units.declare_units(temperature="K")(lambda lst: lst)


# --------------------------------------------------------------------------------------- physical ranges


def test_check_range_on_numpy_names_the_variable_the_ranges_and_the_fix():
    ok = _da([200.0, np.nan, 350.0], "K", name="lst")
    assert units.check_range(ok, 150, 400) is ok
    with pytest.raises(PhysicalRangeError, match=r"lst holds values from 12 to 31 K.*\[150, 400\].*Celsius"):
        units.check_range(_da([12.0, 31.0], "K", name="lst"), 150, 400)
    with pytest.raises(PhysicalRangeError, match="values up to 87 look like percent: set units='%'"):
        units.check_range(_da([3.0, 87.0], "1", name="ndvi"), -1, 1)
    with pytest.raises(PhysicalRangeError, match="scaled integers"):
        units.check_range(_da([3000.0, 8700.0], "1", name="ndvi"), -1, 1)
    with pytest.raises(PhysicalRangeError, match="fill value"):
        units.check_range(_da([-9999.0, 0.5], "1", name="ndvi"), -1, 1)
    with pytest.raises(PhysicalRangeError, match="guide.*my own hint"):
        units.check_range(_da([5.0], "1"), -1, 1, name="guide", hint="my own hint")
    with pytest.raises(PhysicalRangeError, match="to inf K.*infinite values"):
        units.check_range(_da([300.0, np.inf], "K", name="lst"), 150, 400)
    with pytest.raises(NoDataError, match="every pixel is NaN"):
        units.check_range(_da([np.nan, np.nan], "K", name="lst"), 150, 400)


def test_check_range_on_dask_is_lazy_and_raises_at_compute():
    bad = _da([300.0, 310.0, 20.0, 25.0], "K", name="lst", chunks=2)
    checked = assert_lazy(units.check_range, bad, 150, 400)
    with pytest.raises(PhysicalRangeError, match="Celsius"):
        checked.compute()
    good = _da([300.0, np.nan, np.nan, 280.0], "K", name="lst", chunks=2)  # an all-NaN block is fine
    np.testing.assert_array_equal(units.check_range(good, 150, 400).values, good.values)
    raw = units.check_range(dsa.from_array(np.array([0.5, 2.0]), chunks=1), -1, 1, name="ndvi")
    with pytest.raises(PhysicalRangeError, match="ndvi holds values from 2 to 2"):
        raw.compute()
