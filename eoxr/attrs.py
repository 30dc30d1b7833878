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


def georeference(obj: xr.Dataset | xr.DataArray, crs=None, like: xr.Dataset | xr.DataArray | None = None):
    """``obj`` with its CRS and the CF attributes of its ``x``/``y`` coordinates; every eoxr output on a grid ends here.

    ``crs`` (default: ``obj``'s own, else ``like``'s) is written as rioxarray's ``spatial_ref`` coordinate, and
    ``x``/``y`` get what rioxarray's ``write_coordinate_system`` derives from it: ``standard_name``
    ``projection_x_coordinate`` / ``projection_y_coordinate`` with ``units`` metre for a projected CRS,
    ``longitude`` / ``latitude`` with ``degrees_east`` / ``degrees_north`` for a geographic one, a ``long_name``
    and an ``axis``, so that ``.plot()`` labels the axes with their units. ``like`` (the input the output was
    made from) lends its ``x``/``y`` attributes first, which is all there is without a CRS. An object without
    ``x``/``y`` dimensions (a swath, a polar volume) gets the CRS only. The data are untouched (lazy stays lazy).
    """
    import rioxarray  # noqa: F401  (registers .rio)

    out = obj
    if like is not None:
        for name in ("x", "y"):
            if name in out.coords and name in like.coords and out[name].dims == (name,):
                out = out.assign_coords({name: out[name].assign_attrs({**like[name].attrs, **out[name].attrs})})
    crs = crs if crs is not None else _crs_of(out)
    crs = crs if crs is not None or like is None else _crs_of(like)
    if crs is None:
        return out
    out = out.rio.write_crs(crs)
    return out.rio.write_coordinate_system() if {"x", "y"} <= set(out.dims) else out


def _crs_of(obj):
    try:
        return obj.rio.crs
    except Exception:  # noqa: BLE001 - rioxarray raises several kinds on grids it cannot read
        return None


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
