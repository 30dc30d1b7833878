"""Solar-day mosaics: items of the same local solar day merged, first valid pixel in time order wins."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import GridError
from .items import item_time


def _solar_day(item: dict) -> np.datetime64:
    """Local solar day of an item: UTC time shifted by longitude / 15 hours, truncated to the day."""
    when = item_time(item)
    bbox = item.get("bbox")
    if bbox is None:
        raise GridError(
            f"item {item['id']!r} has no bbox, so its solar day is unknown; use groupby=None or add a bbox"
        )
    lon = 0.5 * (bbox[0] + bbox[2])
    if bbox[0] > bbox[2]:  # crosses the antimeridian
        lon = ((bbox[0] + bbox[2] + 360) / 2 + 180) % 360 - 180
    return (when + pd.Timedelta(hours=lon / 15.0)).to_datetime64().astype("datetime64[D]")


def mosaic_solar_day(ds, item_dicts):
    days = np.array([_solar_day(d) for d in item_dicts], dtype="datetime64[ns]")
    ds = ds.assign_coords(solar_day=("time", days))
    first_time = ds["time"].groupby("solar_day").min()
    data_vars = [v for v in ds.data_vars if v != "read_ok"]
    merged = ds[data_vars].drop_vars("time").groupby("solar_day").first(skipna=True)
    if "read_ok" in ds:
        merged["read_ok"] = ds["read_ok"].drop_vars("time").groupby("solar_day").all()
        merged["read_ok"].attrs = ds["read_ok"].attrs
    for v in data_vars:
        merged[v].attrs = ds[v].attrs
    merged = merged.rename({"solar_day": "time"}).assign_coords(
        time=("time", first_time.values), solar_day=("time", first_time["solar_day"].values)
    )
    return merged
