"""NOx emissions from NO2 columns: a transport model for synthetic truth (:mod:`eoxr.no2.ctm`)."""
from . import ctm

__all__ = ["ctm"]
