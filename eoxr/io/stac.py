"""STAC items -> lazy, CF-annotated ``xarray.Dataset`` with ``(time, y, x)`` variables and a CRS.

:func:`load` reads the item metadata (projection, raster and eo extensions), builds one output grid,
and hands the pixel reading to `stackstac <https://stackstac.readthedocs.io>`_ (default) or
`odc-stac <https://odc-stac.readthedocs.io>`_. Both engines are driven with the same grid, so they
return the same ``x``/``y`` coordinates for the same request. Everything after the reader (nodata
masking, scale/offset, solar-day mosaics, failed-read flags) is done here, identically for both.

No pixel is read by :func:`load`: it returns a Dask-backed Dataset. :func:`check_valid` is the one
function here that computes (a per-scene count of valid pixels).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlparse

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from odc.loader._rio import RioDriver, RioReader
from stackstac.rio_reader import AutoParallelRioReader

from ..attrs import stamp
from ..errors import CRSError, GridError, MissingVariableError, NoDataError, ReadError, SourceDtypeError
from .gdal import gdal_options, odc_env, stackstac_env

ENGINES = ("stackstac", "odc")
DEFAULT_CHUNKS = {"time": 1, "y": 1024, "x": 1024}
# Fraction of a pixel ignored when snapping bounds to the grid (float noise in transforms).
_SNAP_TOL = 1e-6


# --------------------------------------------------------------------------------------------
# asset metadata (projection v1/v2, raster v1.x and STAC 1.1 bands, eo)

# Units as written in raster:bands "unit" -> CF/UDUNITS spelling.
_UNITS = {"kelvin": "K", "k": "K", "celsius": "degC", "degree celsius": "degC", "degc": "degC",
          "metre": "m", "meter": "m", "m": "m", "metres": "m", "meters": "m", "bit index": "1",
          "degree": "degrees", "degrees": "degrees", "percent": "%", "%": "%"}


@dataclass(frozen=True)
class AssetInfo:
    """What :func:`load` needs to know about one asset of one item."""

    key: str
    epsg: int | None
    transform: tuple | None  # affine (a, b, c, d, e, f) of the native grid
    shape: tuple | None  # (rows, cols)
    nodata: float | None
    scale: float
    offset: float
    dtype: str | None
    units: str
    long_name: str

    @property
    def resolution(self) -> float | None:
        return abs(float(self.transform[0])) if self.transform is not None else None

    @property
    def bounds(self) -> tuple | None:
        if self.transform is None or self.shape is None:
            return None
        a, _, c, _, e, f = self.transform[:6]
        rows, cols = self.shape
        xs, ys = (c, c + a * cols), (f, f + e * rows)
        return min(xs), min(ys), max(xs), max(ys)


def parse_crs(crs):
    """A ``rasterio.crs.CRS`` from an EPSG int, a string or a pyproj/rasterio CRS (CRSError if bad)."""
    from rasterio.crs import CRS
    from rasterio.errors import CRSError as RioCRSError

    try:
        if isinstance(crs, (int, np.integer)):
            return CRS.from_epsg(int(crs))
        if hasattr(crs, "to_wkt"):
            return CRS.from_wkt(crs.to_wkt())
        return CRS.from_user_input(crs)
    except (RioCRSError, ValueError, TypeError) as err:
        raise CRSError(f"cannot understand CRS {crs!r} ({err}); give it as 'EPSG:32633' or an EPSG integer") from err


def native_epsg(meta: Mapping) -> int | None:
    """EPSG code from projection v1 ``proj:epsg`` or v2 ``proj:code`` ("EPSG:32633")."""
    epsg = meta.get("proj:epsg")
    if epsg is not None:
        return int(epsg)
    code = meta.get("proj:code")
    if isinstance(code, str) and code.upper().startswith("EPSG:"):
        return int(code.split(":", 1)[1])
    return None


def asset_info(item: dict, key: str) -> AssetInfo:
    """Merge item- and asset-level projection, raster and eo metadata of ``item['assets'][key]``."""
    asset = item["assets"][key]
    props = item["properties"]
    epsg = native_epsg(asset) or native_epsg(props)
    transform = asset.get("proj:transform") or props.get("proj:transform")
    shape = asset.get("proj:shape") or props.get("proj:shape")
    bands = asset.get("raster:bands") or asset.get("bands") or [{}]
    rb = bands[0] if bands else {}
    eo = (_eo_bands(asset, item) or [{}])[0]

    def pick(*names, default=None):
        for src in (rb, asset):
            for n in names:
                if src.get(n) is not None:
                    return src[n]
        return default

    nodata = pick("nodata", "raster:nodata")
    if isinstance(nodata, str):  # "nan", "inf", "-inf" in the raster extension
        nodata = float(nodata)
    scale = float(pick("scale", "raster:scale", default=1.0))
    offset = float(pick("offset", "raster:offset", default=0.0))
    dtype = pick("data_type", "raster:data_type")
    unit = pick("unit", "raster:unit")
    roles = asset.get("roles") or []
    if unit is not None:
        units = _UNITS.get(str(unit).lower(), str(unit))
    elif "temperature" in roles:
        units = "K"
    else:
        units = "1"  # reflectance, indices, classes: dimensionless
    long_name = eo.get("description") or asset.get("title") or key
    return AssetInfo(
        key=key,
        epsg=epsg,
        transform=tuple(float(v) for v in transform[:6]) if transform else None,
        shape=tuple(int(v) for v in shape) if shape else None,
        nodata=float(nodata) if nodata is not None else None,
        scale=scale,
        offset=offset,
        dtype=str(dtype) if dtype else None,
        units=units,
        long_name=str(long_name),
    )


# --------------------------------------------------------------------------------------------
# items


def _as_item_dicts(items) -> list[dict]:
    """Item dicts (deep copies) from a pystac ItemCollection, a list of pystac Items or of dicts."""
    if isinstance(items, Mapping):
        if items.get("type") == "FeatureCollection":
            items = items["features"]
        else:
            items = [items]
    elif callable(getattr(items, "items", None)):
        items = items.items()  # pystac_client.ItemSearch
    elif isinstance(getattr(items, "items", None), list):
        items = items.items  # pystac.ItemCollection
    elif hasattr(items, "to_dict") and hasattr(items, "assets"):
        items = [items]
    out = []
    for it in items:
        if isinstance(it, Mapping):
            d = copy.deepcopy(dict(it))
        elif hasattr(it, "to_dict"):
            # transform_hrefs=False: resolving links would fetch the root catalog over the network.
            d = it.to_dict(transform_hrefs=False)
            self_href = it.get_self_href() if hasattr(it, "get_self_href") else None
            if self_href and not any(lk.get("rel") == "self" for lk in d.get("links", [])):
                d.setdefault("links", []).append({"rel": "self", "href": self_href})
        else:
            raise TypeError(f"load() takes STAC items (pystac.Item or dict), got {type(it).__name__}")
        out.append(d)
    if not out:
        raise MissingVariableError("load() got no STAC item; pass the items of a non-empty search")
    return out


def _absolute_href(href: str, item: dict) -> str:
    """Resolve a relative asset href against the item's self link (STAC rule); keep absolute ones."""
    if urlparse(href).scheme or href.startswith("/"):
        return href
    self_href = next((lk["href"] for lk in item.get("links", []) if lk.get("rel") == "self"), None)
    resolved = urljoin(self_href, href) if self_href else href
    if not (urlparse(resolved).scheme or resolved.startswith("/")):
        raise ReadError(
            f"asset href {href!r} of item {item['id']!r} is relative and the item has no absolute self link to "
            "resolve it against; make it absolute (pystac: item.set_self_href(...) then "
            "item.make_asset_hrefs_absolute())"
        )
    return resolved


def _solar_day(item: dict) -> np.datetime64:
    """Local solar day of an item: UTC time shifted by longitude / 15 hours, truncated to the day."""
    when = _item_time(item)
    bbox = item.get("bbox")
    if bbox is None:
        raise GridError(
            f"item {item['id']!r} has no bbox, so its solar day is unknown; use groupby=None or add a bbox"
        )
    lon = 0.5 * (bbox[0] + bbox[2])
    if bbox[0] > bbox[2]:  # crosses the antimeridian
        lon = ((bbox[0] + bbox[2] + 360) / 2 + 180) % 360 - 180
    return (when + pd.Timedelta(hours=lon / 15.0)).to_datetime64().astype("datetime64[D]")


def _item_time(item: dict) -> pd.Timestamp:
    p = item["properties"]
    value = p.get("datetime") or p.get("start_datetime")
    if value is None:
        raise GridError(f"item {item['id']!r} has no datetime; set properties.datetime")
    when = pd.Timestamp(value)
    return when.tz_convert("UTC").tz_localize(None) if when.tzinfo else when


# --------------------------------------------------------------------------------------------
# bands


def _resolve_bands(items: list[dict], bands) -> tuple[list[str], list[dict[str, AssetInfo]]]:
    """Per item, map every requested name to an :class:`AssetInfo` (asset key or eo common name)."""
    if isinstance(bands, str):
        bands = [bands]
    if bands is None:
        # Every raster data asset of the first item that all items carry.
        first = [k for k, a in items[0]["assets"].items() if _is_raster_data(a)]
        bands = [k for k in first if all(k in it["assets"] for it in items)]
        if not bands:
            raise MissingVariableError(
                f"item {items[0]['id']!r} has no raster data asset common to all items; pass bands=[...]"
            )
    bands = list(dict.fromkeys(bands))
    per_item = []
    for it in items:
        chosen = {}
        for name in bands:
            key = _find_asset(it, name)
            if key is None:
                raise MissingVariableError(
                    f"band {name!r} is not on item {it['id']!r}: it has assets {sorted(it['assets'])}"
                    f"{_common_names_note(it)}. Pick bands from these, or drop the items that lack it."
                )
            chosen[name] = asset_info(it, key)
        per_item.append(chosen)
    return bands, per_item


def _is_raster_data(asset: dict) -> bool:
    kind = (asset.get("type") or "").lower()
    roles = asset.get("roles") or []
    single = len(_eo_bands(asset)) <= 1 and len(asset.get("raster:bands") or []) <= 1  # readers need 1 band
    return ("tiff" in kind or "jp2" in kind) and ("data" in roles or not roles) and "visual" not in roles and single


def _find_asset(item: dict, name: str) -> str | None:
    """Asset key for ``name``: the key itself, else an asset whose eo band has that common name, else
    that band name. Single-band data assets win over multi-band ones (a "visual" RGB asset also
    lists "red"), GeoTIFFs over JPEG2000 copies."""
    assets = item["assets"]
    if name in assets:
        return name
    for field in ("common_name", "name"):
        matches = [key for key, asset in assets.items()
                   if any(b.get(field) == name or b.get(f"eo:{field}") == name for b in _eo_bands(asset, item))]
        if matches:
            return min(matches, key=lambda k: (not _is_raster_data(assets[k]), len(_eo_bands(assets[k], item)),
                                               "jp2" in (assets[k].get("type") or "")))  # COG before JPEG2000
    return None


def _eo_bands(asset: dict, item: dict | None = None) -> list[dict]:
    """The asset's eo bands (eo v1 ``eo:bands``, STAC 1.1 ``bands``); pre-1.0 items list indices
    into the item's ``eo:bands`` instead."""
    bands = list(asset.get("eo:bands") or asset.get("bands") or [])
    item_bands = (item or {}).get("properties", {}).get("eo:bands") or []
    return [item_bands[b] if isinstance(b, int) and b < len(item_bands) else b
            for b in bands if isinstance(b, dict) or (isinstance(b, int) and b < len(item_bands))]


def _common_names_note(item: dict) -> str:
    names = sorted({b.get("common_name") or b.get("eo:common_name") for a in item["assets"].values()
                    for b in _eo_bands(a, item)} - {None})
    return f" and common names {names}" if names else ""


# --------------------------------------------------------------------------------------------
# grid


def _output_crs(per_item: list[dict[str, AssetInfo]], crs):
    if crs is not None:
        return parse_crs(crs)
    epsgs = {info.epsg for chosen in per_item for info in chosen.values()}
    if None in epsgs:
        raise CRSError(
            "some items carry no proj:epsg/proj:code, so their CRS is unknown; pass crs='EPSG:....'"
        )
    if len(epsgs) > 1:
        listed = ", ".join(f"EPSG:{e}" for e in sorted(epsgs))
        raise CRSError(
            f"the items are on several CRSs ({listed}); pass crs= to reproject them onto one, "
            f"e.g. crs='EPSG:{sorted(epsgs)[0]}'"
        )
    return parse_crs(f"EPSG:{epsgs.pop()}")


def _output_resolution(per_item, out_crs, resolution) -> float:
    if resolution is not None:
        res = float(resolution[0] if isinstance(resolution, (tuple, list)) else resolution)
        if not res > 0:
            raise GridError(f"resolution must be positive (CRS units per pixel), got {resolution!r}")
        if out_crs.is_geographic and res > 1:
            raise CRSError(
                f"resolution={res} is in degrees for the geographic CRS {out_crs.to_string()}; give degrees "
                "(e.g. 0.0003 for about 30 m) or pass crs= a projected CRS (UTM) to use metres"
            )
        return res
    native = [info.resolution for chosen in per_item for info in chosen.values()
              if info.resolution is not None and info.epsg is not None and parse_crs(f"EPSG:{info.epsg}") == out_crs]
    if native:
        return min(native)
    raise CRSError(
        f"cannot infer a resolution in {out_crs.to_string()} from the items (they are on another CRS or "
        "lack proj:transform); pass resolution= in the units of the output CRS (e.g. 10 for metres)"
    )


def _anchor(per_item, out_crs, res) -> tuple[float, float]:
    """Grid origin modulo the pixel size: the native grid's when an asset is at this CRS/resolution."""
    for chosen in per_item:
        for info in chosen.values():
            if (info.transform is not None and info.epsg is not None
                    and math.isclose(info.resolution, res) and parse_crs(f"EPSG:{info.epsg}") == out_crs):
                return info.transform[2] % res, info.transform[5] % res
    return 0.0, 0.0


def _footprints(items, per_item, out_crs) -> np.ndarray:
    """Per item, the (minx, miny, maxx, maxy) of its requested assets in the output CRS."""
    from rasterio.warp import transform_bounds

    out = []
    for it, chosen in zip(items, per_item):
        boxes = []
        for info in chosen.values():
            if info.bounds is not None and info.epsg is not None and parse_crs(f"EPSG:{info.epsg}") == out_crs:
                boxes.append(info.bounds)
            elif info.bounds is not None and info.epsg is not None:
                boxes.append(transform_bounds(f"EPSG:{info.epsg}", out_crs, *info.bounds, densify_pts=21))
            elif it.get("bbox"):
                b = it["bbox"]
                lonlat = (b[0], b[1], b[3], b[4]) if len(b) == 6 else tuple(b)
                boxes.append(transform_bounds("EPSG:4326", out_crs, *lonlat, densify_pts=21))
            else:
                raise GridError(f"item {it['id']!r} has no footprint (bbox or proj:transform); pass bbox=")
        boxes = np.asarray(boxes, dtype=float)
        out.append((boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()))
    return np.asarray(out, dtype=float)


def _union(boxes) -> tuple[float, float, float, float]:
    return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()


def _request_bounds(bbox, bbox_crs, out_crs) -> tuple[float, float, float, float]:
    from rasterio.warp import transform_bounds

    if len(bbox) != 4:
        raise CRSError(f"bbox must be (minx, miny, maxx, maxy), got {bbox!r}")
    minx, miny, maxx, maxy = map(float, bbox)
    if not (minx < maxx and miny < maxy):
        raise CRSError(f"bbox {bbox!r} is empty or reversed; give it as (minx, miny, maxx, maxy) in {bbox_crs}")
    src = parse_crs(bbox_crs)
    if src.is_geographic and (abs(minx) > 180 or abs(maxx) > 180 or abs(miny) > 90 or abs(maxy) > 90):
        raise CRSError(
            f"bbox {bbox!r} is outside longitude/latitude range but bbox_crs is {src.to_string()}; "
            "if it is in projected metres pass bbox_crs='EPSG:<its code>' (e.g. the items' UTM zone)"
        )
    if src == out_crs:
        return minx, miny, maxx, maxy
    return transform_bounds(src, out_crs, minx, miny, maxx, maxy, densify_pts=21)


def _snap(bounds, res, anchor) -> tuple[float, float, float, float]:
    ax, ay = anchor
    minx = math.floor((bounds[0] - ax) / res + _SNAP_TOL) * res + ax
    miny = math.floor((bounds[1] - ay) / res + _SNAP_TOL) * res + ay
    maxx = math.ceil((bounds[2] - ax) / res - _SNAP_TOL) * res + ax
    maxy = math.ceil((bounds[3] - ay) / res - _SNAP_TOL) * res + ay
    return minx, miny, maxx, maxy


def _pixel_centres(raw, bounds, res) -> dict:
    """x/y pixel centres computed from the grid (identical for both engines, no float drift)."""
    nx, ny = raw.sizes["x"], raw.sizes["y"]
    x = bounds[0] + (np.arange(nx) + 0.5) * res
    y = bounds[3] - (np.arange(ny) + 0.5) * res
    if not (np.allclose(raw["x"].values, x, rtol=0, atol=1e-3 * res)
            and np.allclose(raw["y"].values, y, rtol=0, atol=1e-3 * res)):
        raise GridError(f"the reader built a grid that differs from the requested one ({bounds}, {res}); "
                        "report this with the items and arguments")
    return {"x": ("x", x), "y": ("y", y)}


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# --------------------------------------------------------------------------------------------
# readers


def _read_error(href: str, item_id: str | None, band: str | None, err: BaseException) -> ReadError:
    return ReadError(
        f"could not read band {band!r} of item {item_id!r} from {href}: {err}. Check that the href exists "
        "and is readable (signed URL not expired, credentials, network); load(..., on_error='nodata') "
        "fills unreadable assets with NaN and flags them in the variable 'read_ok' instead."
    )


def _probe(href: str, options: dict) -> np.ndarray:
    """0-d bool array: True when the asset at ``href`` opens (used for the ``read_ok`` flag)."""
    import rasterio

    try:
        with rasterio.Env(**options), rasterio.open(href) as src:
            src.profile  # noqa: B018  (header parsed)
        ok = True
    except Exception:  # any failure to open means the asset is not readable
        ok = False
    return np.asarray(ok)


class NamedRioReader(AutoParallelRioReader):
    """stackstac reader whose failures raise :class:`ReadError` naming the item id and href.

    ``where`` maps each href to ``(item id, band name)``; stackstac raises a bare RuntimeError
    ("Error opening '<href>'") inside the graph, which names the file but not the item.
    """

    def __init__(self, *, where: Mapping[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        # Keep only this asset's entry: readers are pickled one per asset into the graph.
        where = where or {}
        self.where = {self.url: where[self.url]} if self.url in where else {}

    def read(self, window, **kwargs):
        try:
            return super().read(window, **kwargs)
        except Exception as err:
            item_id, band = self.where.get(self.url, (None, None))
            failure = _read_error(self.url, item_id, band, err)
        # Raised outside the except block: no chained rasterio exception, which may not unpickle
        # when a distributed worker sends the error back (it would arrive as a bare Exception).
        raise failure

    def __getstate__(self):
        return {**super().__getstate__(), "where": self.where}

    def __setstate__(self, state):
        self.__init__(**state)


def _load_stackstac(items, bands, out_crs, res, bounds, chunks, resampling, raw_dtype, on_error, options, where,
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
    errors = (Exception(".*"),) if on_error == "nodata" else ()
    reader = functools.partial(NamedRioReader, where=where)
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
        errors_as_nodata=errors,
        reader=reader,
    )
    arr = arr.assign_coords(time=("time", np.asarray(arr["time"].values, dtype="datetime64[ns]")))
    keep = {"time", "band", "x", "y"}
    arr = arr.drop_vars([c for c in arr.coords if c not in keep])
    return xr.Dataset({b: arr.sel(band=b, drop=True) for b in bands})


class NamedOdcReader(RioReader):
    """odc-stac reader whose failures raise :class:`ReadError` naming the item id and href."""

    def __init__(self, src, ctx, where: Mapping[str, tuple[str, str]]):
        super().__init__(src, ctx)
        self._where = where

    def read(self, cfg, dst_geobox, *, dst=None, selection=None):
        try:
            return super().read(cfg, dst_geobox, dst=dst, selection=selection)
        except Exception as err:
            item_id, band = self._where.get(self._src.uri, (None, None))
            failure = _read_error(self._src.uri, item_id, band, err)
        raise failure  # outside the except block, see NamedRioReader.read


class NamedOdcDriver(RioDriver):
    """odc-stac reader driver that carries ``options`` (GDAL settings) into every task of the graph."""

    def __init__(self, options: Mapping[str, Any], where: Mapping[str, tuple[str, str]]):
        super().__init__()
        self.options = dict(options)
        self.where = dict(where)

    def capture_env(self) -> dict[str, Any]:
        env = super().capture_env()
        env.update(self.options)
        return env

    def open(self, src, ctx):
        return NamedOdcReader(src, ctx, self.where)


def _load_odc(items, bands, out_crs, res, bounds, chunks, resampling, raw_dtype, on_error, options, where,
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
        fail_on_error=on_error != "nodata",
        driver=NamedOdcDriver(odc_env(options), where),
    )
    rename = {k: v for k, v in {"latitude": "y", "longitude": "x"}.items() if k in ds.dims}
    ds = ds.rename(rename)
    ds = ds.drop_vars([c for c in ds.coords if c not in {"time", "x", "y"}])
    return ds


# --------------------------------------------------------------------------------------------
# public API


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
) -> xr.Dataset:
    """Build a lazy ``(time, y, x)`` Dataset, one variable per band, from STAC items.

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
        ``None`` (one time step per item) or ``"solar_day"``: items of the same local solar day are
        mosaicked, first valid pixel in time order wins; ``time`` is the earliest acquisition time.
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
        item id and href. ``"nodata"``: its pixels are NaN and the boolean variable
        ``read_ok(time, band)`` is False for it (True elsewhere); one extra header read per asset.
    gdal_env
        GDAL options overriding :data:`eoxr.io.gdal.DEFAULT_GDAL_OPTIONS`; they reach Dask workers.

    Returns
    -------
    xarray.Dataset
        Variables ``(time, y, x)`` with ``units`` and ``long_name``, ``spatial_ref`` CRS, ``x``/``y``
        pixel centres. Nothing is read until compute. A scene with no valid pixel in the bbox stays
        NaN; :func:`check_valid` finds (and drops) such scenes.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if groupby not in (None, "solar_day"):
        raise ValueError(f"groupby must be None or 'solar_day', got {groupby!r}")
    if on_error not in ("raise", "nodata"):
        raise ValueError(f"on_error must be 'raise' or 'nodata', got {on_error!r}")
    source = isinstance(dtype, str) and dtype == "source"
    if source and (groupby is not None or on_error != "raise" or resampling != "nearest"):
        raise ValueError("dtype='source' reads the files' integers as they are: it needs groupby=None, "
                         "on_error='raise' and resampling='nearest'; use a float dtype for the others")
    out_dtype = np.dtype("float32" if source else dtype)
    if out_dtype.kind != "f":
        raise ValueError(f"dtype must be a float type (nodata becomes NaN) or 'source', got {dtype!r}")
    from rasterio.enums import Resampling

    if resampling not in Resampling.__members__:
        raise ValueError(f"resampling must be one of {sorted(Resampling.__members__)}, got {resampling!r}")
    chunks = {**DEFAULT_CHUNKS, **dict(chunks or {})}
    options = gdal_options(gdal_env)

    item_dicts = _as_item_dicts(items)
    item_dicts.sort(key=lambda d: (_item_time(d), d["id"]))
    names, per_item = _resolve_bands(item_dicts, bands)

    out_crs = _output_crs(per_item, crs)
    res = _output_resolution(per_item, out_crs, resolution)
    boxes = _footprints(item_dicts, per_item, out_crs)
    footprint = _union(boxes)
    if bbox is not None:
        wanted = _request_bounds(bbox, bbox_crs, out_crs)
        if not _overlaps(wanted, footprint):
            raise CRSError(
                f"bbox {tuple(bbox)} in {parse_crs(bbox_crs).to_string()} is {tuple(round(v, 3) for v in wanted)} in "
                f"{out_crs.to_string()} and does not overlap the items' footprint {tuple(round(v, 3) for v in footprint)}; "
                "check the bbox order (minx, miny, maxx, maxy) and that bbox_crs names its CRS"
            )
    else:
        wanted = footprint
    bounds = _snap(wanted, res, _anchor(per_item, out_crs, res))
    # Items outside the requested area are left out (both engines would drop them on their own).
    inside = [i for i, box in enumerate(boxes) if _overlaps(box, bounds)]
    if not inside:
        raise CRSError(
            f"bbox {tuple(bbox)} falls between the items' footprints (none overlaps {tuple(bounds)} in "
            f"{out_crs.to_string()}); move the bbox onto a scene or check bbox_crs"
        )
    item_dicts = [item_dicts[i] for i in inside]
    per_item = [per_item[i] for i in inside]

    # Items handed to the engine: assets keyed by the requested names, absolute hrefs, proj:epsg next
    # to proj:code (stackstac 0.5 only reads proj:epsg).
    where: dict[str, tuple[str, str]] = {}
    engine_items = []
    for it, chosen in zip(item_dicts, per_item):
        d = {k: v for k, v in it.items() if k != "assets"}
        d["properties"] = dict(it["properties"])
        epsg_item = native_epsg(it["properties"])
        if epsg_item is not None:
            d["properties"]["proj:epsg"] = epsg_item
        d["assets"] = {}
        for name, info in chosen.items():
            asset = dict(it["assets"][info.key])
            asset["href"] = _absolute_href(asset["href"], it)
            if "eo:bands" in asset:  # pre-1.0 items hold indices into the item's eo:bands
                asset["eo:bands"] = _eo_bands(asset, it)
            if info.epsg is not None:
                asset["proj:epsg"] = info.epsg
            d["assets"][name] = asset
            where[asset["href"]] = (it["id"], name)
        engine_items.append(d)

    # Integers up to 24 bits are exact in float32; wider sources are read as float64.
    wide = any(_needs_float64(info.dtype) for chosen in per_item for info in chosen.values())
    raw_dtype = "float64" if (wide or out_dtype == np.float64) else "float32"
    fill = np.nan
    if source:
        raw_dtype, fill = _source_packing(per_item, names)

    loader = _load_stackstac if engine == "stackstac" else _load_odc
    raw = loader(engine_items, names, out_crs, res, bounds, chunks, resampling, raw_dtype, on_error, options, where,
                 fill=fill)
    raw = raw.transpose("time", "y", "x")
    raw = raw.assign_coords(_pixel_centres(raw, bounds, res))
    times = np.array([_item_time(d).to_datetime64() for d in item_dicts], dtype="datetime64[ns]")
    got = np.asarray(raw["time"].values, dtype="datetime64[ns]")
    # Per-item scale/offset below are aligned by position: the engine must keep our item order.
    if got.shape != times.shape or np.any(np.abs(got - times) > np.timedelta64(1, "ms")):
        raise GridError(f"engine {engine!r} returned time steps {got} for items at {times}; "
                        "report this with the items")
    raw = raw.assign_coords(time=("time", times))

    ds = xr.Dataset(coords={"time": raw["time"], "y": raw["y"], "x": raw["x"]})
    for name in names:
        infos = [chosen[name] for chosen in per_item]
        attrs = _band_attrs(infos, name)
        if source:  # the integers as stored, with the CF attributes that decode them
            scale, offset = attrs.get("applied_scale_offset", (1.0, 0.0))
            if (scale, offset) != (1.0, 0.0):
                attrs.update(scale_factor=scale, add_offset=offset)
            attrs["_FillValue"] = fill
            data = raw[name].data
        else:
            data = _scaled(raw[name].data, infos, out_dtype)
        ds[name] = xr.DataArray(data, dims=raw[name].dims, coords=raw[name].coords, attrs=attrs)

    if on_error == "nodata":
        ds = _with_read_flags(ds, item_dicts, per_item, names, engine_items, options)

    if groupby == "solar_day":
        ds = _mosaic_solar_day(ds, item_dicts)

    ds = ds.transpose("time", ..., "y", "x")
    ds["x"].attrs.update(units=_axis_units(out_crs), long_name="x coordinate of pixel centre")
    ds["y"].attrs.update(units=_axis_units(out_crs), long_name="y coordinate of pixel centre")
    ds = ds.rio.write_crs(out_crs)
    ds = ds.rio.write_coordinate_system() if hasattr(ds.rio, "write_coordinate_system") else ds
    return stamp(ds, "eoxr.io.load", engine=engine, bands=names, crs=out_crs.to_string(), resolution=res,
                 bounds=tuple(float(b) for b in bounds), groupby=groupby, on_error=on_error, n_items=len(item_dicts))


def _source_packing(per_item: Sequence[Mapping[str, AssetInfo]], names: Sequence[str]) -> tuple[str, int]:
    """(integer dtype, nodata) shared by every requested band of every item, as ``dtype='source'`` needs;
    :class:`SourceDtypeError` saying what differs otherwise."""
    infos = [chosen[name] for chosen in per_item for name in names]
    dtypes = {i.dtype for i in infos}
    nodatas = {i.nodata for i in infos}
    if len(dtypes) != 1 or None in dtypes or np.dtype(dtypes.pop()).kind not in "iu":
        raise SourceDtypeError(f"dtype='source' needs one integer raster:data_type for all bands and items, "
                               f"found {sorted(map(str, {i.dtype for i in infos}))}; use dtype='float32'")
    if len(nodatas) != 1 or None in nodatas or not float(next(iter(nodatas))).is_integer():
        raise SourceDtypeError(f"dtype='source' needs one integer nodata for all bands and items, found "
                               f"{sorted(map(str, nodatas))}; use dtype='float32'")
    for name in names:
        if len({(chosen[name].scale, chosen[name].offset) for chosen in per_item}) != 1:
            raise SourceDtypeError(f"dtype='source' needs one scale/offset per band, but items differ for "
                                   f"{name!r}; use dtype='float32' (applies each item's own)")
    return infos[0].dtype, int(next(iter(nodatas)))


def _needs_float64(data_type: str | None) -> bool:
    """True for source types that float32 cannot hold exactly (32/64-bit integers, float64)."""
    try:
        kind = np.dtype(data_type) if data_type else None
    except TypeError:  # complex raster types such as "cint16"
        return True
    return kind is not None and ((kind.kind in "iu" and kind.itemsize >= 4) or kind == np.float64)


def _axis_units(crs) -> str:
    if crs.is_geographic:
        return "degrees"
    units = crs.linear_units or "m"
    return "m" if units in ("metre", "meter", "m") else units


def _scaled(raw, infos: Sequence[AssetInfo], out_dtype: np.dtype):
    """Per-item nodata masking and scale/offset of one band, one fused task per chunk.

    ``raw`` is the reader's ``(time, y, x)`` dask array of digital numbers (float, NaN outside the
    scenes); ``infos`` holds one :class:`AssetInfo` per time step. The arithmetic runs in float64 and
    is cast once to ``out_dtype``: ``dn * scale + offset`` then equals the CF decoding of the same
    integers, which lets :func:`eoxr.cube.write` store them packed and exactly (``pack=True``).
    """
    import dask.array as da

    def per_time(values):  # (time, 1, 1), chunked like the band along time; broadcast over y/x
        return da.from_array(np.asarray(values, dtype=np.float64).reshape(-1, 1, 1), chunks=(raw.chunks[0], 1, 1))

    nodata = per_time([np.nan if i.nodata is None else i.nodata for i in infos])
    scale = per_time([i.scale for i in infos])
    offset = per_time([i.offset for i in infos])
    return da.map_blocks(_scale_block, raw, nodata, scale, offset, out_dtype=out_dtype, dtype=out_dtype)


def _scale_block(dn: np.ndarray, nodata: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                 out_dtype) -> np.ndarray:
    """``dn`` (t, y, x) -> ``dn * scale + offset`` in ``out_dtype``, NaN where ``dn`` is the item's nodata;
    ``nodata``, ``scale`` and ``offset`` are (t, 1, 1)."""
    out = np.empty(dn.shape, dtype=out_dtype)
    for t in range(dn.shape[0]):
        nodata_t, scale_t, offset_t = float(nodata[t, 0, 0]), float(scale[t, 0, 0]), float(offset[t, 0, 0])
        plane = dn[t]
        if scale_t == 1 and offset_t == 0:
            out[t] = plane
        else:
            wide = np.multiply(plane, scale_t, dtype=np.float64)
            wide += offset_t
            out[t] = wide
        if not np.isnan(nodata_t):  # the reader masks the file's nodata; STAC's may differ
            out[t][plane == nodata_t] = np.nan
    return out


def _uniform(values):
    """The common value of ``values``, or None when they differ."""
    first = values[0]
    return first if all(v == first for v in values[1:]) else None


def _band_attrs(infos: Sequence[AssetInfo], name: str) -> dict:
    """CF attrs of one band; scale/offset, and with them the source data type and nodata, are recorded when
    every item shares them (then :func:`eoxr.cube.write` can store the band as the original integers, see
    ``pack``)."""
    info = infos[0]
    attrs = {"units": info.units, "long_name": info.long_name or name, "asset_key": info.key}
    scale_offset = _uniform([(i.scale, i.offset) for i in infos])
    if scale_offset is not None and scale_offset != (1.0, 0.0):
        attrs["applied_scale_offset"] = scale_offset
    source_dtype = _uniform([i.dtype for i in infos])
    if source_dtype is not None and scale_offset is not None:
        attrs["source_dtype"] = source_dtype
        nodata = _uniform([i.nodata for i in infos])
        if nodata is not None and not np.isnan(nodata):
            attrs["source_nodata"] = nodata
    return attrs


def _with_read_flags(ds, item_dicts, per_item, names, engine_items, options):
    """Add ``read_ok(time, band)`` from one lazy header read per asset and NaN the failed ones."""
    import dask
    import dask.array as da

    rows = []
    for d in engine_items:
        cells = [da.from_delayed(dask.delayed(_probe, pure=True)(d["assets"][n]["href"], options),
                                 shape=(), dtype=bool) for n in names]
        rows.append(da.stack(cells))
    flags = xr.DataArray(da.stack(rows), dims=("time", "band"),
                         coords={"time": ds["time"], "band": list(names)})
    ds = ds.copy()
    for name in names:
        ds[name] = ds[name].where(flags.sel(band=name, drop=True)).assign_attrs(ds[name].attrs)
    ds["read_ok"] = flags.assign_attrs(
        units="1", long_name="asset of this band and time step could be read (False: filled with NaN)"
    )
    return ds


def _mosaic_solar_day(ds, item_dicts):
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
