"""NOx emissions from NO2 columns: S5P swaths gridded by area-weighted oversampling (:func:`grid`), a transport
model for synthetic truth (:mod:`eoxr.no2.ctm`) and the flux divergence method (:mod:`eoxr.no2.divergence`),
bound to datasets as ``ds.no2.emissions()`` and ``ds.no2.sources()``, and gridded fields scored against ground
stations (:func:`compare_stations`)."""
from . import accessor, ctm, divergence  # noqa: F401  (accessor registers ds.no2)
from .grid import grid
from .l3 import open_l3
from .retrieve import emissions
from .stations import compare_stations

__all__ = ["compare_stations", "ctm", "divergence", "emissions", "grid", "open_l3"]
