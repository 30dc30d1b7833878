"""STAC items -> lazy, CF-annotated ``xarray.Dataset`` with ``(time, y, x)`` variables and a CRS.

:func:`load` reads the item metadata (projection, raster and eo extensions), builds one output grid,
and hands the pixel reading to `stackstac <https://stackstac.readthedocs.io>`_ (default) or
`odc-stac <https://odc-stac.readthedocs.io>`_. Both engines are driven with the same grid, so they
return the same ``x``/``y`` coordinates for the same request. Everything after the reader (nodata
masking, scale/offset, solar-day mosaics, failed-read flags) is done here, identically for both.

No pixel is read by :func:`load`: it returns a Dask-backed Dataset. :func:`check_valid` is the one
function here that computes (a per-scene count of valid pixels).

The steps live in small modules: ``items`` (item dicts, hrefs, times), ``assets`` and ``bands`` (asset
metadata, band names), ``grid`` (output grid), ``engines`` and ``readers`` (pixel reading), ``scaling``
(nodata, scale/offset), ``mosaic`` (solar days).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..attrs import georeference, item_ref, stamp
from ..errors import GridError, MissingVariableError, NoDataError, ParameterError
from .assets import AssetInfo, asset_info, native_epsg
from .bands import resolve_bands
from .cubes import is_cube_item, load_cubes
from .engines import load_odc, load_stackstac
from .gdal import gdal_options
from .grid import native_resolution, output_grid, parse_crs, pixel_centres
from .items import as_item_dicts, engine_items, item_time, product_attrs
from .limits import check_output_size
from .mosaic import mosaic_solar_day, solar_days
from .readers import read_failures
from .scaling import band_attrs, needs_float64, scaled, source_packing

ENGINES = ("stackstac", "odc")
DEFAULT_CHUNKS = {"time": 1, "y": 1024, "x": 1024}


def load(
    items,
    *,
    bands: Sequence[str] | str | None = None,
    resolution: float | None = None,
    crs=None,
    bbox: Sequence[float] | None = None,
    bbox_crs="EPSG:4326",
    chunks: Mapping[str, int] | None = None,
    engine: str = "stackstac",
    groupby: str | None = None,
    dtype="float32",
    resampling: str = "nearest",
    on_error: str = "raise",
    gdal_env: Mapping[str, Any] | None = None,
    storage_options: dict | None = None,
) -> xr.Dataset:
    """Build a lazy ``(time, y, x)`` Dataset, one variable per band, from STAC items.

    Items of Zarr datacubes (a Zarr asset, as :func:`eoxr.cube.write` with ``catalog=`` makes them) are
    opened as stored (:func:`eoxr.cube.open`): one cube as it is, several joined along ``time``; ``bands``
    selects variables, ``bbox`` clips, ``chunks`` rechunks, and the options of raster assets are refused.

    Parameters
    ----------
    items
        ``pystac.ItemCollection``, list of ``pystac.Item`` or list of item dicts (a FeatureCollection
        dict too). Items with projection v1 (``proj:epsg``) or v2 (``proj:code``) both work.
    bands
        Asset keys or eo common names (``"red"``, ``"nir"``...). Variables are named as requested.
        Default: every raster data asset that all items carry.
    resolution
        Pixel size in output-CRS units (metres for UTM). Default: the finest native resolution of the
        requested assets.
    crs
        Output CRS (``"EPSG:32633"``, an int, a ``pyproj``/``rasterio`` CRS). Default: the items' own
        CRS; items on several CRSs need it.
    bbox, bbox_crs
        Area to load as (minx, miny, maxx, maxy) in ``bbox_crs`` (default lon/lat); reprojected to the
        output CRS and snapped outwards to the pixel grid. Default: union of the items' footprints.
    chunks
        Dask chunks, e.g. ``{"time": 1, "y": 1024, "x": 1024}`` (missing keys take these defaults).
    engine
        ``"stackstac"`` or ``"odc"`` (odc-stac). Same grid and values from both.
    groupby
        ``None`` (one time step per item) or ``"solar_day"``: items of the same local solar day (as odc-stac's
        ``groupby="solar_day"`` finds it: the time shifted by the longitude of the area's centre, in whole
        hours) are mosaicked, first valid pixel in time order wins; ``time`` is the earliest acquisition time.
    dtype
        Floating output dtype. Nodata pixels are NaN; raster-extension scale/offset are applied.
        ``"source"``: the files' integers, unscaled, with CF ``scale_factor``, ``add_offset`` and
        ``_FillValue`` (the nodata, also outside the scenes) attributes; ``xr.decode_cf`` or a Zarr round
        trip gives the float values exactly (as float64; its float32 equals the float32 load). Needs one
        integer data type and nodata for all bands and items and one scale/offset per band (else
        :class:`~eoxr.errors.SourceDtypeError`), groupby=None, on_error="raise", resampling="nearest".
    resampling
        rasterio resampling name (``"nearest"``, ``"bilinear"``, ``"average"``...).
    on_error
        ``"raise"``: an unreadable asset makes compute raise :class:`eoxr.errors.ReadError` naming the
        item id and href. ``"nodata"``: the windows that could not be read (a missing, truncated or corrupt
        file, a server that fails) are NaN, and the boolean variable ``read_ok(time, band)`` is False where
        any window of that asset failed (True elsewhere). ``read_ok`` comes from the reads themselves:
        compute it together with the bands (``ds.compute()``) so that each chunk is read once.
    gdal_env
        GDAL options overriding :data:`eoxr.io.gdal.DEFAULT_GDAL_OPTIONS`; they reach Dask workers. A remote
        read waits at most ``GDAL_HTTP_TIMEOUT`` seconds per request and is tried ``GDAL_HTTP_MAX_RETRY`` more
        times on 429/5xx answers, timeouts and dropped connections (:mod:`eoxr.io.retry`).
    storage_options
        fsspec options for the Zarr assets of cube items on object stores (``s3://...``).

    Returns
    -------
    xarray.Dataset
        Variables ``(time, y, x)`` with ``units`` and ``long_name``, ``spatial_ref`` CRS, ``x``/``y``
        pixel centres. Nothing is read until compute. A scene with no valid pixel in the bbox stays
        NaN; :func:`check_valid` finds (and drops) such scenes. ``attrs["eoxr_inputs"]`` names the items
        loaded (id, self href, collection, time), as :mod:`eoxr.attrs` describes.

    Raises
    ------
    ParameterError
        An argument value load cannot use, or an output larger than the dask config setting
        ``eoxr.io.max-output-bytes`` (default 1 TiB, see :mod:`eoxr.io.limits`), refused before any array
        or task is made.
    """
    _check_arguments(engine, groupby, on_error, dtype, resampling)
    source = isinstance(dtype, str) and dtype == "source"
    out_dtype = np.dtype("float32" if source else dtype)
    item_dicts = as_item_dicts(items)
    if any(is_cube_item(d) for d in item_dicts):
        raster_only = dict(resolution=resolution, crs=crs, groupby=groupby, gdal_env=gdal_env,
                           dtype=None if isinstance(dtype, str) and dtype == "float32" else dtype,
                           resampling=None if resampling == "nearest" else resampling,
                           on_error=None if on_error == "raise" else on_error)
        return load_cubes(item_dicts, bands=bands, bbox=bbox, bbox_crs=bbox_crs, chunks=chunks,
                          storage_options=storage_options, raster_only=raster_only)
    chunks = {**DEFAULT_CHUNKS, **dict(chunks or {})}
    options = gdal_options(gdal_env)
    item_dicts.sort(key=lambda d: (item_time(d), d["id"]))
    names, per_item = resolve_bands(item_dicts, bands)

    out_crs, res, bounds, inside = output_grid(item_dicts, per_item, crs, resolution, bbox, bbox_crs)
    item_dicts = [item_dicts[i] for i in inside]
    per_item = [per_item[i] for i in inside]
    check_output_size(len(item_dicts), names, bounds, res, out_crs, out_dtype, chunks,
                      native_resolution(per_item, out_crs))
    items_for_engine, where = engine_items(item_dicts, per_item)

    # Integers up to 24 bits are exact in float32; wider sources are read as float64.
    wide = any(needs_float64(info.dtype) for chosen in per_item for info in chosen.values())
    raw_dtype = "float64" if (wide or out_dtype == np.float64) else "float32"
    fill = np.nan
    if source:
        raw_dtype, fill = source_packing(per_item, names)

    loader = load_stackstac if engine == "stackstac" else load_odc
    raw = loader(items_for_engine, names, out_crs, res, bounds, chunks, resampling, raw_dtype, on_error, options, where,
                 fill=fill)
    raw = raw.transpose("time", "y", "x")
    raw = raw.assign_coords(pixel_centres(raw, bounds, res))
    times = np.array([item_time(d).to_datetime64() for d in item_dicts], dtype="datetime64[ns]")
    got = np.asarray(raw["time"].values, dtype="datetime64[ns]")
    # Per-item scale/offset below are aligned by position: the engine must keep our item order.
    if got.shape != times.shape or np.any(np.abs(got - times) > np.timedelta64(1, "ms")):
        raise GridError(f"engine {engine!r} returned time steps {got} for items at {times}; "
                        "report this with the items")
    raw = raw.assign_coords(time=("time", times))

    ds = xr.Dataset(coords={"time": raw["time"], "y": raw["y"], "x": raw["x"]})
    read_ok = {}
    for name in names:
        if on_error == "nodata":
            values, read_ok[name] = read_failures(raw[name].data)
            raw[name] = raw[name].copy(data=values)
        infos = [chosen[name] for chosen in per_item]
        attrs = band_attrs(infos, name)
        if source:  # the integers as stored, with the CF attributes that decode them
            scale, offset = attrs.get("applied_scale_offset", (1.0, 0.0))
            if (scale, offset) != (1.0, 0.0):
                attrs.update(scale_factor=scale, add_offset=offset)
            attrs["_FillValue"] = fill
            data = raw[name].data
        else:
            data = scaled(raw[name].data, infos, out_dtype)
        ds[name] = xr.DataArray(data, dims=raw[name].dims, coords=raw[name].coords, attrs=attrs)

    if on_error == "nodata":
        ds["read_ok"] = _read_flags(read_ok, ds["time"])

    if groupby == "solar_day":
        ds = mosaic_solar_day(ds, solar_days(item_dicts, bounds, out_crs))

    ds = ds.transpose("time", ..., "y", "x")
    ds = georeference(ds, out_crs)
    ds.attrs.update(product_attrs(item_dicts))
    return stamp(ds, "eoxr.io.load", made_from=[item_ref(d) for d in item_dicts], engine=engine, bands=names,
                 crs=out_crs.to_string(), resolution=res, bounds=tuple(float(b) for b in bounds), groupby=groupby,
                 on_error=on_error, n_items=len(item_dicts))


def _check_arguments(engine, groupby, on_error, dtype, resampling) -> None:
    """Refuse argument values :func:`load` cannot use before reading any item."""
    from rasterio.enums import Resampling

    if engine not in ENGINES:
        raise ParameterError(f"engine={engine!r}; pass one of {ENGINES} (same grid and values from both).")
    if groupby not in (None, "solar_day"):
        raise ParameterError(f"groupby={groupby!r}; pass None (one time step per item) or 'solar_day' (items of "
                             "one local solar day mosaicked).")
    if on_error not in ("raise", "nodata"):
        raise ParameterError(f"on_error={on_error!r}; pass 'raise' (a failed read fails the compute) or 'nodata' "
                             "(its pixels NaN, flagged in 'read_ok').")
    source = isinstance(dtype, str) and dtype == "source"
    if source and (groupby is not None or on_error != "raise" or resampling != "nearest"):
        raise ParameterError("dtype='source' reads the files' integers as they are: it needs groupby=None, "
                             "on_error='raise' and resampling='nearest'; pass dtype='float32' for the others.")
    try:
        floating = source or np.dtype(dtype).kind == "f"
    except TypeError:
        floating = False
    if not floating:
        raise ParameterError(f"dtype={dtype!r}; pass a float type such as 'float32' (nodata becomes NaN) or "
                             "'source' (the files' integers with CF scale_factor/_FillValue attributes).")
    if resampling not in Resampling.__members__:
        raise ParameterError(f"resampling={resampling!r}; pass one of {sorted(Resampling.__members__)}.")


def _read_flags(read_ok: dict, time) -> xr.DataArray:
    """``read_ok(time, band)`` from each band's per-time-step flags (see :func:`.readers.read_failures`)."""
    import dask.array as da

    names = list(read_ok)
    flags = xr.DataArray(da.stack([read_ok[n] for n in names], axis=1), dims=("time", "band"),
                         coords={"time": time, "band": names})
    return flags.assign_attrs(units="1", long_name="every window of this band and time step was read (False: the "
                                                   "windows that failed are NaN)")


def check_valid(ds: xr.Dataset, variables: Sequence[str] | None = None, *, drop: bool = True) -> xr.Dataset:
    """Find time steps with no valid (non-NaN) pixel; raise :class:`NoDataError` when none has one.

    This computes one count per time step and variable (it reads the pixels). With ``drop=True`` the
    empty time steps are dropped from the returned Dataset (still lazy); with ``drop=False`` the
    Dataset is returned unchanged once at least one valid pixel exists. ``attrs["empty_times"]``
    lists the dropped/empty times.
    """
    names = list(variables) if variables is not None else [
        v for v in ds.data_vars if {"y", "x"} <= set(ds[v].dims) and ds[v].dtype.kind == "f"
    ]
    missing = [v for v in names if v not in ds.data_vars]
    if missing:
        raise MissingVariableError(f"check_valid: variables {missing} not in dataset ({sorted(ds.data_vars)})")
    if not names:
        raise MissingVariableError("check_valid: no floating (y, x) variable to check; pass variables=[...]")
    counts = sum(ds[v].notnull().sum(["y", "x"]) for v in names)
    counts = counts.compute()
    if int(counts.sum()) == 0:
        raise NoDataError(
            f"no valid pixel in {names}: every scene is nodata over this area. Widen or move the bbox, "
            "check that it lies inside the items' footprint, or choose other items (e.g. less cloud)"
        )
    if "time" not in counts.dims:
        return ds
    empty = counts["time"].values[(counts == 0).values]
    out = ds.isel(time=(counts > 0).values) if drop else ds.copy()
    out.attrs["empty_times"] = [str(t) for t in empty]
    return out


__all__ = ["load", "check_valid", "ENGINES", "DEFAULT_CHUNKS", "AssetInfo", "asset_info", "native_epsg", "parse_crs"]
