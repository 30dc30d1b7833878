"""GPM products (HDF5, PPS V07 layout) -> lazy Datasets.

* 1C-GMI: inter-calibrated brightness temperatures of the GPM Microwave Imager, 13 channels on two
  swaths (S1: 10.65-89 GHz, S2: 166 and 183.31 GHz). Berg et al. (2016), "Intercalibration of the GPM
  microwave radiometer constellation", JTECH 33(12), doi:10.1175/JTECH-D-16-0100.1.
* 2A-DPR, 2A-Ku, 2A-Ka (V05-V07, PPS 2A-CS coincidence subsets too): near-surface precipitation rate and
  reflectivity of the Dual-frequency Precipitation Radar, with the geometry (zenith angle, height of the
  near-surface bin, sub-satellite point) that matching with ground radars needs. Iguchi et al.
  (2010/2021), GPM/DPR Level-2 Algorithm Theoretical Basis Document.
* 2A-GPROF: radiometer surface precipitation, Kummerow et al. (2015), JTECH 32(12),
  doi:10.1175/JTECH-D-15-0039.1.
* IMERG (3B-HHR): 0.1 deg half-hourly merged precipitation, Huffman et al. (2020) in
  "Satellite Precipitation Measurement", doi:10.1007/978-3-030-24568-9_19.

Swath products (1C, 2A) have no affine grid: every pixel has its own latitude/longitude, given as 2-D
coordinates on the ``along_track`` x ``cross_track`` dims; the CRS written is that of those
coordinates (WGS 84 geographic), with no GeoTransform. Regrid (pyresample, xESMF) before mixing them
with gridded data. Geolocation and scan times are read at open (they are coordinates); measurements
stay lazy.
"""
from __future__ import annotations

import re
from pathlib import Path

import dask.array as dsa
import h5py
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ...attrs import georeference, stamp
from ...errors import MissingVariableError, ReadError
from .lazy import HDF5Dataset, decode, to_dask

SWATH_NOTE = (
    "swath product: no affine grid; each pixel's position is in the 2-D latitude/longitude coordinates "
    "(degrees, WGS 84). Regrid (pyresample, xESMF) before combining with gridded data."
)

#: GMI channels per swath: (frequency GHz, polarization, sideband offset GHz), Berg et al. (2016) table 1.
GMI_CHANNELS = {
    "S1": [(10.65, "V", 0.0), (10.65, "H", 0.0), (18.7, "V", 0.0), (18.7, "H", 0.0), (23.8, "V", 0.0),
           (36.64, "V", 0.0), (36.64, "H", 0.0), (89.0, "V", 0.0), (89.0, "H", 0.0)],
    "S2": [(166.0, "V", 0.0), (166.0, "H", 0.0), (183.31, "V", 3.0), (183.31, "V", 7.0)],
}

#: Brightness temperatures an Earth scene can give at 10-183 GHz, with margin: the coldest (calm ocean at
#: 10 GHz H, ~70 K; ice scattering in deep convection at 89-166 GHz, ~40 K) to the warmest (hot desert,
#: ~330 K). A Tc outside is a fill or a corrupt value, never a measurement, and becomes NaN.
TB_VALID_RANGE_K = (20.0, 350.0)

GPS_EPOCH = np.datetime64("1980-01-06T00:00:00", "ns")


def file_header(f: h5py.File) -> dict[str, str]:
    """The ``FileHeader`` attribute (``Key=Value;`` lines) as a dict."""
    raw = f.attrs.get("FileHeader", b"")
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return dict(re.findall(r"(\w+)=([^;]*);", text))


def _open(path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ReadError(f"{path}: HDF5 library cannot open the file ({exc}); it is damaged. Re-download it.") from exc


def _require(f: h5py.File, names: list[str], path, product: str) -> None:
    missing = [n for n in names if n not in f]
    if missing:
        raise MissingVariableError(
            f"{path}: {product} file lacks {missing}. It is not a complete PPS V07 {product} granule "
            "(a subsetted or older-version file?); download the full granule from PPS / GES DISC."
        )


def _fill(ds: h5py.Dataset):
    fill = ds.attrs.get("_FillValue")
    if fill is None:
        code = ds.attrs.get("CodeMissingValue")
        fill = float(code) if code is not None else None
    return None if fill is None else np.asarray(fill).reshape(-1)[0]


def _eager(f: h5py.File, name: str) -> np.ndarray:
    """A small dataset (geolocation) read now, fill -> NaN."""
    ds = f[name]
    values = ds[()].astype(np.float64 if ds.dtype == np.float64 else np.float32)
    fill = _fill(ds)
    if fill is not None:
        values[ds[()] == fill] = np.nan
    return values


def _lazy(path, f: h5py.File, name: str, chunks: tuple, valid_range=None) -> object:
    """A measurement as a lazy float32 dask array, fill (and values outside ``valid_range``) -> NaN."""
    return decode(_lazy_raw(path, f, name, chunks), fill=_fill(f[name]), valid_range=valid_range)


def _lazy_raw(path, f: h5py.File, name: str, chunks: tuple) -> object:
    """A dataset as a lazy dask array of its stored numbers; dims beyond ``chunks`` stay whole."""
    ds = f[name]
    chunks = tuple(chunks) + (-1,) * (ds.ndim - len(chunks))
    return to_dask(HDF5Dataset(str(path), name, ds.shape, ds.dtype),
                   tuple(min(c, n) if c > 0 else n for c, n in zip(chunks, ds.shape)))


def scan_time(f: h5py.File, swath: str) -> np.ndarray:
    """Start time of each scan (datetime64[ns]; NaT where the file says missing)."""
    g = f[f"{swath}/ScanTime"]
    parts = {k: g[v][()].astype(np.int64) for k, v in dict(
        year="Year", month="Month", day="DayOfMonth", hour="Hour", minute="Minute", second="Second",
        ms="MilliSecond").items()}
    bad = np.zeros_like(parts["year"], dtype=bool)
    for v in parts.values():
        bad |= v < 0
    frame = pd.DataFrame({k: np.where(bad, 1 if k in ("month", "day") else 2000, v) for k, v in parts.items()})
    times = pd.to_datetime(frame).to_numpy("datetime64[ns]")
    times[bad] = np.datetime64("NaT")
    return times


def _swath_coords(f: h5py.File, swath: str, suffix: str = "") -> dict:
    return {
        f"latitude{suffix}": (("along_track", "cross_track"), _eager(f, f"{swath}/Latitude"),
                              {"units": "degrees_north", "long_name": f"latitude of the {swath} pixel centre",
                               "standard_name": "latitude"}),
        f"longitude{suffix}": (("along_track", "cross_track"), _eager(f, f"{swath}/Longitude"),
                               {"units": "degrees_east", "long_name": f"longitude of the {swath} pixel centre",
                                "standard_name": "longitude"}),
    }


def _finish(ds: xr.Dataset, header: dict, path, method_params: dict, swath: bool = True) -> xr.Dataset:
    ds.attrs.update(
        algorithm=header.get("AlgorithmID", ""),
        algorithm_version=header.get("AlgorithmVersion", ""),
        product_version=header.get("ProductVersion", ""),
        satellite=header.get("SatelliteName", ""),
        instrument=header.get("InstrumentName", ""),
        granule_number=header.get("GranuleNumber", ""),
        time_coverage_start=header.get("StartGranuleDateTime", ""),
        time_coverage_end=header.get("StopGranuleDateTime", ""),
        source=Path(path).name,
    )
    if swath:
        ds.attrs["geolocation"] = SWATH_NOTE
        ds = georeference(ds, "EPSG:4326")
    return stamp(ds, "eoxr.io.open_product", path=Path(path).name, **method_params)


def _swath_chunks(chunks) -> int:
    if chunks is None:
        return 1000
    if isinstance(chunks, dict):
        return int(chunks.get("along_track", 1000))
    return int(chunks if isinstance(chunks, int) else chunks[0])


def open_gmi_1c(path, swath: str = "both", chunks=None) -> xr.Dataset:
    """1C-GMI -> ``brightness_temperature`` (K) on (along_track, cross_track, channel).

    ``swath``: ``"S1"`` (9 channels 10.65-89 GHz), ``"S2"`` (4 channels 166/183 GHz) or ``"both"``
    (13 channels, on S1's pixel positions; S2's own positions are kept as ``latitude_s2`` /
    ``longitude_s2`` because GMI's high-frequency feedhorn views the ground a few km apart and 1C does
    not co-register the swaths). Fill (-9999.9) and values outside :data:`TB_VALID_RANGE_K` are NaN;
    ``qa`` is the file's Quality (0 good; negative where the data are missing or bad, as for fill).
    Coords: ``frequency`` (GHz), ``polarization`` (V/H), ``frequency_offset`` (GHz, the 183.31 +/- 3 and
    +/- 7 GHz sidebands), ``scan_time``.
    """
    swaths = ["S1", "S2"] if swath == "both" else [swath]
    if any(s not in GMI_CHANNELS for s in swaths):
        raise ReadError(f"{path}: swath={swath!r}; choose 'S1', 'S2' or 'both'.")
    along = _swath_chunks(chunks)
    with _open(path) as f:
        header = file_header(f)
        _require(f, [f"{s}/{v}" for s in swaths for v in ("Tc", "Latitude", "Longitude", "ScanTime")], path, "1C-GMI")
        shapes = {s: f[f"{s}/Tc"].shape for s in swaths}
        for s in swaths:
            if shapes[s][-1] != len(GMI_CHANNELS[s]):
                raise ReadError(
                    f"{path}: {s}/Tc has {shapes[s][-1]} channels, GMI {s} has {len(GMI_CHANNELS[s])}; "
                    "this is not a GMI 1C file. Open other radiometers' 1C files with xarray/h5py."
                )
        if len({shape[:2] for shape in shapes.values()}) > 1:
            raise ReadError(f"{path}: swaths {swaths} differ in size {shapes}; open them one at a time with swath=.")
        tb = dsa.concatenate([_lazy(path, f, f"{s}/Tc", (along, -1, -1), valid_range=TB_VALID_RANGE_K)
                              for s in swaths], axis=2)
        channels = [c + (s,) for s in swaths for c in GMI_CHANNELS[s]]
        coords = _swath_coords(f, swaths[0])
        if swath == "both":
            coords.update(_swath_coords(f, "S2", suffix="_s2"))
        coords["scan_time"] = ("along_track", scan_time(f, swaths[0]), {"long_name": "scan start time (UTC)"})
        incidence = _lazy(path, f, f"{swaths[0]}/incidenceAngle", (along, -1, -1))[..., 0] \
            if f"{swaths[0]}/incidenceAngle" in f else None
        quality = _lazy_raw(path, f, f"{swaths[0]}/Quality", (along, -1)) if f"{swaths[0]}/Quality" in f else None

    names = [f"{fr:g}{'+-%g' % off if off else ''}{pol}" for fr, pol, off, _s in channels]
    data_vars = {
        "brightness_temperature": (
            ("along_track", "cross_track", "channel"), tb,
            {"units": "K", "long_name": "inter-calibrated brightness temperature",
             "standard_name": "brightness_temperature", "source_dataset": ", ".join(f"{s}/Tc" for s in swaths)},
        )
    }
    if incidence is not None:
        data_vars["view_zenith"] = (("along_track", "cross_track"), incidence, {
            "units": "degree", "long_name": f"earth incidence angle of the {swaths[0]} channels"})
    if quality is not None:
        data_vars["qa"] = (("along_track", "cross_track"), quality, {
            "units": "1", "long_name": f"{swaths[0]} pixel quality (0 good; see the 1C file specification)"})
    ds = xr.Dataset(data_vars, coords=coords).assign_coords(
        channel=("channel", names),
        frequency=("channel", np.array([c[0] for c in channels]), {"units": "GHz", "long_name": "centre frequency"}),
        polarization=("channel", [c[1] for c in channels], {"long_name": "polarization (V vertical, H horizontal)"}),
        frequency_offset=("channel", np.array([c[2] for c in channels]),
                          {"units": "GHz", "long_name": "double-sideband offset from the centre frequency"}),
        swath=("channel", [c[3] for c in channels], {"long_name": "1C swath the channel comes from"}),
    )
    return _finish(ds, header, path, {"swath": swath})


#: Range sampling of the DPR swaths with 176 bins (Ku NS, Ka MS in V05-V06; FS in V07): 125 m, the last bin
#: centred on the ellipsoid (bin numbers in the files count from 1 at the top). GPM DPR Level-2 file
#: specification; Iguchi et al. (2021), DPR Level-2 ATBD.
DPR_RANGE_BIN_M = 125.0
DPR_BIN_ELLIPSOID = 176

#: Major precipitation type of the DPR classification (typePrecip // 10**7), Awaka et al. (2016),
#: doi:10.1175/JTECH-D-15-0116.1 (flag_values below; fill and no rain -> 0).
PRECIPITATION_TYPES = ("no_precipitation", "stratiform", "convective", "other")


def _band_dims(ndim: int) -> tuple[str, ...]:
    """Dims of a DPR field: a trailing frequency axis (V07 2A-DPR: Ku, Ka) becomes ``radar_band``."""
    return ("along_track", "cross_track", "radar_band")[:ndim]


def _first_present(f: h5py.File, names: list[str]) -> str | None:
    return next((n for n in names if n in f), None)


def _precipitation_type(path, f: h5py.File, name: str, chunks: tuple):
    raw = _lazy_raw(path, f, name, chunks)
    major = raw // 10_000_000
    return dsa.where(major > 0, major, 0).astype(np.int8)


def _height_near_surface(path, f: h5py.File, swath: str, chunks: tuple):
    """Height above the ellipsoid (m) of the lowest clutter-free bin: ((176 - bin) * 125 m + offset) cos(zenith).

    The offset (``ellipsoidBinOffset``) places the ellipsoid within its bin; the cosine turns slant range into
    height along the Ku beam (flat Earth over the ~20 km of the profile: under 5 m error near the surface).
    None for swaths that are not sampled in 176 bins of 125 m.
    """
    names = [f"{swath}/PRE/binClutterFreeBottom", f"{swath}/PRE/ellipsoidBinOffset", f"{swath}/PRE/localZenithAngle"]
    profile = f.get(f"{swath}/PRE/zFactorMeasured")
    if any(n not in f for n in names) or profile is None or profile.shape[2] != DPR_BIN_ELLIPSOID:
        return None
    bottom = _lazy(path, f, names[0], chunks)
    offset = _lazy(path, f, names[1], chunks)
    zenith = _lazy(path, f, names[2], chunks)
    if zenith.ndim == 3:
        zenith = zenith[..., 0]  # the Ku beam's geometry
    slant = (DPR_BIN_ELLIPSOID - bottom) * np.float32(DPR_RANGE_BIN_M) + offset
    return slant * np.cos(np.deg2rad(zenith))


def open_dpr_2a(path, swath: str | None = None, chunks=None) -> xr.Dataset:
    """2A-DPR, 2A-Ku and 2A-Ka radar swaths -> near-surface ``rain_rate`` (mm h-1) and reflectivity (dBZ).

    Reads the V07 layout (``FS``, ``HS`` swaths) and the V05-V06 one (``NS``, ``MS``, ``HS``), PPS
    coincidence subsets (2A-CS) included. ``swath``: default ``FS``, else ``NS``.

    Variables (lazy; fill -> NaN), on (along_track, cross_track) and, for the V07 2A-DPR, ``radar_band``
    (Ku, Ka):

    * ``rain_rate``: precipRateNearSurface (mm h-1), at the lowest clutter-free bin; 0 where no rain.
    * ``reflectivity_near_surface``: attenuation-corrected radar reflectivity factor at that bin (dBZ;
      zFactorFinalNearSurface in V07, zFactorCorrectedNearSurface before); NaN where there is no echo.
    * ``precipitation_type``: 0 none, 1 stratiform, 2 convective, 3 other (typePrecip // 10**7).
    * ``local_zenith_angle`` (degree) and ``height_near_surface`` (m above the ellipsoid, of the
      clutter-free bottom bin): the geometry that places the near-surface sample, for parallax.
    * ``qa``: qualityFlag.

    Coordinates: ``latitude``/``longitude`` (footprint centre on the ellipsoid), ``scan_time`` and, where
    the file has its navigation group, ``spacecraft_latitude``/``spacecraft_longitude`` (the scan's
    sub-satellite point, towards which off-nadir samples above the ground lean).
    """
    along = _swath_chunks(chunks)
    with _open(path) as f:
        header = file_header(f)
        if swath is None:
            swath = next((s for s in ("FS", "NS") if s in f), "FS")
        rate = f"{swath}/SLV/precipRateNearSurface"
        _require(f, [rate, f"{swath}/Latitude", f"{swath}/Longitude", f"{swath}/ScanTime"], path, "2A radar")
        data_vars = {"rain_rate": (("along_track", "cross_track"), _lazy(path, f, rate, (along, -1)), {
            "units": "mm h-1", "long_name": "near-surface precipitation rate (DPR)",
            "standard_name": "rainfall_rate", "source_dataset": rate})}
        refl = _first_present(f, [f"{swath}/SLV/zFactorFinalNearSurface", f"{swath}/SLV/zFactorCorrectedNearSurface"])
        if refl is not None:
            z = _lazy(path, f, refl, (along, -1, -1))
            data_vars["reflectivity_near_surface"] = (_band_dims(z.ndim), z, {
                "units": "dBZ", "long_name": "attenuation-corrected radar reflectivity factor at the lowest "
                "clutter-free bin", "standard_name": "equivalent_reflectivity_factor", "source_dataset": refl})
        kind = f"{swath}/CSF/typePrecip"
        if kind in f:
            data_vars["precipitation_type"] = (("along_track", "cross_track"),
                                               _precipitation_type(path, f, kind, (along, -1)), {
                "units": "1", "long_name": "DPR precipitation type", "flag_values": np.arange(4, dtype=np.int8),
                "flag_meanings": " ".join(PRECIPITATION_TYPES), "source_dataset": kind})
        zenith = f"{swath}/PRE/localZenithAngle"
        if zenith in f:
            angle = _lazy(path, f, zenith, (along, -1, -1))
            data_vars["local_zenith_angle"] = (_band_dims(angle.ndim), angle, {
                "units": "degree", "long_name": "zenith angle of the radar beam at the footprint",
                "source_dataset": zenith})
        height = _height_near_surface(path, f, swath, (along, -1))
        if height is not None:
            data_vars["height_near_surface"] = (("along_track", "cross_track"), height, {
                "units": "m", "long_name": "height above the ellipsoid of the lowest clutter-free bin (Ku beam)"})
        flag = f"{swath}/FLG/qualityFlag"
        if flag in f:
            qa = _lazy_raw(path, f, flag, (along, -1))
            data_vars["qa"] = (_band_dims(qa.ndim), qa, {
                "units": "1", "long_name": "DPR quality flag per radar band (0 good, 1 warning, 2 error)"})
        coords = _swath_coords(f, swath)
        coords["scan_time"] = ("along_track", scan_time(f, swath), {"long_name": "scan start time (UTC)"})
        coords.update(_spacecraft_coords(f, swath))
    ds = xr.Dataset(data_vars, coords=coords)
    if "radar_band" in ds.dims and ds.sizes["radar_band"] == 2:
        ds = ds.assign_coords(radar_band=("radar_band", ["Ku", "Ka"]))
    return _finish(ds, header, path, {"swath": swath})


def _spacecraft_coords(f: h5py.File, swath: str) -> dict:
    names = {"spacecraft_latitude": ("scLat", "degrees_north"), "spacecraft_longitude": ("scLon", "degrees_east")}
    if any(f"{swath}/navigation/{v}" not in f for v, _ in names.values()):
        return {}
    return {name: ("along_track", _eager(f, f"{swath}/navigation/{v}"),
                   {"units": units, "long_name": f"sub-satellite point of the scan ({v})"})
            for name, (v, units) in names.items()}


def _gprof_quality(path, f: h5py.File, chunks: tuple):
    """qualityFlag where the retrieval ran (pixelStatus 0), the file's missing code -99 elsewhere.

    GPROF leaves qualityFlag at 0 (best) on pixels it skipped, for instance those whose Tb are fill:
    pixelStatus says why (2: Tb out of range), and such a pixel must not read as good.
    """
    quality = _lazy_raw(path, f, "S1/qualityFlag", chunks)
    if "S1/pixelStatus" not in f:
        return quality
    ran = _lazy_raw(path, f, "S1/pixelStatus", chunks) == 0
    return dsa.where(ran, quality, np.int8(-99)).astype(quality.dtype)


def open_gprof_2a(path, chunks=None) -> xr.Dataset:
    """2A-GPROF -> ``rain_rate`` (mm h-1, surfacePrecipitation) and ``precipitation_probability`` (%).

    ``qa`` is GPROF's qualityFlag where the retrieval ran and -99 where it did not (pixelStatus != 0).
    """
    along = _swath_chunks(chunks)
    with _open(path) as f:
        header = file_header(f)
        _require(f, ["S1/surfacePrecipitation", "S1/Latitude", "S1/Longitude", "S1/ScanTime"], path, "2A-GPROF")
        data_vars = {"rain_rate": (("along_track", "cross_track"),
                                   _lazy(path, f, "S1/surfacePrecipitation", (along, -1)), {
            "units": "mm h-1", "long_name": "surface precipitation rate (GPROF, liquid and frozen)",
            "standard_name": "precipitation_flux", "source_dataset": "S1/surfacePrecipitation"})}
        optional = {
            "S1/probabilityOfPrecip": ("precipitation_probability", "%", "probability of precipitation"),
            "S1/frozenPrecipitation": ("frozen_precipitation_rate", "mm h-1", "frozen surface precipitation rate"),
            "S1/convectivePrecipitation": ("convective_rain_rate", "mm h-1", "convective surface precipitation rate"),
        }
        for name, (var, units, long_name) in optional.items():
            if name in f:
                data_vars[var] = (("along_track", "cross_track"), _lazy(path, f, name, (along, -1)),
                                  {"units": units, "long_name": long_name, "source_dataset": name})
        if "S1/qualityFlag" in f:
            data_vars["qa"] = (("along_track", "cross_track"), _gprof_quality(path, f, (along, -1)), {
                "units": "1", "long_name": "GPROF quality flag (0 best; -99 where no retrieval ran; see the GPROF "
                                           "file specification)"})
        coords = _swath_coords(f, "S1")
        coords["scan_time"] = ("along_track", scan_time(f, "S1"), {"long_name": "scan start time (UTC)"})
    return _finish(xr.Dataset(data_vars, coords=coords), header, path, {})


def open_imerg(path, chunks=None) -> xr.Dataset:
    """IMERG half-hourly (3B-HHR) -> ``precipitation`` (mm h-1) on (time, y=lat, x=lon), EPSG:4326.

    Also ``precipitation_std`` (randomError, mm h-1), ``precipitation_quality_index`` and
    ``liquid_probability`` (%) when present. Rows are flipped to run north to south.
    """
    cy = cx = 1800
    if isinstance(chunks, dict):
        cy, cx = chunks.get("y", cy), chunks.get("x", cx)
    elif chunks is not None:
        cy = cx = int(chunks)
    with _open(path) as f:
        header = file_header(f)
        _require(f, ["Grid/precipitation", "Grid/lat", "Grid/lon", "Grid/time"], path, "IMERG")
        lat, lon = f["Grid/lat"][()].astype(np.float64), f["Grid/lon"][()].astype(np.float64)
        seconds = f["Grid/time"][()].astype("int64")
        wanted = {
            "Grid/precipitation": ("precipitation", "mm h-1", "merged microwave-infrared gauge-adjusted precipitation"),
            "Grid/randomError": ("precipitation_std", "mm h-1", "random error (RMS) of precipitation"),
            "Grid/precipitationQualityIndex": ("precipitation_quality_index", "1", "precipitation quality index"),
            "Grid/probabilityLiquidPrecipitation": ("liquid_probability", "%", "probability of liquid precipitation"),
        }
        data_vars = {}
        for name, (var, units, long_name) in wanted.items():
            if name not in f:
                continue
            values = _lazy(path, f, name, (1, cx, cy))  # file order (time, lon, lat)
            data_vars[var] = (("time", "y", "x"), values.transpose(0, 2, 1)[:, ::-1, :],
                              {"units": units, "long_name": long_name, "source_dataset": name})
    data_vars["precipitation"][2]["standard_name"] = "precipitation_flux"
    ds = xr.Dataset(data_vars, coords={
        "time": ("time", GPS_EPOCH + seconds.astype("timedelta64[s]"), {"long_name": "start of the half hour"}),
        "y": ("y", lat[::-1], {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude",
                               "axis": "Y"}),
        "x": ("x", lon, {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude", "axis": "X"}),
    })
    ds = georeference(ds, "EPSG:4326")
    return _finish(ds, header, path, {}, swath=False)
