"""``provenance(item)``: how an eoxr output was made, back to the raw items it came from.

An item that eoxr wrote (:mod:`eoxr.catalog.outputs`) records in ``processing:expression`` (format ``"eoxr"``)
the method, its parameters, the checkpoint SHA-256 and its inputs; an input that is itself an eoxr output
(``"product": true``) is read from its href and followed in turn, so a chain such as ingest, then
``lst.superres``, leads from the super-resolved cube to the scenes ingested.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pystac

from ..errors import CatalogError
from .outputs import EXPRESSION_FORMAT
from .stacio import FsspecStacIO


@dataclass(frozen=True)
class Provenance:
    """One item of the chain: whether eoxr made it (else it is a raw input), with which method, parameters,
    version and model, and, in ``inputs``, the provenance of each item it was made from."""

    id: str
    href: str | None
    collection: str | None
    made_by_eoxr: bool = False
    method: str | None = None
    parameters: dict = field(default_factory=dict)
    eoxr_version: str | None = None
    checkpoint_sha256: str | None = None
    inputs: tuple[Provenance, ...] = ()

    def raw_inputs(self) -> list[Provenance]:
        """The items at the start of the chain (those eoxr did not make), each once, in order."""
        if not self.made_by_eoxr:
            return [self]
        seen, out = set(), []
        for source in self.inputs:
            for raw in source.raw_inputs():
                if (raw.id, raw.href) not in seen:
                    seen.add((raw.id, raw.href))
                    out.append(raw)
        return out

    def to_dict(self) -> dict:
        return {"id": self.id, "href": self.href, "collection": self.collection, "made_by_eoxr": self.made_by_eoxr,
                "method": self.method, "parameters": self.parameters, "eoxr_version": self.eoxr_version,
                "checkpoint_sha256": self.checkpoint_sha256, "inputs": [i.to_dict() for i in self.inputs]}

    def __str__(self) -> str:
        return "\n".join(self._lines(0))

    def _lines(self, depth: int) -> list[str]:
        made = f" <- {self.method} (eoxr {self.eoxr_version})" if self.made_by_eoxr else ""
        model = f" [checkpoint sha256 {self.checkpoint_sha256[:12]}]" if self.checkpoint_sha256 else ""
        lines = [f"{'  ' * depth}{self.collection or '?'}/{self.id}{made}{model}"]
        for source in self.inputs:
            lines.extend(source._lines(depth + 1))
        return lines


def provenance(item, *, storage_options: dict | None = None) -> Provenance:
    """The provenance of ``item`` (a ``pystac.Item``, an item dict, or the path or URL of an item's JSON): the
    method, parameters, eoxr version and checkpoint SHA-256 that made it, and the same for each of its inputs,
    back to the raw inputs (``.raw_inputs()``).

    ``storage_options`` reach items on object stores. Raises :class:`~eoxr.errors.CatalogError` naming an input
    item that eoxr made but that cannot be read at its href (moved or deleted), or a chain that loops.
    """
    io = FsspecStacIO(storage_options)
    return _provenance(_as_item(item, io), io, visited=())


def _as_item(item, io: FsspecStacIO) -> pystac.Item:
    if isinstance(item, pystac.Item):
        return item
    if isinstance(item, Mapping):
        return pystac.Item.from_dict(dict(item))
    if isinstance(item, str):
        return _read(item, io, "")
    raise CatalogError(f"provenance() takes a STAC item (pystac.Item or dict) or the href of one, not "
                       f"{type(item).__name__}.")


def _read(href: str, io: FsspecStacIO, of: str) -> pystac.Item:
    try:
        return pystac.Item.from_file(href, stac_io=io)
    except (OSError, ValueError, KeyError, pystac.STACError) as err:
        raise CatalogError(f"cannot read the item at {href}{of} ({type(err).__name__}: {err}); the chain stops "
                           "there. Restore the item, or pass storage_options= that reach it.") from err


def _provenance(item: pystac.Item, io: FsspecStacIO, visited: tuple[str, ...]) -> Provenance:
    href = item.get_self_href()
    expression = item.properties.get("processing:expression") or {}
    if expression.get("format") != EXPRESSION_FORMAT:
        return Provenance(item.id, href, item.collection_id)
    made = expression.get("expression") or {}
    inputs = tuple(_input(ref, io, visited + (href or item.id,), item.id) for ref in made.get("inputs") or [])
    return Provenance(item.id, href, item.collection_id, made_by_eoxr=True, method=made.get("method"),
                      parameters=dict(made.get("parameters") or {}),
                      eoxr_version=item.properties.get("processing:version"),
                      checkpoint_sha256=made.get("checkpoint_sha256"), inputs=inputs)


def _input(ref: dict, io: FsspecStacIO, visited: tuple[str, ...], of: str) -> Provenance:
    href = ref.get("href")
    if not (ref.get("product") and href):
        return Provenance(ref["id"], href, ref.get("collection"))
    if href in visited:
        raise CatalogError(f"the provenance of {visited[0]} loops: {' -> '.join(visited)} -> {href}. An item "
                           "cannot be its own input; rewrite the cube that names it.")
    return _provenance(_read(href, io, f" (input {ref['id']!r} of {of!r})"), io, visited)
