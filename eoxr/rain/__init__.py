"""Surface rain rate from passive-microwave radiometers (GMI and the GPM constellation).

``ds.rain.retrieve(method="bayes" | "unet", sensor=...)`` on brightness temperatures (the layout of
:func:`eoxr.io.open_product` for 1C files) gives ``rain_rate``, ``rain_rate_std`` (mm h-1) and
``rain_probability``. Physics: :mod:`.radiometers` (channel tables), :mod:`.forward` (slab radiative
transfer), :mod:`.synth` (synthetic swaths with a radar-like reference), :mod:`.calibration` (synthetic
against real GMI statistics); methods: :mod:`.bayes` (Bayesian database), :mod:`.learned` (U-Net),
:mod:`.transfer` (to other radiometers). Importing this package does not import torch.
"""
from . import accessor  # noqa: F401  (registers ds.rain / da.rain)
from .retrieve import retrieve, surface_from_tb

__all__ = ["retrieve", "surface_from_tb"]
