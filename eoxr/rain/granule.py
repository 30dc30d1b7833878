"""Synthetic swaths written as files: a 1C-GMI granule in the PPS V07 HDF5 layout, and its reference in netCDF.

:func:`write_1c` writes what :func:`eoxr.io.open_product` reads from a real 1C-GMI file (groups ``S1`` with the
9 channels 10.65-89 GHz and ``S2`` with 166 and 183.31 GHz; ``Tc`` with fill -9999.9, ``Latitude``,
``Longitude``, ``ScanTime``, ``incidenceAngle``, ``Quality``; the ``FileHeader`` attribute), so the sample
catalog's swath goes through the same reader as a granule from PPS. Both swaths are written on the same pixel
positions (a real granule's S2 positions differ by a few km). :func:`write_reference` writes the reference rain
rate (CF netCDF, 2-D latitude/longitude).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ParameterError
from .radiometers import GMI

FILL = -9999.9
SWATHS = {"S1": GMI.channel_names[:9], "S2": GMI.channel_names[9:]}


def granule_name(ds: xr.Dataset) -> str:
    """A PPS-like file name: ``1C.GPM.GMI.SYNTH.<date>-S<start>-E<end>.<seed>.V07A.HDF5``."""
    t = pd.to_datetime(ds["scan_time"].values)
    return (f"1C.GPM.GMI.SYNTH.{t[0]:%Y%m%d}-S{t[0]:%H%M%S}-E{t[-1]:%H%M%S}."
            f"{int(ds.attrs.get('synth_seed', 0)):06d}.V07A.HDF5")


def _header(ds: xr.Dataset) -> str:
    t = pd.to_datetime(ds["scan_time"].values)
    fields = {"AlgorithmID": "1CGMI", "AlgorithmVersion": "SYNTH", "ProductVersion": "V07A",
              "SatelliteName": "GPM", "InstrumentName": "GMI", "GranuleNumber": str(ds.attrs.get("synth_seed", 0)),
              "StartGranuleDateTime": f"{t[0]:%Y-%m-%dT%H:%M:%S.000Z}",
              "StopGranuleDateTime": f"{t[-1]:%Y-%m-%dT%H:%M:%S.000Z}"}
    return "".join(f"{k}={v};\n" for k, v in fields.items())


def _scan_time(group: h5py.Group, times: np.ndarray) -> None:
    t = pd.to_datetime(times)
    st = group.create_group("ScanTime")
    for name, values in (("Year", t.year), ("Month", t.month), ("DayOfMonth", t.day), ("Hour", t.hour),
                         ("Minute", t.minute), ("Second", t.second), ("MilliSecond", t.microsecond // 1000)):
        st.create_dataset(name, data=np.asarray(values, dtype=np.int16 if name == "Year" else np.int8))


def write_1c(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the GMI swath ``ds`` (:func:`eoxr.rain.synth.scene`) as a 1C-GMI HDF5 granule at ``path``."""
    if ds.attrs.get("sensor") != "gmi":
        raise ParameterError(f"write_1c writes GMI swaths; this one is {ds.attrs.get('sensor')!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tb = ds["brightness_temperature"].transpose("along_track", "cross_track", "channel")
    with h5py.File(path, "w") as f:
        f.attrs["FileHeader"] = np.bytes_(_header(ds))
        for swath, names in SWATHS.items():
            g = f.create_group(swath)
            tc = g.create_dataset("Tc", data=tb.sel(channel=names).fillna(FILL).values.astype(np.float32))
            tc.attrs["CodeMissingValue"] = np.bytes_(str(FILL))
            tc.attrs["units"] = np.bytes_("K")
            for name in ("Latitude", "Longitude"):
                g.create_dataset(name, data=ds[name.lower()].values.astype(np.float32))
            _scan_time(g, ds["scan_time"].values)
            inc = np.full(ds["latitude"].shape + (1,), GMI.incidence, np.float32)
            g.create_dataset("incidenceAngle", data=inc)
            g.create_dataset("Quality", data=np.zeros(ds["latitude"].shape, np.int8))
    return path


def write_reference(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the swath's reference ``rain_rate`` (mm h-1) and ancillaries as CF netCDF at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = ["rain_rate", "surface_type", "total_precipitable_water"]
    out = ds[keep].drop_vars("spatial_ref", errors="ignore")
    out.attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
    out.to_netcdf(path, engine="h5netcdf")
    return path
