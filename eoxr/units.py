"""One unit vocabulary for eoxr: canonical spellings, conversions, declared units, physical ranges.

Units are CF / UDUNITS strings (``"K"``, ``"W m-2"``, ``"mol m-2"``). Each canonical unit has its
aliases (``"kelvin"``, ``"Celsius"``, ``"percent"``, ``"molecules/cm2"``, ...) and, for those that can
be converted, a linear map onto a base unit: value_base = value x scale + offset. So ``degC`` -> ``K``
adds 273.15, ``%`` -> ``1`` divides by 100, ``molec cm-2`` -> ``mol m-2`` divides by 6.02214076e19
(Avogadro's number over 1e4 cm2 per m2), and ``mm h-1`` of water -> ``kg m-2 s-1`` divides by 3600
(1 mm of water over 1 m2 weighs 1 kg).

- :func:`canonical` spells a unit string the eoxr way (or raises :class:`~eoxr.errors.UnitsError`);
- :func:`convert` converts a DataArray lazily;
- :func:`declare_units` declares the units of a public function's xarray arguments, as xclim's
  ``declare_units``: they are checked and converted at the call, never assumed. A missing ``units``
  attribute means "already in the expected unit";
- :func:`check_range` guards a physical range (lazy on dask), naming the likely units mistake.

Usage in a workflow::

    @declare_units(lst="K", guide="1")
    def sharpen(lst, guide, factor): ...

    sharpen.__eoxr_units__          # {"lst": "K", "guide": "1"}
"""
from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Mapping

import numpy as np
import xarray as xr

from .errors import NoDataError, ParameterError, PhysicalRangeError, UnitsError

AVOGADRO = 6.02214076e23  # mol-1

# canonical unit: (base unit, scale, offset, aliases). value in base = value * scale + offset.
# Aliases are matched case-insensitively after collapsing white space.
_TABLE: dict[str, tuple[str, float, float, tuple[str, ...]]] = {
    "K": ("K", 1.0, 0.0, ("kelvin", "kelvins", "degk", "deg k")),
    "degC": ("K", 1.0, 273.15, ("celsius", "degree celsius", "degrees celsius", "degree_celsius", "degrees_celsius",
                                "deg c", "deg_c", "°c")),
    "1": ("1", 1.0, 0.0, ("none", "dimensionless", "unitless", "fraction", "-", "bit index", "0-1")),
    "%": ("1", 0.01, 0.0, ("percent", "percentage", "pct")),
    "m3 m-3": ("m3 m-3", 1.0, 0.0, ("m3/m3", "m^3/m^3", "m3.m-3", "m^3 m^-3", "cm3 cm-3", "cm3/cm3")),
    "W m-2": ("W m-2", 1.0, 0.0, ("w/m2", "w/m^2", "w m^-2", "w.m-2", "watt/square_meter", "watts per square meter")),
    "W m-2 sr-1": ("W m-2 sr-1", 1.0, 0.0, ("w/m2/sr", "w/(m2 sr)", "w m^-2 sr^-1")),
    "nW cm-2 sr-1": ("W m-2 sr-1", 1e-5, 0.0, ("nw/cm2/sr", "nw/(cm2 sr)", "nw cm^-2 sr^-1")),
    "W m-2 sr-1 um-1": ("W m-2 sr-1 um-1", 1.0, 0.0, (
        "w/m2/sr/um", "w/(m2 sr um)", "w/(m2.sr.um)", "w m-2 sr-1 μm-1", "w m-2 sr-1 micron-1",
        "w m^-2 sr^-1 um^-1", "watt/(square_meter*steradian*micrometer)", "watt/steradian/square_meter/micrometer")),
    "W m-2 sr-1 nm-1": ("W m-2 sr-1 um-1", 1e3, 0.0, ("w/m2/sr/nm", "w/(m2 sr nm)")),
    "mW cm-2 sr-1 um-1": ("W m-2 sr-1 um-1", 10.0, 0.0, ("mw/cm2/sr/um", "mw/(cm2 sr um)")),
    "mol m-2": ("mol m-2", 1.0, 0.0, ("mol/m2", "mol/m^2", "mol m^-2", "mol.m-2", "moles m-2")),
    "umol m-2": ("mol m-2", 1e-6, 0.0, ("umol/m2", "µmol m-2", "μmol m-2", "µmol/m2", "μmol/m2")),
    "molec cm-2": ("mol m-2", 1e4 / AVOGADRO, 0.0, (
        "molec/cm2", "molec/cm^2", "molec cm^-2", "molec.cm-2", "molecules cm-2", "molecules/cm2", "molecules/cm^2",
        "molecule cm-2")),
    "mol m-2 s-1": ("mol m-2 s-1", 1.0, 0.0, ("mol/m2/s", "mol m^-2 s^-1", "mol.m-2.s-1")),
    "molec cm-2 s-1": ("mol m-2 s-1", 1e4 / AVOGADRO, 0.0, ("molec/cm2/s", "molecules cm-2 s-1", "molecules/cm2/s")),
    "kg m-2 s-1": ("kg m-2 s-1", 1.0, 0.0, ("kg/m2/s", "kg m^-2 s^-1", "kg.m-2.s-1")),
    "mm h-1": ("kg m-2 s-1", 1.0 / 3600.0, 0.0, ("mm/h", "mm/hr", "mm hr-1", "mm h^-1", "mm.h-1", "mm per hour")),
    "mm d-1": ("kg m-2 s-1", 1.0 / 86400.0, 0.0, ("mm/d", "mm/day", "mm day-1", "mm d^-1")),
    "kg m-2": ("kg m-2", 1.0, 0.0, ("kg/m2", "kg m^-2", "kg.m-2")),
    "kg m-3": ("kg m-3", 1.0, 0.0, ("kg/m3", "kg m^-3", "kg.m-3")),
    "ug m-3": ("kg m-3", 1e-9, 0.0, ("ug/m3", "µg m-3", "μg m-3", "µg/m3", "μg/m3", "ug m^-3", "microgram/m3")),
    "m s-1": ("m s-1", 1.0, 0.0, ("m/s", "m s^-1", "m.s-1", "meter/second", "metre/second")),
    "km h-1": ("m s-1", 1.0 / 3.6, 0.0, ("km/h", "km/hr", "kmh", "km h^-1")),
    "Hz": ("Hz", 1.0, 0.0, ("hertz",)),
    "MHz": ("Hz", 1e6, 0.0, ("megahertz",)),
    "GHz": ("Hz", 1e9, 0.0, ("gigahertz",)),
    "degree": ("degree", 1.0, 0.0, ("degrees", "deg", "°", "arc_degree", "angular_degree")),
    "rad": ("degree", 180.0 / math.pi, 0.0, ("radian", "radians")),
    "degrees_north": ("degrees_north", 1.0, 0.0, ("degree_north", "degrees_n", "degree_n")),
    "degrees_east": ("degrees_east", 1.0, 0.0, ("degree_east", "degrees_e", "degree_e")),
    "dB": ("dB", 1.0, 0.0, ("decibel", "decibels")),
    "m": ("m", 1.0, 0.0, ("metre", "meter", "metres", "meters")),
    "km": ("m", 1e3, 0.0, ("kilometre", "kilometer", "kilometres", "kilometers")),
    "cm": ("m", 1e-2, 0.0, ("centimetre", "centimeter", "centimetres", "centimeters")),
    "mm": ("m", 1e-3, 0.0, ("millimetre", "millimeter", "millimetres", "millimeters")),
    "s": ("s", 1.0, 0.0, ("sec", "second", "seconds")),
    "min": ("s", 60.0, 0.0, ("minute", "minutes")),
    "h": ("s", 3600.0, 0.0, ("hr", "hrs", "hour", "hours")),
    "d": ("s", 86400.0, 0.0, ("day", "days")),
}

#: every canonical unit eoxr knows
CANONICAL = tuple(_TABLE)


def _key(units: str) -> str:
    return re.sub(r"\s+", " ", str(units).strip()).lower()


_ALIASES = {_key(alias): name for name, (*_, aliases) in _TABLE.items() for alias in (name, *aliases)}


class _Raise:
    """Default of :func:`canonical`'s ``default``: raise for an unknown unit."""

    def __repr__(self) -> str:
        return "<raise UnitsError>"


_RAISE = _Raise()


def canonical(units: str, default=_RAISE) -> str:
    """The eoxr spelling of ``units`` (``"Kelvin"`` -> ``"K"``, ``"percent"`` -> ``"%"``).

    Unknown units raise :class:`~eoxr.errors.UnitsError`, or return ``default`` when one is given.
    """
    name = _ALIASES.get(_key(units))
    if name is not None:
        return name
    if default is not _RAISE:
        return default
    raise UnitsError(f"unknown units {units!r}; eoxr knows {', '.join(CANONICAL)} (and their usual spellings): "
                     "set attrs['units'] to one of them")


def convertible(units: str, to: str) -> bool:
    """Whether values in ``units`` can be converted to ``to`` (both known, same base unit)."""
    a, b = canonical(units, None), canonical(to, None)
    return a is not None and b is not None and _TABLE[a][0] == _TABLE[b][0]


def _same_base(units: str) -> list[str]:
    base = _TABLE[units][0]
    return [name for name, row in _TABLE.items() if row[0] == base]


def _label(da, what: str | None) -> str:
    return what or (f"{da.name!r}" if getattr(da, "name", None) is not None else "the variable")


def convert(da: xr.DataArray, to: str, *, what: str | None = None) -> xr.DataArray:
    """``da`` converted to units ``to`` (lazy on dask; attrs kept, ``units`` set to the canonical ``to``).

    A ``da`` without ``units`` is taken as already in ``to``. Raises :class:`~eoxr.errors.UnitsError`
    naming the unit found, the one expected and the fix, when the units are unknown or of another kind
    (``what`` names the variable in that message).
    """
    target = canonical(to)
    found = da.attrs.get("units")
    if found is None or str(found).strip() == "":
        return da.assign_attrs(units=target)
    label = _label(da, what)
    source = canonical(found, None)
    if source is None:
        raise UnitsError(
            f"{label} has units {found!r}, which eoxr does not know; {target!r} is expected. Set "
            f"attrs['units'] to one of {', '.join(_same_base(target))} (converted at the call) if that is what "
            f"the values are, or convert them to {target!r} yourself"
        )
    if _TABLE[source][0] != _TABLE[target][0]:
        raise UnitsError(
            f"{label} is in {found!r}, which cannot be converted to {target!r}: pass a variable in "
            f"{', '.join(_same_base(target))}, or fix its units attribute if it is wrong"
        )
    if source == target:
        return da if found == target else da.assign_attrs(units=target)
    _, s1, o1, _ = _TABLE[source]
    _, s2, o2, _ = _TABLE[target]
    scale, offset = s1 / s2, (o1 - o2) / s2
    out = da * scale if offset == 0 else (da + offset if scale == 1 else da * scale + offset)
    return out.assign_attrs(dict(da.attrs, units=target))


# ----------------------------------------------------------------------------------- declared units


class when:
    """Expected units that depend on another argument's value: ``when("domain", radiance="K")`` expects
    ``"K"`` when the call's ``domain`` is ``"radiance"`` and checks nothing for other values."""

    def __init__(self, param: str, **by_value: str):
        self.param = param
        self.by_value = by_value

    def pick(self, arguments: Mapping) -> str | Mapping | None:
        return self.by_value.get(arguments.get(self.param))

    def __repr__(self) -> str:
        return f"when({self.param!r}, " + ", ".join(f"{k}={v!r}" for k, v in self.by_value.items()) + ")"

    def __eq__(self, other) -> bool:
        return isinstance(other, when) and (self.param, self.by_value) == (other.param, other.by_value)


def _conform(value, spec, param: str, func: str):
    """``value`` (an argument) with its units checked and converted to ``spec``."""
    if isinstance(value, xr.DataArray):
        if isinstance(spec, Mapping):
            spec = spec.get(value.name)
            if spec is None:
                return value
        return convert(value, spec, what=f"argument {param!r} of {func}")
    if isinstance(value, xr.Dataset):
        table = spec if isinstance(spec, Mapping) else {param: spec}
        changed = {name: convert(value[name], units, what=f"variable {name!r} of argument {param!r} of {func}")
                   for name, units in table.items() if name in value.data_vars}
        return value.assign(changed) if changed else value
    return value


def declare_units(**expected):
    """Decorator: check and convert the units of a function's xarray arguments at each call.

    Each keyword names a parameter and its expected units:

    - a unit string: a DataArray argument is converted to it (``degC`` -> ``K``, ``%`` -> ``1``, ...), or
      :class:`~eoxr.errors.UnitsError` is raised when its units are unknown or of another kind; a Dataset
      argument has its variable of the parameter's name checked (``superres(ds)`` checks ``ds["lst"]``);
    - a mapping variable -> units, for a Dataset argument (a DataArray is checked against its name's entry);
    - :class:`when` ``(param, value=units)``: units that depend on another argument (e.g. ``domain``).

    A missing ``units`` attribute means "already in the expected unit". Arguments that are None or not
    xarray objects pass unchanged. The decorated function keeps its name, signature and docstring; the
    declared units are recorded in ``func.__eoxr_units__`` for docs and tests.
    """

    def decorate(func):
        sig = inspect.signature(func)
        unknown = sorted(set(expected) - set(sig.parameters))
        if unknown:
            raise ParameterError(f"declare_units names {unknown}, which are not parameters of {func.__qualname__}; "
                                 f"it has {list(sig.parameters)}: declare units of those only")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            for name, spec in expected.items():
                spec = spec.pick(arguments) if isinstance(spec, when) else spec
                if spec is not None and arguments.get(name) is not None:
                    arguments[name] = _conform(arguments[name], spec, name, func.__name__)
            return func(*bound.args, **bound.kwargs)

        wrapper.__eoxr_units__ = dict(expected)
        return wrapper

    return decorate


# ---------------------------------------------------------------------------------- physical ranges


def _range_hint(lo: float, hi: float, found_lo: float, found_hi: float, units: str | None) -> str:
    """The likely mistake behind values [found_lo, found_hi] outside [lo, hi]."""
    if math.isinf(found_lo) or math.isinf(found_hi):
        return ("infinite values (a division by zero, e.g. an NDVI where nir + red = 0): mask them with "
                "da.where(np.isfinite(da))")
    if found_lo <= -999.0:
        return (f"values down to {found_lo:g} look like a fill value left in the data: mask it, e.g. "
                f"da.where(da != {found_lo:g})")
    if hi <= 1.0 < found_hi <= 100.0:
        return f"values up to {found_hi:g} look like percent: set units='%' (converted at the call) or divide by 100"
    if hi <= 1.0 and found_hi > 100.0:
        return (f"values up to {found_hi:g} look like scaled integers (e.g. NDVI x 10000): apply the product's "
                "scale factor")
    kelvin = units is None or canonical(units, None) == "K"
    if kelvin and lo >= 100.0 and found_lo < lo and found_hi <= 100.0:
        return f"values below {lo:g} K look like degrees Celsius labelled K: set units='degC' (converted at the call)"
    if kelvin and lo >= 100.0 and found_hi > 1000.0:
        return f"values up to {found_hi:g} look like raw counts: apply the product's scale factor (MOD11: x 0.02)"
    return "check the units attribute, the scale factor and the fill values of the data"


def _assert_range(values: np.ndarray, lo: float, hi: float, name: str, hint: str | None, units, whole: bool):
    # fmin/fmax skip NaN without a copy of the data (an infinite value counts, and is out of any range)
    found_lo = float(np.fmin.reduce(values, axis=None)) if values.size else np.nan
    found_hi = float(np.fmax.reduce(values, axis=None)) if values.size else np.nan
    if np.isnan(found_lo):
        if whole:
            raise NoDataError(f"{name} holds no value, every pixel is NaN: check its mask, its bounds and its "
                              "fill values")
        return
    if found_lo < lo or found_hi > hi:
        unit = f" {units}" if units else ""
        raise PhysicalRangeError(
            f"{name} holds values from {found_lo:g} to {found_hi:g}{unit}, outside its physical range "
            f"[{lo:g}, {hi:g}]{unit}: {hint or _range_hint(lo, hi, found_lo, found_hi, units)}"
        )


def _check_block(block, lo, hi, name, hint, units):
    _assert_range(np.asarray(block), lo, hi, name, hint, units, whole=False)
    return block


def check_range(da, lo: float, hi: float, *, name: str | None = None, hint: str | None = None):
    """``da`` once its values are checked to lie in [lo, hi] (NaN are allowed, infinities are not).

    numpy data are checked at once; dask data stay lazy: each block is checked when it is computed
    (a ``map_blocks``; no block waits for another). Out of range: :class:`~eoxr.errors.PhysicalRangeError`
    naming the variable, the range found, the range expected and the likely fix (``hint``, or one guessed
    from the values: percent, Celsius labelled K, scaled integers, fill values). A numpy input with no
    finite value raises :class:`~eoxr.errors.NoDataError` (on dask an all-NaN input passes: telling it
    would take a reduction over every block before any could be used). Complex, object and string data raise
    :class:`~eoxr.errors.DtypeError`.
    """
    from .arrays import check_real, is_lazy

    data = da.data if isinstance(da, xr.DataArray) else da
    units = da.attrs.get("units") if isinstance(da, xr.DataArray) else None
    name = name or (str(da.name) if getattr(da, "name", None) is not None else "the data")
    check_real(data, name)
    if not is_lazy(data):
        _assert_range(np.asarray(data), lo, hi, name, hint, units, whole=True)
        return da
    check = functools.partial(_check_block, lo=lo, hi=hi, name=name, hint=hint, units=units)
    checked = data.map_blocks(check, dtype=data.dtype, meta=data._meta)
    return da.copy(data=checked) if isinstance(da, xr.DataArray) else checked
