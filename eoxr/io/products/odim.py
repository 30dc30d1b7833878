"""Ground weather-radar volumes in ODIM_H5 (OPERA Data Information Model, HDF5, versions 2.x) -> lazy Dataset.

Michelson et al. (2014), "EUMETNET OPERA weather radar information model for implementation with the HDF5
file format", version 2.2, OPERA deliverable OPERA_2008_03. The layout read here:

* the root ``what`` (``object`` PVOL for a volume, SCAN for one sweep; ``date``, ``time``, ``source``),
  ``where`` (site ``lat``, ``lon`` in degrees, ``height`` in m above sea level) and ``how`` groups;
* one ``datasetN`` group per sweep, N = 1, 2, ... in scan order, each with ``where`` (``elangle`` deg,
  ``nrays``, ``nbins``, ``rscale`` m, ``rstart`` km, ``a1gate``), ``what`` (``startdate``/``starttime``,
  ``enddate``/``endtime``) and ``how`` (``astart`` deg);
* one ``dataM`` group per quantity, with ``what/quantity`` (DBZH, TH, VRADH, ...) and the packed array
  ``data`` (nrays x nbins), decoded as value = ``gain`` * raw + ``offset``. Raw ``nodata`` marks bins never
  radiated, raw ``undetect`` bins radiated where nothing was detected.

An attribute missing from a group is taken from the next group up (data -> dataset -> root), as the model
allows. Rays are stored in azimuth order from ``astart``: ray i is centred at astart + (i + 0.5) 360/nrays
degrees; ``a1gate`` is the ray the antenna swept first, which with the sweep's start and end times gives
each ray's time. Bin j is centred at rstart + (j + 0.5) rscale along the beam. Per-ray azimuths and times
(``how/startazA``, ``how/startazT``), where present, are not read: the nominal ones differ from them by a
fraction of a ray.

The result has dims (``sweep``, ``azimuth``, ``range``): sweeps of one volume share their ray count, bin
length and start azimuth (checked); a sweep with fewer bins is padded with NaN. Quantities become
``reflectivity`` (DBZH, dBZ), ``total_reflectivity`` (TH), ``radial_velocity`` (VRADH), ``spectrum_width``
(WRADH), ``differential_reflectivity`` (ZDR), ``cross_correlation_ratio`` (RHOHV), ``differential_phase``
(PHIDP) and ``specific_differential_phase`` (KDP); nodata and undetect are NaN. ``reflectivity_valid`` says
which bins were measured (a value or undetect): where a file gives nodata and undetect the same raw value
(as the Australian Bureau of Meteorology's volumes do) the two cannot be told apart, and every bin within the
sweep's range is taken as measured. The CRS written is the azimuthal equidistant projection centred on the
radar, in which ground positions of the bins are naturally expressed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
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

#: ODIM quantity -> (variable, units, long_name, CF standard_name or "").
QUANTITIES = {
    "DBZH": ("reflectivity", "dBZ", "equivalent reflectivity factor, horizontal polarisation (corrected)",
             "equivalent_reflectivity_factor"),
    "TH": ("total_reflectivity", "dBZ", "total reflectivity factor, horizontal polarisation (uncorrected)", ""),
    "VRADH": ("radial_velocity", "m s-1", "radial velocity of scatterers away from the radar",
              "radial_velocity_of_scatterers_away_from_instrument"),
    "WRADH": ("spectrum_width", "m s-1", "Doppler spectrum width", ""),
    "ZDR": ("differential_reflectivity", "dB", "differential reflectivity", ""),
    "RHOHV": ("cross_correlation_ratio", "1", "co-polar correlation coefficient", ""),
    "PHIDP": ("differential_phase", "degree", "differential phase", ""),
    "KDP": ("specific_differential_phase", "degree km-1", "specific differential phase", ""),
}

_OBJECTS = ("PVOL", "SCAN")


def is_odim(f: h5py.File) -> bool:
    """Whether an open HDF5 file is an ODIM_H5 polar volume or sweep."""
    what = f.get("what")
    return isinstance(what, h5py.Group) and _text(what.attrs.get("object", "")) in _OBJECTS and "dataset1" in f


@dataclass
class Sweep:
    """One ``datasetN`` group: its geometry, times and the path of each quantity's data."""

    group: str
    elevation: float
    nrays: int
    nbins: int
    rscale: float
    rstart_m: float
    astart: float
    a1gate: int
    start: np.datetime64
    end: np.datetime64
    data: dict[str, str] = field(default_factory=dict)  # quantity -> "datasetN/dataM"

    @property
    def geometry(self) -> tuple:
        return (self.nrays, self.rscale, self.rstart_m, self.astart)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _attr(f: h5py.File, groups: list[str], kind: str, name: str, default=None):
    """``kind/name`` (kind: what, where, how) from the first of ``groups`` (innermost first) that has it."""
    for group in groups:
        node = f.get(f"{group}/{kind}" if group else kind)
        if node is not None and name in node.attrs:
            value = node.attrs[name]
            return value.item() if isinstance(value, np.ndarray) and value.size == 1 else value
    return default


def _datetime(date, time) -> np.datetime64:
    return np.datetime64(pd.to_datetime(_text(date) + _text(time), format="%Y%m%d%H%M%S"), "ns")


def _sweeps(f: h5py.File, path) -> list[Sweep]:
    names = sorted((k for k in f if re.fullmatch(r"dataset\d+", k)), key=lambda k: int(k[7:]))
    sweeps = []
    for name in names:
        up = [name, ""]

        def where(key, default=None, up=up):
            value = _attr(f, up, "where", key, default)
            if value is None:
                raise ReadError(f"{path}: {name} has no where/{key} (nor the root); the ODIM file is incomplete. "
                                "Re-export it from the radar archive.")
            return value

        start = _datetime(_attr(f, up, "what", "startdate", _attr(f, [""], "what", "date")),
                          _attr(f, up, "what", "starttime", _attr(f, [""], "what", "time")))
        end_date = _attr(f, up, "what", "enddate")
        end = _datetime(end_date, _attr(f, up, "what", "endtime")) if end_date is not None else start
        sweep = Sweep(group=name, elevation=float(where("elangle")), nrays=int(where("nrays")),
                      nbins=int(where("nbins")), rscale=float(where("rscale")),
                      rstart_m=1000.0 * float(where("rstart", 0.0)), astart=float(_attr(f, up, "how", "astart", 0.0)),
                      a1gate=int(where("a1gate", 0)), start=start, end=end)
        for data in sorted((k for k in f[name] if re.fullmatch(r"data\d+", k)), key=lambda k: int(k[4:])):
            quantity = _attr(f, [f"{name}/{data}"], "what", "quantity")
            if quantity is not None:
                sweep.data[_text(quantity)] = f"{name}/{data}"
        sweeps.append(sweep)
    return sweeps


def _select(sweeps: list[Sweep], sweep, path) -> list[Sweep]:
    if sweep is None:
        chosen = sweeps
    else:
        wanted = [sweep] if np.isscalar(sweep) else list(sweep)
        bad = [i for i in wanted if not 0 <= int(i) < len(sweeps)]
        if bad:
            listing = ", ".join(f"{i}: {s.elevation:g} deg" for i, s in enumerate(sweeps))
            raise ReadError(f"{path}: sweep {bad} does not exist; the volume has sweeps {listing}. Pass sweep= one "
                            "of these indices (0 is dataset1) or a list of them.")
        chosen = [sweeps[int(i)] for i in wanted]
    geometries = {s.geometry for s in chosen}
    if len(geometries) > 1:
        groups = {g: [i for i, s in enumerate(sweeps) if s.geometry == g and s in chosen] for g in geometries}
        listing = "; ".join(f"sweeps {idx}: {g[0]} rays, {g[1]:g} m bins from {g[2]:g} m, astart {g[3]:g} deg"
                            for g, idx in groups.items())
        raise ReadError(f"{path}: its sweeps differ in ray or bin geometry ({listing}), so they do not stack on "
                        "one (azimuth, range) grid. Open one geometry at a time with sweep=[...] from one group.")
    return chosen


def _quantity(path, f: h5py.File, sweep: Sweep, quantity: str, nbins: int, chunks: tuple):
    """One sweep's quantity decoded lazily (gain, offset; nodata and undetect -> NaN), padded to ``nbins``.

    Returns (values, measured): ``measured`` is False where the raw value is nodata or past the sweep's bins.
    """
    shape = (sweep.nrays, nbins)
    if quantity not in sweep.data:
        return dsa.full(shape, np.nan, dtype=np.float32, chunks=chunks), dsa.zeros(shape, dtype=bool, chunks=chunks)
    group = sweep.data[quantity]
    up = [group, sweep.group, ""]
    ds = f[f"{group}/data"]
    if ds.shape != (sweep.nrays, sweep.nbins):
        raise ReadError(f"{path}: {group}/data is {ds.shape}, its where says {sweep.nrays} rays x {sweep.nbins} bins; "
                        "the file is inconsistent. Re-export it from the radar archive.")
    raw = to_dask(HDF5Dataset(str(path), f"{group}/data", ds.shape, ds.dtype), chunks)
    nodata, undetect = (_attr(f, up, "what", key) for key in ("nodata", "undetect"))
    values = decode(raw, scale=float(_attr(f, up, "what", "gain", 1.0)),
                    offset=float(_attr(f, up, "what", "offset", 0.0)), fill=nodata)
    if undetect is not None:
        values = dsa.where(raw == undetect, np.float32(np.nan), values)
    measured = raw != nodata if nodata is not None and nodata != undetect else dsa.ones_like(raw, dtype=bool)
    pad = ((0, 0), (0, nbins - sweep.nbins))
    return (dsa.pad(values, pad, constant_values=np.nan).rechunk(chunks),
            dsa.pad(measured, pad, constant_values=False).rechunk(chunks))


def _ray_times(sweep: Sweep) -> np.ndarray:
    """Mid-time of each ray, in azimuth order: ray a1gate was swept first."""
    order = (np.arange(sweep.nrays) - sweep.a1gate) % sweep.nrays
    return sweep.start + ((order + 0.5) / sweep.nrays * (sweep.end - sweep.start)).astype("timedelta64[ns]")


def _chunks(chunks, nrays: int, nbins: int) -> tuple[int, int]:
    if chunks is None:
        return nrays, nbins
    if isinstance(chunks, dict):
        return min(int(chunks.get("azimuth", nrays)), nrays), min(int(chunks.get("range", nbins)), nbins)
    return min(int(chunks), nrays), nbins


def _coords(sweeps: list[Sweep], nbins: int, site: dict) -> dict:
    first = sweeps[0]
    azimuth = (first.astart + (np.arange(first.nrays) + 0.5) * 360.0 / first.nrays) % 360.0
    return {
        "azimuth": ("azimuth", azimuth, {"units": "degree", "long_name": "azimuth of the ray centre, clockwise "
                                                                         "from north"}),
        "range": ("range", first.rstart_m + (np.arange(nbins) + 0.5) * first.rscale,
                  {"units": "m", "long_name": "distance along the beam to the bin centre"}),
        "elevation": ("sweep", np.array([s.elevation for s in sweeps]),
                      {"units": "degree", "long_name": "antenna elevation angle of the sweep"}),
        "time": ("sweep", np.array([s.start for s in sweeps]), {"long_name": "sweep start time (UTC)"}),
        "ray_time": (("sweep", "azimuth"), np.stack([_ray_times(s) for s in sweeps]),
                     {"long_name": "time the ray was swept (UTC, from the sweep's start and end times)"}),
        "latitude": ((), site["lat"], {"units": "degrees_north", "long_name": "radar site latitude",
                                       "standard_name": "latitude"}),
        "longitude": ((), site["lon"], {"units": "degrees_east", "long_name": "radar site longitude",
                                        "standard_name": "longitude"}),
        "altitude": ((), site["height"], {"units": "m", "long_name": "radar antenna height above sea level"}),
    }


def _site(f: h5py.File, path) -> dict:
    site = {k: _attr(f, [""], "where", k) for k in ("lat", "lon", "height")}
    missing = [k for k, v in site.items() if v is None]
    if missing:
        raise MissingVariableError(f"{path}: the root where group lacks {missing}; without the site position the "
                                   "bins cannot be placed. Re-export the volume from the radar archive.")
    return {k: float(v) for k, v in site.items()}


def open_odim(path, sweep=None, chunks=None) -> xr.Dataset:
    """ODIM_H5 polar volume (PVOL) or sweep (SCAN) -> Dataset on (sweep, azimuth, range), lazy.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file.
    sweep : int or list of int, optional
        Sweeps to read, 0 being ``dataset1``; default all (they must share ray count, bin length and start
        azimuth: read one group at a time otherwise).
    chunks : int or dict, optional
        Rays per chunk (int) or ``{"azimuth": n, "range": m}``; default one chunk per sweep.

    Returns
    -------
    xarray.Dataset
        The quantities listed in :data:`QUANTITIES` that the file holds (``reflectivity`` in dBZ from DBZH,
        ...), ``reflectivity_valid``, coordinates ``azimuth`` (deg), ``range`` (m), ``elevation`` (deg) and
        ``time`` per sweep, ``ray_time``, and the site's ``latitude``, ``longitude``, ``altitude``.

    Raises
    ------
    ReadError
        Not an ODIM_H5 volume, a sweep index that does not exist, sweeps that do not stack.
    MissingVariableError
        No quantity eoxr knows, or no site position.
    """
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ReadError(f"{path}: HDF5 library cannot open the file ({exc}); it is damaged. Re-download it.") from exc
    with f:
        if not is_odim(f):
            raise ReadError(f"{path}: not an ODIM_H5 polar volume or sweep (no root what/object PVOL or SCAN with "
                            "dataset1). Pass a radar volume in ODIM_H5 (OPERA) format; convert other radar formats "
                            "(NEXRAD, CfRadial, Rainbow) with xradar or wradlib first.")
        site = _site(f, path)
        sweeps = _select(_sweeps(f, path), sweep, path)
        known = [q for q in QUANTITIES if any(q in s.data for s in sweeps)]
        if not known:
            held = sorted({q for s in sweeps for q in s.data})
            raise MissingVariableError(f"{path}: holds none of the quantities eoxr reads ({', '.join(QUANTITIES)}); "
                                       f"it has {held}. Read it with h5py directly.")
        nbins = max(s.nbins for s in sweeps)
        blocks = _chunks(chunks, sweeps[0].nrays, nbins)
        data_vars = {}
        for quantity in known:
            name, units, long_name, standard_name = QUANTITIES[quantity]
            parts = [_quantity(path, f, s, quantity, nbins, blocks) for s in sweeps]
            attrs = {"units": units, "long_name": long_name, "odim_quantity": quantity}
            if standard_name:
                attrs["standard_name"] = standard_name
            data_vars[name] = (("sweep", "azimuth", "range"), dsa.stack([p[0] for p in parts]), attrs)
            if quantity == "DBZH":
                data_vars["reflectivity_valid"] = (("sweep", "azimuth", "range"), dsa.stack([p[1] for p in parts]), {
                    "units": "1", "long_name": "bin measured (a reflectivity or below the detection threshold)"})
        attrs = {
            "source": _text(_attr(f, [""], "what", "source", "")),
            "odim_object": _text(_attr(f, [""], "what", "object")),
            "odim_version": _text(_attr(f, [""], "what", "version", "")),
            "skipped_quantities": ", ".join(sorted({q for s in sweeps for q in s.data} - set(QUANTITIES))),
        }
    ds = xr.Dataset(data_vars, coords=_coords(sweeps, nbins, site), attrs=attrs)
    ds = georeference(ds, f"+proj=aeqd +lat_0={site['lat']} +lon_0={site['lon']} +x_0=0 +y_0=0 +datum=WGS84 "
                          "+units=m +no_defs")
    return stamp(ds, "eoxr.io.open_product", path=Path(path).name, sweep=sweep)
