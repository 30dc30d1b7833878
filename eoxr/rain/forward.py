"""Slab radiative transfer for passive-microwave brightness temperatures over rain, ocean and land.

The atmosphere above a pixel is three homogeneous, isothermal slabs over a specular surface, seen at the
channel's incidence angle:

- **upper vapour** (above the ice): the water vapour above the ice layer's top, absorbing only;
- **ice** (above the freezing level): precipitating ice of path ``iwp`` (kg m-2) that scatters almost without
  absorbing (single-scattering albedo 0.98, asymmetry 0.45), extinction growing as f^2.4 up to 89 GHz and
  more slowly above: at 89-183 GHz it reflects the cold sky and depresses Tb (the *scattering signal*),
  20 % more in H polarisation, as horizontally oriented snowflakes do (Gong & Wu 2017, Atmos. Chem. Phys.
  17, 2741-2757, doi:10.5194/acp-17-2741-2017);
- **liquid and gas** (surface to freezing level): water vapour (22.235 GHz and 183.31 GHz lines, Lorentz
  shapes, plus a continuum growing as f^2), oxygen, cloud liquid (Rayleigh absorption) and rain, whose
  extinction is the power law k R^a of ITU-R P.838-3 with a single-scattering albedo rising from 0.05 at
  10 GHz to 0.55 at 166 GHz. Rain *emits*: over the radiatively cold, polarised ocean it warms and
  depolarises Tb at 10-37 GHz until the slab is opaque and Tb saturates at its temperature (the *emission
  signal*), which is why low frequencies see heavy rain and high ones see light rain.

Each slab's reflectance, transmittance and emissivity come from the two-stream solution for a homogeneous
layer (Meador & Weaver 1980, J. Atmos. Sci. 37, 630-643, doi:10.1175/1520-0469(1980)037<0630:TSATRT>2.0.CO;2)
with the streams along the view direction, so that a non-scattering slab transmits exactly exp(-tau / mu);
slabs and surface are combined by the adding method (reflections between them to all orders).
Temperatures follow a 6.5 K km-1 lapse rate from the surface temperature; the freezing level is where it
crosses 273.15 K; the vapour emits from the height where its slant opacity from the top is one (an exponential
profile of scale height 2 km), computed with the vapour relative to saturation, so the 183 GHz channels sound
higher in more humid air and warm with the air at a fixed relative humidity.

Surface emissivity: the ocean is a Fresnel surface of the single-Debye permittivity of sea water (Klein &
Swift 1977, IEEE Trans. Antennas Propag. 25(1), 104-111, doi:10.1109/TAP.1977.1141539, salinity 35 psu)
roughened by wind; land is a rough soil (Topp, Davis & Annan 1980 permittivity, doi:10.1029/WR016i003p00574;
Wang & Choudhury 1981 roughness, doi:10.1029/JC086iC06p05277) under vegetation (tau-omega model, Mo, Choudhury,
Schmugge, Wang & Jackson 1982, doi:10.1029/JC087iC13p11229), optionally snow-covered (volume scattering that
lowers the emissivity with frequency, as ice aloft does).

All functions take numpy arrays in the units of their arguments' names and broadcast them; they are the
physics of :mod:`eoxr.rain.synth` and need no xarray.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..errors import ParameterError
from .radiometers import Channel, Radiometer

T_COSMIC = 2.73  # K
LAPSE = 6.5  # K km-1
T_FREEZE = 273.15  # K
VAPOUR_SCALE_HEIGHT = 2.0  # km
ICE_ABOVE_FREEZING = 2.0  # km: height of the ice layer's centre above the freezing level
ICE_ALBEDO, ICE_ASYMMETRY = 0.98, 0.45
ICE_H_EXCESS = 1.2  # horizontally oriented snowflakes scatter H more than V
CLAUSIUS_CLAPEYRON = 0.062  # K-1: growth of saturated water vapour with temperature
EPS0 = 8.854187817e-12  # F m-1

# ITU-R P.838-3 rain specific attenuation gamma = k R^alpha (dB km-1), horizontal polarisation, and the
# single-scattering albedo and asymmetry of Marshall-Palmer rain (interpolated in log frequency).
_RAIN_F = np.array([6.0, 10.0, 20.0, 25.0, 35.0, 50.0, 90.0, 150.0, 200.0])
_RAIN_K = np.array([0.00175, 0.01217, 0.09164, 0.1571, 0.3374, 0.6600, 1.1100, 1.4500, 1.5600])
_RAIN_ALPHA = np.array([1.308, 1.2571, 1.0568, 0.9991, 0.9047, 0.8300, 0.7350, 0.6940, 0.6850])
_RAIN_ALBEDO = np.array([0.02, 0.05, 0.15, 0.20, 0.32, 0.42, 0.50, 0.55, 0.55])
_RAIN_ASYMMETRY = np.array([0.01, 0.03, 0.10, 0.13, 0.20, 0.30, 0.42, 0.50, 0.52])
DB_PER_NEPER = 4.343


@dataclass
class State:
    """Geophysical state of each pixel (numpy arrays or scalars that broadcast together).

    surface_temperature (K); land_fraction (1, 0 ocean .. 1 land); wind (m s-1, ocean); soil_moisture
    (m3 m-3); vegetation_water (kg m-2); snow (1, 0 bare .. 1 deep dry snow); tpw: total precipitable water
    (kg m-2); lwp: cloud liquid water path (kg m-2); rain_rate (mm h-1, the rain column's mean rate); iwp:
    precipitating ice water path (kg m-2); upper_humidity (1): factor on the vapour above the ice layer
    (the upper troposphere's humidity varies more than the column's, and the 183 GHz channels see it).
    """

    surface_temperature: np.ndarray
    land_fraction: np.ndarray
    tpw: np.ndarray
    lwp: np.ndarray = 0.0
    rain_rate: np.ndarray = 0.0
    iwp: np.ndarray = 0.0
    wind: np.ndarray = 7.0
    soil_moisture: np.ndarray = 0.2
    vegetation_water: np.ndarray = 1.0
    snow: np.ndarray = 0.0
    upper_humidity: np.ndarray = 1.0

    def __post_init__(self):
        for f in fields(self):
            setattr(self, f.name, np.asarray(getattr(self, f.name), dtype=np.float64))
        bad = {f.name: float(np.nanmin(getattr(self, f.name))) for f in fields(self)
               if f.name != "surface_temperature" and np.nanmin(getattr(self, f.name)) < 0}
        if bad:
            raise ParameterError(f"the state has negative {bad}: paths, rates and fractions are >= 0")

    @property
    def freezing_level(self) -> np.ndarray:
        """Height (km) where the temperature falls to 273.15 K, 0 over frozen surfaces, at most 5 km."""
        return np.clip((self.surface_temperature - T_FREEZE) / LAPSE, 0.0, 5.0)


# -- gas, cloud, rain and ice optics ------------------------------------------------------------------------

def _sidebands(frequency: float, offset: float) -> list[float]:
    return [frequency - offset, frequency + offset] if offset else [frequency]


def vapour_absorption(frequency) -> np.ndarray:
    """Mass absorption coefficient of water vapour (m2 kg-1) at ``frequency`` (GHz): the 22.235 and 183.31 GHz
    lines (Lorentz, widths 2.5 and 1.8 GHz of the lower troposphere) and an f^2 continuum."""
    f = np.asarray(frequency, dtype=np.float64)
    line22 = 0.0069 * (f / 22.235) ** 2 * 2.5**2 / ((f - 22.235) ** 2 + 2.5**2)
    line183 = 1.25 * 3.2 / ((f - 183.31) ** 2 + 3.2)
    return line22 + line183 + 1.1e-6 * f**2


def oxygen_opacity(frequency) -> np.ndarray:
    """Zenith opacity (Np) of oxygen in a standard atmosphere, from the wings of the 60 and 118 GHz bands."""
    f = np.asarray(frequency, dtype=np.float64)
    return 0.008 + 0.032 / (1.0 + ((f - 60.0) / 22.0) ** 2) + 0.02 / (1.0 + ((f - 118.75) / 30.0) ** 2)


def cloud_absorption(frequency) -> np.ndarray:
    """Mass absorption coefficient (m2 kg-1) of cloud liquid water near 280 K (Rayleigh, slowing above 150 GHz)."""
    f = np.asarray(frequency, dtype=np.float64)
    return 8.0e-4 * f**1.9 / (1.0 + (f / 150.0) ** 1.3)


def rain_optics(frequency, rain_rate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rain extinction (Np km-1), single-scattering albedo and asymmetry at ``rain_rate`` (mm h-1)."""
    logf = np.log(np.clip(frequency, _RAIN_F[0], _RAIN_F[-1]))
    k = np.exp(np.interp(logf, np.log(_RAIN_F), np.log(_RAIN_K)))
    alpha = np.interp(logf, np.log(_RAIN_F), _RAIN_ALPHA)
    ext = k * np.power(np.maximum(rain_rate, 0.0), alpha) / DB_PER_NEPER
    return (ext, np.full_like(ext, np.interp(logf, np.log(_RAIN_F), _RAIN_ALBEDO)),
            np.full_like(ext, np.interp(logf, np.log(_RAIN_F), _RAIN_ASYMMETRY)))


def ice_extinction(frequency) -> np.ndarray:
    """Mass extinction coefficient (m2 kg-1) of precipitating ice (snow, graupel): f^2.4 below 89 GHz, slower above."""
    x = (np.asarray(frequency, dtype=np.float64) / 89.0) ** 2.4
    return 0.55 * x / (1.0 + 0.3 * (x - 1.0))


# -- surface ------------------------------------------------------------------------------------------------

def fresnel(permittivity, incidence) -> tuple[np.ndarray, np.ndarray]:
    """Specular (V, H) reflectivities of a flat surface of complex ``permittivity`` at ``incidence`` (degrees)."""
    cos = np.cos(np.radians(incidence))
    root = np.sqrt(permittivity - np.sin(np.radians(incidence)) ** 2)
    r_h = np.abs((cos - root) / (cos + root)) ** 2
    r_v = np.abs((permittivity * cos - root) / (permittivity * cos + root)) ** 2
    return r_v, r_h


def seawater_permittivity(frequency, temperature) -> np.ndarray:
    """Single-Debye permittivity of 35 psu sea water (Klein & Swift 1977) at ``frequency`` GHz, ``temperature`` K."""
    t = np.clip(np.asarray(temperature, dtype=np.float64) - T_FREEZE, -2.0, 35.0)
    eps_s = (87.134 - 1.949e-1 * t - 1.276e-2 * t**2 + 2.491e-4 * t**3) * 0.9305  # salinity factor at 35 psu
    tau = (1.768e-11 - 6.086e-13 * t + 1.104e-14 * t**2 - 8.111e-17 * t**3) * 0.9871  # s
    sigma = 2.903 + 0.0909 * t  # S m-1 at 35 psu
    w = 2.0 * np.pi * np.asarray(frequency) * 1e9
    return 4.9 + (eps_s - 4.9) / (1.0 + 1j * w * tau) - 1j * sigma / (w * EPS0)


def ocean_emissivity(frequency, incidence, temperature, wind) -> tuple[np.ndarray, np.ndarray]:
    """(V, H) emissivity of the sea surface: Fresnel of :func:`seawater_permittivity`, plus the roughness
    and foam emission that wind (m s-1) adds, mostly to H polarisation at the imagers' incidence."""
    r_v, r_h = fresnel(seawater_permittivity(frequency, temperature), incidence)
    rough = np.clip(np.asarray(wind, dtype=np.float64), 0.0, 30.0) * (np.asarray(frequency) / 19.0) ** 0.3
    return np.clip(1.0 - r_v + 0.0004 * rough, 0, 1), np.clip(1.0 - r_h + 0.0016 * rough, 0, 1)


def soil_permittivity(moisture) -> np.ndarray:
    """Complex permittivity of soil of volumetric ``moisture`` (m3 m-3): Topp et al. (1980), loss tangent 0.2."""
    return (3.03 + 9.3 * moisture + 146.0 * moisture**2 - 76.7 * moisture**3) * (1 - 0.2j)


def soil_reflectivity(moisture, incidence) -> tuple[np.ndarray, np.ndarray]:
    """Fresnel (V, H) reflectivities of flat soil of ``moisture`` (m3 m-3, clipped to 0..0.5); at one incidence
    angle, interpolated from a 0.001 m3 m-3 table (the complex square roots of every pixel cost more than the
    rest of the land model)."""
    moisture = np.clip(moisture, 0.0, 0.5)
    inc = np.asarray(incidence, dtype=np.float64)
    if inc.size and np.ptp(inc) == 0:
        grid = np.linspace(0.0, 0.5, 501)
        r_v, r_h = fresnel(soil_permittivity(grid), float(inc.flat[0]))
        return np.interp(moisture, grid, r_v), np.interp(moisture, grid, r_h)
    return fresnel(soil_permittivity(moisture), inc)


def land_emissivity(frequency, incidence, soil_reflectivity, vegetation_water, snow) -> tuple[np.ndarray, np.ndarray]:
    """(V, H) emissivity of land: rough moist soil under a tau-omega vegetation canopy, under snow.

    ``soil_reflectivity``: the flat soil's (V, H) Fresnel reflectivities (:func:`soil_reflectivity`); roughness
    lowers the reflectivity by exp(-h cos^2) and mixes polarisations by Q, both growing with frequency (roughness is
    measured in wavelengths). Vegetation of ``vegetation_water`` (kg m-2) has a nadir optical depth of
    0.35 per kg m-2 at 10 GHz growing as f^0.5 and albedo 0.06. Snow (0..1) removes up to 30 % of the
    emissivity at high frequency by volume scattering, which mimics the ice-scattering signal of rain.
    """
    f = np.asarray(frequency, dtype=np.float64)
    r_v, r_h = soil_reflectivity
    cos2 = np.cos(np.radians(incidence)) ** 2
    h, q = 0.3 * np.sqrt(f / 10.0), np.minimum(0.1 * (f / 10.0) ** 0.3, 0.4)
    rough = np.exp(-h * cos2)
    rs_v, rs_h = ((1 - q) * r_v + q * r_h) * rough, ((1 - q) * r_h + q * r_v) * rough
    gamma = np.exp(-0.35 * np.sqrt(f / 10.0) * np.asarray(vegetation_water) / np.cos(np.radians(incidence)))
    omega = 0.06

    def canopy(rs):
        return (1 - omega) * (1 - gamma) * (1 + rs * gamma) + (1 - rs) * gamma

    loss = np.asarray(snow) * 0.3 * (1.0 - np.exp(-((f / 45.0) ** 1.5)))
    return canopy(rs_v) * (1 - loss), canopy(rs_h) * (1 - 1.3 * loss)


def surface_emissivity(channel: Channel, incidence, scan_angle, state: State, soil=None) -> np.ndarray:
    """Emissivity of the pixel's surface in the channel's polarisation (land and ocean mixed by land fraction;
    QV/QH channels mix V and H by the scan angle). Each surface model runs only where its surface is.
    ``soil``: the (V, H) :func:`soil_reflectivity` of the state's soil at ``incidence`` (the same for every
    channel: :func:`simulate` computes it once)."""
    f = channel.frequency
    shape = np.broadcast(state.land_fraction, state.surface_temperature, incidence).shape
    land = np.broadcast_to(state.land_fraction, shape)
    inc = np.broadcast_to(incidence, shape)
    e_v, e_h = np.zeros(shape), np.zeros(shape)
    sea = land < 1.0
    if sea.any():
        ov, oh = ocean_emissivity(f, inc[sea], np.broadcast_to(state.surface_temperature, shape)[sea],
                                  np.broadcast_to(state.wind, shape)[sea])
        e_v[sea], e_h[sea] = (1 - land[sea]) * ov, (1 - land[sea]) * oh
    ground = land > 0.0
    if ground.any():
        soil = soil_reflectivity(state.soil_moisture, incidence) if soil is None else soil
        canopy = (np.broadcast_to(getattr(state, k), shape)[ground] for k in ("vegetation_water", "snow"))
        lv, lh = land_emissivity(f, inc[ground], [np.broadcast_to(r, shape)[ground] for r in soil], *canopy)
        e_v[ground] += land[ground] * lv
        e_h[ground] += land[ground] * lh
    pol = channel.polarization
    if pol == "V":
        return e_v
    if pol == "H":
        return e_h
    c2 = np.cos(np.radians(scan_angle)) ** 2
    return c2 * e_v + (1 - c2) * e_h if pol == "QV" else c2 * e_h + (1 - c2) * e_v


# -- radiative transfer -------------------------------------------------------------------------------------

def two_stream(tau, albedo, asymmetry, mu) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reflectance, transmittance, emissivity) of a homogeneous slab of zenith optical depth ``tau``.

    Two-stream solution with streams along the view direction (cosine ``mu``): gamma1 = (1 - w (1 + g) / 2)
    / mu, gamma2 = w (1 - g) / (2 mu); a non-scattering slab transmits exp(-tau / mu) and reflects nothing;
    the emissivity is what neither reflects nor transmits (Kirchhoff); without absorption the limit of
    conservative scattering holds.
    """
    g1 = (1.0 - albedo * (1.0 + asymmetry) / 2.0) / mu
    g2 = albedo * (1.0 - asymmetry) / (2.0 * mu)
    big = np.sqrt(np.maximum(g1**2 - g2**2, 0.0))
    conservative = big < 1e-9  # no absorption: the limit R = g2 tau / (1 + g1 tau), T = 1 / (1 + g1 tau)
    big = np.where(conservative, 1.0, big)
    r_inf = g2 / (g1 + big)
    e1, e2 = np.exp(-big * tau), np.exp(-2.0 * big * tau)
    den = 1.0 - r_inf**2 * e2
    refl = np.where(conservative, g2 * tau / (1.0 + g1 * tau), r_inf * (1.0 - e2) / den)
    trans = np.where(conservative, 1.0 / (1.0 + g1 * tau), (1.0 - r_inf**2) * e1 / den)
    return refl, trans, np.clip(1.0 - refl - trans, 0.0, 1.0)


def channel_tb(channel: Channel, state: State, incidence, scan_angle=0.0, soil=None) -> np.ndarray:
    """Brightness temperature (K) of ``state`` in ``channel`` at ``incidence`` (degrees); ``soil`` as in
    :func:`surface_emissivity`."""
    mu = np.cos(np.radians(incidence))
    ts = state.surface_temperature
    fl = state.freezing_level
    bands = _sidebands(channel.frequency, channel.offset)
    f = channel.frequency
    kv = np.mean([vapour_absorption(b) for b in bands])
    z_ice = fl + ICE_ABOVE_FREEZING
    above = np.exp(-(z_ice + 0.5) / VAPOUR_SCALE_HEIGHT)  # share of the vapour above the ice layer's top
    tau_vapour = kv * state.tpw * (1.0 - above + above * state.upper_humidity)
    # the vapour emits from where its slant opacity from the top is one (an exponential profile: the height
    # H ln(tau / mu), at least its mean height H); at a given relative humidity that level keeps its pressure
    # as the air warms, so the height follows the vapour relative to saturation
    relative = tau_vapour * np.exp(-CLAUSIUS_CLAPEYRON * (ts - 288.15)) / mu
    z_vap = VAPOUR_SCALE_HEIGHT * np.maximum(np.log(np.maximum(relative, 1e-12)), 1.0)

    # upper vapour: absorbing slab above the ice, emitting from its own level or the column's, the higher
    tau_up = kv * state.tpw * above * state.upper_humidity
    t_up = np.maximum(ts - LAPSE * np.minimum(np.maximum(z_vap, z_ice + VAPOUR_SCALE_HEIGHT), 12.0), 200.0)
    trans_up = np.exp(-tau_up / mu)

    # ice slab
    tau_ice = ice_extinction(f) * state.iwp * (ICE_H_EXCESS if channel.polarization in ("H", "QH") else 1.0)
    r_i, t_i, e_i = two_stream(tau_ice, ICE_ALBEDO, ICE_ASYMMETRY, mu)
    t_ice = np.maximum(ts - LAPSE * z_ice, 200.0)

    # liquid and gas slab: vapour below the ice, oxygen, cloud liquid, rain (scattering)
    tau_vap = kv * state.tpw * (1.0 - above)
    tau_o2 = np.mean([oxygen_opacity(b) for b in bands])
    tau_cloud = cloud_absorption(f) * state.lwp
    ext_r, w_r, g_r = rain_optics(f, state.rain_rate)
    tau_rain = ext_r * fl
    tau_low = tau_vap + tau_o2 + tau_cloud + tau_rain
    albedo = np.where(tau_low > 0, w_r * tau_rain / np.maximum(tau_low, 1e-12), 0.0)
    r_l, t_l, e_l = two_stream(tau_low, albedo, g_r, mu)
    temps = (tau_vap * (ts - LAPSE * np.minimum(z_vap, z_ice)) + tau_o2 * (ts - LAPSE * 4.0)
             + tau_cloud * (ts - LAPSE * 1.5) + tau_rain * (1 - w_r) * (ts - LAPSE * fl / 2.0))
    t_low = temps / np.maximum(tau_vap + tau_o2 + tau_cloud + tau_rain * (1 - w_r), 1e-12)

    # adding: surface + liquid slab -> upwelling U = a + k D (D: downwelling at the slab's top)
    e_s = surface_emissivity(channel, incidence, scan_angle, state, soil)
    r_s = 1.0 - e_s
    denom = 1.0 - r_l * r_s
    d_s0 = (e_l * t_low + r_l * e_s * ts) / denom  # downwelling at the surface when D = 0
    a_low = e_l * t_low + t_l * (e_s * ts + r_s * d_s0)
    k_low = r_l + t_l * r_s * t_l / denom
    # ice slab over it, lit from above by the upper vapour and space
    d_top = (1.0 - trans_up) * t_up + trans_up * T_COSMIC
    d_low = (e_i * t_ice + t_i * d_top + r_i * a_low) / (1.0 - r_i * k_low)
    u_ice = e_i * t_ice + t_i * (a_low + k_low * d_low) + r_i * d_top
    return (1.0 - trans_up) * t_up + trans_up * u_ice


def simulate(radiometer: Radiometer, state: State, incidence=None, scan_angle=0.0) -> np.ndarray:
    """Brightness temperatures ``(channel, *state shape)`` (K) of every channel of ``radiometer``.

    ``incidence`` (degrees) defaults to the radiometer's (conical scanners); pass an array that broadcasts
    with the state for cross-track scanners, with the matching ``scan_angle``.
    """
    inc = radiometer.incidence if incidence is None else incidence
    shape = np.broadcast(*[np.asarray(getattr(state, f.name)) for f in fields(state)]).shape
    soil = soil_reflectivity(state.soil_moisture, inc)
    return np.stack([np.broadcast_to(channel_tb(c, state, inc, scan_angle, soil), shape) for c in radiometer.channels])
