"""Daily gap-filling of any series with uncertainty: the Kalman smoother of :mod:`eoxr.pivot.kalman` per pixel."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import cf, georeference, stamp
from ..errors import MissingVariableError, ParameterError
from . import kalman
from .physical import daily


def gapfill(obj: xr.DataArray | xr.Dataset, freq: str = "1D", *, obs_std: float = 0.01, process_std: float = 0.01,
            time=None) -> xr.Dataset:
    """Fill the gaps of time series on a regular axis, with the standard deviation of each filled value.

    Each pixel's series is a random walk of ``process_std`` per day observed with noise ``obs_std``; the
    Kalman filter + RTS smoother gives its mean and standard deviation on every step of the axis (exactly the
    observations' straight line between two noise-free observations; the standard deviation grows away from
    the observations).

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        Series on ``time`` (any other dims: pixels, bands); NaN where missing. Of a Dataset, every
        floating-point variable with a ``time`` dimension (a boolean ``cloud`` flag is left out).
    freq : str
        Step of the output time axis (pandas frequency).
    obs_std, process_std : float
        Observation noise, and day-to-day change, in the data's units (defaults fit reflectance and NDVI).
    time : (start, end), optional
        Period of the output axis (default: the first to the last observation's day).

    Returns
    -------
    xarray.Dataset
        ``<name>`` and ``<name>_std`` per series, on the regular axis, with the input's CRS (lazy on dask
        input).

    Examples
    --------
    >>> from eoxr.pivot import synth
    >>> truth, cubes = synth.scene(seed=0, size=32, days=20)
    >>> filled = cubes["s2"][["red", "nir"]].pivot.gapfill(obs_std=0.01, process_std=0.01)
    >>> sorted(filled.data_vars)
    ['nir', 'nir_std', 'red', 'red_std']
    >>> bool(filled["red"].notnull().all()), filled["red_std"].attrs["units"]
    (True, '1')
    """
    if not (obs_std >= 0 and process_std > 0):
        raise ParameterError(f"obs_std must be >= 0 and process_std > 0, not {obs_std!r} and {process_std!r}")
    ds = obj.to_dataset(name=obj.name or "value") if isinstance(obj, xr.DataArray) else obj
    names = [n for n in ds.data_vars if "time" in ds[n].dims and np.issubdtype(ds[n].dtype, np.floating)]
    if not names:
        raise MissingVariableError(f"no floating-point variable with a time dimension to gap-fill in "
                                   f"{sorted(map(str, ds.data_vars))} (dims {dict(ds.sizes)})")
    start, end = (ds.time.values.min(), ds.time.values.max()) if time is None else time
    days = pd.date_range(pd.Timestamp(start).floor(freq), pd.Timestamp(end), freq=freq)
    step_days = pd.Timedelta(freq) / pd.Timedelta("1D")
    out = xr.Dataset()
    for name in names:
        series = daily(ds[name].astype("f8"), days)
        if series.chunks:
            series = series.chunk({"time": -1})
        mean, var = xr.apply_ufunc(kalman.smooth_observed, series, input_core_dims=[["time"]],
                                   output_core_dims=[["time"], ["time"]], dask="parallelized",
                                   output_dtypes=["f8", "f8"],
                                   kwargs={"r": obs_std ** 2, "q": process_std ** 2 * step_days})
        units, long_name = ds[name].attrs.get("units", "1"), ds[name].attrs.get("long_name", name)
        out[name] = cf(mean.transpose(*series.dims), units, f"{long_name}, gap-filled")
        out[f"{name}_std"] = cf(np.sqrt(var).transpose(*series.dims), units, f"standard deviation of the {long_name}")
    return stamp(georeference(out, like=ds), "pivot.gapfill", made_from=[ds], freq=freq, obs_std=obs_std, process_std=process_std)
