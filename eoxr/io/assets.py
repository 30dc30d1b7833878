"""Asset metadata of STAC items: projection v1/v2, raster v1.x and STAC 1.1 bands, eo."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..units import canonical


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
    eo = (eo_bands(asset, item) or [{}])[0]

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
        units = canonical(str(unit), default=str(unit))  # a unit eoxr does not know is kept as written
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


def eo_bands(asset: dict, item: dict | None = None) -> list[dict]:
    """The asset's eo bands (eo v1 ``eo:bands``, STAC 1.1 ``bands``); pre-1.0 items list indices
    into the item's ``eo:bands`` instead."""
    bands = list(asset.get("eo:bands") or asset.get("bands") or [])
    item_bands = (item or {}).get("properties", {}).get("eo:bands") or []
    return [item_bands[b] if isinstance(b, int) and b < len(item_bands) else b
            for b in bands if isinstance(b, dict) or (isinstance(b, int) and b < len(item_bands))]
