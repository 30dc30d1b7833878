"""``ds.rain`` / ``da.rain``: the rain functions bound to brightness temperatures (imports no torch).

``ds.rain.retrieve(...)`` is :func:`eoxr.rain.retrieve` on ``ds["brightness_temperature"]``, with the
dataset's ``surface_type`` as the surface and its ``sensor``/``instrument`` attribute as the radiometer
unless given; ``surface=`` and ``tpw=`` may name variables of the dataset.
"""
from __future__ import annotations

import xarray as xr

from ..accessors import method, register, variable, variable_or_value
from .retrieve import retrieve


def _surface_of(obj, surface):
    """``surface=`` as given (a DataArray or a variable name), or the dataset's ``surface_type``."""
    if surface is None and isinstance(obj, xr.Dataset) and "surface_type" in obj.variables:
        return obj["surface_type"]
    return variable_or_value(obj, surface)


def _sensor_of(obj, sensor):
    """``sensor=`` as given, or the dataset's ``sensor`` / ``instrument`` attribute (1C files name it)."""
    if sensor is None and isinstance(obj, xr.Dataset):
        return obj.attrs.get("sensor") or obj.attrs.get("instrument") or None
    return sensor


register("rain", {
    "retrieve": method(retrieve, select=variable("brightness_temperature"),
                       arguments={"surface": _surface_of, "tpw": variable_or_value, "sensor": _sensor_of}),
}, dataset=True, dataarray=True, doc="``ds.rain`` / ``da.rain``: surface rain rate from passive-microwave "
                                     "brightness temperatures (K) of a swath or grid (variable "
                                     "``brightness_temperature``).")
