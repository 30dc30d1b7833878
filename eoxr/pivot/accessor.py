"""``ds.pivot``: the pivot workflow's functions bound to a Dataset, registered when :mod:`eoxr.pivot` is imported.
Imports no torch."""
from __future__ import annotations

from ..accessors import method, register
from .gapfill import gapfill
from .sensors import standardise

register("pivot", {
    "standardise": method(standardise),
    "gapfill": method(gapfill),
}, dataset=True, dataarray=False, doc="``ds.pivot``: a sensor's cube renamed to the pivot bands, and daily "
                                      "gap-filling with uncertainty.")
