"""CF attributes and provenance stamps shared by every method's output."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

import xarray as xr

from .errors import MissingVariableError


def version() -> str:
    from . import __version__

    return __version__


def cf(da: xr.DataArray, units: str, long_name: str, standard_name: str | None = None, **extra) -> xr.DataArray:
    """Return ``da`` with CF ``units``/``long_name`` (and ``standard_name``) set; data untouched."""
    attrs = dict(da.attrs, units=units, long_name=long_name, **extra)
    if standard_name:
        attrs["standard_name"] = standard_name
    return da.assign_attrs(attrs)


def stamp(ds: xr.Dataset | xr.DataArray, method: str, **params) -> xr.Dataset | xr.DataArray:
    """Append a line to ``attrs['history']`` naming the eoxr method, its version and parameters."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    line = f"{now} eoxr {version()} {method}({args})"
    old = ds.attrs.get("history")
    out = ds.copy(deep=False)
    out.attrs = dict(ds.attrs, history=f"{old}\n{line}" if old else line, eoxr_version=version())
    return out


def require(ds: xr.Dataset, names: Iterable[str], what: str = "input") -> None:
    """Raise :class:`MissingVariableError` naming every absent variable and what is there."""
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise MissingVariableError(
            f"{what} lacks variable(s) {missing}; it has {sorted(map(str, ds.data_vars))}. "
            f"Rename yours with ds.rename({{'yours': '{missing[0]}'}}) or pass the right dataset."
        )


# Other names of eoxr's dimensions, as other tools write them.
_DIM_ALIASES = {"y": ("lat", "latitude", "rows", "row", "northing"), "x": ("lon", "long", "longitude", "cols", "col",
                                                                         "easting"),
                "band": ("bands", "spectral_band", "wavelength"), "channel": ("channels",),
                "time": ("t", "times", "date", "dates"), "element": ("elements",), "feature": ("features",)}


def require_dims(da: xr.DataArray | xr.Dataset, dims: Iterable[str], what: str = "input") -> None:
    """Raise :class:`MissingVariableError` naming the absent dimensions and the rename that supplies them."""
    missing = [d for d in dims if d not in da.dims]
    if missing:
        renames = {have: want for want in missing for have in da.dims
                   if str(have).lower() in (want, *_DIM_ALIASES.get(want, ()))}
        fix = (f"rename yours: .rename({renames})" if renames else
               f"eoxr names them {tuple(dims)}: rename yours, .rename({{'<yours>': {missing[0]!r}}})")
        raise MissingVariableError(f"{what} lacks dimension(s) {missing}; it has {tuple(da.dims)}. To fix: {fix}.")
