"""The STAC item of a datacube eoxr wrote, built from the cube's committed metadata and its provenance
attributes (:mod:`eoxr.attrs`), with pystac and its extensions:

- geometry and bbox: the cube's footprint in WGS84; ``datetime``, or ``start_datetime`` / ``end_datetime``:
  its ``time`` coordinate (else the times of its inputs);
- projection extension v2: ``proj:code`` (or ``proj:wkt2``), ``proj:bbox``, ``proj:shape``, ``proj:transform``;
- datacube extension v2.2: ``cube:dimensions`` (x/y with their CRS, time, the others with their values) and
  ``cube:variables`` (dimensions, ``unit``, ``description`` from ``long_name``);
- processing extension v1.2: ``processing:expression`` (format ``"eoxr"``: method, parameters, inputs,
  checkpoint SHA-256), ``processing:lineage`` (the ``history``), ``processing:software``,
  ``processing:version`` (eoxr's) and ``processing:datetime``;
- the asset ``zarr`` (media type ``application/vnd.zarr``, role ``data``), and a ``derived_from`` link to each
  input item that has an href.

Items go to one collection per workflow (:func:`collection_id`); :mod:`eoxr.catalog.publish` writes them.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pystac
import xarray as xr

from ..attrs import provenance_attrs, version
from ..errors import CatalogError

EXPRESSION_FORMAT = "eoxr"
ZARR_ASSET = "zarr"
_COLLECTION_OF_PREFIX = {"io": "ingest"}  # eoxr.io.load makes the cubes of an ingest
DEFAULT_COLLECTION = "eoxr-cubes"


def collection_id(method: str | None) -> str:
    """The collection of a cube made by ``method`` (``eoxr_method``): ``eoxr-<workflow>``, e.g.
    ``"lst.superres[tsharp]"`` -> ``eoxr-lst``, ``"eoxr.io.load"`` -> ``eoxr-ingest``; ``eoxr-cubes`` when the
    cube names no method."""
    if not method:
        return DEFAULT_COLLECTION
    name = method.removeprefix("eoxr.")
    prefix = name.split(".", 1)[0].split("[", 1)[0]
    return f"eoxr-{_COLLECTION_OF_PREFIX.get(prefix, prefix)}"


def item_id(cube_href: str) -> str:
    """A cube's item id: its name without ``.zarr`` (``s3://b/urban/basel-2024-06-01.zarr`` -> ``basel-2024-06-01``)."""
    name = cube_href.rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".zarr") or name


def check_describable(ds: xr.Dataset, what: str) -> None:
    """Refuse, before anything is written, data whose item could not be made: no CRS or y/x, no time."""
    if ds.rio.crs is None or not {"y", "x"} <= set(ds.dims):
        raise CatalogError(f"{what} has no CRS or no y/x dimensions (dims {tuple(ds.dims)}), so its STAC item would "
                           "have no footprint: write one with ds.rio.write_crs('EPSG:....') (dimensions y, x), or "
                           "drop catalog=.")
    if "time" not in ds.coords and not _input_times(provenance_attrs(ds)["inputs"]):
        raise CatalogError(f"{what} has no time coordinate and its inputs no time, so its STAC item would have no "
                           "datetime: add one (ds.assign_coords(time=np.datetime64('2024-06-01T10:30')) or "
                           "ds.expand_dims(time=[...])), or drop catalog=.")


def cube_item(cube: xr.Dataset, *, ref: dict, cube_href: str, inputs: list[dict],
              created: str | None = None) -> pystac.Item:
    """The item of ``cube`` (opened from its committed metadata) as :mod:`eoxr.catalog.outputs` describes.

    ``ref`` is the item's own reference (``eoxr_item``: id, collection), ``cube_href`` the Zarr asset's href,
    ``inputs`` the references of the items it was made from, ``created`` the creation time of the item it
    updates (None: now).
    """
    prov = provenance_attrs(cube)
    now = pystac.utils.datetime_to_str(dt.datetime.now(dt.timezone.utc))
    start, end = _time_range(cube, inputs, ref["id"])
    bbox, geometry = _footprint(cube)
    props = {"created": created or now, "updated": now}
    if cube.attrs.get("title"):
        props["title"] = str(cube.attrs["title"])
    if start != end:
        props.update(start_datetime=pystac.utils.datetime_to_str(start), end_datetime=pystac.utils.datetime_to_str(end))
    item = pystac.Item(ref["id"], geometry, bbox, start if start == end else None, props,
                       collection=ref["collection"])
    item.add_asset(ZARR_ASSET, pystac.Asset(cube_href, title="Zarr datacube", media_type=pystac.MediaType.VND_ZARR,
                                            roles=["data"]))
    _apply_projection(item, cube)
    _apply_datacube(item, cube)
    _apply_processing(item, prov, inputs, now)
    for ref_in in inputs:
        if ref_in.get("href"):
            item.add_link(pystac.Link("derived_from", ref_in["href"], media_type=pystac.MediaType.JSON,
                                      title=ref_in["id"]))
    return item


# ----- time and place
def _input_times(inputs: list[dict]) -> list[pd.Timestamp]:
    times = []
    for ref in inputs:
        times.extend(pd.Timestamp(t) for t in (ref.get("datetime") or []) if t)
    return times


def _utc(value) -> dt.datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")).to_pydatetime()


def _time_range(cube: xr.Dataset, inputs: list[dict], name: str) -> tuple[dt.datetime, dt.datetime]:
    """First and last time of the cube's ``time`` coordinate, else of its inputs."""
    if "time" in cube.coords:
        values = pd.DatetimeIndex(np.atleast_1d(cube["time"].values)).dropna()
    else:
        values = pd.DatetimeIndex(_input_times(inputs))
    if not len(values):
        raise CatalogError(f"the cube {name} has no time value (an empty time dimension, or inputs without time): "
                           "its STAC item needs a datetime. Write data with at least one time step.")
    return _utc(values.min()), _utc(values.max())


def _footprint(cube: xr.Dataset) -> tuple[list[float], dict]:
    """WGS84 bbox of the pixel edges (each edge densified, so a projected grid's curved edges are covered) and
    its polygon."""
    west, south, east, north = (float(v) for v in cube.rio.transform_bounds("EPSG:4326", densify_pts=21))
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return [west, south, east, north], {"type": "Polygon", "coordinates": [ring]}


def _crs_parts(cube: xr.Dataset) -> tuple[int | None, str]:
    """The cube's EPSG code (None when it has none) and its WKT2."""
    from pyproj import CRS

    crs = CRS.from_user_input(cube.rio.crs.to_wkt())
    return crs.to_epsg(), crs.to_wkt()


# ----- extensions
def _apply_projection(item: pystac.Item, cube: xr.Dataset) -> None:
    from pystac.extensions.projection import ProjectionExtension

    epsg, wkt2 = _crs_parts(cube)
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        code=f"EPSG:{epsg}" if epsg else None, wkt2=None if epsg else wkt2,
        bbox=[float(v) for v in cube.rio.bounds()], shape=[int(cube.sizes["y"]), int(cube.sizes["x"])],
        transform=[float(v) for v in list(cube.rio.transform())[:6]])


def _apply_datacube(item: pystac.Item, cube: xr.Dataset) -> None:
    from pystac.extensions.datacube import DatacubeExtension

    epsg, wkt2 = _crs_parts(cube)
    dims = {str(d): _dimension(cube, str(d), epsg or wkt2) for d in cube.dims}
    variables = {str(n): _variable(v, "data") for n, v in cube.data_vars.items()}
    variables.update({str(n): _variable(c, "auxiliary") for n, c in cube.coords.items()
                      if n not in cube.dims and n != "spatial_ref" and c.ndim})
    DatacubeExtension.ext(item, add_if_missing=True).apply(dimensions=dims, variables=variables)


def _dimension(cube: xr.Dataset, name: str, reference_system):
    from pystac.extensions.datacube import (
        AdditionalDimension,
        DimensionType,
        HorizontalSpatialDimension,
        TemporalDimension,
    )

    coord = cube[name].values if name in cube.coords else None
    if name in ("x", "y"):
        dim = HorizontalSpatialDimension({})
        dim.dim_type, dim.axis, dim.reference_system = DimensionType.SPATIAL, name, reference_system
        dim.extent = [float(coord.min()), float(coord.max())]
        dim.step = _regular_step(coord)
    elif name == "time" and coord is not None:
        dim = TemporalDimension({})
        dim.dim_type = DimensionType.TEMPORAL
        dim.extent = [pystac.utils.datetime_to_str(_utc(coord.min())),
                      pystac.utils.datetime_to_str(_utc(coord.max()))]
        step = _regular_step(coord)
        dim.step = pd.Timedelta(step).isoformat() if step is not None else None
    else:
        dim = AdditionalDimension({})
        dim.dim_type = "bands" if name == "band" else name
        if coord is None:
            dim.extent = [0, int(cube.sizes[name]) - 1]
        else:
            dim.values = [v if isinstance(v, (int, float)) else str(v) for v in coord.tolist()]
    return dim


def _regular_step(values: np.ndarray):
    """The step between consecutive values when it is one (to 1e-6 of itself), else None."""
    if len(values) < 2:
        return None
    steps = np.diff(values)
    first = steps[0]
    if np.issubdtype(steps.dtype, np.timedelta64):
        return first if (steps == first).all() else None
    return float(first) if np.allclose(steps, first, rtol=1e-6, atol=0) else None


def _variable(var: xr.DataArray, kind: str):
    from pystac.extensions.datacube import Variable

    out = Variable({})
    out.dimensions = [str(d) for d in var.dims]
    out.var_type = kind
    if var.attrs.get("long_name"):
        out.description = str(var.attrs["long_name"])
    if var.attrs.get("units") is not None:
        out.unit = str(var.attrs["units"])
    return out


def _apply_processing(item: pystac.Item, prov: dict, inputs: list[dict], now: str) -> None:
    from pystac.extensions.processing import ProcessingExpression, ProcessingExtension

    expression = {"method": prov["method"], "parameters": prov["parameters"], "inputs": inputs,
                  "checkpoint_sha256": prov["checkpoint_sha256"]}
    ProcessingExtension.ext(item, add_if_missing=True).apply(
        expression=ProcessingExpression.create(EXPRESSION_FORMAT, expression),
        lineage=prov["history"] or None, software=_software(prov), version=prov["version"] or version(),
        processing_datetime=pystac.utils.str_to_datetime(now))


def _software(prov: dict) -> dict[str, str]:
    """eoxr's version that made the data, and the versions of the libraries installed where it was written."""
    from ..bench import versions

    return {**versions(), "eoxr": prov["version"] or version()}
