"""The baseline users compare with: flat 2-D linear unmixing.

Every city cell is a flat, unshaded, unoccluded facet: a pixel's radiance is the class-fraction-weighted sum of
element radiances under the open-sky irradiance (S mu_s + D), with no shadows, sky view factor, walls seen
obliquely, or bounces. Solved per pixel over the same weighted window and with the same bounds, priors and
atmosphere as :func:`eoxr.urban.invert`, so that differences come from the geometry alone.
"""
from __future__ import annotations

from .invert import invert


def unmix_flat(obs, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, **kwargs):
    """Flat linear unmixing of ``obs`` into element properties: the baseline of :func:`invert`.

    ``ds.urban.unmix(city, ...)`` is this function on the image dataset ``ds``: :func:`invert` with
    ``flat=True`` (every city cell a flat, unshaded, unoccluded facet; same window, bounds, priors and
    atmosphere), so that differences from :func:`invert` come from the geometry alone.

    Parameters
    ----------
    obs, city, sensor, atmosphere, window, max_iter
        As :func:`invert`.
    **kwargs
        Further arguments of :func:`invert`.

    Returns
    -------
    xarray.Dataset
        The variables of :func:`invert`, on the image's grid.

    Examples
    --------
    >>> from eoxr.urban import Atmosphere, Geometry, get_sensor, synth
    >>> city = synth.make_city(100.0, 2.0, seed=1)
    >>> s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    >>> sun = Geometry(sun_zenith=35.0, sun_azimuth=150.0, view_zenith=8.0, view_azimuth=100.0)
    >>> obs = synth.observe(city, synth.draw_properties(city, s2, 1, sun), s2, sun, Atmosphere(aot550=0.15),
    ...                     pixel_size=10.0)
    >>> flat = obs.urban.unmix(city, s2, {"aot550": 0.15}, window=3)
    >>> flat["reflectance"].dims, flat["albedo"].attrs["units"]
    (('element', 'band', 'y', 'x'), '1')
    """
    return invert(obs, city, sensor, atmosphere, window, max_iter, flat=True, **kwargs)
