"""Spaceborne radar (GPM DPR) near-surface rain against a ground radar volume, and IPWG reference scores.

The real-data section of a rain notebook in three calls::

    from eoxr.rain import validate

    pairs, scores = validate.groundradar_case(
        "shared/data/real/dpr_groundradar_brisbane_20141206/"
        "2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5",
        "shared/data/real/dpr_groundradar_brisbane_20141206/IDR66_20141206_094829.vol.h5")
    ax = validate.plot_case(pairs)                          # rain scatter; kind="reflectivity" for Z
    gprof = validate.ipwg_baseline("shared/data/real/ipwg_stats/baseline_gprof_v07a_gmi_conus.nc")

``pairs`` is a tidy Dataset on one ``footprint`` dim (``pairs.to_dataframe()`` for a table): DPR and
ground-radar (GR) rain rate and reflectivity, with where and when each pair was sampled. ``scores`` holds
:func:`eoxr.metrics.precip` of DPR against GR rain (DPR the estimate, the ground radar the reference), the
reflectivity bias and correlation, and the sample counts. :func:`match` is the step underneath, on two
Datasets from :func:`eoxr.io.open_product`.

Matching, after Schwaller and Morris (2011), doi:10.1175/2010JTECHA1403.1, and the volume matching of
Warren et al. (2018), doi:10.1175/JTECH-D-17-0128.1, reduced to the near-surface sample:

1. Each DPR footprint is placed where its near-surface sample is. The sample sits at the lowest
   clutter-free bin, ``height_near_surface`` above the ellipsoid (0.6-2.7 km in the Brisbane case); an
   off-nadir beam reaches that height before the ground, displaced from the footprint towards the
   sub-satellite point by height x tan(zenith angle) (parallax: up to 0.9 km at the swath edge).
2. Positions are expressed on the radar's azimuthal equidistant plane. Ground-radar beams propagate on the
   4/3 effective Earth radius model (Doviak and Zrnic 1993, "Doppler Radar and Weather Observations", 2nd ed.,
   eq. 2.28): beam height h(r, theta) = sqrt(r^2 + R^2 + 2 r R sin(theta)) - k a, with R = k a + h0, the
   radar at h0 above sea level, k = 4/3 and a = 6371 km.
3. For each footprint, the sweep whose beam centre passes closest in height to the DPR sample is chosen, and
   the GR bins of that sweep whose centres lie within the DPR footprint radius (2.5 km: the Ku footprint is
   about 5 km across) are averaged in linear Z. Bins below the GR's detection threshold count as Z = 0; bins
   never measured are left out.
4. GR rain rate from the averaged Z with a Z-R relation, Z = a R^b: Marshall and Palmer (1948),
   doi:10.1175/1520-0469(1948)005<0165:TDORWS>2.0.CO;2, Z = 200 R^1.6 by default; ``"convective"``
   Z = 300 R^1.4 of the WSR-88D (Fulton et al. 1998, doi:10.1175/1520-0434(1998)013<0377:TWAA>2.0.CO;2);
   ``"by_type"`` takes the convective one where the DPR classifies the footprint convective and
   Marshall-Palmer elsewhere. Z is capped at 53 dBZ before conversion, as the WSR-88D does, so that hail
   does not turn into rain rates of hundreds of mm h-1.
5. The time offset of each pair is the DPR scan time minus the time the GR swept the nearest ray.

Known differences that stay in the scores: the DPR measures at Ku band (13.6 GHz), the Brisbane radar at S
band; in rain, non-Rayleigh scattering lowers Ku reflectivity by up to a few dB at high rain rates, and
ground-radar calibration errors of a few dB are common; finding them is what Warren et al. (2018) match
for. DPR heights are above the ellipsoid, GR heights above sea level (the geoid differs by tens of m there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..attrs import stamp
from ..errors import MissingVariableError, NoDataError, ParameterError, ReadError

EARTH_RADIUS_M = 6_371_000.0
EFFECTIVE_RADIUS_FACTOR = 4.0 / 3.0

#: Z = a R^b (Z in mm6 m-3, R in mm h-1).
ZR_RELATIONS = {"marshall_palmer": (200.0, 1.6), "convective": (300.0, 1.4)}

#: Reflectivity above which a ground radar's rain rate is capped (WSR-88D hail cap, Fulton et al. 1998).
HAIL_CAP_DBZ = 53.0

#: Both radars' reflectivities must reach this for a pair to enter the reflectivity bias: the Ku-band
#: radar's minimum detectable reflectivity (Hou et al. 2014, doi:10.1175/BAMS-D-13-00164.1), below which the
#: DPR sees nothing while the ground radar still does, and the mean difference would be biased.
DPR_MIN_DBZ = 18.0

_CONVECTIVE = 2  # precipitation_type flag value


# ----------------------------------------------------------------------------------------- geometry


def beam_height(slant_range, elevation, site_altitude: float = 0.0, k: float = EFFECTIVE_RADIUS_FACTOR):
    """Height above sea level (m) of a ground-radar beam centre, 4/3 effective Earth radius model.

    Parameters
    ----------
    slant_range : array_like
        Distance along the beam (m).
    elevation : array_like
        Antenna elevation (degrees).
    site_altitude : float
        Antenna height above sea level (m).
    k : float
        Effective Earth radius factor (4/3 in a standard atmosphere).
    """
    ka = k * EARTH_RADIUS_M
    centre = ka + site_altitude
    r, theta = np.asarray(slant_range, float), np.deg2rad(elevation)
    return np.sqrt(r**2 + centre**2 + 2 * r * centre * np.sin(theta)) - ka


def ground_distance(slant_range, elevation, site_altitude: float = 0.0, k: float = EFFECTIVE_RADIUS_FACTOR):
    """Distance (m) along the sea-level surface from the radar to below the beam centre (4/3 Earth)."""
    ka = k * EARTH_RADIUS_M
    r, theta = np.asarray(slant_range, float), np.deg2rad(elevation)
    return ka * np.arctan2(r * np.cos(theta), ka + site_altitude + r * np.sin(theta))


def beam_above(distance, elevation, site_altitude: float = 0.0, k: float = EFFECTIVE_RADIUS_FACTOR):
    """Slant range (m) and height (m) of a beam at ``elevation`` above a point ``distance`` m away.

    The inverse of :func:`ground_distance`: in the triangle (Earth centre, antenna, beam point), the
    angle at the centre is distance / (k a) and the angle at the beam point 90 deg - elevation - that
    angle. NaN where the beam never gets there (it would have to leave the half-space above the horizon).
    """
    ka = k * EARTH_RADIUS_M
    centre = ka + site_altitude
    gamma = np.asarray(distance, float) / ka
    theta = np.deg2rad(elevation)
    cos_far = np.cos(theta + gamma)
    cos_far = np.where(cos_far > 0, cos_far, np.nan)
    return centre * np.sin(gamma) / cos_far, centre * np.cos(theta) / cos_far - ka


def parallax_shift(x, y, height, zenith, spacecraft_x, spacecraft_y):
    """Where an off-nadir beam is at ``height``: its ground footprint moved towards the sub-satellite point.

    A beam with zenith angle z crosses height h a horizontal distance h tan(z) before reaching the
    ground, on the side of the spacecraft. All positions on one plane (m); returns (x, y).
    """
    dx, dy = np.asarray(spacecraft_x) - x, np.asarray(spacecraft_y) - y
    norm = np.hypot(dx, dy)
    shift = np.asarray(height) * np.tan(np.deg2rad(zenith))
    with np.errstate(invalid="ignore", divide="ignore"):
        ux, uy = np.where(norm > 0, dx / norm, 0.0), np.where(norm > 0, dy / norm, 0.0)
    return x + shift * ux, y + shift * uy


def _radar_plane(site: dict):
    """lon/lat (WGS 84) -> (x, y) m on the azimuthal equidistant plane centred on the radar, and back."""
    from pyproj import Transformer

    aeqd = f"+proj=aeqd +lat_0={site['lat']} +lon_0={site['lon']} +x_0=0 +y_0=0 +datum=WGS84 +units=m"
    return (Transformer.from_crs("EPSG:4326", aeqd, always_xy=True),
            Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True))


# ------------------------------------------------------------------------------------ input checks


def _check_dpr(dpr: xr.Dataset) -> None:
    if "sweep" in dpr.dims or "reflectivity" in dpr:
        raise ReadError("the spaceborne-radar input is a ground-radar volume (it has sweeps): the arguments are "
                        "swapped. Pass the GPM 2A-DPR / 2A-Ku swath first and the ODIM volume second.")
    needed = ["rain_rate", "reflectivity_near_surface", "height_near_surface", "local_zenith_angle"]
    missing = [n for n in needed if n not in dpr] + [c for c in ("latitude", "longitude", "scan_time")
                                                      if c not in dpr.coords]
    if missing:
        raise MissingVariableError(
            f"the spaceborne-radar input lacks {missing}; it has {sorted(map(str, dpr.data_vars))}. Open a GPM "
            "2A-DPR or 2A-Ku granule (FS or NS swath) with eoxr.io.open_product, which reads the near-surface "
            "rain and reflectivity and derives the sample height from binClutterFreeBottom, ellipsoidBinOffset "
            "and localZenithAngle.")


def _check_gr(gr: xr.Dataset) -> None:
    if "along_track" in gr.dims:
        raise ReadError("the ground-radar input is a satellite swath (it has along_track): the arguments are "
                        "swapped. Pass the GPM swath first and the ODIM volume second.")
    if "reflectivity" not in gr:
        hint = (" It has total_reflectivity (TH, not cleaned of clutter): to match against it anyway, pass "
                "gr.rename(total_reflectivity='reflectivity').") if "total_reflectivity" in gr else ""
        raise MissingVariableError(
            f"the ground-radar volume has no reflectivity (ODIM quantity DBZH); it has "
            f"{sorted(map(str, gr.data_vars))}.{hint} Otherwise use a volume that holds DBZH.")
    missing = [c for c in ("elevation", "azimuth", "range", "latitude", "longitude", "altitude") if c not in gr.coords]
    if missing or tuple(gr["reflectivity"].dims) != ("sweep", "azimuth", "range"):
        raise MissingVariableError(
            f"the ground-radar volume lacks coordinates {missing} or has reflectivity dims "
            f"{tuple(gr['reflectivity'].dims)} instead of (sweep, azimuth, range): open it with "
            "eoxr.io.open_product (ODIM_H5).")


def _zr(zr) -> tuple[float, float] | str:
    if isinstance(zr, str):
        if zr == "by_type" or zr in ZR_RELATIONS:
            return zr if zr == "by_type" else ZR_RELATIONS[zr]
        raise ParameterError(f"zr={zr!r} is not known; choose one of {sorted(ZR_RELATIONS)}, 'by_type', or give "
                             "the coefficients (a, b) of Z = a R^b.")
    a, b = (float(v) for v in zr)
    if a <= 0 or b <= 0:
        raise ParameterError(f"zr=({a}, {b}): both coefficients of Z = a R^b must be positive (e.g. (200, 1.6)).")
    return a, b


# ------------------------------------------------------------------------------------------ steps


@dataclass
class _Footprints:
    """DPR footprints near the radar, flattened, with their near-surface sample placed on the radar plane."""

    along: np.ndarray
    cross: np.ndarray
    x: np.ndarray
    y: np.ndarray
    height: np.ndarray
    rain: np.ndarray
    dbz: np.ndarray
    kind: np.ndarray
    time: np.ndarray


def _ku(da: xr.DataArray) -> xr.DataArray:
    return da.sel(radar_band="Ku") if "radar_band" in da.dims else da


def _footprints(dpr: xr.Dataset, site: dict, forward, max_range: float, parallax: bool) -> _Footprints:
    """The footprints whose surface position lies within ``max_range`` (+ parallax margin) of the radar."""
    x, y = forward.transform(dpr["longitude"].values, dpr["latitude"].values)
    distance = np.hypot(x, y)
    near = np.isfinite(distance) & (distance <= max_range + 2_000.0)  # parallax moves samples by < 1 km
    if not near.any():
        raise NoDataError(f"no DPR footprint lies within {max_range / 1000:g} km of the radar at "
                          f"({site['lat']:.3f}, {site['lon']:.3f}); the nearest is {np.nanmin(distance) / 1000:.0f} "
                          "km away. The overpass misses this radar: pick a granule whose swath crosses it, or widen "
                          "max_range.")
    rows = np.flatnonzero(near.any(axis=1))
    scans = slice(rows[0], rows[-1] + 1)  # read only the scans that pass near the radar
    part, sel = dpr.isel(along_track=scans), near[scans]
    along, cross = np.nonzero(sel)
    fields = {name: _ku(part[name]).values[sel] for name in
              ("rain_rate", "reflectivity_near_surface", "height_near_surface", "local_zenith_angle")}
    kind = part["precipitation_type"].values[sel] if "precipitation_type" in part else np.zeros(along.size, np.int8)
    fx, fy = x[scans][sel], y[scans][sel]
    if parallax:
        fx, fy = parallax_shift(fx, fy, fields["height_near_surface"], fields["local_zenith_angle"],
                                *_sub_satellite(part, along, forward))
    return _Footprints(along=along + rows[0], cross=cross, x=fx, y=fy, height=fields["height_near_surface"],
                       rain=fields["rain_rate"], dbz=fields["reflectivity_near_surface"], kind=kind,
                       time=part["scan_time"].values[along])


def _sub_satellite(part: xr.Dataset, scans: np.ndarray, forward):
    """The sub-satellite point of each footprint's scan on the radar plane."""
    if "spacecraft_latitude" not in part.coords:
        raise MissingVariableError("the DPR swath has no spacecraft_latitude/longitude (navigation group), needed "
                                   "to correct parallax; pass parallax=False to match at the ground footprint "
                                   "(errors up to ~1 km at the swath edge).")
    return forward.transform(part["spacecraft_longitude"].values[scans], part["spacecraft_latitude"].values[scans])


def _in_range(fp: _Footprints, min_range: float, max_range: float) -> _Footprints:
    distance = np.hypot(fp.x, fp.y)
    keep = (distance >= min_range) & (distance <= max_range) & np.isfinite(fp.height)
    if not keep.any():
        raise NoDataError(f"no DPR near-surface sample lies {min_range / 1000:g}-{max_range / 1000:g} km from the "
                          f"radar (samples span {np.nanmin(distance) / 1000:.0f}-{np.nanmax(distance) / 1000:.0f} km); "
                          "widen min_range/max_range or pick an overpass closer to the radar.")
    return _Footprints(**{k: v[keep] for k, v in vars(fp).items()})


def _choose_sweeps(fp: _Footprints, elevations: np.ndarray, max_slant: float, site: dict, k: float):
    """Per footprint: the sweep whose beam centre is nearest the DPR sample height; its slant range, height."""
    distance = np.hypot(fp.x, fp.y)
    slant, height = beam_above(distance[:, None], elevations[None, :], site["height"], k)
    gap = np.where(slant <= max_slant, np.abs(height - fp.height[:, None]), np.inf)
    sweep = np.argmin(np.nan_to_num(gap, nan=np.inf), axis=1)
    rows = np.arange(sweep.size)
    reachable = np.isfinite(gap[rows, sweep])
    return sweep, np.where(reachable, slant[rows, sweep], np.nan), np.where(reachable, height[rows, sweep], np.nan)


def _sweep_tree(gr: xr.Dataset, index: int, site: dict, k: float):
    """KD-tree of one sweep's bin centres on the radar plane, and its linear Z (0 undetect, NaN unmeasured)."""
    from scipy.spatial import cKDTree

    sweep = gr.isel(sweep=index)
    s = ground_distance(gr["range"].values, float(sweep["elevation"]), site["height"], k)
    az = np.deg2rad(gr["azimuth"].values)
    x, y = np.sin(az)[:, None] * s[None, :], np.cos(az)[:, None] * s[None, :]
    dbz = sweep["reflectivity"].values
    measured = sweep["reflectivity_valid"].values if "reflectivity_valid" in sweep else np.ones(dbz.shape, bool)
    linear = np.where(measured, np.where(np.isfinite(dbz), 10.0 ** (dbz / 10.0), 0.0), np.nan)
    return cKDTree(np.column_stack([x.ravel(), y.ravel()])), linear.ravel()


def _average_gr(fp: _Footprints, gr: xr.Dataset, sweeps: np.ndarray, radius: float, site: dict, k: float):
    """Linear-Z mean of the GR bins within ``radius`` of each sample, their count, and the nearest ray's time."""
    z = np.full(sweeps.size, np.nan)
    count = np.zeros(sweeps.size, np.int64)
    when = np.full(sweeps.size, np.datetime64("NaT"), "datetime64[ns]")
    nrange = gr.sizes["range"]
    ray_time = gr["ray_time"].values if "ray_time" in gr.coords else None
    for index in np.unique(sweeps):
        members = np.flatnonzero(sweeps == index)
        tree, linear = _sweep_tree(gr, int(index), site, k)
        points = np.column_stack([fp.x[members], fp.y[members]])
        for member, bins in zip(members, tree.query_ball_point(points, radius)):
            values = linear[bins]
            count[member] = np.isfinite(values).sum()
            if count[member]:
                z[member] = np.nanmean(values)
        if ray_time is not None:
            _, nearest = tree.query(points)
            when[members] = ray_time[index, nearest // nrange]
    return z, count, when


def _rain_from_z(z_linear: np.ndarray, kind: np.ndarray, zr) -> np.ndarray:
    """R = (Z / a)^(1/b), Z capped at :data:`HAIL_CAP_DBZ`; zr a pair (a, b) or ``"by_type"``."""
    z = np.minimum(z_linear, 10.0 ** (HAIL_CAP_DBZ / 10.0))
    if zr == "by_type":
        a = np.where(kind == _CONVECTIVE, ZR_RELATIONS["convective"][0], ZR_RELATIONS["marshall_palmer"][0])
        b = np.where(kind == _CONVECTIVE, ZR_RELATIONS["convective"][1], ZR_RELATIONS["marshall_palmer"][1])
    else:
        a, b = zr
    return (z / a) ** (1.0 / b)


def _dbz(z_linear: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(z_linear > 0, 10.0 * np.log10(z_linear), np.nan)


def match(dpr: xr.Dataset, gr: xr.Dataset, *, min_range: float = 15e3, max_range: float = 115e3,
          footprint_radius: float = 2.5e3, zr="marshall_palmer", parallax: bool = True,
          k: float = EFFECTIVE_RADIUS_FACTOR) -> xr.Dataset:
    """Match each DPR footprint's near-surface sample with the ground-radar bins around it.

    Parameters
    ----------
    dpr : xarray.Dataset
        A GPM 2A-DPR / 2A-Ku swath from :func:`eoxr.io.open_product` (Ku band taken from 2A-DPR).
    gr : xarray.Dataset
        A ground-radar volume from :func:`eoxr.io.open_product` (ODIM_H5), with ``reflectivity`` (DBZH).
    min_range, max_range : float
        Ground distance (m) of the DPR samples kept: 15-115 km by default, beyond the ground radar's cone of
        silence and before its beam grows wider than a DPR footprint and climbs above the lowest DPR samples.
    footprint_radius : float
        Radius (m) of the DPR footprint within which GR bins are averaged.
    zr : str or (float, float)
        Z-R relation for the GR rain: ``"marshall_palmer"``, ``"convective"``, ``"by_type"`` or (a, b).
    parallax : bool
        Move each sample to where the off-nadir DPR beam is at its height (needs the sub-satellite point).
    k : float
        Effective Earth radius factor of the ground-radar beam propagation.

    Returns
    -------
    xarray.Dataset
        On dim ``footprint``: ``rain_rate_dpr``, ``rain_rate_gr`` (mm h-1), ``reflectivity_dpr``,
        ``reflectivity_gr`` (dBZ; NaN where no echo), ``gr_bin_count``; coordinates ``latitude``,
        ``longitude`` (the matched sample), ``ground_distance``, ``range`` (GR slant range), ``height`` (GR
        beam centre), ``height_dpr``, ``elevation`` (GR sweep), ``time_offset`` (s, DPR minus GR),
        ``along_track``, ``cross_track`` (DPR pixel), ``precipitation_type``. Pairs where no GR bin was
        measured are left out.

    Raises
    ------
    NoDataError
        No DPR sample within range of the radar.
    MissingVariableError, ReadError
        Inputs of the wrong kind (swapped arguments, a volume without DBZH, a swath without geometry).
    """
    _check_dpr(dpr)
    _check_gr(gr)
    relation = _zr(zr)
    if not 0 <= min_range < max_range:
        raise ParameterError(f"min_range={min_range}, max_range={max_range}: need 0 <= min_range < max_range (m).")
    site = {"lat": float(gr["latitude"]), "lon": float(gr["longitude"]), "height": float(gr["altitude"])}
    forward, inverse = _radar_plane(site)
    fp = _in_range(_footprints(dpr, site, forward, max_range, parallax), min_range, max_range)
    sweeps, slant, height = _choose_sweeps(fp, gr["elevation"].values, float(gr["range"].max()), site, k)
    z, count, gr_time = _average_gr(fp, gr, sweeps, footprint_radius, site, k)
    keep = count > 0
    if not keep.any():
        raise NoDataError("the ground radar measured none of the bins under the DPR samples in range; check that "
                          "the volume and the overpass are of the same place and time.")
    lon, lat = inverse.transform(fp.x, fp.y)
    pairs = _pairs(fp, keep, z=z, count=count, sweeps=sweeps, slant=slant, height=height, lon=lon, lat=lat,
                   gr=gr, gr_time=gr_time, relation=relation)
    pairs.attrs.update(zr=str(zr), footprint_radius_m=footprint_radius, min_range_m=min_range,
                       max_range_m=max_range, parallax=int(parallax), ground_radar=gr.attrs.get("source", ""),
                       spaceborne_radar=dpr.attrs.get("source", ""))
    return stamp(pairs.rio.write_crs("EPSG:4326"), "eoxr.rain.validate.match", min_range=min_range,
                 max_range=max_range, footprint_radius=footprint_radius, zr=zr, parallax=parallax, k=k)


def _pairs(fp: _Footprints, keep, *, z, count, sweeps, slant, height, lon, lat, gr, gr_time, relation) -> xr.Dataset:
    dim = "footprint"
    offset = (fp.time - gr_time) / np.timedelta64(1, "s")
    dpr_dbz = np.where(np.isfinite(fp.dbz), fp.dbz, np.nan)
    return xr.Dataset(
        {
            "rain_rate_dpr": (dim, fp.rain[keep], {"units": "mm h-1", "long_name": "DPR near-surface rain rate"}),
            "rain_rate_gr": (dim, _rain_from_z(z, fp.kind, relation)[keep], {
                "units": "mm h-1", "long_name": "ground-radar rain rate from the footprint-mean Z (Z-R relation)"}),
            "reflectivity_dpr": (dim, dpr_dbz[keep], {
                "units": "dBZ", "long_name": "DPR attenuation-corrected near-surface reflectivity (Ku)"}),
            "reflectivity_gr": (dim, _dbz(z)[keep], {
                "units": "dBZ", "long_name": "ground-radar reflectivity, linear-Z mean over the footprint"}),
            "gr_bin_count": (dim, count[keep], {"units": "1", "long_name": "ground-radar bins averaged"}),
        },
        coords={
            "latitude": (dim, lat[keep], {"units": "degrees_north", "long_name": "latitude of the matched sample",
                                          "standard_name": "latitude"}),
            "longitude": (dim, lon[keep], {"units": "degrees_east", "long_name": "longitude of the matched sample",
                                           "standard_name": "longitude"}),
            "ground_distance": (dim, np.hypot(fp.x, fp.y)[keep], {
                "units": "m", "long_name": "distance from the radar along the ground"}),
            "range": (dim, slant[keep], {"units": "m", "long_name": "ground-radar slant range to the sample"}),
            "height": (dim, height[keep], {"units": "m",
                                           "long_name": "ground-radar beam centre height above sea level"}),
            "height_dpr": (dim, fp.height[keep], {"units": "m",
                                                  "long_name": "DPR near-surface sample height above the ellipsoid"}),
            "elevation": (dim, gr["elevation"].values[sweeps][keep], {
                "units": "degree", "long_name": "elevation of the matched ground-radar sweep"}),
            "time_offset": (dim, offset[keep], {"units": "s",
                                                "long_name": "DPR scan time minus ground-radar ray time"}),
            "along_track": (dim, fp.along[keep], {"units": "1", "long_name": "DPR scan index"}),
            "cross_track": (dim, fp.cross[keep], {"units": "1", "long_name": "DPR ray index"}),
            "precipitation_type": (dim, fp.kind[keep], {
                "units": "1", "long_name": "DPR precipitation type (0 none, 1 stratiform, 2 convective, 3 other)"}),
        },
    )


# ------------------------------------------------------------------------------------------ scores


def case_metrics(pairs: xr.Dataset, threshold: float = 0.1, min_dbz: float = DPR_MIN_DBZ) -> dict[str, float]:
    """Scores of a matched case: :func:`eoxr.metrics.precip` of DPR against GR rain, and reflectivity agreement.

    ``reflectivity_bias_dB`` is the mean of DPR minus GR dBZ, ``reflectivity_correlation`` their Pearson r,
    both over the pairs where both reach ``min_dbz`` (:data:`DPR_MIN_DBZ`).
    """
    from .. import metrics

    scores = metrics.precip(pairs["rain_rate_dpr"], pairs["rain_rate_gr"], threshold=threshold)
    zd, zg = pairs["reflectivity_dpr"].values, pairs["reflectivity_gr"].values
    both = (zd >= min_dbz) & (zg >= min_dbz)
    scores.update(
        n_pairs=int(pairs.sizes["footprint"]),
        n_reflectivity_pairs=int(both.sum()),
        reflectivity_bias_dB=float(np.mean(zd[both] - zg[both])) if both.any() else float("nan"),
        reflectivity_correlation=metrics.correlation(zd[both], zg[both]) if both.sum() > 1 else float("nan"),
        time_offset_s=float(np.nanmedian(pairs["time_offset"].values)),
    )
    return scores


def groundradar_case(dpr_path, gr_path, **match_kw) -> tuple[xr.Dataset, dict[str, float]]:
    """Open a DPR granule and a ground-radar volume, match them, score them: ``(pairs, scores)``.

    ``match_kw`` go to :func:`match`; see the module docstring for the method and an example.
    """
    from ..io import open_product

    pairs = match(open_product(dpr_path), open_product(gr_path), **match_kw)
    return pairs, case_metrics(pairs)


def plot_case(pairs: xr.Dataset, kind: str = "rain", ax=None, threshold: float = 0.1):
    """Scatter plot of GR (x) against DPR (y), coloured by the GR beam height; returns the matplotlib Axes.

    ``kind="rain"``: rain rates on log axes, the pairs where either radar reaches ``threshold`` (mm h-1);
    ``kind="reflectivity"``: dBZ, the pairs where both radars have echo.
    """
    import matplotlib.pyplot as plt

    if kind not in ("rain", "reflectivity"):
        raise ParameterError(f"kind={kind!r}: choose 'rain' or 'reflectivity'.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    name, unit = ("rain_rate", "mm h$^{-1}$") if kind == "rain" else ("reflectivity", "dBZ")
    x, y = pairs[f"{name}_gr"].values, pairs[f"{name}_dpr"].values
    shown = np.isfinite(x) & np.isfinite(y)
    if kind == "rain":
        shown &= (x >= threshold) | (y >= threshold)
    points = ax.scatter(x[shown], y[shown], s=8, alpha=0.6, c=pairs["height"].values[shown] / 1000.0)
    ax.figure.colorbar(points, ax=ax, label="ground-radar beam height (km)")
    low = threshold if kind == "rain" else min(x[shown].min(), y[shown].min())
    high = max(x[shown].max(), y[shown].max())
    ax.plot([low, high], [low, high], "k--", lw=1, label="1:1")
    if kind == "rain":
        ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high))
    ax.set(xlabel=f"ground radar ({unit})", ylabel=f"DPR near surface ({unit})",
           title=f"{int(shown.sum())} of {pairs.sizes['footprint']} matched footprints")
    ax.legend(loc="upper left")
    return ax


#: IPWG SPR baseline variables -> eoxr.metrics.precip names (units in the names).
_IPWG_NAMES = {
    "bias": "bias_percent", "mae": "mae_mm_h", "mse": "mse_mm2_h2", "correlation_coef": "correlation",
    "pod": "pod", "far": "far", "hss": "hss", "smape": "smape_percent",
    "effective_resolution": "effective_resolution_deg", "pod_heavy": "pod_heavy", "far_heavy": "far_heavy",
    "hss_heavy": "hss_heavy",
}


def ipwg_baseline(path) -> dict[str, float]:
    """Scalar scores of an IPWG SPR benchmark baseline file (Pfreundschuh et al. 2024, ipwgml) as a dict.

    Names follow :func:`eoxr.metrics.precip` (``bias_percent``, ``mae_mm_h``, ``mse_mm2_h2``,
    ``correlation``, ``pod``, ``far``, ``hss``) plus ``smape_percent``, ``effective_resolution_deg`` and
    the heavy-precipitation detection scores. Context, not a like-for-like comparison: the benchmark scores
    retrievals against gauge-corrected MRMS over CONUS. Its HSS comes from ipwgml's ``HSS`` metric, which
    counts false alarms in place of misses (``n_fn`` from ``positive & ~true``); :func:`eoxr.metrics.precip`
    uses the standard Heidke score, so the two HSS agree only when misses equal false alarms.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file; the IPWG baselines are in shared/data/real/ipwg_stats/.")
    with xr.open_dataset(path) as ds:
        missing = [v for v in ("bias", "mae", "mse", "correlation_coef", "pod", "far", "hss") if v not in ds]
        if missing:
            raise MissingVariableError(f"{path}: lacks {missing}; it is not an IPWG SPR baseline file "
                                       "(baseline_<retrieval>_<sensor>_conus.nc from ipwgml's files/baselines).")
        return {new: float(ds[old]) for old, new in _IPWG_NAMES.items() if old in ds and ds[old].ndim == 0}
