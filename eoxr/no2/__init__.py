"""NOx emissions from NO2 columns: S5P swaths gridded by area-weighted oversampling (:func:`grid`), a transport
model for synthetic truth (:mod:`eoxr.no2.ctm`) and the flux divergence method (:mod:`eoxr.no2.divergence`)."""
from . import ctm, divergence
from .grid import grid

__all__ = ["ctm", "divergence", "grid"]
