"""The output grid of :func:`eoxr.io.load`: CRS, pixel size and bounds snapped to the native pixels."""
from __future__ import annotations

import math

import numpy as np

from ..errors import CRSError, GridError
from .assets import AssetInfo


# Fraction of a pixel ignored when snapping bounds to the grid (float noise in transforms).
_SNAP_TOL = 1e-6


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


def output_grid(items, per_item, crs, resolution, bbox, bbox_crs):
    """``(crs, resolution, bounds, inside)`` of the output grid: the CRS (``rasterio.crs.CRS``), the pixel size
    in CRS units, ``(minx, miny, maxx, maxy)`` snapped outwards to the pixels, and the indices of the items
    that overlap it (the others are left out; both engines would drop them on their own)."""
    out_crs = _output_crs(per_item, crs)
    res = _output_resolution(per_item, out_crs, resolution)
    boxes = _footprints(items, per_item, out_crs)
    footprint = _union(boxes)
    if bbox is not None:
        wanted = _request_bounds(bbox, bbox_crs, out_crs)
        if not _overlaps(wanted, footprint):
            raise CRSError(
                f"bbox {tuple(bbox)} in {parse_crs(bbox_crs).to_string()} is {tuple(round(v, 3) for v in wanted)} in "
                f"{out_crs.to_string()} and does not overlap the items' footprint {tuple(round(v, 3) for v in footprint)}; "
                f"{_swap_hint(bbox, bbox_crs, out_crs, footprint)}"
            )
    else:
        wanted = footprint
    bounds = _snap(wanted, res, _anchor(per_item, out_crs, res))
    inside = [i for i, box in enumerate(boxes) if _overlaps(box, bounds)]
    if not inside:
        raise CRSError(
            f"bbox {tuple(bbox)} falls between the items' footprints (none overlaps {tuple(bounds)} in "
            f"{out_crs.to_string()}); move the bbox onto a scene or check bbox_crs"
        )
    return out_crs, res, bounds, inside


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
    native = native_resolution(per_item, out_crs)
    if native is not None:
        return native
    raise CRSError(
        f"cannot infer a resolution in {out_crs.to_string()} from the items (they are on another CRS or "
        "lack proj:transform); pass resolution= in the units of the output CRS (e.g. 10 for metres)"
    )


def native_resolution(per_item, out_crs) -> float | None:
    """The finest pixel size of the requested assets that are on ``out_crs`` (None when none is)."""
    native = [info.resolution for chosen in per_item for info in chosen.values()
              if info.resolution is not None and info.epsg is not None and parse_crs(f"EPSG:{info.epsg}") == out_crs]
    return min(native) if native else None


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
        out.append(_union(np.asarray(boxes, dtype=float)))
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
    if src.is_geographic and not _in_degrees(minx, miny, maxx, maxy):
        hint = ("if it is in projected metres pass bbox_crs='EPSG:<its code>' (e.g. the items' UTM zone)"
                if not _in_degrees(miny, minx, maxy, maxx) else
                f"it reads as latitude first: pass bbox={(miny, minx, maxy, maxx)} (min lon, min lat, max lon, max lat)")
        raise CRSError(f"bbox {bbox!r} is outside longitude/latitude range but bbox_crs is {src.to_string()}; {hint}")
    if src == out_crs:
        return minx, miny, maxx, maxy
    return transform_bounds(src, out_crs, minx, miny, maxx, maxy, densify_pts=21)


def _in_degrees(minx, miny, maxx, maxy) -> bool:
    return all(abs(v) <= 180 for v in (minx, maxx)) and all(abs(v) <= 90 for v in (miny, maxy))


def _swap_hint(bbox, bbox_crs, out_crs, footprint) -> str:
    """The fix for a bbox that misses the items: its latitude-first reading when that one hits them."""
    minx, miny, maxx, maxy = map(float, bbox)
    if parse_crs(bbox_crs).is_geographic and _in_degrees(miny, minx, maxy, maxx):
        swapped = _request_bounds((miny, minx, maxy, maxx), bbox_crs, out_crs)
        if _overlaps(swapped, footprint):
            return (f"read latitude first it covers the items: pass bbox={(miny, minx, maxy, maxx)} "
                    "(min lon, min lat, max lon, max lat)")
    return "check the bbox order (minx, miny, maxx, maxy) and that bbox_crs names its CRS"


def _snap(bounds, res, anchor) -> tuple[float, float, float, float]:
    ax, ay = anchor
    minx = math.floor((bounds[0] - ax) / res + _SNAP_TOL) * res + ax
    miny = math.floor((bounds[1] - ay) / res + _SNAP_TOL) * res + ay
    maxx = math.ceil((bounds[2] - ax) / res - _SNAP_TOL) * res + ax
    maxy = math.ceil((bounds[3] - ay) / res - _SNAP_TOL) * res + ay
    return minx, miny, maxx, maxy


def pixel_centres(raw, bounds, res) -> dict:
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

