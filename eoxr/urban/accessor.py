"""``ds.urban``: the urban radiative-budget workflow bound to xarray objects (thin: checks, then one function)."""
from __future__ import annotations

import xarray as xr

from .invert import invert
from .psf import fit_psf, fit_shift, register
from .unmix import unmix_flat


@xr.register_dataset_accessor("urban")
class UrbanAccessor:
    """Invert an image (``radiance`` or ``reflectance`` (band, y, x)) with a 3-D city model.

    >>> res = obs.urban.invert(city, sensor="sentinel-2", atmosphere={"aot550": 0.15}, window=5)
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def invert(self, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, **kwargs):
        """Per-element reflectance/temperature/emissivity and the radiative budget; see :func:`eoxr.urban.invert`."""
        return invert(self._ds, city, sensor, atmosphere, window, max_iter, **kwargs)

    def fit_psf(self, city, sensor="sentinel-2", atmosphere=None, window: int = 5, **kwargs):
        """The sensor PSF's Gaussian width that fits this image best; see :func:`eoxr.urban.fit_psf`."""
        return fit_psf(self._ds, city, sensor, atmosphere, window, **kwargs)

    def fit_shift(self, city, sensor="sentinel-2", atmosphere=None, window: int = 5, **kwargs):
        """The shift of this image's coordinates that registers it on the city; see :func:`eoxr.urban.fit_shift`."""
        return fit_shift(self._ds, city, sensor, atmosphere, window, **kwargs)

    def register(self, fit, city=None):
        """This image with the shift of ``fit`` (from :meth:`fit_shift`) added to its coordinates, clipped to
        ``city`` when given; see :func:`eoxr.urban.register`."""
        return register(self._ds, fit, city)

    def unmix(self, city, sensor="sentinel-2", atmosphere=None, window: int = 5, **kwargs):
        """The flat 2-D linear unmixing baseline; see :func:`eoxr.urban.unmix_flat`."""
        return unmix_flat(self._ds, city, sensor, atmosphere, window, **kwargs)
