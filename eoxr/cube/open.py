"""Opening a cube lazily, packed variables as float32 and the CRS restored."""
from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from typing import Literal

import xarray as xr

from ..errors import CubeError
from .pack import _unpacked_float32
from .paths import _is_url, _local
from .policy import CONSOLIDATED, ZARR_FORMAT


def open(path: str | os.PathLike, *, chunks: Mapping[Hashable, int] | Literal["auto"] | None = None) -> xr.Dataset:  # noqa: A001
    """Open the cube at ``path`` lazily (dask arrays; ``chunks=None`` keeps the chunks on disk), CRS restored.

    Raises :class:`~eoxr.errors.CubeError` naming the path when there is no cube there.
    """
    how = (f"create one with eoxr.cube.write(ds, {os.fspath(path)!r}) or "
           f"eoxr.cube.ingest(items, {os.fspath(path)!r}, bands=..., resolution=..., crs=..., bbox=...)")
    if not _is_url(path):
        local = _local(path)
        if not local.exists():
            raise CubeError(f"no datacube at {local}: {how}.")
        if not (local / "zarr.json").is_file():
            raise CubeError(f"{local} is not a Zarr v3 datacube (no zarr.json there): {how}.")
    try:
        ds = xr.open_zarr(os.fspath(path) if not _is_url(path) else path, chunks={} if chunks is None else chunks,
                          consolidated=CONSOLIDATED, zarr_format=ZARR_FORMAT)
    except Exception as exc:  # noqa: BLE001 - zarr/fsspec raise many kinds; all mean "not readable"
        raise CubeError(f"cannot open {os.fspath(path)} as a Zarr v3 datacube ({type(exc).__name__}: {exc}); "
                        f"{how}.") from exc
    return _restore_crs(_unpacked_float32(ds))


def _restore_crs(ds: xr.Dataset) -> xr.Dataset:
    names = {v.attrs.get("grid_mapping") for v in ds.data_vars.values()} - {None}
    name = names.pop() if len(names) == 1 else "spatial_ref"
    if name not in ds.variables:
        return ds
    attrs = ds[name].attrs
    wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
    if wkt is None:
        return ds
    if name not in ds.coords:
        ds = ds.set_coords(name)
    return ds.rio.write_crs(wkt, grid_mapping_name=name)
