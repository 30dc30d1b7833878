"""``ds.urban``: the urban radiative-budget functions bound to an image Dataset (``radiance`` or
``reflectance`` (band, y, x)), e.g. ``obs.urban.invert(city, sensor="sentinel-2", atmosphere={"aot550": 0.15})``.

Each method is the function of :mod:`eoxr.urban` of the same name (``unmix``: :func:`eoxr.urban.unmix_flat`)
with the dataset as its first argument; the functions are looked up at first use.
"""
from __future__ import annotations

from ..accessors import register

register("urban", {
    "invert": "eoxr.urban:invert",
    "fit_psf": "eoxr.urban:fit_psf",
    "fit_shift": "eoxr.urban:fit_shift",
    "register": "eoxr.urban:register",
    "unmix": "eoxr.urban:unmix_flat",
}, dataset=True, doc="``ds.urban``: invert an image (``radiance`` or ``reflectance`` (band, y, x)) with a 3-D city "
                     "model: per-element reflectance, temperature, emissivity and the radiative budget.")
