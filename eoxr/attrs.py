"""CF attributes and provenance stamps shared by every method's output.

Provenance convention
---------------------
Every dataset an eoxr method returns says in its (root) attributes what made it, so that its STAC item
(:func:`eoxr.cube.write` with ``catalog=``) and :func:`eoxr.catalog.provenance` are complete without the user
adding anything. Structured values are JSON strings, so they survive Zarr and netCDF alike:

- ``history`` (text): one line per step, with its time, eoxr version, method and parameters (CF);
- ``eoxr_version`` (str): the eoxr version of the last step;
- ``eoxr_method`` (str): the method that made the dataset, e.g. ``"lst.superres[tsharp]"``, ``"eoxr.io.load"``;
- ``eoxr_parameters`` (JSON object): that method's parameters;
- ``eoxr_inputs`` (JSON list): the STAC items it was made from, each ``{"id", "href", "collection",
  "datetime": [start, end], "product"}``; ``product`` is true for the item of an eoxr output, whose own inputs
  :func:`eoxr.catalog.provenance` follows; :func:`eoxr.io.load` names the items it read;
- ``eoxr_checkpoint_sha256`` (str): SHA-256 of the model checkpoint the method applied (comma-separated when
  several); for a method that applies none, those its inputs in memory were made with;
- ``eoxr_item`` (JSON object): ``{"id", "href", "collection", "product": true}``, the STAC item that describes
  this dataset, set by :func:`eoxr.cube.write` with ``catalog=`` and when a cube is opened from its item (a write
  without ``catalog=`` does not copy the data's to the cube: it describes their source, not the cube); a
  method's output names it in its ``eoxr_inputs`` instead.

A workflow follows it with one call, ``stamp(out, "rain.retrieve", made_from=[ds], checkpoint_sha256=...,
**params)``, where ``made_from`` lists the datasets, STAC items or item references (:func:`item_ref`) the output
was computed from. ``stamp`` without ``made_from`` only appends the history line (bookkeeping steps such as a
write). :func:`provenance_attrs` reads the convention back.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .errors import MissingVariableError, ParameterError

METHOD, PARAMETERS, INPUTS, CHECKPOINT, ITEM = (
    "eoxr_method", "eoxr_parameters", "eoxr_inputs", "eoxr_checkpoint_sha256", "eoxr_item")


def version() -> str:
    from . import __version__

    return __version__


def cf(da: xr.DataArray, units: str, long_name: str, standard_name: str | None = None, **extra) -> xr.DataArray:
    """Return ``da`` with CF ``units``/``long_name`` (and ``standard_name``) set; data untouched."""
    attrs = dict(da.attrs, units=units, long_name=long_name, **extra)
    if standard_name:
        attrs["standard_name"] = standard_name
    return da.assign_attrs(attrs)


def georeference(obj: xr.Dataset | xr.DataArray, crs=None, like: xr.Dataset | xr.DataArray | None = None):
    """``obj`` with its CRS and the CF attributes of its ``x``/``y`` coordinates; every eoxr output on a grid ends here.

    ``crs`` (default: ``obj``'s own, else ``like``'s) is written as rioxarray's ``spatial_ref`` coordinate, and
    ``x``/``y`` get what rioxarray's ``write_coordinate_system`` derives from it: ``standard_name``
    ``projection_x_coordinate`` / ``projection_y_coordinate`` with ``units`` metre for a projected CRS,
    ``longitude`` / ``latitude`` with ``degrees_east`` / ``degrees_north`` for a geographic one, a ``long_name``
    and an ``axis``, so that ``.plot()`` labels the axes with their units. ``like`` (the input the output was
    made from) lends its ``x``/``y`` attributes first, which is all there is without a CRS. An object without
    ``x``/``y`` dimensions (a swath, a polar volume) gets the CRS only. The data are untouched (lazy stays lazy).
    """
    import rioxarray  # noqa: F401  (registers .rio)

    out = obj
    if like is not None:
        for name in ("x", "y"):
            if name in out.coords and name in like.coords and out[name].dims == (name,):
                out = out.assign_coords({name: out[name].assign_attrs({**like[name].attrs, **out[name].attrs})})
    crs = crs if crs is not None else _crs_of(out)
    crs = crs if crs is not None or like is None else _crs_of(like)
    if crs is None:
        return out
    out = out.rio.write_crs(crs)
    return out.rio.write_coordinate_system() if {"x", "y"} <= set(out.dims) else out


def _crs_of(obj):
    try:
        return obj.rio.crs
    except Exception:  # noqa: BLE001 - rioxarray raises several kinds on grids it cannot read
        return None


def stamp(ds: xr.Dataset | xr.DataArray, method: str, *, made_from: Iterable | None = None,
          checkpoint_sha256: str | None = None, **params) -> xr.Dataset | xr.DataArray:
    """Append a line to ``attrs['history']`` naming the eoxr method, its version and parameters.

    With ``made_from`` (the datasets, STAC items or item references that ``ds`` was computed from;
    empty for data made from nothing, such as a synthetic scene) ``ds`` is a new product: the provenance
    attributes of the module's convention are set (``eoxr_method``, ``eoxr_parameters``, ``eoxr_inputs``, and
    ``eoxr_checkpoint_sha256`` from ``checkpoint_sha256`` or the inputs'), and ``eoxr_item`` is dropped.
    """
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    line = f"{now} eoxr {version()} {method}({args})"
    old = ds.attrs.get("history")
    out = ds.copy(deep=False)
    out.attrs = dict(ds.attrs, history=f"{old}\n{line}" if old else line, eoxr_version=version())
    if made_from is not None:
        sources = list(made_from)
        out.attrs.pop(ITEM, None)
        out.attrs.pop(CHECKPOINT, None)
        out.attrs.update({METHOD: method, PARAMETERS: to_json(params), INPUTS: to_json(_inputs_of(sources))})
        checkpoints = [checkpoint_sha256] if checkpoint_sha256 else _checkpoints_of(sources)
        if checkpoints:
            out.attrs[CHECKPOINT] = ",".join(checkpoints)
    return out


def item_ref(item) -> dict:
    """The reference to a STAC item (a ``pystac.Item`` or an item dict) that ``eoxr_inputs`` holds: its id,
    self href (None for an item never saved), collection and ``[start, end]`` time."""
    d = item if isinstance(item, Mapping) else item.to_dict(transform_hrefs=False)
    href = item.get_self_href() if hasattr(item, "get_self_href") else None
    href = href or next((lk.get("href") for lk in d.get("links", []) if lk.get("rel") == "self"), None)
    props = d.get("properties", {})
    start = props.get("start_datetime") or props.get("datetime")
    end = props.get("end_datetime") or props.get("datetime")
    return {"id": d["id"], "href": href, "collection": d.get("collection"), "datetime": [start, end],
            "product": "processing:expression" in props and _is_eoxr_expression(props["processing:expression"])}


def _is_eoxr_expression(expression) -> bool:
    return isinstance(expression, Mapping) and expression.get("format") == "eoxr"


def provenance_attrs(obj: xr.Dataset | xr.DataArray) -> dict[str, Any]:
    """The convention's attributes of ``obj`` decoded: ``method``, ``parameters``, ``inputs``,
    ``checkpoint_sha256``, ``item``, ``version`` and ``history`` (None or empty where absent)."""
    attrs = obj.attrs
    checkpoints = attrs.get(CHECKPOINT)
    inputs = _decoded(attrs, INPUTS, [], list)
    if not all(isinstance(ref, Mapping) for ref in inputs):
        raise _broken(INPUTS, attrs[INPUTS], "a list of objects")
    return {"method": attrs.get(METHOD), "parameters": _decoded(attrs, PARAMETERS, {}, Mapping),
            "inputs": inputs, "checkpoint_sha256": checkpoints or None,
            "item": _decoded(attrs, ITEM, None, Mapping), "version": attrs.get("eoxr_version"),
            "history": attrs.get("history")}


def _decoded(attrs: Mapping, key: str, default, kind: type):
    """The JSON attribute ``key`` decoded, checked to be a ``kind`` (``default`` where absent)."""
    try:
        value = from_json(attrs.get(key), default)
    except (TypeError, ValueError):
        value = None
    if value is default or isinstance(value, kind):
        return value
    raise _broken(key, attrs[key], f"a JSON {'list' if kind is list else 'object'}")


def _broken(key: str, value, expected: str) -> ParameterError:
    return ParameterError(f"attribute {key!r} = {str(value)[:80]!r} is not {expected} as eoxr writes it "
                          f"(see eoxr.attrs): remove it, del ds.attrs[{key!r}], or write it with eoxr.attrs.stamp")


def _inputs_of(sources: Sequence) -> list[dict]:
    """The item references a product made from ``sources`` names: a source's own item when it has one (it is
    a catalogued product), else the items it was made from; STAC items (pystac or dicts) as :func:`item_ref`
    makes them, references as they are."""
    refs = []
    for source in sources:
        if not isinstance(source, (xr.Dataset, xr.DataArray)):
            is_item = hasattr(source, "to_dict") or source.get("type") == "Feature"
            refs.append(item_ref(source) if is_item else dict(source))
            continue
        own = provenance_attrs(source)
        refs.extend([own["item"]] if own["item"] else own["inputs"])
    return merge_refs(refs)


def _checkpoints_of(sources: Sequence) -> list[str]:
    found = []
    for source in sources:
        if isinstance(source, (xr.Dataset, xr.DataArray)):
            found.extend(str(source.attrs.get(CHECKPOINT, "")).split(","))
    return sorted({c for c in found if c})


def merge_refs(*lists: Iterable[Mapping]) -> list[dict]:
    """Item references of every list, in order, each item (id and href) once."""
    seen, out = set(), []
    for refs in lists:
        for ref in refs:
            key = (ref.get("id"), ref.get("href"))
            if key not in seen:
                seen.add(key)
                out.append(dict(ref))
    return out


def merged_provenance(old: Mapping, new: Mapping) -> dict:
    """Root attributes of data ``new`` added to a dataset whose attributes are ``old`` (an append): ``new``'s
    win, but the inputs of both are kept."""
    out = {**old, **new}
    inputs = merge_refs(from_json(old.get(INPUTS), []), from_json(new.get(INPUTS), []))
    if inputs:
        out[INPUTS] = to_json(inputs)
    return out


def to_json(value) -> str:
    """``value`` as a JSON string (numpy values as numbers and lists, sets as lists, other objects as text)."""
    return json.dumps(value, default=_jsonable, sort_keys=True)


def from_json(text, default):
    return default if text is None or text == "" else json.loads(text)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)  # paths, CRSs, functions...


def require(ds: xr.Dataset, names: Iterable[str], what: str = "input") -> None:
    """Raise :class:`MissingVariableError` naming every absent variable and what is there."""
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise MissingVariableError(
            f"{what} lacks variable(s) {missing}; it has {sorted(map(str, ds.data_vars))}. "
            f"Rename yours with ds.rename({{'yours': '{missing[0]}'}}) or pass the right dataset."
        )


# Other names of eoxr's dimensions, as other tools write them.
_DIM_ALIASES = {"y": ("lat", "latitude", "rows", "row", "northing"), "x": ("lon", "long", "longitude", "cols", "col",
                                                                         "easting"),
                "band": ("bands", "spectral_band", "wavelength"), "channel": ("channels",),
                "time": ("t", "times", "date", "dates"), "element": ("elements",), "feature": ("features",)}


def require_dims(da: xr.DataArray | xr.Dataset, dims: Iterable[str], what: str = "input") -> None:
    """Raise :class:`MissingVariableError` naming the absent dimensions and the rename that supplies them."""
    missing = [d for d in dims if d not in da.dims]
    if missing:
        renames = {have: want for want in missing for have in da.dims
                   if str(have).lower() in (want, *_DIM_ALIASES.get(want, ()))}
        fix = (f"rename yours: .rename({renames})" if renames else
               f"eoxr names them {tuple(dims)}: rename yours, .rename({{'<yours>': {missing[0]!r}}})")
        raise MissingVariableError(f"{what} lacks dimension(s) {missing}; it has {tuple(da.dims)}. To fix: {fix}.")
