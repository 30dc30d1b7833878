"""A small plane-parallel atmosphere: aerosol + Rayleigh for reflective bands, water vapour for thermal bands.

Reflective band b (wavelength lambda in um, cosines mu_s, mu_v of the sun and view zeniths):

    tau_R = 0.008569 lambda^-4 (1 + 0.0113 lambda^-2 + 0.00013 lambda^-4)      Rayleigh optical depth
    tau_A = AOT550 (lambda / 0.55)^-alpha                                          aerosol (Angstrom exponent alpha)
    S    = E0 exp(-tau / mu_s)                          direct irradiance normal to the beam, W m-2 um-1
    D    = E0 mu_s (1 - exp(-tau / mu_s)) F             diffuse irradiance on an open horizontal plane
    T_up = exp(-tau / mu_v),  T_dif = (1 - exp(-tau / mu_v)) F                     upward transmittances
    L_p  = E0 mu_s / pi * w P(Theta) / (4 (mu_s + mu_v)) * (1 - exp(-tau (1/mu_s + 1/mu_v)))   path radiance

with F = (tau_R / 2 + omega tau_A (1 + g) / 2) / tau the forward-scattered fraction, w P(Theta) = (tau_R
3/4 (1 + cos^2 Theta) + omega tau_A P_HG(Theta, g)) / tau the single-scattering phase term (Henyey-Greenstein
aerosol with asymmetry g, single-scattering albedo omega). This is the single-scattering approximation: good to a
few per cent of path radiance for AOT <= 0.5, which is why the benchmark perturbs the inversion's atmosphere.

Thermal band b: water-vapour column W (g cm-2) with a smooth grey absorption k(lambda) (cm2 g-1) that is
smallest in the 10-11 um window:

    tau_v = exp(-k W / mu_v),  L_up = (1 - tau_v) B(T_air),  L_sky = (1 - exp(-1.66 k W)) B(T_air)

(1.66 is the diffusivity factor for hemispheric fluxes). k(lambda) is illustrative, not a line-by-line model.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ParameterError
from .sensors import Band, band_planck, band_solar_irradiance


@dataclass(frozen=True)
class Geometry:
    """Sun and view angles in degrees (azimuths clockwise from north)."""

    sun_zenith: float
    sun_azimuth: float
    view_zenith: float = 0.0
    view_azimuth: float = 0.0

    def __post_init__(self):
        if not 0 <= self.sun_zenith < 89:
            raise ParameterError(f"sun_zenith {self.sun_zenith} deg is outside [0, 89): pass a daytime scene's "
                                 "angle in degrees (not radians, not the elevation)")
        if not 0 <= self.view_zenith < 80:
            raise ParameterError(f"view_zenith {self.view_zenith} deg is outside [0, 80): pass the sensor's view "
                                 "angle in degrees")


# name -> (lowest, highest, the likely fix): what a real atmosphere holds
ATMOSPHERE_RANGES = {
    "aot550": (0.0, 5.0, "pass the aerosol optical thickness at 550 nm (e.g. 0.15; an L2A product's AOT band "
                          "is often scaled by 1000)"),
    "angstrom": (-0.5, 4.0, "pass the Angstrom exponent (about 0.5 for dust, 1.3 for urban aerosol)"),
    "ssa": (0.5, 1.0, "pass the aerosol single-scattering albedo as a fraction (e.g. 0.92)"),
    "asymmetry": (-1.0, 1.0, "pass the aerosol asymmetry parameter g (e.g. 0.7)"),
    "water_vapour": (0.0, 10.0, "pass the water-vapour column in g cm-2 (1 g cm-2 = 10 kg m-2 = 10 mm)"),
    "air_temperature": (180.0, 340.0, "pass the near-surface air temperature in K (not degrees Celsius)"),
}


@dataclass(frozen=True)
class Atmosphere:
    """Aerosol optical thickness at 550 nm, Angstrom exponent, aerosol single-scattering albedo and asymmetry,
    water-vapour column (g cm-2) and near-surface air temperature (K)."""

    aot550: float = 0.15
    angstrom: float = 1.3
    ssa: float = 0.92
    asymmetry: float = 0.7
    water_vapour: float = 2.0
    air_temperature: float = 295.0

    def __post_init__(self):
        for name, (lo, hi, fix) in ATMOSPHERE_RANGES.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ParameterError(f"atmosphere {name}={v!r} is outside its physical range [{lo:g}, {hi:g}]: {fix}")

    @classmethod
    def from_any(cls, atm) -> "Atmosphere":
        if atm is None:
            return cls()
        if isinstance(atm, Atmosphere):
            return atm
        unknown = set(atm) - set(cls.__dataclass_fields__)
        if unknown:
            raise ParameterError(f"unknown atmosphere keys {sorted(unknown)}; use {sorted(cls.__dataclass_fields__)}")
        return cls(**atm)

    def scaled(self, aot_factor: float = 1.0, wv_factor: float = 1.0) -> "Atmosphere":
        return replace(self, aot550=self.aot550 * aot_factor, water_vapour=self.water_vapour * wv_factor)


def rayleigh_tau(lam):
    lam = np.asarray(lam, dtype=float)
    return 0.008569 * lam**-4 * (1 + 0.0113 * lam**-2 + 0.00013 * lam**-4)


def water_vapour_k(lam):
    """Grey water-vapour absorption coefficient (cm2 g-1) of the thermal model."""
    lam = np.asarray(lam, dtype=float)
    return 0.025 + 0.04 * ((lam - 10.0) / 2.0) ** 2


def _cos_scattering(g: Geometry) -> float:
    ts, tv = np.radians(g.sun_zenith), np.radians(g.view_zenith)
    dphi = np.radians(g.sun_azimuth - g.view_azimuth)
    return float(-np.cos(ts) * np.cos(tv) - np.sin(ts) * np.sin(tv) * np.cos(dphi))


def reflective_terms(atm: Atmosphere, bands: list[Band], geom: Geometry) -> dict[str, np.ndarray]:
    """Per-band atmospheric terms (arrays of len(bands)): E0, S, D, L_path, T_up, T_dif (see module doc)."""
    lam = np.array([b.centre for b in bands], dtype=float)
    e0 = np.array([band_solar_irradiance(b) for b in bands])
    mus, muv = np.cos(np.radians(geom.sun_zenith)), np.cos(np.radians(geom.view_zenith))
    tr = rayleigh_tau(lam)
    ta = atm.aot550 * (lam / 0.55) ** (-atm.angstrom)
    tau = tr + ta
    fwd = (0.5 * tr + atm.ssa * ta * (1 + atm.asymmetry) / 2) / tau
    cth = _cos_scattering(geom)
    g = atm.asymmetry
    p_hg = (1 - g * g) / (1 + g * g - 2 * g * cth) ** 1.5
    wp = (tr * 0.75 * (1 + cth * cth) + atm.ssa * ta * p_hg) / tau
    l_path = e0 * mus / np.pi * wp / (4 * (mus + muv)) * (-np.expm1(-tau * (1 / mus + 1 / muv)))
    return {
        "E0": e0,
        "S": e0 * np.exp(-tau / mus),
        "D": e0 * mus * (-np.expm1(-tau / mus)) * fwd,
        "L_path": l_path,
        "T_up": np.exp(-tau / muv),
        "T_dif": (-np.expm1(-tau / muv)) * fwd,
        "mu_s": np.full(len(bands), mus),
    }


def thermal_terms(atm: Atmosphere, bands: list[Band], geom: Geometry) -> dict[str, np.ndarray]:
    """Per-band thermal terms: tau (upward transmittance), L_up (path emission), L_sky (downwelling radiance)."""
    lam = np.array([b.centre for b in bands], dtype=float)
    muv = np.cos(np.radians(geom.view_zenith))
    k = water_vapour_k(lam) * atm.water_vapour
    b_air = np.array([band_planck(b, atm.air_temperature) for b in bands])
    tau = np.exp(-k / muv)
    return {"tau": tau, "L_up": (1 - tau) * b_air, "L_sky": (-np.expm1(-1.66 * k)) * b_air}
