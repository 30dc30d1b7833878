"""Synthetic radiometer swaths with a known, radar-like rain reference: the truth of every rain test and benchmark.

A scene is drawn on a 2 km grid (all fields change with the seed), then observed by a radiometer:

- **surface**: land and sea from a thresholded large-scale random field (most scenes all land, some with a
  coast), surface temperature around a scene climate (winter to summer), sea-surface wind, soil moisture
  (wetter under rain), vegetation water, and snow where the surface freezes;
- **atmosphere**: water vapour that follows the temperature (Clausius-Clapeyron, about 6 % K-1) with
  regional variability, non-raining clouds of lognormal liquid path;
- **rain**: stratiform areas (a smooth field above a threshold, intensity growing inward from their
  edges) and convective cells (Gaussian cells 1.5-4 km in radius with lognormal peak rates, clustered in and
  near the stratiform areas), 2-11 % of the area raining, 5-10 % of the swath on average once seen through
  the reference's footprint (>= 0.1 mm h-1); precipitating
  ice tied to the rain (more per mm h-1 in convection), spread into non-raining anvils around the cells;
  cloud liquid added where it rains;
- **observation** (:func:`observe`): :mod:`eoxr.rain.forward` on the 2 km grid, the ice and rain layers
  displaced along the look direction by their height times tan(incidence) (parallax of a conical scanner),
  beam filling by each channel's Gaussian footprint (FFT convolution), sampling at the swath's pixels
  (scan spacing along track, pixel spacing across; a flat, straight swath), NEdT noise;
- **reference**: the surface rain rate averaged over a 5 km Gaussian footprint (the GPM radar's) at each
  swath pixel, as the radiometer's databases are built from the radar.

The scene climate (:data:`CLIMATE`) is calibrated so that the synthetic GMI brightness temperatures match the
statistics of real GMI observations over the contiguous United States (the IPWG precipitation benchmark,
:mod:`eoxr.rain.calibration`): tuned by hand on scenes 900000-900029 (48 scans) and 930000-930031 (24 scans),
every channel's mean within 3 % and standard deviation within 11 % of the real ones there; the benchmark
reports the match on its own seeds.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import timezone
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import fft as sfft
from scipy import ndimage

from ..attrs import cf, stamp
from ..errors import ParameterError
from . import forward
from .radiometers import RADIOMETERS, Radiometer, get

DX = 2.0  # km: spacing of the grid the scene is drawn on
RADAR_FOOTPRINT = 5.0  # km: full width at half maximum of the reference's footprint
RAIN_THRESHOLD = 0.1  # mm h-1: raining / not raining
SURFACE_TYPES = {0: "ocean", 1: "land", 2: "coast", 3: "snow"}
TRAINING_SEEDS = range(10_000, 10_060)  # the scenes the shipped network and the default database learn from
TRAINING_SCANS = 128
SCAN_PERIOD = {"gmi": 1.875, "amsr2": 1.5, "ssmis": 1.9, "atms": 8.0 / 3.0, "mhs": 8.0 / 3.0}  # s


@dataclass(frozen=True)
class Climate:
    """Distribution of the scenes' conditions (drawn once per scene from its seed).

    temperature_mean/std (K): scene-mean surface temperature; temperature_gradient (K): standard
    deviation of its large-scale (500 km) variation across the scene; ocean_fraction (min, max): share of the
    scene that is sea; rain_fraction (min, max): share of the area
    raining; convective_share (min, max): share of the rain area in convective cells at 300 K (less in
    cold scenes); tpw_scale (kg m-2): precipitable water at 273.15 K; humidity_spread: standard deviation of
    its logarithm (relative humidity); snow_temperature (K): land colder than this is partly snow-covered
    (fully 6 K below); upper_humidity (1): median factor on the upper-tropospheric vapour (lognormal, doubled
    over rain), upper_humidity_spread the standard deviation of its logarithm; cloud_fraction (min, max);
    vegetation_water (kg m-2, median); soil_moisture (m3 m-3, mean); ice_per_rain (kg m-2 per mm h-1 at
    10 mm h-1, convective; stratiform half of it).
    """

    temperature_mean: float = 289.0
    temperature_std: float = 7.0
    temperature_gradient: float = 7.0
    ocean_fraction: tuple = (0.0, 0.2)
    rain_fraction: tuple = (0.02, 0.11)
    convective_share: tuple = (0.1, 0.4)
    tpw_scale: float = 7.0
    cloud_fraction: tuple = (0.2, 0.7)
    vegetation_water: float = 1.5
    soil_moisture: float = 0.2
    ice_per_rain: float = 0.15
    humidity_spread: float = 0.28
    snow_temperature: float = 274.0
    upper_humidity: float = 0.5
    upper_humidity_spread: float = 0.9


CLIMATE = Climate()


def random_field(shape: tuple[int, int], scale_km: float, rng: np.random.Generator,
                 roughness: float = 3.0) -> np.ndarray:
    """Zero-mean, unit-variance random field on the 2 km grid with a Matern-like spectrum (1 + (k L)^2)^(-r/2):
    correlated over about ``scale_km``, smoother for larger ``roughness``."""
    ky = sfft.fftfreq(shape[0], d=DX)[:, None]
    kx = sfft.rfftfreq(shape[1], d=DX)[None, :]
    amp = (1.0 + (2 * np.pi * np.hypot(ky, kx) * scale_km) ** 2) ** (-roughness / 4.0)
    amp[0, 0] = 0.0
    f = sfft.irfft2(sfft.rfft2(rng.standard_normal(shape)) * amp, s=shape)
    return (f - f.mean()) / f.std()


def _above_quantile(field: np.ndarray, fraction: float) -> tuple[np.ndarray, float]:
    q = float(np.quantile(field, 1.0 - fraction)) if fraction > 0 else np.inf
    return field > q, q


@dataclass
class Fields:
    """A scene's geophysical fields on the 2 km grid (arrays ``(along, cross)``) and its parameters."""

    state: forward.State
    rain_rate: np.ndarray
    convective: np.ndarray
    parameters: dict


def _surface(shape, rng, climate: Climate) -> dict:
    t0 = float(np.clip(rng.normal(climate.temperature_mean, climate.temperature_std), 250.0, 306.0))
    ocean = rng.uniform(*climate.ocean_fraction)
    land = ~_above_quantile(random_field(shape, 400.0, rng, 3.5), ocean)[0]
    land_f = ndimage.gaussian_filter(land.astype(float), 1.0)  # coasts blur over a pixel or two
    ts = (t0 + climate.temperature_gradient * random_field(shape, 500.0, rng, 3.5)
          + 3.0 * random_field(shape, 150.0, rng) + 3.0 * random_field(shape, 20.0, rng, 2.5))
    sst = np.clip(t0 + 3.0 + 2.0 * random_field(shape, 300.0, rng), 271.5, 304.0)
    ts = land_f * ts + (1 - land_f) * sst
    snow_depth = np.clip(0.6 + 0.4 * random_field(shape, 80.0, rng), 0.0, 1.0)
    snow = np.where(land_f > 0.5, snow_depth * np.clip((climate.snow_temperature - ts) / 6.0, 0.0, 1.0), 0.0)
    return {"t0": t0, "ocean_fraction": ocean, "land_fraction": land_f, "surface_temperature": ts, "snow": snow,
            "wind": np.clip(7.0 + 3.0 * random_field(shape, 200.0, rng), 0.5, 25.0),
            "soil_moisture": np.clip(climate.soil_moisture + 0.08 * random_field(shape, 60.0, rng), 0.03, 0.45),
            "vegetation_water": np.clip(climate.vegetation_water * np.exp(0.8 * random_field(shape, 40.0, rng, 2.5)),
                                        0.02, 8.0)}


def _cells(shape, rng, where: np.ndarray, area_px: float) -> np.ndarray:
    """Convective cells (mm h-1): Gaussian cells of radius 1.5-4 km and lognormal peak rate (median 12 mm h-1)
    centred on random pixels of ``where`` until their raining areas (>= 0.1 mm h-1) add up to ``area_px``."""
    centres, radii, peaks = [], [], []
    covered = 0.0
    candidates = np.flatnonzero(where)
    while covered < area_px and candidates.size:
        radii.append(rng.uniform(1.5, 4.0) / DX)
        peaks.append(min(float(np.exp(rng.normal(np.log(12.0), 0.7))), 180.0))
        centres.append(candidates[rng.integers(candidates.size)])
        covered += np.pi * radii[-1] ** 2 * 2.0 * np.log(peaks[-1] / RAIN_THRESHOLD)
    out = np.zeros(shape)
    radii = np.asarray(radii)
    edges = np.linspace(1.5 / DX, 4.0 / DX, 5)
    for lo, hi in zip(edges[:-1], edges[1:]):  # one filter per radius class: cells of similar size at once
        sel = (radii >= lo) & (radii <= hi)
        if not sel.any():
            continue
        sigma = float(radii[sel].mean())
        impulses = np.zeros(shape)
        np.add.at(impulses.ravel(), np.asarray(centres)[sel], np.asarray(peaks)[sel] * 2 * np.pi * sigma**2)
        out += ndimage.gaussian_filter(impulses, sigma, truncate=4.0)
    return out


def _rain(shape, rng, climate: Climate, t0: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Surface rain rate (mm h-1) = stratiform areas + convective cells, and the convective mask."""
    wet = rng.uniform(*climate.rain_fraction)
    warm = np.clip((t0 - 265.0) / 35.0, 0.0, 1.0)  # cold scenes rain (or snow) stratiform
    conv_share = rng.uniform(*climate.convective_share) * warm
    base = random_field(shape, 60.0, rng, 3.0) + 0.35 * random_field(shape, 10.0, rng, 2.5)
    area, q = _above_quantile(base, wet * (1.0 - conv_share))
    strat = np.where(area, rng.uniform(1.0, 3.0) * (np.exp(1.6 * (base - q)) - 1.0), 0.0)
    conv = _cells(shape, rng, base > q - 0.5, conv_share * wet * base.size)
    rain = strat + conv
    rain = np.where(rain >= 0.02, rain, 0.0)
    return rain, conv > np.maximum(strat, 0.5), {"rain_area": wet, "convective_share": conv_share}


def _atmosphere(shape, rng, climate: Climate, surf: dict, rain: np.ndarray, conv: np.ndarray) -> dict:
    """Water vapour, cloud liquid and precipitating ice (kg m-2) over the surface and rain fields."""
    ts = surf["surface_temperature"]
    raining = ndimage.gaussian_filter((rain > 0).astype(float), 10.0 / DX)
    tpw = climate.tpw_scale * np.exp(forward.CLAUSIUS_CLAPEYRON * (ts - forward.T_FREEZE)) \
        * np.exp(climate.humidity_spread * random_field(shape, 150.0, rng))
    tpw = tpw * (1.0 + 0.15 * raining)
    c = random_field(shape, 30.0, rng, 2.5)
    cloudy, q = _above_quantile(c, rng.uniform(*climate.cloud_fraction))
    lwp = np.where(cloudy, 0.04 * (np.exp(0.8 * (c - q)) - 0.5), 0.0).clip(0.0, 0.6)
    lwp = lwp + np.where(rain > 0, 0.1 + 0.08 * np.sqrt(rain), 0.0)
    per_rain = climate.ice_per_rain * 10.0 * (rain / 10.0) ** 0.9 * np.where(conv, 1.0, 0.5)
    iwp = per_rain * np.exp(0.4 * random_field(shape, 8.0, rng, 2.5) - 0.08)
    anvil = 0.8 * ndimage.gaussian_filter(np.where(conv, iwp, 0.0), 10.0 / DX)  # ice blown off the cells
    upper = np.exp(np.log(climate.upper_humidity) + climate.upper_humidity_spread * random_field(shape, 300.0, rng))
    return {"tpw": tpw, "lwp": lwp, "iwp": iwp + anvil, "upper_humidity": upper * (1.0 + raining)}


def margin_km(radiometer: Radiometer) -> float:
    """Border (km) drawn around the swath: three widths of the largest footprint, plus the parallax."""
    widest = max(max(c.footprint_along, c.footprint_cross) for c in radiometer.channels)
    return DX * np.ceil((3.0 * widest / 2.3548 + 12.0) / DX)


def fields(seed: int, sensor: str | Radiometer = "gmi", scans: int = 128, climate: Climate = CLIMATE,
           pixels: int | None = None) -> Fields:
    """The geophysical fields of scene ``seed`` on the 2 km grid covering ``scans`` scans of ``sensor``
    (``pixels``: the central pixels of each scan, default all of them)."""
    radiometer = get(sensor)
    pixels = radiometer.pixels if pixels is None else int(pixels)
    if scans < 8 or not 8 <= pixels <= radiometer.pixels:
        raise ParameterError(f"scans={scans}, pixels={pixels}: a scene needs at least 8 scans and 8 to "
                             f"{radiometer.pixels} pixels per scan")
    m = margin_km(radiometer)
    shape = (sfft.next_fast_len(int(np.ceil((scans * radiometer.scan_spacing + 2 * m) / DX)), real=True),
             sfft.next_fast_len(int(np.ceil((pixels * radiometer.pixel_spacing + 2 * m) / DX)), real=True))
    rng = np.random.default_rng([seed, 7])
    surf = _surface(shape, rng, climate)
    rain, conv, rain_params = _rain(shape, rng, climate, surf["t0"])
    surf["soil_moisture"] = np.clip(surf["soil_moisture"] + 0.12 * ndimage.gaussian_filter(
        (rain > 0).astype(float), 15.0 / DX), 0.03, 0.45)  # soil wet after rain
    atm = _atmosphere(shape, rng, climate, surf, rain, conv)
    state = forward.State(surface_temperature=surf["surface_temperature"], land_fraction=surf["land_fraction"],
                          tpw=atm["tpw"], lwp=atm["lwp"], rain_rate=rain, iwp=atm["iwp"], wind=surf["wind"],
                          soil_moisture=surf["soil_moisture"], vegetation_water=surf["vegetation_water"],
                          snow=surf["snow"], upper_humidity=atm["upper_humidity"])
    params = {"seed": seed, "sensor": radiometer.name, "scans": scans, "pixels": pixels, "margin_km": m,
              "surface_temperature_K": surf["t0"], "ocean_fraction": surf["ocean_fraction"], **rain_params}
    return Fields(state=state, rain_rate=rain, convective=conv, parameters=params)


def _parallax(field: np.ndarray, height_km, incidence: float) -> np.ndarray:
    """``field`` as seen along slanted rays: a layer at ``height_km`` is seen ``height * tan(incidence)`` before
    the surface pixel along the look direction (the along-track axis at the swath centre)."""
    shift = int(round(float(np.mean(height_km)) * np.tan(np.radians(incidence)) / DX))
    return np.roll(field, shift, axis=0) if shift else field


def _footprints(tb: np.ndarray, radiometer: Radiometer) -> np.ndarray:
    """Each channel's ``(channel, along, cross)`` field averaged over its Gaussian footprint (FFT convolution)."""
    ny, nx = tb.shape[-2:]
    ky = sfft.fftfreq(ny)[:, None]
    kx = sfft.rfftfreq(nx)[None, :]
    spectra = sfft.rfft2(tb, axes=(-2, -1))
    for i, c in enumerate(radiometer.channels):
        sy, sx = c.footprint_along / 2.3548 / DX, c.footprint_cross / 2.3548 / DX
        spectra[i] *= np.exp(-2.0 * np.pi**2 * ((sy * ky) ** 2 + (sx * kx) ** 2))
    return sfft.irfft2(spectra, s=(ny, nx), axes=(-2, -1))


def _gaussian(field: np.ndarray, fwhm_km: float) -> np.ndarray:
    return ndimage.gaussian_filter(field, fwhm_km / 2.3548 / DX, mode="nearest", truncate=3.5)


def _swath_positions(radiometer: Radiometer, scans: int, pixels: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid coordinates (2 km pixel indices) of the swath's pixel centres: (along, cross) index arrays."""
    along = (margin + (np.arange(scans) + 0.5) * radiometer.scan_spacing) / DX - 0.5
    cross = (margin + (np.arange(pixels) + 0.5) * radiometer.pixel_spacing) / DX - 0.5
    return np.meshgrid(along, cross, indexing="ij")


def _sample(field: np.ndarray, positions) -> np.ndarray:
    return ndimage.map_coordinates(field, positions, order=1, mode="nearest")


def _geolocation(radiometer: Radiometer, scans: int, pixels: int, rng: np.random.Generator) -> dict:
    """Latitude/longitude (degrees) of the swath pixels around a random centre over the contiguous US, a random
    heading, and the scan times."""
    lat0, lon0, heading = rng.uniform(28.0, 47.0), rng.uniform(-120.0, -72.0), np.radians(rng.uniform(0, 360))
    a = (np.arange(scans) - scans / 2) * radiometer.scan_spacing
    c = (np.arange(pixels) - pixels / 2) * radiometer.pixel_spacing
    aa, cc = np.meshgrid(a, c, indexing="ij")
    north = aa * np.cos(heading) - cc * np.sin(heading)
    east = aa * np.sin(heading) + cc * np.cos(heading)
    lat = lat0 + north / 111.2
    lon = lon0 + east / (111.2 * np.cos(np.radians(lat)))
    start = np.datetime64("2019-01-01T00:00:00", "ns") + np.timedelta64(int(rng.integers(0, 3 * 365 * 86400)), "s")
    period = np.timedelta64(int(SCAN_PERIOD.get(radiometer.name, 2.0) * 1e9), "ns")
    return {"latitude": lat, "longitude": lon, "scan_time": start + np.arange(scans) * period}


def surface_class(land_fraction: np.ndarray, snow: np.ndarray) -> np.ndarray:
    """Surface type codes (:data:`SURFACE_TYPES`): ocean below 5 % land, coast up to 95 %, land, snow-covered land."""
    cls = np.where(land_fraction < 0.05, 0, np.where(land_fraction > 0.95, 1, 2))
    return np.where((cls == 1) & (snow > 0.2), 3, cls).astype(np.int8)


def observe(f: Fields, sensor: str | Radiometer | None = None, noise: bool = True) -> xr.Dataset:
    """The swath ``sensor`` (default: the one the fields were drawn for) observes over the fields ``f``.

    Returns the layout of :func:`eoxr.io.open_product` for 1C files: ``brightness_temperature`` (K) on
    ``(along_track, cross_track, channel)`` with coords ``frequency`` (GHz), ``polarization``,
    ``frequency_offset`` (GHz) and 2-D ``latitude``/``longitude``, plus the reference ``rain_rate``
    (mm h-1, radar-like 5 km footprint), the ancillary ``surface_type`` and ``total_precipitable_water``
    (kg m-2, smoothed over 50 km as a reanalysis gives it).
    """
    radiometer = get(sensor or f.parameters["sensor"])
    scans, pixels, seed = f.parameters["scans"], f.parameters["pixels"], f.parameters["seed"]
    rng = np.random.default_rng([seed, 11, list(RADIOMETERS).index(radiometer.name)])  # noise per sensor
    st = f.state
    positions = _swath_positions(radiometer, scans, pixels, f.parameters["margin_km"])
    nx = st.surface_temperature.shape[1]
    cross_km = (np.arange(nx) + 0.5) * DX - f.parameters["margin_km"]
    first = (radiometer.pixels - pixels) // 2  # the scene's pixels are the central ones of the scan
    pixel = np.clip(cross_km / radiometer.pixel_spacing - 0.5 + first, 0, radiometer.pixels - 1)
    incidence = np.interp(pixel, np.arange(radiometer.pixels), radiometer.incidence_angles())[None, :]
    scan_angle = np.interp(pixel, np.arange(radiometer.pixels), radiometer.scan_angles())[None, :]
    if radiometer.scan == "conical":
        fl = st.freezing_level
        st = replace(st, iwp=_parallax(st.iwp, fl + forward.ICE_ABOVE_FREEZING, radiometer.incidence),
                     rain_rate=_parallax(st.rain_rate, fl / 2.0, radiometer.incidence),
                     lwp=_parallax(st.lwp, 1.5, radiometer.incidence))
    tb = _footprints(forward.simulate(radiometer, st, incidence=incidence, scan_angle=scan_angle), radiometer)
    tb = np.stack([_sample(t, positions) for t in tb], axis=-1)
    if noise:
        tb = tb + rng.standard_normal(tb.shape) * radiometer.nedt
    reference = np.maximum(_sample(_gaussian(f.rain_rate, RADAR_FOOTPRINT), positions), 0.0)
    land = _sample(_gaussian(f.state.land_fraction, 20.0), positions)
    snow = _sample(_gaussian(f.state.snow, 20.0), positions)
    tpw = _sample(_gaussian(f.state.tpw, 50.0), positions)
    return _swath_dataset(radiometer, tb, reference, surface_class(land, snow), tpw,
                          _geolocation(radiometer, scans, pixels, np.random.default_rng([seed, 13])), f.parameters)


def _swath_dataset(radiometer, tb, reference, surface, tpw, geo, params) -> xr.Dataset:
    dims = ("along_track", "cross_track")
    ch = radiometer.channels
    ds = xr.Dataset(
        {
            "brightness_temperature": cf(xr.DataArray(tb.astype(np.float32), dims=(*dims, "channel")), "K",
                                         f"{radiometer.name.upper()} brightness temperature (synthetic)",
                                         standard_name="brightness_temperature"),
            "rain_rate": cf(xr.DataArray(reference.astype(np.float32), dims=dims), "mm h-1",
                            f"reference surface rain rate ({RADAR_FOOTPRINT:g} km radar footprint)",
                            standard_name="rainfall_rate"),
            "surface_type": xr.DataArray(surface, dims=dims, attrs={
                "units": "1", "long_name": "surface type", "flag_values": list(SURFACE_TYPES),
                "flag_meanings": " ".join(SURFACE_TYPES.values())}),
            "total_precipitable_water": cf(xr.DataArray(tpw.astype(np.float32), dims=dims), "kg m-2",
                                           "total precipitable water (ancillary, 50 km)",
                                           standard_name="atmosphere_mass_content_of_water_vapor"),
        },
        coords={
            "latitude": (dims, geo["latitude"], {"units": "degrees_north", "standard_name": "latitude",
                                                 "long_name": "latitude of the pixel centre"}),
            "longitude": (dims, geo["longitude"], {"units": "degrees_east", "standard_name": "longitude",
                                                   "long_name": "longitude of the pixel centre"}),
            "scan_time": ("along_track", geo["scan_time"], {"long_name": "scan start time (UTC)"}),
            "channel": ("channel", [c.name for c in ch]),
            "frequency": ("channel", [c.frequency for c in ch], {"units": "GHz", "long_name": "centre frequency"}),
            "polarization": ("channel", [c.polarization for c in ch], {"long_name": "polarization"}),
            "frequency_offset": ("channel", [c.offset for c in ch],
                                 {"units": "GHz", "long_name": "double-sideband offset from the centre frequency"}),
        },
        attrs={"sensor": radiometer.name, "instrument": radiometer.name.upper(), "platform": radiometer.platform,
               **{f"synth_{k}": v for k, v in params.items() if k != "sensor"}},
    )
    ds = ds.rio.write_crs("EPSG:4326")
    return stamp(ds, "rain.synth.scene", seed=params["seed"], sensor=radiometer.name, scans=params["scans"],
                 pixels=params["pixels"])


def scene(seed: int, sensor: str | Radiometer = "gmi", scans: int = 128, pixels: int | None = None,
          climate: Climate = CLIMATE, noise: bool = True) -> xr.Dataset:
    """A synthetic swath of ``sensor`` with its reference rain: :func:`fields` then :func:`observe`."""
    return observe(fields(seed, sensor, scans, climate, pixels), sensor, noise=noise)


def scenes(seeds, sensor: str | Radiometer = "gmi", scans: int = 128, pixels: int | None = None, workers: int = 1):
    """The scenes ``seeds`` (:func:`scene`), in order, drawn in ``workers`` processes (the same result: each
    scene has its own seed)."""
    make = partial(scene, sensor=get(sensor).name, scans=scans, pixels=pixels)
    seeds = list(seeds)
    workers = min(workers, len(seeds))  # a process that would draw no scene is not started
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield from pool.map(make, seeds)
    else:
        yield from map(make, seeds)


SAMPLE_COLLECTION = "eoxr-rain-sample"


def sample_items(root: Path, seed: int = 0) -> list:
    """A GMI swath for the sample catalog: collection ``eoxr-rain-sample``, item ``gmi-swath`` with asset ``1c``
    (the brightness temperatures as a 1C-GMI HDF5 granule, :func:`eoxr.rain.granule.write_1c`) and asset
    ``reference`` (the reference rain rate, netCDF)."""
    import pystac

    from .granule import granule_name, write_1c, write_reference

    root = Path(root)
    ds = scene(90_000 + seed, "gmi", scans=64)
    granule = write_1c(ds, root / granule_name(ds))
    reference = write_reference(ds, root / "gmi_swath_reference.nc")
    lat, lon = ds["latitude"].values, ds["longitude"].values
    ring = [(float(lon[i, j]), float(lat[i, j])) for i, j in ((0, 0), (0, -1), (-1, -1), (-1, 0), (0, 0))]
    item = pystac.Item("gmi-swath", {"type": "Polygon", "coordinates": [ring]},
                       [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())],
                       pd.Timestamp(ds["scan_time"].values[0]).to_pydatetime().replace(tzinfo=timezone.utc),
                       {"platform": "GPM (synthetic)", "instruments": ["gmi"], "eoxr:seed": seed},
                       collection=SAMPLE_COLLECTION)
    item.add_asset("1c", pystac.Asset(str(granule), media_type="application/x-hdf5", roles=["data"],
                                      title="1C-GMI brightness temperatures (PPS V07 layout)"))
    item.add_asset("reference", pystac.Asset(str(reference), media_type="application/x-netcdf", roles=["data"],
                                             title="reference surface rain rate (5 km radar footprint)"))
    return [item]
