"""Offline validation of STAC objects: pystac's JSON-schema validator, with the extension schemas eoxr ships
(``eoxr/catalog/schemas/``) in place of the URLs they are published at, and no schema ever fetched."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import pystac

from ..errors import CatalogError


@lru_cache(maxsize=1)
def shipped_schemas() -> dict[str, dict[str, Any]]:
    """``{published URL: schema}`` of the schemas in ``eoxr/catalog/schemas/``, keyed by their ``$id``."""
    folder = resources.files("eoxr.catalog") / "schemas"
    schemas = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            schema = json.loads(entry.read_text())
            schemas[schema["$id"].rstrip("#")] = schema
    return schemas


@lru_cache(maxsize=1)
def _offline_validator():
    from pystac.validation import JsonSchemaSTACValidator

    class OfflineValidator(JsonSchemaSTACValidator):
        """pystac's validator whose schemas are pystac's own (core, GeoJSON) and eoxr's; any other is refused."""

        def __init__(self) -> None:
            super().__init__()
            self.schema_cache.update(shipped_schemas())

        def _get_schema(self, schema_uri: str) -> dict[str, Any]:
            uri = schema_uri.rstrip("#")
            if uri not in self.schema_cache:
                raise CatalogError(
                    f"no schema {uri} is shipped with eoxr, and validation never goes online: put the published "
                    "schema in eoxr/catalog/schemas/ (see its README) or drop the extension from the object.")
            return self.schema_cache[uri]

    return OfflineValidator()


def validate(obj: pystac.STACObject) -> list[str]:
    """Validate ``obj`` (an item, collection or catalog) against the STAC schema of its type and the schema of
    every extension it declares, offline; return the schema URLs used.

    Raises :class:`pystac.errors.STACValidationError` naming the first failure, and
    :class:`~eoxr.errors.CatalogError` for an extension whose schema eoxr does not ship.
    """
    return obj.validate(validator=_offline_validator())
