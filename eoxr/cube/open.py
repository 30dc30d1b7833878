"""Opening a cube lazily, as any CF reader of its committed (consolidated) metadata sees it, CRS restored,
and a chunk that cannot be read reported by store, variable and chunk."""
from __future__ import annotations

import json
import uuid
from collections.abc import Hashable, Mapping
from typing import Literal

import numpy as np
import xarray as xr

from ..attrs import ITEM, item_ref, to_json
from ..errors import CubeCorruptError, CubeError
from .journal import _pending
from .paths import _Location, _location
from .policy import ZARR_FORMAT


ZARR_MEDIA_TYPES = ("application/vnd.zarr", "application/vnd+zarr")  # IANA's, and the one STAC used before


def open(path, *, chunks: Mapping[Hashable, int] | Literal["auto"] | None = None,  # noqa: A001
         storage_options: dict | None = None) -> xr.Dataset:
    """Open the cube at ``path`` lazily (dask arrays; ``chunks=None`` keeps the chunks on disk), CRS restored.

    ``path`` is a local path, a URL (``s3://bucket/cube.zarr``, ``gs://...``, ``memory://...``) opened with
    fsspec ``storage_options``, an fsspec mapper, or the STAC item of a cube (a ``pystac.Item`` or item dict,
    as :func:`eoxr.catalog.search` finds the items :func:`write` adds with ``catalog=``): its Zarr asset is
    opened, and ``attrs["eoxr_item"]`` names the item, so that what is made from the cube names it as its
    input. The Dataset is the one ``xr.open_zarr(path)`` returns with its defaults (packed integer variables
    decoded to float64 by CF rules), with ``spatial_ref`` as a coordinate; a cube written by another tool whose
    grid mapping is a data variable gets it as a coordinate too (xarray's ``decode_coords="all"``). Only
    committed changes are seen: an append in progress, or one killed midway, is not.

    Raises :class:`~eoxr.errors.CubeError` naming the path when there is no Zarr v3 cube there (a Zarr v2
    store or a netCDF file is named as such, with the way to convert it) or an item has no Zarr asset, and,
    when computed, :class:`~eoxr.errors.CubeCorruptError` naming the store, variable and chunk that cannot be
    decoded.
    """
    item = path if _is_item(path) else None
    location = _location(zarr_asset_href(item) if item is not None else path, storage_options)
    _check_is_cube(location)
    ds = _open_committed(location, chunks=None)
    ds = ds.assign(**{str(n): _reported(v, str(n), location) for n, v in ds.data_vars.items()})
    if item is not None:
        ds.attrs[ITEM] = to_json(item_ref(item))
    return ds if chunks is None else ds.chunk(chunks)


def _is_item(obj) -> bool:
    import pystac

    return isinstance(obj, pystac.Item) or (isinstance(obj, Mapping) and obj.get("type") == "Feature")


def zarr_asset_href(item) -> str:
    """The href of the Zarr asset of a STAC item (``pystac.Item`` or dict): by media type, else a ``.zarr``
    href with the ``data`` role."""
    from ..io.items import absolute_href, as_item_dicts

    d = as_item_dicts(item)[0]
    assets = d.get("assets", {})
    for asset in assets.values():
        if asset.get("type") in ZARR_MEDIA_TYPES:
            return absolute_href(asset["href"], d)
    for asset in assets.values():
        if asset["href"].rstrip("/").endswith(".zarr") and "data" in asset.get("roles", ["data"]):
            return absolute_href(asset["href"], d)
    raise CubeError(f"the item {d.get('id')!r} has no Zarr asset (media type {ZARR_MEDIA_TYPES[0]}); its assets are "
                    f"{sorted(assets)}. Load raster assets with eoxr.io.load([item], bands=...).")


def _open_committed(location: _Location, chunks: dict | None = {}) -> xr.Dataset:  # noqa: B006 - read only
    """The cube as its consolidated metadata has it (its arrays' own when it has none): dask arrays chunked
    as stored (``chunks={}``), or lazily indexed ones (``chunks=None``), CRS decoded.

    With xarray's defaults, as a plain ``xr.open_zarr`` reads it: an eoxr cube names its ``spatial_ref`` in
    each variable's ``coordinates``, so it opens as a coordinate and rioxarray finds the CRS. A cube written by
    another tool may keep its grid mapping as a data variable, where rioxarray finds none: that one is opened
    again with xarray's CF decoding of grid mappings (``decode_coords="all"``, as rioxarray reads netCDF). Not
    for every cube: it moves the ``grid_mapping`` attribute into ``encoding`` (measured: an eoxr cube opened that
    way lacks the ``grid_mapping`` attribute that ``xr.open_zarr`` and the intake entry give its variables).
    """
    ds = _open_zarr(location, chunks, decode_coords=True)
    if _has_grid_mapping_variable(ds):
        ds = _open_zarr(location, chunks, decode_coords="all")
    return ds


def _open_zarr(location: _Location, chunks, decode_coords) -> xr.Dataset:
    try:
        return xr.open_zarr(location.store(read_only=True), chunks=chunks, consolidated=_consolidated(location),
                            zarr_format=ZARR_FORMAT, decode_coords=decode_coords)
    except Exception as exc:  # noqa: BLE001 - zarr/fsspec raise many kinds; all mean "not readable"
        raise CubeCorruptError(f"cannot open {location.name} as a Zarr v3 datacube ({type(exc).__name__}: {exc}); "
                               f"`eoxr verify {location.name}` lists what is missing or broken. {_how(location)}") \
            from exc


def _has_grid_mapping_variable(ds: xr.Dataset) -> bool:
    """Whether a data variable's ``grid_mapping`` names another data variable (not a coordinate)."""
    return any(v.attrs.get("grid_mapping") in ds.data_vars for v in ds.data_vars.values())


def _root_metadata(location: _Location) -> dict | None:
    root = location.read(f"{location.root}/zarr.json")
    return None if root is None else json.loads(root)


def _consolidated(location: _Location) -> bool:
    meta = _root_metadata(location)
    return meta is not None and meta.get("consolidated_metadata") is not None


def _committed_attrs(location: _Location) -> dict:
    """The cube's root attributes, as its root ``zarr.json`` holds them (empty when there is no cube)."""
    return (_root_metadata(location) or {}).get("attributes", {})


def _how(location: _Location) -> str:
    return (f"Create a cube with eoxr.cube.write(ds, {location.name!r}) or "
            f"eoxr.cube.ingest(items, {location.name!r}, bands=..., resolution=..., crs=..., bbox=...).")


def _check_is_cube(location: _Location) -> None:
    if location.is_cube():
        return
    name, fs, root = location.name, location.fs, location.root
    journal = _pending(location)
    if journal is not None and journal.get("op") == "write":
        raise CubeError(f"the cube {name} is being replaced, or its replacement by {journal['holder']} was "
                        "interrupted: run that write again (any eoxr write to it completes an interrupted one).")
    if location.exists(f"{root}/.zgroup") or location.exists(f"{root}/.zattrs"):
        raise CubeError(f"{name} is a Zarr v2 store; eoxr cubes are Zarr v3. Convert it once: "
                        f"eoxr.cube.write(xr.open_zarr({name!r}, zarr_format=2), 'new.zarr').")
    if fs.isfile(root):
        with fs.open(root, "rb") as f:
            magic = f.read(8)
        if magic[:3] == b"CDF" or magic == b"\x89HDF\r\n\x1a\n":
            raise CubeError(f"{name} is a netCDF file, not a Zarr datacube: read it with xr.open_dataset({name!r}), "
                            f"or make a cube of it with eoxr.cube.write(xr.open_dataset({name!r}), 'cube.zarr').")
    if not location.exists(root):
        raise CubeError(f"no datacube at {name}: {_how(location)}")
    raise CubeError(f"{name} is not a Zarr v3 datacube (no zarr.json there): {_how(location)}")


def _reported(var: xr.DataArray, name: str, location: _Location) -> xr.Variable:
    """``var`` (lazily indexed) as a dask array chunked as stored, whose chunks, when read, raise
    :class:`CubeCorruptError` naming the store, variable and chunk instead of a codec's bare error."""
    import dask.array as da

    variable = var.variable
    stored = tuple(var.encoding.get("chunks") or variable.shape)
    reader = _ChunkReader(variable, name, location, stored)
    data = da.from_array(reader, chunks=stored, name=f"eoxr-cube-{name}-{uuid.uuid4().hex}",
                         meta=np.array((), dtype=variable.dtype))
    return xr.Variable(variable.dims, data, variable.attrs, variable.encoding)


class _ChunkReader:
    """Array-like over a lazily decoded variable: a failed read names the chunk it was reading."""

    def __init__(self, variable: xr.Variable, name: str, location: _Location, stored_chunks):
        self.variable = variable
        self.name, self.location = name, location
        self.stored = stored_chunks
        self.shape, self.dtype, self.ndim = variable.shape, variable.dtype, variable.ndim

    def __getitem__(self, key):
        try:
            return np.asarray(self.variable[key].values)
        except Exception as exc:  # noqa: BLE001 - codecs raise RuntimeError, ValueError...: all mean "damaged"
            raise CubeCorruptError(
                f"cannot read chunk {self._chunk(key)} of variable {self.name!r} in the cube {self.location.name} "
                f"({type(exc).__name__}: {exc}): that chunk is damaged. Restore it from a copy or write that part "
                f"again (eoxr.cube.write(ds, path, region=...)); `eoxr verify {self.location.name}` lists every "
                "damaged chunk.") from exc

    def _chunk(self, key) -> str:
        """The store key of the chunk (``lst/c/3/0/1``), or the range of chunks, that ``key`` reads."""
        parts = []
        for sl, size, length in zip(key, self.stored, self.shape):
            start, stop, _ = sl.indices(length)
            first, last = start // size, max(start, stop - 1) // size
            parts.append(str(first) if first == last else f"{first}-{last}")
        return "/".join([self.name, "c", *parts])
