"""The embedded sample catalog: synthetic COGs and a static STAC catalog, built offline in a cache folder.

``eoxr sample`` (or :func:`ensure_sample`) writes, under ``$EOXR_SAMPLE_DIR`` (default
``~/.cache/eoxr/sample``):

- ``eoxr-s2-sample``: a Sentinel-2-like 10 m scene (blue, green, red, nir) on three dates over a 5 km
  square in UTM 31N, with fields whose greenness changes over the season and a cloud masked as nodata on
  the second date;
- every workflow's own synthetic scenes, from ``eoxr.<domain>.synth.sample_items(root, seed)``.

Items use the projection extension v2 (``proj:code``) and the raster extension (dtype, nodata, scale),
as current STAC APIs serve them, so the sample exercises the same code paths as a real search.
"""
from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pystac
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from rasterio.warp import transform_bounds

from .errors import CRSError, NoDataError, ParameterError

PROJ_V2 = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"

SAMPLE_VERSION = "2"  # bump when the sample's content changes, so caches rebuild
S2_COLLECTION = "eoxr-s2-sample"
S2_BANDS = {  # asset key: (common name, centre wavelength um, full width um)
    "blue": ("blue", 0.490, 0.098),
    "green": ("green", 0.560, 0.045),
    "red": ("red", 0.665, 0.038),
    "nir": ("nir", 0.842, 0.145),
}
S2_SCALE = 1e-4  # reflectance = DN * 1e-4, as Sentinel-2 L2A before the 2022 offset
S2_CRS = "EPSG:32631"
S2_ORIGIN = (500_000.0, 4_650_000.0)  # upper-left corner, metres (near Toulouse)
S2_DATES = ("2023-05-01", "2023-06-15", "2023-08-01")


#: The environment variable naming the real data folder (:func:`real_data_dir`).
REAL_DATA_SETTING = "EOXR_REAL_DATA"


def real_data_dir() -> Path | None:
    """The folder of real satellite files that the notebooks, benchmarks and tests read, or None when there is none.

    The one setting is the environment variable ``EOXR_REAL_DATA`` (``export EOXR_REAL_DATA=/data/real``, or
    ``os.environ["EOXR_REAL_DATA"] = ...`` before the call). Unset, it defaults to ``../shared/data/real`` from
    the working directory where that folder exists: the project keeps its real data there, beside a checkout,
    so ``eoxr bench`` run from the checkout finds it. Each subfolder holds a ``PROVENANCE.txt`` naming its
    files' source and licence. Raises :class:`~eoxr.errors.NoDataError` when the setting names no folder.
    """
    value = os.environ.get(REAL_DATA_SETTING)
    if not value:
        beside = Path.cwd().parent / "shared" / "data" / "real"
        return beside if beside.is_dir() else None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise NoDataError(f"{REAL_DATA_SETTING}={value!r} names no folder: point it at the folder of real data "
                          f"(shared/data/real beside a project checkout), or unset it to go without")
    return folder


def sample_dir(root: str | Path | None = None) -> Path:
    if root is not None:
        return Path(root)
    return Path(os.environ.get("EOXR_SAMPLE_DIR", Path.home() / ".cache" / "eoxr" / "sample"))


def write_cog(da: xr.DataArray, path: str | Path, nodata=None) -> Path:
    """Write a (y, x) or (band, y, x) DataArray with a rioxarray CRS as a Cloud-Optimized GeoTIFF."""
    if da.rio.crs is None:
        raise CRSError(f"{da.name!r} has no CRS: call da.rio.write_crs('EPSG:...') before write_cog")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if nodata is not None:
        da = da.rio.write_nodata(nodata, encoded=False)
    da.rio.to_raster(path, driver="COG", compress="DEFLATE", blocksize=256, overview_resampling="average")
    return path


def _asset_from_cog(path: Path, band_info: dict | None) -> tuple[pystac.Asset, dict]:
    with rasterio.open(path) as src:
        proj = {
            "proj:code": src.crs.to_string(),
            "proj:shape": [src.height, src.width],
            "proj:transform": list(src.transform)[:6],
            "proj:bbox": list(src.bounds),
        }
        raster = {"data_type": src.dtypes[0], "spatial_resolution": abs(src.transform.a)}
        if src.nodata is not None:
            raster["nodata"] = float(src.nodata) if not float(src.nodata).is_integer() else int(src.nodata)
        scale, offset = src.scales[0], src.offsets[0]
        extra = dict(band_info or {})
        raster.update({k: extra.pop(k) for k in ("scale", "offset", "unit") if k in extra})
        if scale != 1.0 or offset != 0.0:
            raster.setdefault("scale", scale)
            raster.setdefault("offset", offset)
        bounds, crs = src.bounds, src.crs
    fields = dict(proj, **{"raster:bands": [raster]})
    if extra:
        fields["eo:bands"] = [extra]
    asset = pystac.Asset(href=str(path.resolve()), media_type=pystac.MediaType.COG, roles=["data"],
                         extra_fields=fields)
    return asset, {"bounds": bounds, "crs": crs}


def cog_item(item_id: str, datetime: str | dt.datetime, assets: dict[str, Path], *, collection: str,
             properties: dict | None = None, band_info: dict[str, dict] | None = None) -> pystac.Item:
    """A STAC item (projection v2 + raster extension) describing COGs written by :func:`write_cog`.

    ``band_info`` maps an asset key to eo:bands fields (``common_name``, ``center_wavelength``...) and
    raster fields (``scale``, ``offset``, ``unit``) for that asset.
    """
    if isinstance(datetime, str):
        datetime = dt.datetime.fromisoformat(datetime)
    if datetime.tzinfo is None:
        datetime = datetime.replace(tzinfo=dt.timezone.utc)
    built, geo = {}, None
    for key, path in assets.items():
        built[key], geo_k = _asset_from_cog(Path(path), (band_info or {}).get(key))
        geo = geo or geo_k
    if geo is None:
        raise ParameterError(f"item {item_id!r} needs at least one asset: pass assets={{'key': path_to_cog}}")
    west, south, east, north = transform_bounds(geo["crs"], "EPSG:4326", *geo["bounds"], densify_pts=21)
    geometry = {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                    [west, north], [west, south]]]}
    props = {"proj:code": geo["crs"].to_string(), **(properties or {})}
    item = pystac.Item(item_id, geometry, [west, south, east, north], datetime, props, collection=collection)
    item.stac_extensions = [PROJ_V2, RASTER] + ([EO] if any("eo:bands" in a.extra_fields for a in built.values()) else [])
    for key, asset in built.items():
        item.add_asset(key, asset)
    return item


def s2_scene(seed: int = 0, size: int = 500, resolution: float = 10.0) -> xr.Dataset:
    """Reflectance (time, y, x) per band for three dates: fields of crops, a forest, a river and a town.

    Field parcels follow a seeded Voronoi partition; each parcel's crop greens up and is harvested on
    its own schedule, so NDVI varies in space and time. Date 2 carries a cloud (NaN in every band).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    seeds = rng.uniform(0, size, (60, 2))
    d2 = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
    parcel = d2.argmin(-1)
    kind = rng.choice(4, size=60, p=[0.55, 0.2, 0.15, 0.1])  # crop, forest, bare, town
    peak = rng.uniform(0, 2, 60)  # index of the date when each crop is greenest
    river = np.abs(yy - (0.5 * size + 0.15 * size * np.sin(xx / size * 2 * np.pi * rng.uniform(0.7, 1.4)))) < 6
    soil = {"blue": 0.08, "green": 0.11, "red": 0.15, "nir": 0.22}
    leaf = {"blue": 0.03, "green": 0.07, "red": 0.03, "nir": 0.45}
    urban = {"blue": 0.12, "green": 0.13, "red": 0.14, "nir": 0.18}
    water = {"blue": 0.05, "green": 0.05, "red": 0.03, "nir": 0.01}
    out = {}
    for b in S2_BANDS:
        frames = []
        for t in range(len(S2_DATES)):
            cover_p = np.where(kind == 0, np.clip(1 - np.abs(t - peak) / 1.5, 0.05, 0.95),
                               np.select([kind == 1, kind == 2], [0.85, 0.05], 0.1))
            cover = cover_p[parcel]
            refl = cover * leaf[b] + (1 - cover) * soil[b]
            refl = np.where(kind[parcel] == 3, urban[b], refl)
            refl = np.where(river, water[b], refl)
            refl = refl * (1 + 0.03 * rng.standard_normal(refl.shape))
            if t == 1:  # cloud: masked as nodata by the producer's cloud mask
                cloud = (yy - 0.3 * size) ** 2 + (xx - 0.7 * size) ** 2 < (0.12 * size) ** 2
                refl = np.where(cloud, np.nan, refl)
            frames.append(refl.astype(np.float32))
        out[b] = (("time", "y", "x"), np.stack(frames))
    x0, y0 = S2_ORIGIN
    coords = {"time": np.array(S2_DATES, dtype="datetime64[ns]"),
              "y": y0 - resolution * (np.arange(size) + 0.5), "x": x0 + resolution * (np.arange(size) + 0.5)}
    ds = xr.Dataset(out, coords=coords).rio.write_crs(S2_CRS)
    for b in S2_BANDS:
        ds[b].attrs.update(units="1", long_name=f"{b} surface reflectance")
    return ds


def _s2_items(root: Path, seed: int) -> list[pystac.Item]:
    ds = s2_scene(seed)
    items = []
    for t, date in enumerate(S2_DATES):
        item_id = f"S2_SAMPLE_31TCJ_{date.replace('-', '')}"
        assets, info = {}, {}
        for b, (common, centre, width) in S2_BANDS.items():
            refl = ds[b].isel(time=t)
            dn = xr.where(refl.notnull(), np.clip(np.round(refl / S2_SCALE), 1, 65535), 0).astype("uint16")
            dn = dn.rio.write_crs(S2_CRS)
            assets[b] = write_cog(dn, root / S2_COLLECTION / item_id / f"{b}.tif", nodata=0)
            info[b] = {"name": b, "common_name": common, "center_wavelength": centre, "full_width_half_max": width,
                       "scale": S2_SCALE, "offset": 0.0, "unit": "1"}
        items.append(cog_item(item_id, f"{date}T10:30:00", assets, collection=S2_COLLECTION, band_info=info,
                              properties={"platform": "sentinel-2-synthetic", "eo:cloud_cover": 20.0 if t == 1 else 0.0,
                                          "gsd": 10.0}))
    return items


def _domain_items(root: Path, seed: int) -> list[pystac.Item]:
    from . import _DOMAINS

    items = []
    for name in _DOMAINS:
        try:
            synth = importlib.import_module(f"eoxr.{name}.synth")
        except ModuleNotFoundError:
            continue
        if hasattr(synth, "sample_items"):
            items += synth.sample_items(root / name, seed=seed)
    return items


def _stamp(seed: int) -> dict:
    from . import _DOMAINS, __version__

    return {"sample_version": SAMPLE_VERSION, "eoxr": __version__, "seed": seed, "domains": list(_DOMAINS)}


def ensure_sample(root: str | Path | None = None, *, rebuild: bool = False, seed: int = 0) -> Path:
    """Build the sample catalog once (idempotent) and return the path of its ``catalog.json``."""
    root = sample_dir(root)
    catalog_path = root / "catalog.json"
    stamp_path = root / "sample.json"
    if not rebuild and catalog_path.exists() and stamp_path.exists():
        if json.loads(stamp_path.read_text()) == _stamp(seed):
            return catalog_path
    # Build beside the target and swap, so an interrupted build never leaves a half catalog behind.
    tmp = root.with_name(root.name + "_building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    items = _s2_items(tmp, seed) + _domain_items(tmp, seed)
    catalog = pystac.Catalog("eoxr-sample", "eoxr embedded sample: synthetic scenes with known truth")
    for cid in sorted({i.collection_id for i in items}):
        members = [i for i in items if i.collection_id == cid]
        extent = pystac.Extent(
            pystac.SpatialExtent([_union_bbox(members)]),
            pystac.TemporalExtent([[min(i.datetime for i in members), max(i.datetime for i in members)]]))
        coll = pystac.Collection(cid, f"eoxr synthetic sample collection {cid}", extent, license="CC0-1.0")
        for item in members:
            coll.add_item(item)
        catalog.add_child(coll)
    catalog.normalize_hrefs(str(tmp) + "/")
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    _repoint_assets(tmp, root)
    (tmp / "sample.json").write_text(json.dumps(_stamp(seed)))
    old = root.with_name(root.name + "_old")
    shutil.rmtree(old, ignore_errors=True)
    if root.exists():
        root.rename(old)
    tmp.rename(root)
    shutil.rmtree(old, ignore_errors=True)
    return catalog_path


def _union_bbox(items) -> list[float]:
    b = np.array([i.bbox for i in items])
    return [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]


def _repoint_assets(tmp: Path, root: Path) -> None:
    """Asset hrefs were written absolute inside the build folder; point them at the final folder."""
    prefix_old, prefix_new = str(tmp.resolve()), str(root.resolve())
    for path in tmp.rglob("*.json"):
        text = path.read_text()
        if prefix_old in text:
            path.write_text(text.replace(prefix_old, prefix_new))
