"""Small hand-made sensor cubes of the pivot's layout (time, y, x; one variable per pivot band; a CRS), whose
values are a known function of time and place, for tests of the fusion."""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
ORIGIN = (600_000.0, 4_800_000.0)  # upper-left corner, UTM 31N metres


def cube(values, resolution: float, size: int, days, *, bands=BANDS, crs="EPSG:32631", origin=ORIGIN,
         hour: float = 10.5) -> xr.Dataset:
    """A cube of ``size`` x ``size`` pixels of ``resolution`` m observed on ``days`` (day numbers from
    2021-01-01, at ``hour``), where band ``b`` is ``values(b, day, y, x)`` (arrays of metres and days)."""
    x = origin[0] + resolution * (np.arange(size) + 0.5)
    y = origin[1] - resolution * (np.arange(size) + 0.5)
    days = np.asarray(days, dtype=float)
    time = pd.Timestamp("2021-01-01") + pd.to_timedelta(days, unit="D") + pd.Timedelta(hours=hour)
    t, yy, xx = np.meshgrid(days, y, x, indexing="ij")
    data = {b: (("time", "y", "x"), np.asarray(values(i, t, yy, xx), dtype="f4")) for i, b in enumerate(bands)}
    ds = xr.Dataset(data, coords={"time": time, "y": y, "x": x})
    for b in bands:
        ds[b].attrs.update(units="1", long_name=f"{b} surface reflectance")
    return ds.rio.write_crs(crs)


def linear_in_time(band, t, y, x):
    """A reflectance linear in time, with a different level per band and per place."""
    return 0.05 + 0.03 * band + 0.0004 * t + 0.02 * np.sin((x - ORIGIN[0]) / 37.0) * np.cos((y - ORIGIN[1]) / 53.0)


def constant(value):
    return lambda band, t, y, x: np.full(np.shape(t), value + 0.01 * band)
