"""Items of Zarr datacubes (as :func:`eoxr.cube.write` with ``catalog=`` adds them): opened as stored with
:func:`eoxr.cube.open`, not read through a raster engine."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import xarray as xr

from ..attrs import stamp
from ..errors import GridError, MissingVariableError, ParameterError


def is_cube_item(item: dict) -> bool:
    from ..cube.open import ZARR_MEDIA_TYPES

    return any(asset.get("type") in ZARR_MEDIA_TYPES for asset in item.get("assets", {}).values())


def load_cubes(items: list[dict], *, bands, bbox, bbox_crs, chunks: Mapping | None, storage_options: dict | None,
               raster_only: dict) -> xr.Dataset:
    """The cubes of ``items`` as one Dataset: one cube as it is (``attrs["eoxr_item"]`` naming its item), several
    joined along ``time`` (on one grid; their items become the inputs). ``bands`` selects variables, ``bbox``
    (in ``bbox_crs``) clips, ``chunks`` rechunks; ``raster_only`` holds the options given that only raster
    assets take, refused here."""
    from ..cube import open as open_cube

    _refuse_mixed(items)
    given = {k: v for k, v in raster_only.items() if v is not None}
    if given:
        raise ParameterError(
            f"{sorted(given)} apply to raster assets; the items {[d['id'] for d in items]} are Zarr datacubes, "
            "opened as stored. Drop them, and reproject or resample the result (ds.rio.reproject(...)).")
    cubes = [open_cube(d, storage_options=storage_options) for d in items]
    ds = cubes[0] if len(cubes) == 1 else _joined(cubes, items)
    if bands is not None:
        ds = ds[_variables(ds, bands, items)]
    if bbox is not None:
        ds = ds.rio.clip_box(*bbox, crs=bbox_crs)
    return ds.chunk(dict(chunks)) if chunks else ds


def _refuse_mixed(items: list[dict]) -> None:
    rasters = [d["id"] for d in items if not is_cube_item(d)]
    if rasters:
        cubes = [d["id"] for d in items if is_cube_item(d)]
        raise ParameterError(f"the items {cubes} are Zarr datacubes and {rasters} are not: load each kind "
                             "with its own eoxr.io.load call.")


def _joined(cubes: list[xr.Dataset], items: list[dict]) -> xr.Dataset:
    if any("time" not in ds.dims for ds in cubes):
        raise GridError(f"the cubes of items {[d['id'] for d in items]} cannot be joined: some have no time "
                        "dimension. Load them one at a time.")
    try:
        joined = xr.concat(cubes, dim="time", join="exact", combine_attrs="drop_conflicts").sortby("time")
    except ValueError as err:
        raise GridError(f"the cubes of items {[d['id'] for d in items]} do not share one grid ({err}); load them "
                        "one at a time and regrid them first.") from err
    return stamp(joined, "eoxr.io.load", made_from=cubes, items=[d["id"] for d in items])


def _variables(ds: xr.Dataset, bands: Sequence[str] | str, items: list[dict]) -> list[str]:
    names = [bands] if isinstance(bands, str) else list(bands)
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise MissingVariableError(f"the cubes of items {[d['id'] for d in items]} have no variable(s) {missing}; "
                                   f"they have {sorted(map(str, ds.data_vars))}.")
    return names
