"""``ds.lst`` / ``da.lst``: thin accessor over the pure functions of :mod:`eoxr.lst` (imports no torch)."""
from __future__ import annotations

import xarray as xr

from ..attrs import require
from ..errors import MissingVariableError


def _lst_of(obj) -> xr.DataArray:
    if isinstance(obj, xr.DataArray):
        return obj
    require(obj, ["lst"], "ds.lst")
    return obj["lst"]


def _guide_of(obj, guide):
    """A guide DataArray, or the name of a variable of the dataset."""
    if isinstance(guide, str):
        if not isinstance(obj, xr.Dataset) or guide not in obj.variables:
            raise MissingVariableError(f"guide={guide!r} names no variable of this dataset; pass the DataArray")
        return obj[guide]
    return guide


class _LSTAccessor:
    def __init__(self, obj):
        self._obj = obj

    def superres(self, factor: int = 4, method: str = "bicubic", guide=None, scale_correction: bool | str = False,
                 fill=None, model=None, conserve_coarse: bool | None = None, device: str = "auto",
                 ensemble: bool = True) -> xr.Dataset:
        """Super-resolve the LST ``factor`` times; see :func:`eoxr.lst.superres.superres`."""
        from .superres import superres

        return superres(self._obj, factor=factor, method=method, guide=_guide_of(self._obj, guide),
                        scale_correction=scale_correction, fill=fill, model=model,
                        conserve_coarse=conserve_coarse, device=device, ensemble=ensemble)

    def degrade(self, factor: int, mtf: float | None = None, domain: str = "radiance") -> xr.DataArray:
        """The LST as a ``factor`` times coarser sensor sees it; see :func:`eoxr.lst.degrade.degrade`."""
        from .degrade import degrade

        return degrade(_lst_of(self._obj), factor, mtf=mtf, domain=domain)

    def scaling(self, ndvi=None, factors=(1, 4, 16)) -> xr.Dataset:
        """Multiscale statistics of LST (and NDVI: ``ndvi=`` or the dataset's ``ndvi`` on the same grid)."""
        from .scaling import multiscale

        obj = self._obj
        if ndvi is None and isinstance(obj, xr.Dataset) and "ndvi" in obj.variables \
                and obj["ndvi"].sizes.get("x") == obj["lst"].sizes.get("x"):
            ndvi = obj["ndvi"]
        return multiscale(_lst_of(obj), _guide_of(obj, ndvi), factors=factors)


@xr.register_dataset_accessor("lst")
class LSTDatasetAccessor(_LSTAccessor):
    """``ds.lst.superres(...)``, ``ds.lst.scaling()``, ``ds.lst.degrade(...)`` on a Dataset with ``lst`` (K)."""


@xr.register_dataarray_accessor("lst")
class LSTDataArrayAccessor(_LSTAccessor):
    """The same methods on an LST DataArray (K)."""
