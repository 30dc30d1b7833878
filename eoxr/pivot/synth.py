"""A synthetic agricultural landscape with known daily truth at 10 m, and what each sensor would observe of it.

:func:`landscape` makes the truth (every field changes with the seed):

- parcels: a Voronoi tessellation of seeded points (mean parcel about 4 ha), each with a land-cover class of
  :data:`CLASSES` (water, urban, forest, grassland, wheat, maize, bare);
- leaf area index: a double-logistic season per class (Beck et al. 2006, doi:10.1016/j.rse.2005.10.021),
  jittered per parcel (start and end of season, peak LAI), so that parcels of one class differ;
- soil moisture of the top 5 cm: a daily bucket model driven by seeded rain events (daily occurrence and
  exponential amounts, wetter in winter), losing water to drainage above field capacity and to evaporation
  (seasonal, limited by the moisture above the wilting point), with a field capacity that varies in space;
- surface reflectance of the pivot bands as Sentinel-2 (the pivot's reference) sees it, from
  :func:`eoxr.pivot.sensors.canopy_reflectance` (urban and water parcels over their own spectra), NDVI, and
  C-band backscatter from the water-cloud model;
- clouds: one weather for every optical sensor. A daily cloud cover follows an autocorrelated (AR(1)) series of
  mean between 50 and 70 % (the seed draws it), and the cloud mask is a smooth Gaussian random field above
  the quantile that gives that day's cover.

:func:`observe` samples the truth as one sensor of :data:`eoxr.pivot.sensors.SENSORS` does: only on its
revisit days (a seeded phase), at its overpass time; optical bands through its own spectral responses
(:data:`eoxr.pivot.sensors.ENDMEMBERS`), averaged over each native pixel (the detector), blurred by the
Gaussian PSF on the native grid (the optics), with Gaussian noise, NaN where the cloud covers more than
:data:`CLOUD_FLAG_FRACTION` of a pixel (also flagged in ``cloud``); Sentinel-1 with multiplicative speckle.
:func:`scene` makes a truth and every sensor's cube.

Large fields stay lazy: ``reflectance``, ``ndvi`` and ``backscatter`` of the truth are dask arrays computed
from ``lai`` and ``soil_moisture`` on demand, a few days at a time.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree
from scipy.special import ndtri

from ..attrs import cf, georeference, stamp
from ..errors import ParameterError, ReadError
from . import sensors
from .sensors import PIVOT_BANDS, POLARIZATIONS, SENSORS

CRS = "EPSG:32631"
ORIGIN = (600_000.0, 4_800_000.0)  # upper-left corner (m), UTM 31N (south-west France)
CLOUD_FLAG_FRACTION = 0.25  # a pixel is flagged cloudy when clouds cover more than this fraction of it
TIME_CHUNK = 16  # days per chunk of the truth's lazy fields
CLOUD_COARSENING = 4  # cloud fields are drawn with this many cells per smoothing length, then interpolated


@dataclass(frozen=True)
class Phenology:
    """Double-logistic LAI season of a class: LAI from ``lai_min`` to ``lai_max``, rising around day of year
    ``sos`` at rate ``rate_up`` (per day), falling around ``eos`` at ``rate_down``."""

    lai_min: float
    lai_max: float
    sos: float
    eos: float
    rate_up: float
    rate_down: float


# class: (phenology, share of the parcels)
CLASSES = {
    "water": (Phenology(0.0, 0.0, 100, 250, 0.05, 0.05), 0.04),
    "urban": (Phenology(0.2, 0.6, 110, 290, 0.08, 0.06), 0.08),
    "forest": (Phenology(1.0, 5.0, 115, 285, 0.10, 0.07), 0.18),
    "grassland": (Phenology(0.8, 2.8, 85, 300, 0.06, 0.05), 0.20),
    "wheat": (Phenology(0.3, 5.5, 70, 180, 0.08, 0.15), 0.22),
    "maize": (Phenology(0.05, 5.0, 165, 255, 0.10, 0.10), 0.20),
    "bare": (Phenology(0.0, 0.2, 100, 250, 0.05, 0.05), 0.08),
}
CLASS_NAMES = tuple(CLASSES)
PARCEL_AREA_M2 = 40_000.0
# Backscatter (dB; VV, VH) of calm open water (specular) and of buildings (double bounce).
WATER_DB = np.array([-22.0, -28.0])
URBAN_DB = np.array([-5.0, -12.0])
# Bucket model of the top soil (m3 m-3 and mm)
WILTING_POINT = 0.08
LAYER_MM = 50.0
DRAINAGE = 0.5  # share of the water above field capacity drained per day
SPINUP_DAYS = 60


# ----------------------------------------------------------------------------------------------- landscape
def landscape(seed: int = 0, size: int = 256, resolution: float = 10.0, start: str = "2021-01-01",
              days: int = 365) -> xr.Dataset:
    """The daily truth of a synthetic landscape of ``size`` x ``size`` cells of ``resolution`` m.

    Returns
    -------
    xarray.Dataset
        ``land_cover`` (y, x; class index, CF ``flag_values`` / ``flag_meanings``), ``parcel`` (y, x),
        ``lai`` (time, y, x; m2 m-2), ``soil_moisture`` (time, y, x; m3 m-3), ``rain`` (time; mm d-1),
        ``cloud`` (time, y, x; bool) and ``cloud_cover`` (time; 1), and lazily ``reflectance``
        (time, band, y, x; 1), ``ndvi`` (time, y, x; 1) and ``backscatter`` (time, polarization, y, x; linear
        sigma0, 1). Daily ``time`` from ``start``; CRS :data:`CRS`, float32.
    """
    _check_size(size, resolution, days)
    rng = np.random.default_rng(seed)
    time = pd.date_range(start, periods=days, freq="D")
    parcel, cls, seasons = _parcels(size, resolution, rng)
    lai = _lai(time.dayofyear.values, seasons, parcel)
    rain = _rain(time.dayofyear.values, rng)
    moisture = _soil_moisture(rain, time.dayofyear.values, _field_capacity(size, resolution, rng), rng)
    moisture[:, cls == CLASS_NAMES.index("water")] = sensors.POROSITY
    cover = _cloud_cover(days, rng)
    cloud = _cloud_mask(cover, size, resolution, rng)
    # georeferenced before the data go in: rioxarray copies what it writes the CRS on
    ds = georeference(xr.Dataset(coords=_grid_coords(size, resolution) | {"time": time}), CRS)
    ds["land_cover"] = cf(xr.DataArray(cls.astype("u1"), dims=("y", "x")), "1", "land cover class",
                          flag_values=np.arange(len(CLASS_NAMES), dtype="u1"), flag_meanings=" ".join(CLASS_NAMES))
    ds["parcel"] = cf(xr.DataArray(parcel.astype("i4"), dims=("y", "x")), "1", "parcel number")
    ds["lai"] = cf(xr.DataArray(lai, dims=("time", "y", "x")), "m2 m-2", "leaf area index",
                   standard_name="leaf_area_index")
    ds["soil_moisture"] = cf(xr.DataArray(moisture, dims=("time", "y", "x")), "m3 m-3",
                             "volumetric soil moisture of the top 5 cm")
    ds["rain"] = cf(xr.DataArray(rain[SPINUP_DAYS:].astype("f4"), dims=("time",)), "mm d-1", "daily rain")
    ds["cloud"] = cf(xr.DataArray(cloud, dims=("time", "y", "x")), "1", "cloud mask (true: cloudy)")
    ds["cloud_cover"] = cf(xr.DataArray(cover.astype("f4"), dims=("time",)), "1", "cloud cover of the day")
    ds = _add_lazy_fields(ds)
    return stamp(ds, "pivot.synth.landscape", seed=seed, size=size, resolution=resolution, start=str(start),
                 days=days)


def _check_size(size: int, resolution: float, days: int) -> None:
    if size < 8 or days < 1 or resolution <= 0:
        raise ParameterError(f"size={size}, resolution={resolution}, days={days}: a landscape needs size >= 8 "
                             "cells, a positive resolution (m) and days >= 1")


def _grid_coords(size: int, resolution: float) -> dict:
    """Pixel-centre ``y``/``x`` of the scene's grid, from :data:`ORIGIN`."""
    centres = resolution * (np.arange(size) + 0.5)
    return {"y": ORIGIN[1] - centres, "x": ORIGIN[0] + centres}


def _parcels(size: int, resolution: float, rng: np.random.Generator):
    """(parcel map, class map, per-parcel jittered phenology as arrays) of a seeded Voronoi tessellation."""
    n = max(4, int(round((size * resolution) ** 2 / PARCEL_AREA_M2)))
    points = rng.uniform(0, size, (n, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    _, parcel = cKDTree(points).query(np.column_stack([yy.ravel() + 0.5, xx.ravel() + 0.5]))
    parcel = parcel.reshape(size, size)
    shares = np.array([share for _, share in CLASSES.values()])
    kind = rng.choice(len(CLASSES), size=n, p=shares / shares.sum())
    table = np.array([[p.lai_min, p.lai_max, p.sos, p.eos, p.rate_up, p.rate_down] for p, _ in CLASSES.values()])
    seasons = table[kind]
    seasons[:, 1] *= rng.uniform(0.85, 1.15, n)  # peak LAI
    seasons[:, 2:4] += rng.normal(0.0, 6.0, (n, 2))  # start and end of season (days)
    return parcel, kind[parcel], seasons


def double_logistic(doy, lai_min, lai_max, sos, eos, rate_up, rate_down):
    """LAI on day of year ``doy``: ``min + (max - min) (1 / (1 + e^{-r_up (t - sos)}) - 1 / (1 + e^{-r_down
    (t - eos)}))`` (Beck et al. 2006), broadcasting."""
    rise = 1.0 / (1.0 + np.exp(-rate_up * (doy - sos)))
    fall = 1.0 / (1.0 + np.exp(-rate_down * (doy - eos)))
    return lai_min + (lai_max - lai_min) * (rise - fall)


def _lai(doy: np.ndarray, seasons: np.ndarray, parcel: np.ndarray) -> np.ndarray:
    """(time, y, x) float32 LAI: each parcel's season, looked up per pixel."""
    per_parcel = double_logistic(doy[:, None], *(seasons[:, i] for i in range(6)))  # (time, parcel)
    return np.clip(per_parcel, 0.0, None).astype("f4")[:, parcel]


def _rain(doy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Daily rain (mm) over spin-up + the days: wet days with a seasonal probability, exponential amounts."""
    days = np.concatenate([doy[:1] - np.arange(SPINUP_DAYS, 0, -1), doy])
    wet_chance = 0.28 + 0.10 * np.cos(2 * np.pi * (days - 15) / 365.25)
    return np.where(rng.uniform(size=days.size) < wet_chance, rng.exponential(7.0, days.size), 0.0)


def _field_capacity(size: int, resolution: float, rng: np.random.Generator) -> np.ndarray:
    """Soil field capacity (m3 m-3): a smooth field in 0.22-0.38 (soil texture varying over ~300 m)."""
    field = smooth_fields(rng.standard_normal((1, size, size)), 300.0 / resolution)[0]
    return (0.30 + 0.05 * np.clip(field, -1.6, 1.6)).astype("f4")


def _soil_moisture(rain: np.ndarray, doy: np.ndarray, capacity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(time, y, x) float32 top-soil moisture of the bucket model, after :data:`SPINUP_DAYS` of spin-up."""
    evaporation = 2.5 - 2.0 * np.cos(2 * np.pi * (np.concatenate([doy[:1] - np.arange(SPINUP_DAYS, 0, -1), doy])
                                                  - 15) / 365.25)  # mm d-1, highest in July
    theta = capacity * rng.uniform(0.6, 0.9)
    out = np.empty((doy.size,) + capacity.shape, "f4")
    for day, (wet, demand) in enumerate(zip(rain, evaporation)):
        theta = np.minimum(theta + wet / LAYER_MM, sensors.POROSITY)
        theta = theta - DRAINAGE * np.maximum(theta - capacity, 0.0)
        stress = np.clip((theta - WILTING_POINT) / (capacity - WILTING_POINT), 0.0, 1.0)
        theta = np.maximum(theta - demand / LAYER_MM * stress, WILTING_POINT / 2)
        if day >= SPINUP_DAYS:
            out[day - SPINUP_DAYS] = theta
    return out


def smooth_fields(noise: np.ndarray, sigma_px: float) -> np.ndarray:
    """Each (y, x) field of ``noise`` (n, y, x) blurred by a periodic Gaussian of ``sigma_px`` pixels (in
    Fourier space; at most a quarter of the field, so that it still varies across it), standardised to zero mean
    and unit variance."""
    sigma_px = min(sigma_px, min(noise.shape[-2:]) / 4)
    ky = np.fft.fftfreq(noise.shape[-2])[:, None]
    kx = np.fft.rfftfreq(noise.shape[-1])[None, :]
    gain = np.exp(-2.0 * (np.pi * sigma_px) ** 2 * (ky ** 2 + kx ** 2))
    out = np.fft.irfft2(np.fft.rfft2(noise) * gain, s=noise.shape[-2:])
    out -= out.mean(axis=(-2, -1), keepdims=True)
    return out / out.std(axis=(-2, -1), keepdims=True)


def _cloud_cover(days: int, rng: np.random.Generator) -> np.ndarray:
    """Daily cloud cover in [0, 1]: an AR(1) series (lag-1 correlation 0.6: weather lasts a few days) around a
    mean of 50-70 %, clipped (clear and overcast days both happen)."""
    mean = rng.uniform(0.5, 0.7)
    z = np.empty(days)
    z[0] = rng.standard_normal()
    shocks = rng.standard_normal(days) * math.sqrt(1 - 0.6 ** 2)
    for t in range(1, days):
        z[t] = 0.6 * z[t - 1] + shocks[t]
    return np.clip(mean + 0.45 * z, 0.0, 1.0)


def _cloud_mask(cover: np.ndarray, size: int, resolution: float, rng: np.random.Generator) -> np.ndarray:
    """(time, y, x) bool: a smooth random field per day (clouds of ~0.3-1 km) above the quantile of that day's
    cover. The fields are drawn on a grid :data:`CLOUD_COARSENING` times coarser than their smoothing length
    and interpolated bilinearly (by weights along y and x): as smooth, for a fraction of the cost."""
    sigma = rng.uniform(300.0, 1000.0) / resolution
    step = max(1, int(sigma / CLOUD_COARSENING))
    coarse = -(-size // step) + 1
    mask = np.empty((cover.size, size, size), bool)
    for start in range(0, cover.size, TIME_CHUNK):
        part = slice(start, start + TIME_CHUNK)
        field = smooth_fields(rng.standard_normal((len(cover[part]), coarse, coarse), dtype="f4"), sigma / step)
        weights = _linear_weights(size, step, coarse)
        field = np.einsum("yi,tij,xj->tyx", weights, field.astype("f4"), weights, optimize=True)
        threshold = ndtri(np.clip(1.0 - cover[part], 1e-9, 1 - 1e-9))[:, None, None]
        mask[part] = field > threshold
    return mask


def _linear_weights(size: int, step: int, coarse: int) -> np.ndarray:
    """(size, coarse) float32 weights of linear interpolation from nodes every ``step`` cells to every cell."""
    position = np.arange(size) / step
    below = np.floor(position).astype(int)
    weights = np.zeros((size, coarse), "f4")
    weights[np.arange(size), below] = 1.0 - (position - below)
    weights[np.arange(size), np.minimum(below + 1, coarse - 1)] += position - below
    return weights


def surface_reflectance(lai: np.ndarray, soil_moisture: np.ndarray, land_cover: np.ndarray,
                        sensor: str = "s2") -> np.ndarray:
    """(time, band, y, x) float32 reflectance in ``sensor``'s pivot bands:
    :func:`~eoxr.pivot.sensors.canopy_reflectance` of ``lai`` (time, y, x) over soil at ``soil_moisture``, over
    a built surface in urban parcels and open water in water parcels of ``land_cover`` (y, x)."""
    lai, soil_moisture = np.asarray(lai, "f4"), np.asarray(soil_moisture, "f4")
    seen = sensors.ENDMEMBERS[sensor]
    refl = sensors.canopy_reflectance(lai, soil_moisture, sensor)
    urban = land_cover == CLASS_NAMES.index("urban")
    fc = sensors.cover_fraction(lai[:, urban])
    refl[:, :, urban] = fc * seen["leaf"][:, None, None] + (1 - fc) * seen["urban"][:, None, None]
    refl[:, :, land_cover == CLASS_NAMES.index("water")] = seen["water"][:, None, None]
    return np.ascontiguousarray(np.moveaxis(refl, 0, 1))


def backscatter(lai: np.ndarray, soil_moisture: np.ndarray, land_cover: np.ndarray) -> np.ndarray:
    """(time, polarization, y, x) float32 linear sigma0 (VV, VH): the water-cloud model of ``lai`` over soil at
    ``soil_moisture``, :data:`WATER_DB` over water and :data:`URBAN_DB` over urban parcels of ``land_cover``."""
    out = []
    for i, pol in enumerate(POLARIZATIONS):
        sigma0 = sensors.water_cloud(lai, soil_moisture, pol)
        sigma0 = np.where(land_cover == CLASS_NAMES.index("water"), 10.0 ** (WATER_DB[i] / 10.0), sigma0)
        out.append(np.where(land_cover == CLASS_NAMES.index("urban"), 10.0 ** (URBAN_DB[i] / 10.0), sigma0))
    return np.stack(out, axis=1).astype("f4")


def _time_chunked(data):
    """``data`` (time, y, x) as a dask array of :data:`TIME_CHUNK` days per chunk (a numpy array is wrapped
    without hashing its content into the name)."""
    import dask.array as dsa

    if isinstance(data, np.ndarray):
        return dsa.from_array(data, chunks=(TIME_CHUNK, -1, -1), name=False)
    return data.rechunk((TIME_CHUNK, -1, -1))


def _add_lazy_fields(ds: xr.Dataset) -> xr.Dataset:
    """``reflectance``, ``ndvi`` and ``backscatter`` computed from ``lai`` and ``soil_moisture`` on demand."""
    import dask.array as dsa

    lai, moisture = (_time_chunked(ds[name].data) for name in ("lai", "soil_moisture"))
    cls = ds["land_cover"].values

    def lazy(kernel, n):
        return dsa.map_blocks(kernel, lai, moisture, land_cover=cls, new_axis=1, dtype="f4",
                              chunks=(lai.chunks[0], (n,), lai.chunks[1], lai.chunks[2]))

    refl = xr.DataArray(lazy(surface_reflectance, len(PIVOT_BANDS)), dims=("time", "band", "y", "x"),
                        coords={"band": list(PIVOT_BANDS)})
    ds["reflectance"] = cf(refl, "1", "surface reflectance", standard_name="surface_bidirectional_reflectance")
    ds["ndvi"] = cf(sensors.ndvi(refl.sel(band="red", drop=True), refl.sel(band="nir", drop=True)), "1",
                    "normalized difference vegetation index",
                    standard_name="normalized_difference_vegetation_index")
    sigma0 = xr.DataArray(lazy(backscatter, len(POLARIZATIONS)), dims=("time", "polarization", "y", "x"),
                          coords={"polarization": list(POLARIZATIONS)})
    ds["backscatter"] = cf(sigma0, "1", "C-band backscatter coefficient sigma0 (linear)")
    return ds


# ----------------------------------------------------------------------------------------------- observation
def observe(truth: xr.Dataset, sensor: str, seed: int = 0) -> xr.Dataset:
    """What ``sensor`` (a key of :data:`~eoxr.pivot.sensors.SENSORS`) observes of the truth of :func:`landscape`.

    Returns
    -------
    xarray.Dataset
        On the sensor's grid (its finest band's resolution, aligned on the truth's upper-left corner; partial
        edge pixels average what they cover) and only on its revisit days (a phase drawn from ``seed``), at
        its overpass time (UTC): for optical sensors one float32 variable per pivot band (reflectance, 1; NaN
        under clouds) and ``cloud`` (bool); for ``"s1"``, ``vv`` and ``vh`` (linear sigma0 with speckle, 1).
        MODIS's 500 m bands are averaged at 500 m, then repeated on its 250 m grid (attribute
        ``native_resolution_m``). Same seed, same cube.
    """
    model = SENSORS[sensors.check_key(sensor, SENSORS, "sensor")]
    rng = np.random.default_rng([seed, list(SENSORS).index(sensor)])
    resolution = _truth_resolution(truth)
    days = np.arange(rng.integers(model.revisit_days), truth.sizes["time"], model.revisit_days)
    if sensor == "s1":
        data = _radar(truth, model, days, resolution, rng)
    else:
        data = _optical(truth, model, days, resolution, rng)
    factor = _factor(model.resolution_m, resolution)
    coords = {"time": _overpass_times(truth, days, model.overpass_hour)} | \
        _coarse_coords(truth, factor, resolution)
    ds = georeference(xr.Dataset(coords=coords), CRS if truth.rio.crs is None else truth.rio.crs).assign(data)
    ds.attrs.update(sensor=sensor, sensor_name=model.name, platforms=", ".join(model.platforms),
                    revisit_days=model.revisit_days, overpass_hour=model.overpass_hour)
    return stamp(ds, "pivot.synth.observe", sensor=sensor, seed=seed)


def _truth_resolution(truth: xr.Dataset) -> float:
    return float(abs(truth.x.values[1] - truth.x.values[0]))


def _factor(native_m: float, resolution: float) -> int:
    factor = native_m / resolution
    if abs(factor - round(factor)) > 1e-6 or round(factor) < 1:
        raise ParameterError(f"a {native_m:g} m band cannot be made of whole {resolution:g} m truth cells: make the "
                             "landscape with a resolution that divides 10, 20, 30, 250 and 500 m (10 or 5 m)")
    return int(round(factor))


def _coarse_coords(truth: xr.Dataset, factor: int, resolution: float) -> dict:
    """y/x of the truth's grid coarsened by ``factor``, from the truth's own upper-left corner."""
    half = resolution / 2
    n = -(-truth.sizes["x"] // factor)
    step = resolution * factor
    x0, y0 = float(truth.x[0]) - half, float(truth.y[0]) + half
    return {"y": y0 - step * (np.arange(n) + 0.5), "x": x0 + step * (np.arange(n) + 0.5)}


def _overpass_times(truth: xr.Dataset, days: np.ndarray, local_hour: float) -> np.ndarray:
    """UTC times of the overpasses at ``local_hour`` local solar time over the scene's centre."""
    from pyproj import Transformer

    x, y = float(truth.x.mean()), float(truth.y.mean())
    lon, _ = Transformer.from_crs(truth.rio.crs or CRS, "EPSG:4326", always_xy=True).transform(x, y)
    offset = pd.Timedelta(hours=local_hour - lon / 15.0).round("s")
    return (pd.DatetimeIndex(truth.time.values[days]) + offset).values


def block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``a`` (..., y, x) over ``factor`` x ``factor`` blocks; partial edge blocks average what they hold."""
    if factor == 1:
        return a
    ny, nx = a.shape[-2:]
    my, mx = -(-ny // factor), -(-nx // factor)
    pad = [(0, 0)] * (a.ndim - 2) + [(0, my * factor - ny), (0, mx * factor - nx)]
    sums = np.pad(a, pad).reshape(a.shape[:-2] + (my, factor, mx, factor)).sum(axis=(-3, -1))
    counts = np.pad(np.ones((ny, nx)), pad[-2:]).reshape(my, factor, mx, factor).sum(axis=(-3, -1))
    return sums / counts


def _drivers(truth: xr.Dataset, days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lai, soil moisture, land cover) of the truth on ``days``, as numpy: what the sensors' signals are made of."""
    return (truth["lai"].isel(time=days).values, truth["soil_moisture"].isel(time=days).values,
            truth["land_cover"].values)


def _optical(truth, model, days, resolution, rng) -> dict:
    cube_factor = _factor(model.resolution_m, resolution)
    bands = {name: [] for name in PIVOT_BANDS}
    clouds = []
    for start in range(0, days.size, TIME_CHUNK):
        chunk = days[start:start + TIME_CHUNK]
        refl = surface_reflectance(*_drivers(truth, chunk), sensor=model.key)
        cloud = block_mean(truth["cloud"].isel(time=chunk).values.astype("f4"), cube_factor) > CLOUD_FLAG_FRACTION
        for i, name in enumerate(PIVOT_BANDS):
            band = model.bands[name]
            seen = _sensed(refl[:, i], _factor(band.resolution_m, resolution), band.noise_std, rng)
            seen = _repeated(seen, _factor(band.resolution_m, model.resolution_m), cloud.shape[-2:])
            bands[name].append(np.where(cloud, np.nan, seen).astype("f4"))
        clouds.append(cloud)
    out = {}
    for name in PIVOT_BANDS:
        band = model.bands[name]
        out[name] = xr.DataArray(np.concatenate(bands[name]), dims=("time", "y", "x"), attrs={
            "units": "1", "long_name": f"{name} surface reflectance", "native_name": band.native,
            "center_wavelength_nm": band.centre_nm, "fwhm_nm": band.fwhm_nm,
            "native_resolution_m": band.resolution_m})
    out["cloud"] = xr.DataArray(np.concatenate(clouds), dims=("time", "y", "x"),
                                attrs={"units": "1", "long_name": "cloud mask (true: cloudy)"})
    return out


def _sensed(refl: np.ndarray, factor: int, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """(time, y, x) reflectance at a native pixel of ``factor`` truth cells: block mean (detector), Gaussian PSF
    on the native grid (optics), noise; clipped to [0, 1] as L2A products are."""
    native = block_mean(refl, factor)
    blurred = gaussian_filter(native, sigma=(0, sensors.PSF_SIGMA_PER_PIXEL, sensors.PSF_SIGMA_PER_PIXEL),
                              mode="nearest")
    return np.clip(blurred + rng.normal(0.0, noise_std, blurred.shape), 0.0, 1.0)


def _repeated(a: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """``a`` (..., y, x) with each pixel repeated ``factor`` x ``factor`` times, cut to ``shape``."""
    if factor == 1:
        return a
    out = np.repeat(np.repeat(a, factor, axis=-2), factor, axis=-1)
    return out[..., :shape[0], :shape[1]]


def _radar(truth, model, days, resolution, rng) -> dict:
    factor = _factor(model.resolution_m, resolution)
    parts = [block_mean(backscatter(*_drivers(truth, days[start:start + TIME_CHUNK])), factor)
             for start in range(0, days.size, TIME_CHUNK)]
    sigma0 = sensors.speckle(np.concatenate(parts), model.looks, rng).astype("f4")
    return {name.lower(): xr.DataArray(sigma0[:, i], dims=("time", "y", "x"), attrs={
        "units": "1", "long_name": f"{name} backscatter coefficient sigma0 (linear)", "looks": model.looks,
        "incidence_angle_deg": model.incidence_deg}) for i, name in enumerate(POLARIZATIONS)}


def scene(seed: int = 0, size: int = 256, days: int = 365, *, start: str = "2021-01-01",
          sensor_keys: Iterable[str] = ("s2", "landsat", "modis", "s1")) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """(truth of :func:`landscape`, {sensor: :func:`observe` cube}) of one seed, at 10 m."""
    truth = landscape(seed, size=size, start=start, days=days)
    return truth, {name: observe(truth, name, seed) for name in sensor_keys}


# ----------------------------------------------------------------------------------------------- sample
SAMPLE_COLLECTION = "eoxr-pivot-sample"
SAMPLE_SEED = 60_000  # + the sample's seed: scenes nobody tuned a method on
SAMPLE_SIZE, SAMPLE_DAYS, SAMPLE_START = 150, 120, "2021-03-01"  # 1.5 km: whole pixels of every sensor
TRUTH_STORED = ("land_cover", "parcel", "lai", "soil_moisture", "rain", "cloud", "cloud_cover")


def sample_scene(seed: int = 0) -> tuple[xr.Dataset, dict[str, xr.Dataset]]:
    """The sample's scene: :func:`scene` of seed ``SAMPLE_SEED + seed``, :data:`SAMPLE_SIZE` cells of 10 m,
    :data:`SAMPLE_DAYS` days from :data:`SAMPLE_START`."""
    return scene(SAMPLE_SEED + seed, size=SAMPLE_SIZE, days=SAMPLE_DAYS, start=SAMPLE_START)


def sample_items(root: Path, seed: int = 0) -> list:
    """The sample's multi-sensor scene as Zarr datacubes, one STAC item each in collection
    ``eoxr-pivot-sample``: ``pivot-s2``, ``pivot-landsat``, ``pivot-modis``, ``pivot-s1`` (each sensor's cube,
    which ``eoxr.io.load([item])`` opens) and ``pivot-truth`` (the truth's fields that the others are made from:
    :func:`open_scene` adds ``reflectance``, ``ndvi`` and ``backscatter``). Items carry ``eoxr:sensor``."""
    from ..catalog.outputs import cube_item
    from ..cube import open as open_cube
    from ..cube import write

    root = Path(root)
    truth, cubes = sample_scene(seed)
    items = []
    for key, ds in {**cubes, "truth": truth[list(TRUTH_STORED)]}.items():
        path = write(ds, root / f"pivot_{key}.zarr", mode="w", chunks={"time": 32})
        item = cube_item(open_cube(path), ref={"id": f"pivot-{key}", "collection": SAMPLE_COLLECTION},
                         cube_href=str(Path(path).resolve()), inputs=[])
        platform = SENSORS[key].name if key in SENSORS else "truth"
        item.properties.update({"eoxr:sensor": key, "platform": f"{platform} (synthetic)", "eoxr:seed": seed})
        item.datetime = item.datetime or item.common_metadata.start_datetime  # catalogs sort items by it
        items.append(item)
    return items


def open_scene(source) -> xr.Dataset:
    """A cube of :func:`sample_items` (its STAC item, or the path of its Zarr store), lazily; the truth with its
    ``reflectance``, ``ndvi`` and ``backscatter`` made again from ``lai`` and ``soil_moisture``."""
    from ..cube import open as open_cube
    from ..cube.open import _is_item

    if not _is_item(source) and not Path(source).exists():
        raise ReadError(f"{source}: no such scene; build the sample with eoxr.sample.ensure_sample() and pass one "
                        f"of the items of collection {SAMPLE_COLLECTION!r} (or its Zarr path)")
    ds = open_cube(source)
    if {"lai", "soil_moisture", "land_cover"} <= set(ds.data_vars):
        ds = _add_lazy_fields(ds)
    return ds
