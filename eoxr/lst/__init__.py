"""Land surface temperature super-resolution: MODIS / Sentinel-3 LST (1 km) to 250 m.

``ds.lst.superres(factor=4, method=...)`` with methods "bicubic", "tsharp", "distrad", "sisr", "disr",
optional ``scale_correction=True``; ``ds.lst.scaling()`` for multiscale statistics; the sensor model in
:mod:`eoxr.lst.degrade`. Importing this package does not import torch.
"""
from . import accessor  # noqa: F401  (registers ds.lst / da.lst)
from .baselines import bicubic, conserve, distrad, tsharp
from .degrade import aggregate, degrade
from .scaling import multiscale, power_spectrum, spectral_slope, structure_function
from .superres import superres

__all__ = ["aggregate", "bicubic", "conserve", "degrade", "distrad", "multiscale", "power_spectrum",
           "spectral_slope", "structure_function", "superres", "tsharp"]
