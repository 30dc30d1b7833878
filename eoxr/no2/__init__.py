"""NOx emissions from NO2 columns: a transport model for synthetic truth (:mod:`eoxr.no2.ctm`) and the flux
divergence method (:mod:`eoxr.no2.divergence`)."""
from . import ctm, divergence

__all__ = ["ctm", "divergence"]
