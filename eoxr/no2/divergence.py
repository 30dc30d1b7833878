"""NOx emissions from NO2 columns and winds by the flux divergence (Beirle et al., 2019, Sci. Adv. 5, eaax9800,
doi:10.1126/sciadv.aax9800).

At steady state the NO2 column ``V`` (mol m-2) in a wind ``w`` (m s-1) obeys div(V w) = E / L - V / tau, hence

    E = L (div(V w) + V / tau)

with ``L`` the NOx/NO2 column ratio (1.32) and ``tau`` the NOx lifetime: the advection term maps where NO2
appears (sources) and disappears (downwind), the sink term returns what chemistry removed. The divergence is a
central difference of the flux on the grid (one cell of halo; the edge cells are NaN), in metres on projected
grids and on the sphere (R = 6371 km) on latitude/longitude grids. Daily maps are noisy (the divergence
amplifies the column noise by about |w| / dx); they are averaged over ``days`` layers, as Beirle et al. average
a season. The lifetime is given or fitted: downwind of the sources E = 0, so -div(V w) = V / tau where the
divergence is negative, a least-squares fit through the origin over those cells.

Diffusion (K lap V) is neglected, as by Beirle et al.: its contribution is K / (u dx) of the advective one
(0.4 % for K = 100 m2 s-1, u = 5 m s-1, dx = 5 km).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..arrays import as_float, check_real, halo_map, is_lazy
from ..attrs import cf, georeference, require, require_dims, stamp
from ..errors import GridError, ParameterError
from ..units import declare_units

EARTH_RADIUS_M = 6_371_000.0
NOX_TO_NO2 = 1.32  # Beirle et al. (2019)
NO2_MOLAR_MASS = 0.0460055  # kg mol-1: NOx emissions counted as NO2
HALO = 1  # cells: the central difference reaches one neighbour on each side


def _divergence_kernel(block: np.ndarray) -> np.ndarray:
    """Central-difference divergence of the flux (F, G) from a block (4, ..., y, x) stacking F, G and the
    cells' eastward and northward positions (m); NaN on the outer ring (the halo is cut by ``halo_map``)."""
    flux_x, flux_y, east, north = block
    out = np.full(flux_x.shape, np.nan)
    d_east = (flux_x[..., 1:-1, 2:] - flux_x[..., 1:-1, :-2]) / (east[..., 1:-1, 2:] - east[..., 1:-1, :-2])
    d_north = (flux_y[..., 2:, 1:-1] - flux_y[..., :-2, 1:-1]) / (north[..., 2:, 1:-1] - north[..., :-2, 1:-1])
    out[..., 1:-1, 1:-1] = d_east + d_north
    return np.broadcast_to(out, block.shape)  # halo_map keeps the block's shape; the caller takes term 0


def positions(like: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Eastward and northward positions (m) of the cells of ``like``: its x/y in metres on a projected grid,
    R cos(lat) lon and R lat on a geographic one (x, y in degrees)."""
    crs = _crs(like)
    x, y = like["x"].astype("f8"), like["y"].astype("f8")
    if crs is not None and crs.is_geographic:
        lat = np.deg2rad(y)
        east, north = EARTH_RADIUS_M * np.cos(lat) * np.deg2rad(x), EARTH_RADIUS_M * lat + 0.0 * x
    elif crs is not None and crs.axis_info[0].unit_name not in ("metre", "meter"):
        raise ParameterError(f"the grid's CRS has axes in {crs.axis_info[0].unit_name}: reproject it to a CRS in "
                             "metres or to latitude/longitude")
    else:
        east, north = x + 0.0 * y, y + 0.0 * x
    return east.transpose("y", "x"), north.transpose("y", "x")


def _crs(da):
    from pyproj import CRS

    try:
        crs = da.rio.crs
    except Exception:  # noqa: BLE001 - rioxarray raises several kinds on grids it cannot read
        return None
    return None if crs is None else CRS.from_user_input(crs)


def flux_divergence(no2_column: xr.DataArray, u: xr.DataArray, v: xr.DataArray) -> xr.DataArray:
    """div(V w) (mol m-2 s-1) of columns ``no2_column`` (mol m-2) in winds ``u``, ``v`` (m s-1), lazy on dask."""
    no2_column = no2_column.transpose(..., "y", "x")
    east, north = positions(no2_column)
    fields = [no2_column * u, no2_column * v, *xr.broadcast(east, north, no2_column)[:2]]
    stacked = xr.concat([f.transpose(*no2_column.dims) for f in xr.broadcast(*fields)], dim="_term")
    data = stacked.data.rechunk({0: 4}) if is_lazy(stacked.data) else stacked.data
    out = halo_map(_divergence_kernel, data, HALO, boundary=np.nan, dtype="f8")[0]
    return no2_column.copy(data=out)


def fit_lifetime(divergence: xr.DataArray, no2_column: xr.DataArray) -> xr.DataArray:
    """The lifetime (s) for which the emission vanishes, in total, downwind of the sources.

    Where E = 0, -div(V w) = V / tau; summed over such a region the divergence telescopes to the fluxes through
    its edges (exact for a central difference, whatever the cells' detail), so tau = -sum(V) / sum(div(V w)).
    The region: the cells whose 5 x 5 neighbourhood has only negative divergence (sources and their upwind
    neighbours, negative by the central difference, are left out). 0-d, lazy on dask.
    """
    around = divergence.rolling(y=5, x=5, center=True).max()
    sinks = (around < 0) & (no2_column > 0)
    return -no2_column.where(sinks).sum() / divergence.where(sinks).sum()


def checked_columns_and_winds(ds: xr.Dataset, what: str) -> xr.Dataset:
    """``ds``'s ``no2_column``, ``u`` and ``v`` as floats, once they are there, on (y, x) and on one grid."""
    require(ds, ("no2_column", "u", "v"), what)
    require_dims(ds["no2_column"], ("y", "x"), "no2_column")
    for name in ("u", "v"):
        if not set(ds[name].dims) <= set(ds["no2_column"].dims):
            raise ParameterError(f"{name} has dims {ds[name].dims}, no2_column {ds['no2_column'].dims}: give the "
                                 "wind on the columns' grid (interpolate it with ds[name].interp_like(ds))")
    return ds.assign({name: ds[name].copy(data=as_float(check_real(ds[name].data, name)))
                      for name in ("no2_column", "u", "v")})


def _checked(ds: xr.Dataset, lifetime_h, days, nox_to_no2) -> xr.Dataset:
    """``ds``'s columns and winds as floats, once inputs and parameters are checked."""
    ds = checked_columns_and_winds(ds, "the flux divergence")
    if min(ds.sizes["y"], ds.sizes["x"]) < 3:
        raise GridError(f"a grid of {ds.sizes['y']} x {ds.sizes['x']} cells has no interior cell: the central "
                        "difference needs at least 3 x 3 cells")
    if not (lifetime_h == "fit" or (isinstance(lifetime_h, (int, float)) and lifetime_h > 0)):
        raise ParameterError(f"lifetime_h={lifetime_h!r}: give the NOx lifetime in hours (2-8 h is typical) or "
                             "'fit' to fit it downwind of the sources")
    if days is not None and (int(days) != days or days < 1):
        raise ParameterError(f"days={days!r}: give a whole number of layers to average, or None for all")
    if not nox_to_no2 > 0:
        raise ParameterError(f"nox_to_no2={nox_to_no2}: the NOx/NO2 ratio is positive (1.32 by default)")
    return ds


def _average(emission: xr.DataArray, days: int | None):
    """Mean, standard error and count of valid layers of ``emission`` over windows of ``days`` layers along
    ``time`` (over all of them if None; a map without ``time`` is its own mean, of unknown error)."""
    if "time" not in emission.dims:
        return emission, xr.full_like(emission, np.nan), np.isfinite(emission).astype("i4")
    if days:
        windows = emission.coarsen(time=days, boundary="trim").construct(time=("time", "layer"))
    else:
        windows = emission.rename(time="layer")
    count = windows.count("layer")
    spread = windows.std("layer", ddof=1)
    return windows.mean("layer"), spread / np.sqrt(count.where(count >= 2)), count.astype("i4")


@declare_units(ds={"no2_column": "mol m-2", "u": "m s-1", "v": "m s-1"})
def emissions(ds: xr.Dataset, *, lifetime_h: float | str = 4.0, days: int | None = None,
              nox_to_no2: float = NOX_TO_NO2) -> xr.Dataset:
    """NOx emissions (mol m-2 s-1, as NO2) from NO2 columns and winds by the flux divergence.

    Parameters
    ----------
    ds : xarray.Dataset
        ``no2_column`` (mol m-2; molec cm-2 is converted), ``u`` and ``v`` (m s-1) on one (y, x) grid with a
        CRS (metres or latitude/longitude), optionally along ``time`` (one layer per overpass or day).
    lifetime_h : float or "fit"
        NOx lifetime in hours, or ``"fit"`` to fit it where the divergence is negative (:func:`fit_lifetime`;
        NaN, and so is the emission, on a field with no plume to fit on).
    days : int, optional
        Average over windows of this many layers along ``time`` (None: over all of them).
    nox_to_no2 : float
        NOx/NO2 column ratio L.

    Returns
    -------
    xarray.Dataset
        ``emission`` (mol m-2 s-1) averaged over the layers, ``emission_std`` (its standard error from the
        day-to-day spread; NaN with fewer than two valid layers), ``count`` of valid layers, ``flux_divergence``
        and ``sink`` (mol m-2 s-1, NO2, averaged), all lazy on dask input, with the CRS; the coordinate ``lifetime`` (h).

    Examples
    --------
    >>> from eoxr.no2 import ctm
    >>> from eoxr.no2.divergence import emissions
    >>> scene = ctm.scene(0, ctm.Grid(ny=24, nx=24), spinup_h=6)
    >>> out = emissions(scene, lifetime_h=float(scene.tau) / 3600)
    >>> out["emission"].attrs["units"], out["emission"].dims
    ('mol m-2 s-1', ('y', 'x'))
    """
    ds = _checked(ds, lifetime_h, days, nox_to_no2)
    column = ds["no2_column"]
    divergence = flux_divergence(column, ds["u"], ds["v"])
    tau_s = fit_lifetime(divergence, column) if lifetime_h == "fit" else lifetime_h * 3600.0
    sink = column / tau_s
    emission, emission_std, count = _average(nox_to_no2 * (divergence + sink), days)
    out = xr.Dataset({
        "emission": cf(emission, "mol m-2 s-1", "NOx emission (as NO2) by the flux divergence"),
        "emission_std": cf(emission_std, "mol m-2 s-1", "standard error of the emission from the day-to-day spread"),
        "count": cf(count, "1", "valid layers averaged"),
        "flux_divergence": cf(_average(divergence, days)[0], "mol m-2 s-1", "divergence of the NO2 flux"),
        "sink": cf(_average(sink, days)[0], "mol m-2 s-1", "NO2 removed by chemistry (V / tau)"),
    }).assign_coords(lifetime=cf(xr.DataArray(tau_s) / 3600.0, "h", "NOx lifetime"))
    out = georeference(out, like=column)
    return stamp(out, "no2.divergence.emissions", made_from=[ds], lifetime_h=lifetime_h, days=days,
                 nox_to_no2=nox_to_no2)


def cell_areas(like: xr.DataArray) -> xr.DataArray:
    """Area (m2) of each cell of ``like``'s grid, from the spacing of its eastward and northward positions."""
    east, north = positions(like)
    east, north = xr.broadcast(east, north)
    width = np.abs(np.gradient(east.transpose("y", "x").values, axis=1))
    height = np.abs(np.gradient(north.transpose("y", "x").values, axis=0))
    return xr.DataArray(width * height, coords={"y": like["y"], "x": like["x"]}, dims=("y", "x"))


def _peaks(emission: np.ndarray, threshold: float, radius_cells: int) -> list[tuple[int, int]]:
    """(row, col) of the local maxima of ``emission`` above ``threshold``, strongest first."""
    from scipy import ndimage

    filled = np.where(np.isfinite(emission), emission, -np.inf)
    top = ndimage.maximum_filter(filled, size=2 * radius_cells + 1, mode="nearest")
    rows, cols = np.nonzero((filled == top) & (filled > threshold))
    order = np.argsort(-filled[rows, cols])
    return [(int(rows[i]), int(cols[i])) for i in order]


def owned_cells(like: xr.DataArray, peaks: list[tuple[int, int]], radius_km: float) -> np.ndarray:
    """(source, y, x) masks of the cells within ``radius_km`` of each peak (row, col) of ``like``'s grid that
    are nearer to it than to any other peak."""
    east, north = (a.transpose("y", "x").values for a in xr.broadcast(*positions(like)))
    if not peaks:
        return np.zeros((0, *east.shape), dtype=bool)
    distance = np.stack([np.hypot(east - east[p], north - north[p]) for p in peaks])
    nearest = distance.argmin(axis=0)
    return np.stack([(distance[k] <= radius_km * 1e3) & (nearest == k) for k in range(len(peaks))])


def _lonlat(em: xr.Dataset, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    crs = _crs(em["emission"])
    if crs is None:
        return np.full(x.shape, np.nan), np.full(y.shape, np.nan)
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


def sources(em: xr.Dataset, *, threshold: float, radius_km: float = 15.0) -> xr.Dataset:
    """Point and area sources of an emission map: its local maxima above ``threshold``, each with the emission
    integrated over the cells within ``radius_km`` that are nearer to it than to any other source.

    Computes ``em`` (the table's length depends on the data).

    Parameters
    ----------
    em : xarray.Dataset
        ``emission`` (mol m-2 s-1) and optionally ``emission_std``, as :func:`emissions` returns them.
    threshold : float
        Smallest emission (mol m-2 s-1) of a source's peak cell.
    radius_km : float
        Radius of the disk integrated around each peak; also the smallest distance between two peaks.

    Returns
    -------
    xarray.Dataset
        Along ``source`` (0, 1, ... strongest first): ``emission`` and ``emission_std`` (kg s-1 of NOx as NO2;
        the std assumes independent cells), ``cells`` integrated, ``y``, ``x`` (the grid's CRS) and ``lat``,
        ``lon`` of the peak.

    Examples
    --------
    >>> from eoxr.no2 import ctm
    >>> from eoxr.no2.divergence import emissions, sources
    >>> scene = ctm.scene(0, ctm.Grid(ny=24, nx=24), spinup_h=6)
    >>> table = sources(emissions(scene, lifetime_h=4.0), threshold=1e-7)
    >>> table["emission"].attrs["units"], table["emission"].dims
    ('kg s-1', ('source',))
    """
    require(em, ("emission",), "source detection")
    if not (np.isfinite(threshold) and radius_km > 0):
        raise ParameterError(f"threshold={threshold} and radius_km={radius_km}: give a finite threshold "
                             "(mol m-2 s-1) and a positive radius")
    emission = em["emission"].transpose("y", "x")
    values = emission.values
    std = em["emission_std"].transpose("y", "x").values if "emission_std" in em else np.full(values.shape, np.nan)
    area = cell_areas(emission).values
    radius_cells = max(1, int(round(radius_km * 1e3 / np.sqrt(np.nanmedian(area)))))
    peaks = _peaks(values, threshold, radius_cells)
    table = {"emission": [], "emission_std": [], "cells": []}
    for owned in owned_cells(emission, peaks, radius_km):
        mine = owned & np.isfinite(values)
        table["emission"].append(float((values * area)[mine].sum()) * NO2_MOLAR_MASS)
        table["emission_std"].append(float(np.sqrt(((std * area)[mine] ** 2).sum())) * NO2_MOLAR_MASS)
        table["cells"].append(int(mine.sum()))
    x = np.array([float(emission.x[c]) for _, c in peaks])
    y = np.array([float(emission.y[r]) for r, _ in peaks])
    lon, lat = _lonlat(em, x, y)
    out = xr.Dataset({
        "emission": cf(xr.DataArray(table["emission"], dims="source"), "kg s-1", "NOx emission (as NO2) of the source"),
        "emission_std": cf(xr.DataArray(table["emission_std"], dims="source"), "kg s-1",
                           "standard error of the source's emission"),
        "cells": cf(xr.DataArray(np.array(table["cells"], dtype="i4"), dims="source"), "1", "cells integrated"),
    }, coords={"source": np.arange(len(peaks)), "y": ("source", y), "x": ("source", x),
               "lat": ("source", np.asarray(lat, dtype="f8")), "lon": ("source", np.asarray(lon, dtype="f8"))})
    return stamp(out, "no2.divergence.sources", made_from=[em], threshold=threshold, radius_km=radius_km)
