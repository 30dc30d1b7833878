"""Sensor models: spectral bands (Gaussian spectral response), Planck emission, solar spectrum, PSF.

Radiance units are W m-2 sr-1 um-1, wavelengths um, irradiance W m-2 um-1.

Each band has a Gaussian spectral response of the given centre and full width at half maximum; band-effective
quantities (solar irradiance, Planck radiance and its temperature derivative) are averages over that response
sampled at ``N_SRF`` wavelengths. The sun is a 5778 K blackbody at 1 AU (total ~1361 W m-2), which keeps the
solar term smooth and reproducible; it is not a measured solar spectrum.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MissingVariableError

C1 = 1.191042e8  # 2 h c^2 in W um4 m-2 sr-1
C2 = 1.4387770e4  # h c / k in um K
SIGMA = 5.670374e-8  # Stefan-Boltzmann, W m-2 K-4
T_SUN = 5778.0  # K
SUN_SOLID = (6.957e8 / 1.495978707e11) ** 2 * np.pi  # pi (R_sun / AU)^2: sr-weighted dilution
N_SRF = 15  # wavelengths sampled per band response


@dataclass(frozen=True)
class Band:
    """One spectral band: ``centre`` and ``fwhm`` in um, ``thermal`` for emissive bands."""

    name: str
    centre: float
    fwhm: float
    thermal: bool = False

    def wavelengths(self) -> tuple[np.ndarray, np.ndarray]:
        """Sample wavelengths (um) and normalised Gaussian response weights over +-1.5 FWHM."""
        sig = self.fwhm / 2.3548
        lam = self.centre + np.linspace(-1.5, 1.5, N_SRF) * self.fwhm
        w = np.exp(-0.5 * ((lam - self.centre) / sig) ** 2)
        return lam, w / w.sum()


@dataclass(frozen=True)
class Sensor:
    """A sensor: bands, pixel size (m), Gaussian PSF sigma (in pixels), noise (relative, and NEdT in K)."""

    name: str
    bands: tuple[Band, ...]
    pixel_size: float
    psf_sigma: float = 0.5
    snr_noise: float = 0.01
    nedt: float = 0.1
    extra: dict = field(default_factory=dict)

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def band(self, name: str) -> Band:
        for b in self.bands:
            if b.name == name:
                return b
        raise MissingVariableError(
            f"sensor {self.name!r} has no band {name!r}; its bands are {self.band_names}. "
            "Rename the image's band coordinate to these names or pick another sensor."
        )

    def subset(self, names) -> "Sensor":
        return Sensor(self.name, tuple(self.band(n) for n in names), self.pixel_size, self.psf_sigma,
                      self.snr_noise, self.nedt, dict(self.extra))

    def reflective(self) -> list[Band]:
        return [b for b in self.bands if not b.thermal]

    def thermal(self) -> list[Band]:
        return [b for b in self.bands if b.thermal]

    def with_pixel(self, pixel_size: float) -> "Sensor":
        return Sensor(self.name, self.bands, pixel_size, self.psf_sigma, self.snr_noise, self.nedt, dict(self.extra))


def planck(lam_um, temp_k):
    """Planck spectral radiance B(lambda, T) in W m-2 sr-1 um-1."""
    lam = np.asarray(lam_um, dtype=float)
    x = C2 / (lam * np.asarray(temp_k, dtype=float))
    return C1 / (lam**5 * np.expm1(x))


def planck_dT(lam_um, temp_k):
    """dB/dT in W m-2 sr-1 um-1 K-1."""
    lam = np.asarray(lam_um, dtype=float)
    t = np.asarray(temp_k, dtype=float)
    x = C2 / (lam * t)
    ex = np.exp(x)
    return C1 / lam**5 * ex / np.expm1(x) ** 2 * x / t


def band_planck(band: Band, temp_k, derivative: bool = False):
    """Band-effective Planck radiance (and dB/dT) for temperatures ``temp_k`` (any shape), SRF-weighted."""
    lam, w = band.wavelengths()
    t = np.asarray(temp_k, dtype=float)[..., None]
    b = (planck(lam, t) * w).sum(-1)
    if not derivative:
        return b
    return b, (planck_dT(lam, t) * w).sum(-1)


def brightness_temperature(band: Band, radiance):
    """Inverse of the band-centre Planck function (K), for display and NEdT conversion."""
    lam = band.centre
    return C2 / (lam * np.log1p(C1 / (lam**5 * np.asarray(radiance, dtype=float))))


def solar_irradiance(lam_um):
    """Extraterrestrial solar spectral irradiance at 1 AU (W m-2 um-1), blackbody approximation."""
    return SUN_SOLID * planck(lam_um, T_SUN)


def band_solar_irradiance(band: Band) -> float:
    lam, w = band.wavelengths()
    return float((solar_irradiance(lam) * w).sum())


def broadband_weights(bands: list[Band], lo: float = 0.3, hi: float = 2.5, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Shortwave partition used for albedo and net shortwave.

    The interval [lo, hi] um is split at the midpoints between sorted band centres; each band stands for its
    interval. Returns (weights summing to 1, interval solar irradiance in W m-2 at the top of atmosphere divided
    by the band's own solar irradiance in W m-2 um-1, i.e. the effective width in um that converts a band
    spectral flux into a broadband flux).
    """
    if not bands:
        return np.zeros(0), np.zeros(0)
    centres = np.array([b.centre for b in bands])
    order = np.argsort(centres)
    edges = np.concatenate([[lo], (centres[order][1:] + centres[order][:-1]) / 2, [hi]])
    lam = np.linspace(lo, hi, n)
    e = solar_irradiance(lam)
    integral = np.zeros(len(bands))
    for k, i in enumerate(order):
        m = (lam >= edges[k]) & (lam < edges[k + 1])
        integral[i] = np.trapezoid(e[m], lam[m]) if m.sum() > 1 else 0.0
    width = integral / np.array([band_solar_irradiance(b) for b in bands])
    return integral / integral.sum(), width


def _bands(spec, thermal=()):
    return tuple(Band(n, c, w, n in thermal) for n, c, w in spec)


# Band centres and widths (um) from the missions' published band tables (rounded).
SENTINEL2 = Sensor("sentinel-2", _bands([
    ("B02", 0.490, 0.065), ("B03", 0.560, 0.035), ("B04", 0.665, 0.030), ("B05", 0.705, 0.015),
    ("B06", 0.740, 0.015), ("B07", 0.783, 0.020), ("B08", 0.842, 0.115), ("B8A", 0.865, 0.020),
    ("B11", 1.610, 0.090), ("B12", 2.190, 0.180)]), pixel_size=10.0, psf_sigma=0.45, snr_noise=0.01)

LANDSAT = Sensor("landsat-8", _bands([
    ("B1", 0.443, 0.016), ("B2", 0.482, 0.060), ("B3", 0.562, 0.057), ("B4", 0.655, 0.037),
    ("B5", 0.865, 0.028), ("B6", 1.609, 0.085), ("B7", 2.201, 0.187),
    ("B10", 10.90, 0.59), ("B11", 12.00, 1.01)], thermal=("B10", "B11")), pixel_size=30.0, psf_sigma=0.5,
    nedt=0.05)

ECOSTRESS = Sensor("ecostress", _bands([
    ("SWIR", 1.66, 0.10), ("TIR1", 8.29, 0.35), ("TIR2", 8.78, 0.31), ("TIR3", 9.20, 0.36),
    ("TIR4", 10.49, 0.54), ("TIR5", 12.09, 0.54)], thermal=("TIR1", "TIR2", "TIR3", "TIR4", "TIR5")),
    pixel_size=70.0, psf_sigma=0.5, nedt=0.15)

ASTER = Sensor("aster", _bands([
    ("B10", 8.291, 0.35), ("B11", 8.634, 0.35), ("B12", 9.075, 0.35), ("B13", 10.657, 0.70),
    ("B14", 11.318, 0.70)], thermal=("B10", "B11", "B12", "B13", "B14")), pixel_size=90.0, psf_sigma=0.5,
    nedt=0.3)

SENSORS = {"sentinel-2": SENTINEL2, "landsat-8": LANDSAT, "landsat-9": LANDSAT, "ecostress": ECOSTRESS,
           "aster": ASTER}


def get_sensor(sensor) -> Sensor:
    """A :class:`Sensor` from its name ("sentinel-2", "landsat-8", "landsat-9", "ecostress", "aster")."""
    if isinstance(sensor, Sensor):
        return sensor
    key = str(sensor).lower()
    if key not in SENSORS:
        raise MissingVariableError(f"unknown sensor {sensor!r}; eoxr.urban knows {sorted(SENSORS)}. "
                                   "Pass one of these names or an eoxr.urban.sensors.Sensor.")
    return SENSORS[key]
