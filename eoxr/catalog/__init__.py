"""STAC search: one function for STAC APIs, static catalogs and named endpoints.

``search(source, ...)`` returns a :class:`pystac.ItemCollection` whatever the source is (empty when nothing
matches; ``require_items=True`` raises :class:`~eoxr.errors.EmptySearchError` instead):

* a STAC API URL, searched with pystac-client (Item Search, paged with ``limit``). Every request waits at most
  ``timeout`` seconds for the connection and for each answer, and failed or silent connections and
  429/500/502/503/504 answers are retried with exponential back-off; then a
  :class:`~eoxr.errors.CatalogError` names the URL, what happened and the fix. CQL2 ``filter`` and ``sortby``
  are sent to APIs that advertise their conformance classes, refused (naming the class) by others;
* a local static catalog or collection JSON, an ItemCollection / FeatureCollection (``.json``,
  ``.geojson``) or newline-delimited items (``.ndjson``), filtered in Python with the semantics of
  STAC API Item Search (bbox and geometry intersection, closed or open datetime intervals, partial
  dates such as ``"2023-06"`` expanded as pystac-client expands them, ids, collections, the
  ``query`` extension's eq/neq/lt/lte/gt/gte/in operators, and ``sortby``);
* a name from ``catalogs/endpoints.yaml`` (``endpoints()`` lists them).

An API that does not advertise the ``query`` conformance class (``.../item-search#query``) is sent the
other filters only, and ``query`` is applied client-side to the pages it returns, so ``query`` means the
same thing everywhere. ``max_items`` then counts the items that pass the client-side filter.

The package also keeps an intake 2 catalog of Zarr datacubes (``register_cube`` / ``open_cube``), and writes the
STAC items of eoxr's outputs into static catalogs (``eoxr.cube.write(..., catalog=...)``, ``register_item``), where
``search`` finds them and ``provenance`` follows them back to the raw inputs.

Modules: ``item_search`` (the entry point), ``sources`` (what a source names), ``names`` (endpoints.yaml),
``filters`` (checking and formatting filters), ``match`` (item matching and sorting), ``http`` (timeouts,
retries, failures), ``api`` (STAC APIs), ``static`` (static files), ``results`` (unknown collections, empty
results), ``signing``, ``cubes`` (intake), ``outputs`` (the item of a cube), ``publish`` (items in static
catalogs), ``provenance``, ``validate`` (offline schemas), ``stacio`` (STAC JSON on object stores and http).
"""
from .http import RETRY_STATUS
from .cubes import cubes, open_cube, register_cube
from .item_search import search
from .names import catalogs_dir, endpoints
from .provenance import Provenance, provenance
from .publish import register_item
from .signing import signer as _signer  # the automatic signing choice, for inspection
from .validate import validate

__all__ = ["search", "endpoints", "catalogs_dir", "register_cube", "open_cube", "cubes", "RETRY_STATUS",
           "register_item", "provenance", "Provenance", "validate"]
