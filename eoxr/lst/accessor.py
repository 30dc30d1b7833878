"""``ds.lst`` / ``da.lst``: the lst functions bound to an LST Dataset (variable ``lst``, K) or DataArray.

``ds.lst.superres(...)`` is :func:`eoxr.lst.superres` on ``ds`` (its variable ``lst``), ``ds.lst.degrade(...)`` is
:func:`eoxr.lst.degrade`, ``ds.lst.scaling(...)`` is :func:`eoxr.lst.multiscale` (with the dataset's
``ndvi`` when it is on the LST's grid). A guide may be named by a variable of the dataset (``guide="ndvi"``).
Imports no torch.
"""
from __future__ import annotations

import xarray as xr

from ..accessors import method, register, variable, variable_or_value
from .degrade import degrade
from .scaling import multiscale
from .superres import superres

_lst = variable("lst")


def _lst_dataset(obj):
    """The Dataset whole (superres takes its ``lst``, and its attrs name the items it was loaded from)."""
    _lst(obj)  # a Dataset without ``lst`` is refused here, naming what it has
    return obj


def _ndvi_of(obj, ndvi):
    """``ndvi=`` as given, or the dataset's ``ndvi`` when it is on the LST's grid."""
    if ndvi is None and isinstance(obj, xr.Dataset) and "ndvi" in obj.variables \
            and obj["ndvi"].sizes.get("x") == obj["lst"].sizes.get("x"):
        return obj["ndvi"]
    return variable_or_value(obj, ndvi)


register("lst", {
    "superres": method(superres, select=_lst_dataset, arguments={"guide": variable_or_value}),
    "degrade": method(degrade, select=_lst),
    "scaling": method(multiscale, select=_lst, arguments={"ndvi": _ndvi_of}),
}, dataset=True, dataarray=True, doc="``ds.lst`` / ``da.lst``: LST super-resolution, sensor model and multiscale "
                                     "statistics of an LST (K) Dataset (variable ``lst``) or DataArray.")
