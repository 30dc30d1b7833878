"""Physical fusion: every sensor on the pivot grid and daily axis, harmonised, fused in time pixel by pixel.

Steps, each a function of this module:

1. :func:`on_pivot_days`: a sensor's cube reprojected to the pivot grid (:mod:`eoxr.pivot.regrid`; a coarse
   sensor through a grid of its own resolution, then bilinear) and averaged per pivot day;
2. :func:`adjusted`: band adjustment to the Sentinel-2 MSI reference. Landsat OLI by the inverse of the HLS
   MSI -> OLI bandpass adjustment (Claverie et al. 2018, doi:10.1016/j.rse.2018.09.002, S2A coefficients of the
   HLS v1.4 guide); MODIS is left as it is: a constant difference between MODIS and the fine sensors is part of
   the fine residual of step 4, which the fine sensors observe;
3. :func:`combined`: the fine sensors' observations of a day merged by inverse-variance weighting (each
   sensor's noise from :data:`eoxr.pivot.sensors.SENSORS`), the exact Kalman update for several observations
   of one step;
4. :func:`fuse_pixels`: per pixel and band, a Kalman filter + RTS smoother (:mod:`eoxr.pivot.kalman`). With a
   coarse daily sensor, the reflectance is split as STARFM does (Gao et al. 2006,
   doi:10.1109/TGRS.2006.872081): a coarse-scale part ``c(t)``, the smoothed coarse series, and a fine residual
   ``f(t) - c(t)`` that the fine sensors observe and that changes slowly, so the coarse sensor carries the daily
   change and the fine sensors the detail; the residual's variance grows by its process variance per day away
   from the last fine clear observation. Without a coarse sensor the fine series is smoothed alone.
   A linear series is reproduced between observations (the smoothed mean of a random walk between two
   observations is the straight line between them);
5. :func:`backscatter_smoothed`: Sentinel-1 sigma0 smoothed in time (speckle as the observation noise).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ParameterError
from . import kalman, regrid
from .sensors import PIVOT_BANDS, SENSORS

#: the role of each sensor key in the fusion
FINE, COARSE, RADAR = ("s2", "landsat"), ("modis",), ("s1",)

#: OLI -> MSI: msi = (oli - offset) / slope, with HLS's MSI(S2A) -> OLI (slope, offset) per pivot band
_HLS_MSI_TO_OLI = {"blue": (0.9778, -0.004), "green": (1.0053, -0.0009), "red": (0.9765, 0.0009),
                   "nir": (0.9983, -0.0001), "swir1": (0.9987, -0.0011), "swir2": (1.003, -0.0012)}

#: standard deviations of the random walks, reflectance per day: the fine series alone (the land surface's
#: day-to-day change: a crop's green-up moves NIR by ~0.01 per day), the coarse series, and the fine residual
#: (the part of the change that the coarse sensor does not see: slow)
PROCESS_STD = {"fine": 0.01, "coarse": 0.01, "residual": 0.003}
#: standard deviation of the fine residual where no fine sensor has seen a pixel yet (sub-coarse-pixel contrast)
RESIDUAL_PRIOR_STD = 0.05
#: relative day-to-day change of sigma0 (a random walk of 5 % per day)
BACKSCATTER_PROCESS_REL = 0.05
#: a floor of the observation variance, so that exact observations can be weighted
_MIN_VARIANCE = 1e-12


def on_pivot_days(cube: xr.Dataset, sensor: str, grid, days, names, chunks: dict | None = None) -> xr.DataArray:
    """The variables ``names`` of ``cube`` as one (time, band, y, x) array on the pivot ``grid`` and ``days``.

    Clouded pixels (the optional boolean ``cloud``) are NaN. A fine sensor is reprojected straight to the
    grid; a coarse one (:data:`COARSE`) through a grid of its own pixel size in the pivot's CRS, then bilinear. Dask cubes stay
    lazy, in spatial tiles of ``chunks`` on the pivot grid.
    """
    crs = regrid.crs_of(cube, sensor)
    native = regrid.pixel_size_m(cube, crs)
    stack = xr.concat([cube[n] for n in names], dim="band").assign_coords(band=list(names))
    if "cloud" in cube:
        stack = stack.where(~cube["cloud"].astype(bool))
    stack = stack.transpose("time", "band", "y", "x")
    target = grid.resolution.x
    if sensor in COARSE and native > 2 * abs(target):
        stack = regrid.upsample(regrid.reproject(stack, regrid.coarse_grid(grid, native), "average"), grid, chunks)
    else:
        stack = regrid.reproject(stack, grid, regrid.resampling_to(native, abs(target)), chunks)
    return daily(stack, days)


def daily(stack: xr.DataArray, days) -> xr.DataArray:
    """``stack`` averaged per pivot day (observations of one day merged) on exactly the pivot ``days``."""
    step = days[1] - days[0] if len(days) > 1 else np.timedelta64(1, "D")
    day = stack["time"].dt.floor(_freq(step))
    binned = stack.assign_coords(time=day)
    if day.to_index().has_duplicates:  # several observations of a day: their mean (one task per day)
        binned = binned.groupby("time").mean()
    return binned.reindex(time=days)


def _freq(step) -> str:
    return f"{int(np.timedelta64(step, 's').astype(int))}s"


def adjusted(stack: xr.DataArray, sensor: str) -> xr.DataArray:
    """``stack``'s bands adjusted to the Sentinel-2 MSI reference (Landsat OLI; others pass)."""
    if sensor != "landsat":
        return stack
    slope = xr.DataArray([_HLS_MSI_TO_OLI[b][0] for b in stack.band.values], dims="band",
                         coords={"band": stack.band})
    offset = xr.DataArray([_HLS_MSI_TO_OLI[b][1] for b in stack.band.values], dims="band",
                          coords={"band": stack.band})
    return (stack - offset) / slope


def noise_variance(sensor: str, bands, obs_std: dict | None = None) -> xr.DataArray:
    """Observation variance per band of ``sensor``: ``obs_std[sensor]`` (a number or a per-band dict) where
    given, else the sensor model's noise (:data:`eoxr.pivot.sensors.SENSORS`)."""
    given = (obs_std or {}).get(sensor)
    if given is None:
        std = [SENSORS[sensor].noise_std[b] for b in bands]
    elif isinstance(given, dict):
        std = [given[b] for b in bands]
    else:
        std = [float(given)] * len(bands)
    if not all(np.isfinite(s) and s >= 0 for s in std):
        raise ParameterError(f"obs_std of {sensor!r} must be >= 0 per band, not {std}")
    return xr.DataArray(np.square(std), dims="band", coords={"band": list(bands)})


def combined(observations: list[tuple[xr.DataArray, xr.DataArray]]) -> tuple[xr.DataArray, xr.DataArray]:
    """Inverse-variance mean and variance of several (value, variance) observations of the same days (NaN where
    no observation)."""
    num = den = 0
    for value, variance in observations:
        weight = xr.where(value.notnull(), 1.0 / np.maximum(variance, _MIN_VARIANCE), 0.0)
        num = num + weight * value.fillna(0.0)
        den = den + weight
    den = den.where(den > 0)  # NaN, not a division by zero, where no sensor observed
    return num / den, 1.0 / den


def fuse_pixels(y_fine, r_fine, y_coarse=None, r_coarse=None, *, step_days: float = 1.0):
    """Smoothed reflectance mean and variance of every series (..., time) of a block (numpy).

    ``y_fine``/``r_fine``: the fine observations and their variances (NaN: none); ``y_coarse``/``r_coarse``: the
    coarse daily sensor's, upsampled to the fine grid, or None. Series without any observation are NaN.
    """
    q = {k: v * v * step_days for k, v in PROCESS_STD.items()}
    r_fine = np.where(np.isfinite(y_fine), r_fine, np.inf)
    if y_coarse is None:
        mean, var = kalman.smooth(y_fine, r_fine, q["fine"])
        seen = np.isfinite(y_fine).any(axis=-1, keepdims=True)
    else:
        coarse, p_coarse = kalman.smooth(y_coarse, r_coarse, q["coarse"])
        residual, p_residual = kalman.smooth(y_fine - coarse, r_fine + p_coarse, q["residual"],
                                             prior_var=RESIDUAL_PRIOR_STD ** 2)
        mean, var = coarse + residual, p_coarse + p_residual
        has_coarse = np.isfinite(y_coarse).any(axis=-1)
        if not has_coarse.all():  # pixels the coarse sensor never saw: the fine series alone
            mean[~has_coarse], var[~has_coarse] = kalman.smooth(y_fine[~has_coarse], r_fine[~has_coarse], q["fine"])
        seen = (has_coarse | np.isfinite(y_fine).any(axis=-1))[..., None]
    return (np.where(seen, mean, np.nan).astype("f4"), np.where(seen, var, np.nan).astype("f4"))


def smooth_backscatter_pixels(y, looks: float, step_days: float = 1.0):
    """Smoothed sigma0 of every series (..., time) of a block: a random walk of :data:`BACKSCATTER_PROCESS_REL`
    of the series' mean per day, observed with speckle of ``looks`` looks (variance ``mean**2 / looks``)."""
    with np.errstate(invalid="ignore"):
        level = np.nanmean(np.where(np.isfinite(y), y, np.nan), axis=-1)
    level = np.where(np.isfinite(level), level, 0.0)
    r = (level ** 2 / looks)[..., None]
    q = (BACKSCATTER_PROCESS_REL * level) ** 2 * step_days
    return kalman.smooth_observed(y, r, q)[0].astype("f4")


def fine_bands(cubes: dict[str, xr.Dataset]) -> list[str]:
    """The pivot bands any optical sensor gives, in pivot order."""
    have = {b for s, c in cubes.items() if s not in RADAR for b in PIVOT_BANDS if b in c.data_vars}
    return [b for b in PIVOT_BANDS if b in have]
