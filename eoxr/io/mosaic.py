"""Solar-day mosaics: items of the same local solar day merged, first valid pixel in time order wins.

Which items share a solar day is odc-stac's ``groupby="solar_day"``, computed by odc-stac: the acquisition time
shifted by the longitude of the loaded area's centre (whole hours, ``ParsedItem.solar_date_at``), so both
engines group as ``odc.stac.load`` does.

The merge itself stays here, after :func:`eoxr.io.load` has masked nodata, applied each item's raster
scale/offset and flagged failed reads: odc-stac fuses the files' raw values before any of that, and stackstac
does not group at all. Measured on two items of one solar day whose raster offsets differ (-0.1 and 0, a
Sentinel-2 L2A scene and its reprocessing with another baseline), the first with holes: ``odc.stac.load(...,
groupby="solar_day")`` then one scale/offset per day is off by 0.1 reflectance on the 47 % of pixels filled from
the second item; this merge matches the per-item values (both engines, within float32).
"""
from __future__ import annotations

import numpy as np


def solar_days(item_dicts: list[dict], bounds, crs) -> np.ndarray:
    """The local solar day (``datetime64[ns]`` at midnight) of each item, as odc-stac's ``groupby="solar_day"``
    puts it for a load of ``bounds`` (minx, miny, maxx, maxy) in ``crs``."""
    import odc.stac
    import pystac
    from odc.geo.geom import box

    ((lon, _),) = box(*bounds, crs).centroid.to_crs("epsg:4326").points  # as odc.stac.load: the area's centre
    days = [odc.stac.parse_item(pystac.Item.from_dict(d, preserve_dict=False)).solar_date_at(lon).date()
            for d in item_dicts]
    return np.array(days, dtype="datetime64[D]").astype("datetime64[ns]")


def mosaic_solar_day(ds, days: np.ndarray):
    """``ds`` with its time steps of one solar day (``days``, one per time step) merged, first valid pixel in
    time order; ``time`` the day's earliest acquisition, ``solar_day`` a coordinate; ``read_ok`` all of the day's."""
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
