"""Cube items in a static STAC catalog: added, updated and replaced after the cube's own commit.

Layout (pystac's best practices; self-contained: the links between catalog, collections and items are
relative, the Zarr assets and the input items absolute)::

    catalog.json                            the root (created when absent)
    eoxr-lst/collection.json                one collection per workflow (:func:`.outputs.collection_id`)
    eoxr-lst/<cube name>/<cube name>.json   one item per cube, id its name without ``.zarr``

Ordering, so that an item never describes what a cube has not committed: the item is built from the cube's
committed (consolidated) metadata, after the write that commits it, while the writer still holds the cube's
lock; the catalog has its own writer lock (tickets in ``.<catalog file>.eoxr/lock/``, as a cube's), under which
the item is written first, then the collection that links it, then the root, each replaced whole. A writer
killed before the cube's commit adds or changes no item. One killed between the commit and the item leaves the
previous item: after an append, its cube holds all it describes, and more; after a replacement, it describes
the cube replaced. The next write with ``catalog=``, or :func:`register_item`, brings it up to date, as each
rebuilds the item from the cube.
"""
from __future__ import annotations

import contextlib
import os
import posixpath
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pystac
import xarray as xr

from ..attrs import ITEM, METHOD, from_json, merge_refs, provenance_attrs, to_json
from ..cube.lock import WAIT_S, _WriterLock
from ..cube.open import _committed_attrs, zarr_asset_href
from ..cube.paths import _Location, _location
from ..errors import CatalogError, CatalogLockedError, CubeLockedError, EoxrError, EoxrWarning
from .outputs import check_describable, collection_id, cube_item, item_id
from .stacio import FsspecStacIO, is_object_store_url
from .validate import validate

ROOT_ID = "eoxr-outputs"
ROOT_DESCRIPTION = "Datacubes written by eoxr, one collection per workflow."


class _CatalogLock(_WriterLock):
    """The writer lock of a static catalog, the same tickets as a cube's, beside its root file."""

    what = "catalog"

    def __enter__(self) -> _CatalogLock:
        try:
            return super().__enter__()
        except CubeLockedError as err:
            raise CatalogLockedError(str(err)) from err


@dataclass(frozen=True)
class StaticCatalog:
    """A static catalog's root file (local path or URL) and the fsspec options that reach it."""

    href: str
    storage_options: dict = field(default_factory=dict)

    @property
    def io(self) -> FsspecStacIO:
        return FsspecStacIO(self.storage_options)

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.href)

    def collection_href(self, cid: str) -> str:
        return f"{self.folder}/{cid}/collection.json"

    def item_href(self, cid: str, iid: str) -> str:
        return f"{self.folder}/{cid}/{iid}/{iid}.json"

    def lock(self, timeout: float) -> _CatalogLock:
        return _CatalogLock(_location(self.href, self.storage_options or None), timeout=timeout)

    def read(self, href: str, kind=pystac.Item):
        """The STAC object at ``href``, or None when there is none."""
        try:
            return kind.from_file(href, stac_io=self.io)
        except FileNotFoundError:
            return None


def static_catalog(catalog, cube_storage_options: dict | None = None) -> StaticCatalog:
    """The catalog named by ``catalog``: a ``catalog.json`` path or URL, or the folder that holds (or will hold)
    it. An object-store URL is reached with the cube's ``storage_options`` (a catalog beside the cube)."""
    if not isinstance(catalog, (str, os.PathLike)):
        raise CatalogError(f"catalog={catalog!r}; pass the path or URL of a static catalog's catalog.json "
                           "(s3://bucket/catalog.json, /data/catalog.json) or of its folder.")
    text = os.fspath(catalog)
    if is_object_store_url(text):
        href = text if text.endswith(".json") else f"{text.rstrip('/')}/catalog.json"
        return StaticCatalog(href, dict(cube_storage_options or {}))
    if text.startswith(("http://", "https://")):
        raise CatalogError(f"catalog={text}: eoxr cannot write to a catalog over http(s); write to its storage "
                           "(s3://..., a local folder) and serve that.")
    path = Path(text.removeprefix("file://")).expanduser().absolute()
    return StaticCatalog(str(path if path.suffix == ".json" else path / "catalog.json"))


def item_ref_for(catalog: StaticCatalog, cube_href: str, method: str | None) -> dict:
    """The reference (``eoxr_item``) of the item a cube at ``cube_href`` made by ``method`` has in ``catalog``."""
    cid, iid = collection_id(method), item_id(cube_href)
    return {"id": iid, "href": catalog.item_href(cid, iid), "collection": cid, "product": True}


def cube_href(location: _Location) -> str:
    """The href of a cube in its item: an absolute local path, or the URL it was given as."""
    return location.root if location.local else location.name


def _cube_of(item: pystac.Item) -> str:
    return zarr_asset_href(item).rstrip("/")


def check_slot(catalog: StaticCatalog, ref: dict, href: str) -> pystac.Item | None:
    """The item already at ``ref``'s place, refused when it describes another cube."""
    existing = catalog.read(ref["href"])
    if existing is not None:
        theirs = _cube_of(existing)
        if theirs != href.rstrip("/"):
            raise CatalogError(
                f"the catalog {catalog.href} already has an item {ref['id']!r} in collection {ref['collection']!r}, "
                f"for the cube {theirs}, not {href}: give this cube another name (item ids are cube names "
                "without .zarr), or write it to another catalog.")
    return existing


def publish(location: _Location, catalog: StaticCatalog, *, replace: bool, extra_inputs: Sequence[dict] = (),
            lock_timeout: float = WAIT_S, must_exist: bool = False) -> pystac.Item:
    """Build the item of the committed cube at ``location`` and put it in ``catalog`` (holding its lock).

    ``replace``: the cube was written anew, its item starts afresh; else (an append, a region write, a
    registration) the inputs of the item it updates are kept, and its creation time. ``extra_inputs``: inputs
    of a change that the cube's attributes do not record (region writes leave them as they are).
    ``must_exist``: update an item, never add one (region writes: a cube filled by parts is complete only
    when every part is written, which no single writer knows).
    """
    from ..cube.open import _open_committed

    href = cube_href(location)
    with catalog.lock(lock_timeout):
        cube = _open_committed(location)  # read holding the catalog lock: the last publisher sees the last commit
        prov = provenance_attrs(cube)
        ref = item_ref_for(catalog, href, prov["method"])
        existing = check_slot(catalog, ref, href)
        if existing is None and must_exist:
            raise _no_item_to_update(location, catalog)
        kept = [] if replace or existing is None else _item_inputs(existing)
        inputs = merge_refs(kept, prov["inputs"], extra_inputs)
        created = None if replace or existing is None else existing.properties.get("created")
        item = cube_item(cube, ref=ref, cube_href=href, inputs=inputs, created=created)
        _write(catalog, item, ref)
        if replace:
            _drop_other_items(catalog, ref, href)
    return item


def _no_item_to_update(location: _Location, catalog: StaticCatalog) -> CatalogError:
    return CatalogError(f"the cube {location.name} has no item in {catalog.href}: a region write updates an item, "
                        "it does not add one (a cube filled by parts is complete only once every part is written). "
                        f"Once every region is written, add it with eoxr.catalog.register_item({location.name!r}, "
                        f"{catalog.href!r}).")


def before_write(ds: xr.Dataset, location: _Location, catalog, storage_options: dict | None, *, mode: str,
                 compute: bool, region: bool) -> tuple[xr.Dataset, StaticCatalog]:
    """Checks made before a write with ``catalog=`` touches anything, and ``ds`` naming its item (``eoxr_item``)."""
    if not compute:
        raise CatalogError("catalog= needs compute=True: a cube written with compute=False is a template, not yet "
                           "filled. Drop catalog= here, and add the item once every region is written: "
                           "eoxr.catalog.register_item(path, catalog).")
    target = static_catalog(catalog, storage_options)
    check_describable(ds, f"the data written to {location.name}")
    method = ds.attrs.get(METHOD)
    if (region or (mode == "a" and not method)) and location.is_cube():
        method = _committed_attrs(location).get(METHOD)  # a region write keeps the cube's attributes
    href = cube_href(location)
    ref = item_ref_for(target, href, method)
    if check_slot(target, ref, href) is None and region:
        raise _no_item_to_update(location, target)
    out = ds.copy(deep=False)
    out.attrs[ITEM] = to_json(ref)
    return out, target


def _item_inputs(item: pystac.Item) -> list[dict]:
    expression = item.properties.get("processing:expression") or {}
    return list((expression.get("expression") or {}).get("inputs") or [])


def _root(catalog: StaticCatalog) -> pystac.Catalog:
    root = catalog.read(catalog.href, pystac.Catalog)
    if root is None:
        root = pystac.Catalog(ROOT_ID, ROOT_DESCRIPTION, catalog_type=pystac.CatalogType.SELF_CONTAINED)
    root.catalog_type = root.catalog_type or pystac.CatalogType.SELF_CONTAINED
    root.set_self_href(catalog.href)
    return root


def _collection(catalog: StaticCatalog, root: pystac.Catalog, item: pystac.Item) -> tuple[pystac.Collection, bool]:
    """The item's collection (read, or new with the item's extent) and whether the root links it already."""
    href = catalog.collection_href(item.collection_id)
    linked = any(link.rel == pystac.RelType.CHILD and link.get_absolute_href() == href for link in root.links)
    collection = catalog.read(href, pystac.Collection)
    if collection is None:
        extent = pystac.Extent(pystac.SpatialExtent([item.bbox]), pystac.TemporalExtent([_interval(item)]))
        workflow = item.collection_id.removeprefix("eoxr-")
        collection = pystac.Collection(item.collection_id, f"Datacubes made by eoxr's {workflow} workflow.", extent,
                                       title=f"eoxr {workflow} outputs", license="other")
    else:
        _widen(collection.extent, item)
    collection.set_self_href(href)
    collection.set_root(root)
    collection.set_parent(root)
    return collection, linked


def _interval(item: pystac.Item) -> list:
    start = item.common_metadata.start_datetime or item.datetime
    end = item.common_metadata.end_datetime or item.datetime
    return [start, end]


def _widen(extent: pystac.Extent, item: pystac.Item) -> None:
    """The collection's extent grown to cover ``item`` (never shrunk: a replaced item may leave it wider)."""
    box = extent.spatial.bboxes[0]
    extent.spatial.bboxes[0] = [min(box[0], item.bbox[0]), min(box[1], item.bbox[1]),
                                max(box[2], item.bbox[2]), max(box[3], item.bbox[3])]
    start, end = _interval(item)
    old_start, old_end = extent.temporal.intervals[0]
    extent.temporal.intervals[0] = [min(old_start, start) if old_start else None,
                                    max(old_end, end) if old_end else None]


def _write(catalog: StaticCatalog, item: pystac.Item, ref: dict) -> None:
    """The item, then the collection that links it, then the root when it did not link the collection."""
    root = _root(catalog)
    collection, linked = _collection(catalog, root, item)
    collection.links = [link for link in collection.links
                        if not (link.rel == pystac.RelType.ITEM and link.get_absolute_href() == ref["href"])]
    collection.add_item(item)
    if item.get_self_href() != ref["href"]:
        raise CatalogError(f"pystac placed item {ref['id']} at {item.get_self_href()}, not {ref['href']}; "
                           "report this with the catalog.")
    validate(item)  # linked: an item naming its collection must link it
    validate(collection)
    io = catalog.io
    item.save_object(include_self_link=False, stac_io=io)
    collection.save_object(include_self_link=False, stac_io=io)
    if not linked:
        root.add_child(collection)
        root.save_object(include_self_link=False, stac_io=io)


def _drop_other_items(catalog: StaticCatalog, ref: dict, href: str) -> None:
    """After a replacement by another workflow's cube: the item of the old cube, in its old collection, goes."""
    root = _root(catalog)
    for link in root.get_links(pystac.RelType.CHILD):
        folder = posixpath.dirname(link.get_absolute_href())
        cid = posixpath.basename(folder)
        if cid == ref["collection"]:
            continue
        old_href = catalog.item_href(cid, ref["id"])
        old = catalog.read(old_href)
        if old is None or _cube_of(old) != href.rstrip("/"):
            continue
        collection = catalog.read(link.get_absolute_href(), pystac.Collection)
        collection.links = [lk for lk in collection.links
                            if not (lk.rel == pystac.RelType.ITEM and lk.get_absolute_href() == old_href)]
        collection.save_object(include_self_link=False, stac_io=catalog.io)
        _delete_item_file(old_href, catalog)


def _delete_item_file(href: str, catalog: StaticCatalog) -> None:
    """Delete an item's JSON, and its folder on local disks once empty (object stores have no folders)."""
    location = _location(href, catalog.storage_options or None)
    location.delete(href)
    if location.local:
        with contextlib.suppress(OSError):
            os.rmdir(posixpath.dirname(href))


def register_item(path, catalog, *, storage_options: dict | None = None, catalog_options: dict | None = None,
             lock_timeout: float = WAIT_S) -> pystac.Item:
    """Add (or bring up to date) the STAC item of the existing cube at ``path`` in the static catalog
    ``catalog`` (a ``catalog.json`` path or URL, or its folder; created when absent); return the item.

    What :func:`eoxr.cube.write` does with ``catalog=`` after each write, for a cube written without it, filled
    by region writes, or whose item an interrupted writer left behind. The cube's writer lock is held meanwhile;
    its attributes are updated to name the item (``eoxr_item``), in one commit. ``storage_options`` reach the
    cube, ``catalog_options`` the catalog (default: the cube's, for a catalog on an object store).
    """
    from ..cube.journal import _recover
    from ..cube.open import _check_is_cube
    from ..cube.snapshot import _commit

    location = _location(path, storage_options)
    _check_is_cube(location)
    target = static_catalog(catalog, storage_options if catalog_options is None else catalog_options)
    with _WriterLock(location, timeout=lock_timeout) as lock:
        _recover(location)
        attrs = _committed_attrs(location)
        ref = item_ref_for(target, cube_href(location), attrs.get(METHOD))
        check_slot(target, ref, cube_href(location))
        if from_json(attrs.get(ITEM), None) != ref:
            lock.confirm()
            _commit(location, {**attrs, ITEM: to_json(ref)})
        return publish(location, target, replace=False, lock_timeout=lock_timeout)


def warn_if_catalogued(location: _Location, attrs: dict, change: str) -> None:
    """A change made without ``catalog=`` to a cube that has an item leaves that item behind: say so."""
    ref = from_json(attrs.get(ITEM), None)
    if ref:
        warnings.warn(f"the cube {location.name} has a STAC item ({ref['href']}) that this {change} without catalog= "
                      "leaves as it was: pass catalog= (the catalog.json it is in) to update it, or run "
                      f"eoxr.catalog.register_item({location.name!r}, catalog).", EoxrWarning, stacklevel=3)


def publish_after_write(location: _Location, catalog: StaticCatalog, *, replace: bool, lock_timeout: float,
                        path, extra_inputs: Sequence[dict] = (), must_exist: bool = False) -> None:
    """:func:`publish`, once the cube is committed; a failure says the cube was written and how to add its item."""
    try:
        publish(location, catalog, replace=replace, extra_inputs=extra_inputs, lock_timeout=lock_timeout,
                must_exist=must_exist)
    except (EoxrError, OSError, ValueError, KeyError, pystac.STACError) as err:  # a broken catalog file too
        kind = CatalogLockedError if isinstance(err, CatalogLockedError) else CatalogError
        raise kind(f"the cube {location.name} was written, but its STAC item in {catalog.href} was not "
                           f"({type(err).__name__}: {err}). Fix the cause, then run "
                           f"eoxr.catalog.register_item({os.fspath(path)!r}, {catalog.href!r}).") from err
