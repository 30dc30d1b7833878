"""Urban radiative budget: invert satellite images with a 3-D city model into per-element reflectance,
emissivity and temperature, and albedo / net shortwave / emitted longwave maps (``ds.urban.invert``); the
sensor PSF's width and the image's registration on the city model, from the image (``ds.urban.fit_psf``,
``ds.urban.fit_shift``, ``ds.urban.register``)."""
from . import accessor  # noqa: F401  (registers ds.urban)
from .atmosphere import Atmosphere, Geometry
from .city import City
from .invert import invert
from .psf import fit_psf, fit_shift, register
from .sensors import SENSORS, Sensor, get_sensor
from .unmix import unmix_flat

__all__ = ["Atmosphere", "City", "Geometry", "SENSORS", "Sensor", "fit_psf", "fit_shift", "get_sensor", "invert",
           "register", "unmix_flat"]
