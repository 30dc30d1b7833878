"""``ds.pivot``: the pivot workflow's functions bound to a Dataset, registered when :mod:`eoxr.pivot` is imported.
Imports no torch."""
from __future__ import annotations

from ..accessors import method, register
from .gapfill import gapfill

register("pivot", {
    "gapfill": method(gapfill),
    "classify": method("eoxr.pivot.classify:classify"),  # imported at first use (it imports torch)
}, dataset=True, dataarray=False, doc="``ds.pivot``: daily gap-filling with uncertainty of a cube's series, and "
                                      "land cover classified from a pivot dataset.")
