"""The baseline users compare with: flat 2-D linear unmixing.

Every city cell is a flat, unshaded, unoccluded facet: a pixel's radiance is the class-fraction-weighted sum of
element radiances under the open-sky irradiance (S mu_s + D), with no shadows, sky view factor, walls seen
obliquely, or bounces. Solved per pixel over the same weighted window and with the same bounds, priors and
atmosphere as :func:`eoxr.urban.invert`, so that differences come from the geometry alone.
"""
from __future__ import annotations

from .invert import invert


def unmix_flat(obs, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, **kwargs):
    """Flat linear unmixing of ``obs`` into element properties (same outputs as :func:`invert`)."""
    return invert(obs, city, sensor, atmosphere, window, max_iter, flat=True, **kwargs)
