"""The two pixel readers of :func:`eoxr.io.load`, driven with one grid: stackstac and odc-stac."""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import CRSError
from .gdal import odc_env, stackstac_env
from .readers import NamedOdcDriver, NamedRioReader
from .retry import ReadRetry


def load_stackstac(items, bands, out_crs, res, bounds, chunks, resampling, raw_dtype, on_error, options, where,
                   fill=np.nan):
    import functools

    import stackstac
    from rasterio.enums import Resampling

    epsg = out_crs.to_epsg()
    if epsg is None:
        raise CRSError(
            f"engine='stackstac' needs a CRS with an EPSG code, got {out_crs.to_string()}; "
            "pass crs='EPSG:....' or use engine='odc'"
        )
    # Failed reads are handled by the reader (marked with on_error="nodata"), not by stackstac, whose
    # errors_as_nodata would leave no trace of them.
    reader = functools.partial(NamedRioReader, where=where, retry=ReadRetry.from_options(options),
                               nodata_on_error=on_error == "nodata")
    arr = stackstac.stack(
        items,
        assets=bands,
        epsg=epsg,
        resolution=res,
        bounds=bounds,
        snap_bounds=False,
        resampling=Resampling[resampling],
        chunksize=(chunks["time"], 1, chunks["y"], chunks["x"]),
        dtype=np.dtype(raw_dtype),
        fill_value=np.dtype(raw_dtype).type(fill),  # typed: stackstac checks np.can_cast
        rescale=False,  # scale/offset applied per item below, after nodata masking
        sortby_date=False,
        xy_coords="center",
        properties=False,
        band_coords=False,
        gdal_env=stackstac_env(options),
        errors_as_nodata=(),
        reader=reader,
    )
    arr = arr.assign_coords(time=("time", np.asarray(arr["time"].values, dtype="datetime64[ns]")))
    keep = {"time", "band", "x", "y"}
    arr = arr.drop_vars([c for c in arr.coords if c not in keep])
    return xr.Dataset({b: arr.sel(band=b, drop=True) for b in bands})


def load_odc(items, bands, out_crs, res, bounds, chunks, resampling, raw_dtype, on_error, options, where,
             fill=np.nan):
    import odc.stac
    import pystac
    from odc.geo.geobox import GeoBox

    geobox = GeoBox.from_bbox(bounds, out_crs, resolution=res, tight=True)
    py_items = []
    for d in items:
        d = dict(d)
        # Hrefs are absolute already; without a self link odc-stac does not re-resolve them.
        d["links"] = [lk for lk in d.get("links", []) if lk.get("rel") != "self"]
        py_items.append(pystac.Item.from_dict(d, preserve_dict=False))
    ds = odc.stac.load(
        py_items,
        bands=bands,
        geobox=geobox,
        groupby="id",  # one time step per item; merging is done after per-item scaling
        preserve_original_order=True,
        resampling=resampling,
        dtype=raw_dtype,
        nodata=None if np.isnan(fill) else fill,  # integer reads: the STAC nodata fills the gaps
        chunks={"time": chunks["time"], "y": chunks["y"], "x": chunks["x"]},
        fail_on_error=True,  # failures reach the reader, which names them or marks them (on_error="nodata")
        driver=NamedOdcDriver(odc_env(options), where, nodata_on_error=on_error == "nodata"),
    )
    rename = {k: v for k, v in {"latitude": "y", "longitude": "x"}.items() if k in ds.dims}
    ds = ds.rename(rename)
    ds = ds.drop_vars([c for c in ds.coords if c not in {"time", "x", "y"}])
    return ds
