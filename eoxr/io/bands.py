"""Requested band names -> the asset of each item that holds them (asset key or eo common name)."""
from __future__ import annotations

from ..errors import MissingVariableError
from .assets import AssetInfo, asset_info, eo_bands


def resolve_bands(items: list[dict], bands) -> tuple[list[str], list[dict[str, AssetInfo]]]:
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
    single = len(eo_bands(asset)) <= 1 and len(asset.get("raster:bands") or []) <= 1  # readers need 1 band
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
                   if any(b.get(field) == name or b.get(f"eo:{field}") == name for b in eo_bands(asset, item))]
        if matches:
            return min(matches, key=lambda k: (not _is_raster_data(assets[k]), len(eo_bands(assets[k], item)),
                                               "jp2" in (assets[k].get("type") or "")))  # COG before JPEG2000
    return None


def _common_names_note(item: dict) -> str:
    names = sorted({b.get("common_name") or b.get("eo:common_name") for a in item["assets"].values()
                    for b in eo_bands(a, item)} - {None})
    return f" and common names {names}" if names else ""
