"""``eoxr.pivot.fuse``: several sensors' cubes -> one daily pivot dataset on a grid of the asked resolution.

The public function reads as its steps: :func:`_standardised` (sensor keys and band names), :func:`_checked`
(a common CRS, overlap in time and space, a clear observation per sensor), the pivot grid and days, then the
method (:mod:`eoxr.pivot.physical`), then the derived variables and attributes (:mod:`eoxr.pivot.derived`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from odc.geo import CRS

from ..arrays import is_lazy
from ..attrs import stamp
from ..errors import CRSError, NoDataError, ParameterError
from . import derived, kalman, physical, regrid
from .sensors import SENSORS, standardise

METHODS = ("physical", "learned", "hybrid")
#: spatial chunks of the output (the time axis is one chunk: the smoother runs along it)
DEFAULT_CHUNKS = {"y": 128, "x": 128}


def fuse(cubes: dict[str, xr.Dataset], resolution: float = 10, freq: str = "1D", method: str = "physical",
         crs=None, time=None, *, chunks: dict | None = None, obs_std: dict | None = None, model=None,
         device: str = "auto") -> xr.Dataset:
    """Fuse several sensors' cubes into the pivot representation: daily variables on one grid.

    Parameters
    ----------
    cubes : dict of str to xarray.Dataset
        Sensor key (``"s2"``, ``"landsat"``, ``"modis"``, ``"s1"``) -> that sensor's cube on its own grid
        (``time``, ``y``, ``x``, a rioxarray CRS), as ``eoxr.io.load`` or ``synth.observe`` give it: optical
        bands as reflectance (NaN where cloudy; optional boolean ``cloud``), S1 ``vv``/``vh`` linear sigma0.
        Native band names (``B04``, ``SR_B4``, ``sur_refl_b01``, ...) are renamed by
        :func:`eoxr.pivot.sensors.standardise`.
    resolution : float
        Pivot cell size in the CRS's units (metres).
    freq : str
        Step of the time axis (pandas frequency, default daily).
    method : {"physical", "learned", "hybrid"}
        Physical: sensor models, reprojection, band adjustment and a Kalman smoother per pixel
        (:mod:`eoxr.pivot.physical`). Learned and hybrid: :mod:`eoxr.pivot.learned`.
    crs : optional
        CRS of the pivot grid; required when the cubes are in different CRSs (default: theirs).
    time : (start, end), optional
        Period of the time axis (default: from the first to the last observation of any sensor).
    chunks : dict, optional
        Spatial chunks of the output, e.g. ``{"y": 128, "x": 128}`` (the default).
    obs_std : dict, optional
        Observation noise per sensor (a number or a dict per band; reflectance) replacing the sensor model's.
    model : str or path, optional
        Learned and hybrid: the network's checkpoint (:func:`eoxr.pivot.learned.learned_fuse`; default the shipped
        one). Hybrid needs a network trained with the physical fusion as input.
    device : str
        Learned and hybrid: ``"auto"`` (CUDA where the worker has it), ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    xarray.Dataset
        Lazy: ``reflectance``, ``reflectance_std`` (time, band, y, x), ``ndvi``, ``ndvi_std``, ``lai``,
        ``days_since_clear`` (time, y, x) and, with S1, ``backscatter`` (time, polarization, y, x) and
        ``soil_moisture``; CF attributes, the CRS and the method's provenance.

    Raises
    ------
    ParameterError
        An unknown sensor key or method, a bad resolution or period.
    MissingVariableError
        A cube without any of its sensor's bands.
    CRSError
        Cubes in different CRSs and no ``crs``.
    GridError, NoDataError
        No overlap in space or time; a sensor without any clear observation.
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {METHODS}, not {method!r}")
    if method != "physical":
        return _learned(cubes, method, resolution, freq, crs, time, chunks, obs_std, model, device)
    cubes = _standardised(cubes)
    crs = _common_crs(cubes, crs)
    days = _days(cubes, freq, time)
    _check_clear(cubes, days)
    grid = regrid.pivot_grid(cubes, crs, resolution)
    chunks = {**DEFAULT_CHUNKS, **(chunks or {})}
    out = _physical(cubes, grid, days, chunks, obs_std)
    out = derived.finished(out, grid)
    return stamp(out, "pivot.fuse[physical]", made_from=list(cubes.values()), sensors=sorted(cubes),
                 resolution=resolution, freq=freq, crs=_crs_name(crs), time=[str(days[0]), str(days[-1])])


def _learned(cubes, method, resolution, freq, crs, time, chunks, obs_std, model, device) -> xr.Dataset:
    """The learned fusion (:mod:`eoxr.pivot.learned`, imports torch at use); hybrid feeds it the physical one."""
    from . import learned

    if freq != "1D":
        raise ParameterError(f"the learned fusion is daily: freq={freq!r} is for method='physical' only")
    cubes = _standardised(cubes)
    physical = None
    if method == "hybrid":
        physical = fuse(cubes, resolution, freq, "physical", crs, time, chunks=chunks, obs_std=obs_std)
        time = (str(physical.time.values[0]), str(physical.time.values[-1]))
    return learned.learned_fuse(cubes, resolution=resolution, crs=crs, time=time, model=model, physical=physical,
                                device=device)


def _crs_name(crs) -> str:
    return f"EPSG:{crs.epsg}" if crs.epsg else crs.to_wkt()


def _standardised(cubes) -> dict[str, xr.Dataset]:
    if not isinstance(cubes, dict) or not cubes:
        raise ParameterError("cubes must be a dict of sensor key -> cube, e.g. {'s2': s2, 'modis': modis}; "
                             f"got {type(cubes).__name__}")
    unknown = sorted(set(cubes) - set(SENSORS))
    if unknown:
        raise ParameterError(f"unknown sensor key(s) {unknown}: the keys are {sorted(SENSORS)}")
    if not set(cubes) - set(physical.RADAR):
        raise ParameterError("the pivot needs an optical sensor (s2, landsat or modis) beside s1")
    return {sensor: standardise(cube, sensor) for sensor, cube in cubes.items()}


def _common_crs(cubes: dict[str, xr.Dataset], crs):
    found = {sensor: regrid.crs_of(cube, sensor) for sensor, cube in cubes.items()}
    if crs is not None:
        return CRS(crs)  # odc-geo's: EPSG codes, WKT, pyproj and rasterio CRSs
    distinct = {str(c) for c in found.values()}
    if len(distinct) > 1:
        listed = ", ".join(f"{s}: {_crs_name(c)}" for s, c in found.items())
        raise CRSError(f"the cubes are in different CRSs ({listed}): pass the pivot's CRS, e.g. "
                       f"crs={_crs_name(next(iter(found.values())))!r}")
    return next(iter(found.values()))


def _days(cubes: dict[str, xr.Dataset], freq: str, time) -> pd.DatetimeIndex:
    """The pivot's time axis: ``time`` (start, end) or the first to the last observation; sensors must share
    some of it."""
    spans = {s: (pd.Timestamp(c.time.values.min()), pd.Timestamp(c.time.values.max())) for s, c in cubes.items()
             if c.sizes.get("time", 0)}
    empty = sorted(set(cubes) - set(spans))
    if empty:
        raise ParameterError(f"cube(s) {empty} have no time step: drop them from cubes or load a period")
    first, last = max(s for s, _ in spans.values()), min(e for _, e in spans.values())
    if first > last:
        listed = ", ".join(f"{s}: {a:%Y-%m-%d} to {b:%Y-%m-%d}" for s, (a, b) in spans.items())
        raise ParameterError(f"the sensors share no period ({listed}): load them over a common period")
    start, end = (min(s for s, _ in spans.values()), max(e for _, e in spans.values())) if time is None else \
        (pd.Timestamp(time[0]), pd.Timestamp(time[1]))
    try:
        days = pd.date_range(start.floor(freq), end, freq=freq)
    except ValueError as err:
        raise ParameterError(f"freq={freq!r} is no fixed pandas frequency ('1D', '2D', '12h'): {err}") from None
    outside = [s for s, (a, b) in spans.items() if b < days[0] or a > days[-1] + pd.Timedelta(freq)]
    if len(days) < 1 or outside:
        raise ParameterError(f"sensor(s) {outside} have no observation in {start:%Y-%m-%d} to {end:%Y-%m-%d}: "
                             "widen time= or drop them")
    return days


def _check_clear(cubes: dict[str, xr.Dataset], days) -> None:
    """Every cube in memory has a clear (finite) value in the period; lazy cubes are not read for this."""
    for sensor, cube in cubes.items():
        names = ["vv", "vh"] if sensor in physical.RADAR else physical.fine_bands({sensor: cube})
        window = cube[names].sel(time=slice(days[0], days[-1] + (days[1] - days[0] if len(days) > 1 else
                                                                  pd.Timedelta("1D"))))
        if "cloud" in cube:
            window = window.where(~cube["cloud"].astype(bool))
        if any(is_lazy(window[n].data) for n in names):
            continue
        if not any(np.isfinite(window[n].values).any() for n in names):
            raise NoDataError(f"cube {sensor!r} has no clear observation in {days[0]:%Y-%m-%d} to "
                              f"{days[-1]:%Y-%m-%d} (every value NaN or clouded): drop it from cubes or load "
                              "a period it sees")


def _physical(cubes, grid, days, chunks, obs_std) -> xr.Dataset:
    """The physical method's variables, lazy, before the derived ones and attributes."""
    bands = physical.fine_bands(cubes)
    step_days = (days[1] - days[0]) / pd.Timedelta("1D") if len(days) > 1 else 1.0
    layout = {"time": -1, "band": 1, "y": chunks["y"], "x": chunks["x"]}
    fine, coarse = [], []
    for sensor, cube in cubes.items():
        if sensor in physical.RADAR:
            continue
        names = [b for b in bands if b in cube.data_vars]
        stack = physical.adjusted(physical.on_pivot_days(cube, sensor, grid, days, names, chunks), sensor)
        stack = stack.reindex(band=bands).chunk(layout)
        variance = physical.noise_variance(sensor, names, obs_std).reindex(band=bands)
        (coarse if sensor in physical.COARSE else fine).append((stack, variance))
    y_fine, r_fine = physical.combined(fine) if fine else (xr.full_like(coarse[0][0], np.nan), coarse[0][1])
    inputs = [y_fine, r_fine.broadcast_like(y_fine).chunk(layout)]
    if coarse:
        y_coarse, r_coarse = physical.combined(coarse)
        inputs += [y_coarse, r_coarse.broadcast_like(y_coarse).chunk(layout)]
    mean, var = xr.apply_ufunc(physical.fuse_pixels, *inputs, input_core_dims=[["time"]] * len(inputs),
                               output_core_dims=[["time"], ["time"]], dask="parallelized",
                               output_dtypes=["f4", "f4"], kwargs={"step_days": step_days})
    seen = y_fine.notnull().any("band")
    since = xr.apply_ufunc(kalman.days_since, seen, input_core_dims=[["time"]],
                           output_core_dims=[["time"]], dask="parallelized", output_dtypes=["f8"],
                           kwargs={"step_days": step_days})
    out = xr.Dataset({"reflectance": mean.transpose("time", "band", "y", "x"),
                      "reflectance_std": np.sqrt(var).transpose("time", "band", "y", "x"),
                      "days_since_clear": since.transpose("time", "y", "x").astype("f4")})
    if "s1" in cubes:
        out["backscatter"] = _backscatter(cubes["s1"], grid, days, chunks, step_days)
    return out


def _backscatter(cube, grid, days, chunks, step_days) -> xr.DataArray:
    names = [p for p in ("vv", "vh") if p in cube.data_vars]
    stack = physical.on_pivot_days(cube, "s1", grid, days, names, chunks)
    stack = stack.chunk({"time": -1, "band": 1, "y": chunks["y"], "x": chunks["x"]})
    smoothed = xr.apply_ufunc(physical.smooth_backscatter_pixels, stack, input_core_dims=[["time"]],
                              output_core_dims=[["time"]], dask="parallelized", output_dtypes=["f4"],
                              kwargs={"looks": SENSORS["s1"].looks, "step_days": step_days})
    smoothed = smoothed.rename(band="polarization").assign_coords(polarization=[n.upper() for n in names])
    return smoothed.transpose("time", "polarization", "y", "x")
