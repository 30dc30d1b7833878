"""``ds.no2``: :func:`eoxr.no2.retrieve.emissions` and :func:`eoxr.no2.divergence.sources` bound to a Dataset of
NO2 columns and winds (``no2_column``, ``u``, ``v``) or to an emission map (``emission``), registered when
:mod:`eoxr.no2` is imported. Imports no torch."""
from __future__ import annotations

from ..accessors import method, register
from .divergence import sources
from .retrieve import emissions

register("no2", {
    "emissions": method(emissions),
    "sources": method(sources),
}, dataset=True, dataarray=False, doc="``ds.no2``: NOx emission maps from NO2 columns and winds, and the sources "
                                      "of an emission map.")
