"""Models of the sensors the pivot representation fuses: what each measures, where, when and how well.

Optical sensors (Sentinel-2 MSI, Landsat 8/9 OLI, MODIS Terra) are described on the six bands they share, the
pivot bands ``blue, green, red, nir, swir1, swir2``:

- band tables: native band name, centre and full width at half maximum (FWHM, nm) and native resolution, from
  ESA's Sentinel-2A MSI spectral response functions (COPE-GSEG-EOPG-TN-15-0007, v3.0), the OLI relative
  spectral responses (Barsi et al. 2014, doi:10.3390/rs61010232) and the MODIS band table
  (https://modis.gsfc.nasa.gov/about/specifications.php);
- spectral response: a Gaussian of the published centre and FWHM, an approximation of the measured RSRs good
  enough to integrate smooth surface spectra;
- point spread function: a Gaussian of standard deviation :data:`PSF_SIGMA_PER_PIXEL` pixels. The assumption:
  a modulation transfer function of 0.25 at the Nyquist frequency, within the 0.15-0.3 that the Sentinel-2 and
  OLI requirements set; a Gaussian of MTF ``m`` at ``1 / (2 p)`` has ``sigma = p sqrt(-2 ln m) / pi``;
- revisit (days between acquisitions of the constellation), overpass (local solar hour), surface reflectance
  noise (standard deviation, the order of the accuracy of atmospherically corrected products).

Sentinel-1 C-band backscatter follows the water-cloud model (Attema & Ulaby 1978, doi:10.1029/RS013i002p00357)
with the leaf area index as the descriptor of the canopy's attenuation (Prevot et al. 1993,
doi:10.1016/0034-4257(93)90053-Z) and a unit descriptor of its scattering, so that the vegetation term
saturates as the canopy closes:

    sigma0 = A cos(theta) (1 - tau2) + tau2 sigma0_soil,   tau2 = exp(-2 B LAI / cos(theta)),
    sigma0_soil [dB] = C + D mv,

linear sigma0 in m2 m-2, ``mv`` the volumetric soil moisture. The A, B, C, D of :data:`WATER_CLOUD` are
illustrative values of the order of published C-band crop calibrations (dense canopy near -11 dB in VV and
-17 dB in VH, soil from -20 dB dry to -11 dB wet in VV). Speckle multiplies the intensity by a unit-mean Gamma
variable of ``L`` looks (std ``1 / sqrt(L)``); Sentinel-1 IW GRDH has about 4.4 equivalent looks.

The land surface in the optical domain is a two-endmember cover model (:func:`canopy_reflectance`): green
canopy over soil, each a reflectance spectrum (400-2500 nm) that each sensor sees through its band responses
(:data:`ENDMEMBERS`), so that sensors differ as real ones do; the canopy's cover from the Beer-Lambert law
``fc = 1 - exp(-k LAI)`` (Monsi & Saeki 1953, reprinted doi:10.1093/aob/mci052), the soil darkening
exponentially with moisture, faster in the visible and near infrared than in the shortwave infrared (Lobell &
Asner 2002, doi:10.2136/sssaj2002.7220).
:func:`lai_from_ndvi` is that model's NDVI inverted for LAI, the one place fusion turns NDVI into LAI.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import xarray as xr

from ..errors import MissingVariableError, ParameterError

#: The pivot bands, in the order of the ``band`` dimension.
PIVOT_BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
#: Sentinel-1 polarisations, as the pivot's ``polarization`` coordinate and as the S1 cube's variables.
POLARIZATIONS = ("VV", "VH")

MTF_AT_NYQUIST = 0.25
#: Gaussian PSF standard deviation in pixels for an MTF of :data:`MTF_AT_NYQUIST` at the Nyquist frequency.
PSF_SIGMA_PER_PIXEL = math.sqrt(-2.0 * math.log(MTF_AT_NYQUIST)) / math.pi


@dataclass(frozen=True)
class Band:
    """One band of an optical sensor: its native name, centre and FWHM (nm), native resolution (m), the
    standard deviation of its surface reflectance noise, and its Gaussian PSF's standard deviation (m)."""

    native: str
    centre_nm: float
    fwhm_nm: float
    resolution_m: float
    noise_std: float

    @property
    def psf_sigma_m(self) -> float:
        return PSF_SIGMA_PER_PIXEL * self.resolution_m


@dataclass(frozen=True)
class Sensor:
    """An optical sensor on the pivot bands.

    ``bands`` maps each pivot band to its :class:`Band`; ``aliases`` maps other names of the bands (in the
    products and STAC catalogs) to pivot band names, for :func:`standardise`, and ``displaced`` a pivot name
    that some catalogs give another band to its own name (set aside when the pivot's band is there too).
    ``revisit_days`` is the revisit of the constellation (``satellites`` platforms), ``overpass_hour`` the local
    solar time of the overpass.
    """

    key: str
    name: str
    platforms: tuple[str, ...]
    bands: Mapping[str, Band]
    revisit_days: int
    overpass_hour: float
    aliases: Mapping[str, str] = field(default_factory=dict)
    displaced: Mapping[str, str] = field(default_factory=dict)

    @property
    def satellites(self) -> int:
        return len(self.platforms)

    @property
    def resolution_m(self) -> float:
        """The resolution of the sensor's cube: its finest band's."""
        return min(b.resolution_m for b in self.bands.values())

    @property
    def psf_sigma_m(self) -> Mapping[str, float]:
        """Gaussian PSF standard deviation (m) per pivot band."""
        return MappingProxyType({name: b.psf_sigma_m for name, b in self.bands.items()})

    @property
    def noise_std(self) -> Mapping[str, float]:
        """Surface reflectance noise standard deviation per pivot band."""
        return MappingProxyType({name: b.noise_std for name, b in self.bands.items()})

    def spectral_response(self, band: str, wavelengths_nm) -> np.ndarray:
        """Relative spectral response of ``band`` at ``wavelengths_nm``: a Gaussian of the band's centre and
        FWHM, 1 at the centre."""
        b = self.bands[check_key(band, self.bands, f"{self.name} band")]
        wl = np.asarray(wavelengths_nm, dtype=float)
        return np.exp(-4.0 * math.log(2.0) * ((wl - b.centre_nm) / b.fwhm_nm) ** 2)


@dataclass(frozen=True)
class Radar:
    """Sentinel-1 C-band SAR: resolution of its GRD grid (m), equivalent number of looks, incidence angle
    (degrees, mid-swath), revisit of the constellation and overpass (local solar hour)."""

    key: str
    name: str
    platforms: tuple[str, ...]
    resolution_m: float
    looks: float
    incidence_deg: float
    revisit_days: int
    overpass_hour: float
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def satellites(self) -> int:
        return len(self.platforms)


def _bands(rows: dict) -> Mapping[str, Band]:
    return MappingProxyType({name: Band(*row) for name, row in rows.items()})


def _with_native(bands: Mapping[str, Band], *more: Mapping[str, str]) -> Mapping[str, str]:
    """Aliases: each band's native name, then the further names ``more`` gives."""
    out = {b.native: name for name, b in bands.items()}
    for extra in more:
        out.update(extra)
    return MappingProxyType(out)


# pivot band: (native name, centre nm, FWHM nm, resolution m, noise std)
_S2_BANDS = _bands({
    "blue": ("B02", 492.4, 66.0, 10.0, 0.005), "green": ("B03", 559.8, 36.0, 10.0, 0.005),
    "red": ("B04", 664.6, 31.0, 10.0, 0.005), "nir": ("B8A", 864.7, 21.0, 20.0, 0.006),
    "swir1": ("B11", 1613.7, 91.0, 20.0, 0.006), "swir2": ("B12", 2202.4, 175.0, 20.0, 0.006)})
_OLI_BANDS = _bands({
    "blue": ("SR_B2", 482.0, 60.0, 30.0, 0.005), "green": ("SR_B3", 561.4, 57.0, 30.0, 0.005),
    "red": ("SR_B4", 654.6, 37.0, 30.0, 0.005), "nir": ("SR_B5", 864.7, 28.0, 30.0, 0.006),
    "swir1": ("SR_B6", 1608.9, 85.0, 30.0, 0.006), "swir2": ("SR_B7", 2200.7, 187.0, 30.0, 0.006)})
_MODIS_BANDS = _bands({
    "blue": ("sur_refl_b03", 469.0, 20.0, 500.0, 0.008), "green": ("sur_refl_b04", 555.0, 20.0, 500.0, 0.008),
    "red": ("sur_refl_b01", 645.0, 50.0, 250.0, 0.008), "nir": ("sur_refl_b02", 858.5, 35.0, 250.0, 0.01),
    "swir1": ("sur_refl_b06", 1640.0, 24.0, 500.0, 0.01), "swir2": ("sur_refl_b07", 2130.0, 50.0, 500.0, 0.01)})
# Earth Search's asset keys of Sentinel-2 L2A and Landsat C2 L2 (B08 is Earth Search's "nir": the pivot takes
# the narrow B8A that OLI and MODIS match)
_EARTH_SEARCH = {"blue": "blue", "green": "green", "red": "red", "nir08": "nir", "swir16": "swir1",
                 "swir22": "swir2"}

SENSORS: Mapping[str, Sensor | Radar] = MappingProxyType({
    "s2": Sensor("s2", "Sentinel-2 MSI", ("Sentinel-2A", "Sentinel-2B"), _S2_BANDS, revisit_days=5,
                 overpass_hour=10.5, aliases=_with_native(_S2_BANDS, _EARTH_SEARCH),
                 displaced=MappingProxyType({"nir": "B08"})),
    "landsat": Sensor("landsat", "Landsat 8/9 OLI", ("Landsat-8", "Landsat-9"), _OLI_BANDS, revisit_days=8,
                      overpass_hour=10.0, aliases=_with_native(_OLI_BANDS, _EARTH_SEARCH,
                                                               {f"B{i}": n for i, n in enumerate(PIVOT_BANDS, 2)})),
    "modis": Sensor("modis", "MODIS Terra", ("Terra",), _MODIS_BANDS, revisit_days=1, overpass_hour=10.5,
                    aliases=_with_native(_MODIS_BANDS, {b.native.removeprefix("sur_refl_"): n
                                                        for n, b in _MODIS_BANDS.items()})),
    "s1": Radar("s1", "Sentinel-1 C-SAR IW", ("Sentinel-1A", "Sentinel-1C"), resolution_m=10.0, looks=4.4,
                incidence_deg=38.0, revisit_days=6, overpass_hour=6.0,
                aliases=MappingProxyType({"VV": "vv", "VH": "vh", "sigma0_vv": "vv", "sigma0_vh": "vh"})),
})
#: Revisit of one satellite of each constellation (days).
REVISIT_PER_SATELLITE = MappingProxyType({"s2": 10, "landsat": 16, "modis": 1, "s1": 12})


def check_key(name: str, known, what: str) -> str:
    """``name`` if it is one of ``known``, else :class:`~eoxr.errors.ParameterError` listing them."""
    if name not in known:
        raise ParameterError(f"unknown {what} {name!r}: use one of {sorted(known)}")
    return name


# ----------------------------------------------------------------------------------------------------- optical
#: Wavelengths (nm) of the surface spectra :data:`SPECTRA`.
WAVELENGTHS_NM = np.arange(400.0, 2501.0)
# Surface spectra as (nm, reflectance) nodes, interpolated linearly: a dense green canopy (chlorophyll
# absorption in the blue and red, red edge, leaf water absorption near 1450 and 1950 nm), a loam soil dry,
# a built surface and open water.
_NODES = {
    "leaf": ((400, 450, 500, 550, 600, 650, 680, 700, 720, 750, 800, 900, 1000, 1100, 1200, 1300, 1400, 1450,
              1500, 1650, 1800, 1900, 1950, 2000, 2100, 2200, 2300, 2400, 2500),
             (.030, .030, .040, .080, .050, .032, .025, .060, .200, .420, .450, .460, .450, .440, .380, .350, .200,
              .120, .180, .250, .220, .100, .060, .070, .110, .110, .080, .060, .050)),
    "soil_dry": ((400, 500, 600, 700, 800, 900, 1100, 1300, 1400, 1450, 1600, 1800, 1900, 1950, 2100, 2200, 2300,
                  2500),
                 (.070, .110, .170, .210, .240, .260, .290, .310, .280, .270, .340, .330, .280, .270, .310, .300,
                  .280, .270)),
    "urban": ((400, 500, 600, 700, 900, 1300, 1600, 2200, 2500), (.090, .110, .130, .150, .170, .190, .210, .190,
                                                                  .180)),
    "water": ((400, 500, 560, 650, 700, 800, 900, 1600, 2200, 2500), (.060, .055, .050, .030, .020, .012, .008,
                                                                      .005, .003, .003)),
}
# A wet soil reflects this share of the dry soil's: water darkens the SWIR most (Lobell & Asner 2002).
_WET_SHARE = ((400, 1100, 1600, 2200, 2500), (0.55, 0.55, 0.45, 0.37, 0.35))
SPECTRA: Mapping[str, np.ndarray] = MappingProxyType(
    {name: np.interp(WAVELENGTHS_NM, *nodes) for name, nodes in _NODES.items()}
    | {"soil_wet": np.interp(WAVELENGTHS_NM, *_NODES["soil_dry"]) * np.interp(WAVELENGTHS_NM, *_WET_SHARE)})
OPTICAL = ("s2", "landsat", "modis")


def band_reflectance(spectrum, sensor: str = "s2") -> np.ndarray:
    """Reflectance in the pivot bands of ``sensor`` of a surface of reflectance ``spectrum`` (at
    :data:`WAVELENGTHS_NM`): the mean of the spectrum weighted by each band's spectral response."""
    model = SENSORS[check_key(sensor, OPTICAL, "optical sensor")]
    spectrum = np.asarray(spectrum, dtype=float)
    out = []
    for band in PIVOT_BANDS:
        response = model.spectral_response(band, WAVELENGTHS_NM)
        out.append(float(np.sum(spectrum * response) / np.sum(response)))
    return np.array(out)


#: Each optical sensor's view of the surface spectra: {sensor: {surface: reflectance per pivot band}}. The
#: sensors see one surface slightly differently (the band adjustment between sensors corrects that).
ENDMEMBERS: Mapping[str, Mapping[str, np.ndarray]] = MappingProxyType({
    sensor: MappingProxyType({name: band_reflectance(spectrum, sensor) for name, spectrum in SPECTRA.items()})
    for sensor in OPTICAL})
# The pivot's reference, Sentinel-2, for the canopy and the soil dry and wet.
LEAF, SOIL_DRY, SOIL_WET = (ENDMEMBERS["s2"][name] for name in ("leaf", "soil_dry", "soil_wet"))
# Soil darkening with moisture saturates earlier in the VNIR than in the SWIR: a larger rate per degree of
# saturation.
SOIL_DARKENING_RATE = np.array([6.0, 6.0, 6.0, 6.0, 3.0, 3.0])
POROSITY = 0.45  # m3 m-3: soil moisture at saturation
EXTINCTION = 0.5  # Beer-Lambert k: spherical leaf angles seen near nadir
REFERENCE_SOIL_MOISTURE = 0.20  # m3 m-3: the soil lai_from_ndvi assumes when given none
LAI_MAX = 8.0  # m2 m-2: the largest LAI lai_from_ndvi returns


def _per_band(values: np.ndarray, like):
    """``values`` (one per pivot band) shaped to broadcast against ``like`` with ``band`` first."""
    dtype = like.dtype if np.issubdtype(getattr(like, "dtype", float), np.floating) else float
    values = np.asarray(values, dtype=dtype)  # float32 in, float32 out
    if isinstance(like, xr.DataArray):
        return xr.DataArray(values, dims=("band",), coords={"band": list(PIVOT_BANDS)})
    return values.reshape((-1,) + (1,) * np.ndim(like))


def soil_reflectance(soil_moisture, sensor: str = "s2"):
    """Reflectance in ``sensor``'s pivot bands of a soil at ``soil_moisture`` (m3 m-3): band first.

    ``rho = rho_wet + (rho_dry - rho_wet) exp(-c mv / porosity)`` (Lobell & Asner 2002).
    """
    saturation = soil_moisture * (1.0 / POROSITY)
    seen = ENDMEMBERS[check_key(sensor, OPTICAL, "optical sensor")]
    dry, wet, rate = (_per_band(v, soil_moisture) for v in (seen["soil_dry"], seen["soil_wet"], SOIL_DARKENING_RATE))
    return wet + (dry - wet) * np.exp(-rate * saturation)


def cover_fraction(lai):
    """Fraction of the ground the canopy covers seen from above: ``1 - exp(-k LAI)``."""
    return 1.0 - np.exp(-EXTINCTION * lai)


def canopy_reflectance(lai, soil_moisture=None, sensor: str = "s2"):
    """Surface reflectance in the pivot bands of ``sensor`` of a green canopy of leaf area index ``lai`` over soil.

    Parameters
    ----------
    lai : array-like or xarray.DataArray
        Leaf area index (m2 m-2), any shape.
    soil_moisture : array-like or xarray.DataArray, optional
        Volumetric soil moisture (m3 m-3) of the soil under the canopy, broadcastable to ``lai``; default
        :data:`REFERENCE_SOIL_MOISTURE`.
    sensor : str
        The optical sensor whose bands see the surface (:data:`ENDMEMBERS`); default the pivot's reference
        ``"s2"``.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Reflectance (1), the pivot bands first: shape ``(6, *lai.shape)``, or a DataArray with ``band`` first
        (coordinates :data:`PIVOT_BANDS`). Lazy on dask input.
    """
    if soil_moisture is None:
        soil_moisture = xr.full_like(lai, REFERENCE_SOIL_MOISTURE, dtype=float) \
            if isinstance(lai, xr.DataArray) else np.full(np.shape(lai), REFERENCE_SOIL_MOISTURE)
    fc = cover_fraction(lai)
    leaf = ENDMEMBERS[check_key(sensor, OPTICAL, "optical sensor")]["leaf"]
    refl = fc * _per_band(leaf, lai) + (1 - fc) * soil_reflectance(soil_moisture, sensor)
    if isinstance(refl, xr.DataArray):
        refl = refl.transpose("band", ...).assign_attrs(units="1", long_name="surface reflectance")
    return refl


def ndvi(red, nir):
    """Normalized difference vegetation index ``(nir - red) / (nir + red)``."""
    return (nir - red) / (nir + red)


def lai_from_ndvi(ndvi_values, soil_moisture=None, sensor: str = "s2"):
    """Leaf area index (m2 m-2) whose :func:`canopy_reflectance` has NDVI ``ndvi_values``.

    The cover model's red and NIR are linear in the cover fraction ``fc``, so NDVI = ``(n - r) / (n + r)``
    solves for ``fc`` in closed form; ``LAI = -ln(1 - fc) / k``. NDVI at or below the bare soil's gives 0, at
    or above the canopy's gives :data:`LAI_MAX`. ``soil_moisture`` (m3 m-3) is the soil's, default
    :data:`REFERENCE_SOIL_MOISTURE`; ``sensor`` the optical sensor whose NDVI it is (default the pivot's
    reference, ``"s2"``). Works on numpy, xarray and dask (lazy) alike.
    """
    if soil_moisture is None:
        soil_moisture = REFERENCE_SOIL_MOISTURE
    red, nir = PIVOT_BANDS.index("red"), PIVOT_BANDS.index("nir")
    soil = soil_reflectance(np.asarray(soil_moisture, dtype=float) if not isinstance(soil_moisture, xr.DataArray)
                            else soil_moisture, sensor)
    s_red, s_nir = soil[red], soil[nir]
    if isinstance(s_red, xr.DataArray):
        s_red, s_nir = s_red.drop_vars("band"), s_nir.drop_vars("band")
    l_red, l_nir = ENDMEMBERS[sensor]["leaf"][red], ENDMEMBERS[sensor]["leaf"][nir]
    # ndvi (s_n + s_r + fc (dl_n + dl_r)) = s_n - s_r + fc (dl_n - dl_r), with dl = leaf - soil
    d_red, d_nir = l_red - s_red, l_nir - s_nir
    fc = (s_nir - s_red - ndvi_values * (s_nir + s_red)) / (ndvi_values * (d_nir + d_red) - (d_nir - d_red))
    fc = fc.clip(0.0, cover_fraction(LAI_MAX))  # the method, which dask-backed DataArrays keep lazy
    return -np.log(1.0 - fc) / EXTINCTION


# ----------------------------------------------------------------------------------------------------- radar
@dataclass(frozen=True)
class WaterCloudParameters:
    """Water-cloud model parameters of one polarisation: vegetation ``a`` (linear sigma0 of a closed canopy at
    nadir) and ``b`` (per unit LAI), soil
    ``c`` (dB) and ``d`` (dB per m3 m-3)."""

    a: float
    b: float
    c: float
    d: float


WATER_CLOUD = MappingProxyType({"VV": WaterCloudParameters(0.11, 0.14, -20.0, 25.0),
                                "VH": WaterCloudParameters(0.025, 0.10, -27.0, 20.0)})
#: The range soil moisture retrievals are clipped to (m3 m-3).
SOIL_MOISTURE_RANGE = (0.0, POROSITY)


def _polarization(polarization: str) -> WaterCloudParameters:
    return WATER_CLOUD[check_key(str(polarization).upper(), WATER_CLOUD, "polarization")]


def _vegetation_terms(lai, p: WaterCloudParameters, incidence_deg: float):
    """(vegetation backscatter, two-way canopy transmissivity tau2) of the water-cloud model."""
    cos = math.cos(math.radians(incidence_deg))
    tau2 = np.exp(-2.0 * p.b * lai / cos)
    return p.a * cos * (1.0 - tau2), tau2


def water_cloud(lai, soil_moisture, polarization: str = "VV", incidence_deg: float = 38.0):
    """Backscatter sigma0 (linear, m2 m-2) of the water-cloud model (Attema & Ulaby 1978).

    Parameters
    ----------
    lai : leaf area index (m2 m-2), the descriptor of the canopy's attenuation.
    soil_moisture : volumetric soil moisture (m3 m-3) of the top soil, broadcastable to ``lai``.
    polarization : ``"VV"`` or ``"VH"`` (:data:`WATER_CLOUD` parameters).
    incidence_deg : local incidence angle (degrees).
    """
    p = _polarization(polarization)
    veg, tau2 = _vegetation_terms(lai, p, incidence_deg)
    soil = 10.0 ** ((p.c + p.d * soil_moisture) / 10.0)
    return veg + tau2 * soil


def soil_moisture_from_backscatter(sigma0, lai, polarization: str = "VV", incidence_deg: float = 38.0):
    """Soil moisture (m3 m-3) whose :func:`water_cloud` backscatter under a canopy of ``lai`` is ``sigma0``.

    The soil term ``(sigma0 - vegetation) / tau2`` in dB, minus ``c``, over ``d``; clipped to
    :data:`SOIL_MOISTURE_RANGE` (a ``sigma0`` at or below the vegetation term alone, as speckle makes it,
    gives the driest). Under a dense canopy ``tau2`` is small and the retrieval ill-conditioned: weigh it so.
    """
    p = _polarization(polarization)
    veg, tau2 = _vegetation_terms(lai, p, incidence_deg)
    soil = np.maximum((sigma0 - veg) / tau2, 1e-6)
    return ((10.0 * np.log10(soil) - p.c) / p.d).clip(*SOIL_MOISTURE_RANGE)


def speckle(sigma0, looks: float, rng: np.random.Generator):
    """``sigma0`` times multiplicative speckle of ``looks`` looks: a Gamma(L, 1/L) variable per pixel, of mean 1
    and standard deviation ``1 / sqrt(L)`` (fully developed speckle of a multi-looked intensity)."""
    if looks <= 0:
        raise ParameterError(f"looks={looks}: the number of looks must be positive (Sentinel-1 IW GRDH: 4.4)")
    return sigma0 * rng.gamma(looks, 1.0 / looks, size=np.shape(sigma0))


# ----------------------------------------------------------------------------------------------------- names
def standardise(ds: xr.Dataset, sensor: str) -> xr.Dataset:
    """``ds`` with its bands renamed to the pivot names: optical bands to ``blue`` ... ``swir2``, Sentinel-1 to
    ``vv``, ``vh`` (linear sigma0; a variable in ``dB`` is converted).

    Each sensor's native names (S2 ``B04``, Landsat ``SR_B4``, MODIS ``sur_refl_b01``), Earth Search asset keys
    (``red``, ``nir08``, ``swir16``) and the pivot names are understood; other variables pass through
    unchanged. Lazy on dask input.

    Raises
    ------
    ParameterError
        ``sensor`` is not a key of :data:`SENSORS`.
    MissingVariableError
        None of the sensor's bands is in ``ds``.
    """
    model = SENSORS[check_key(sensor, SENSORS, "sensor")]
    targets = ("vv", "vh") if sensor == "s1" else PIVOT_BANDS
    ds = _set_aside_displaced(ds, model)
    renames = {name: model.aliases[name] for name in ds.data_vars
               if name in model.aliases and model.aliases[name] not in ds.data_vars}
    out = ds.rename(renames)
    present = [name for name in targets if name in out.data_vars]
    if not present:
        raise MissingVariableError(
            f"{model.name} data without any of its bands: expected some of {sorted(model.aliases)} or "
            f"{list(targets)}; the dataset has {sorted(map(str, ds.data_vars))}. Rename yours, "
            f"ds.rename({{'<yours>': {targets[0]!r}}}), or pass the right sensor key")
    for name in present:
        out[name] = _as_pivot_variable(out[name], name, sensor)
    return out


def _set_aside_displaced(ds: xr.Dataset, model) -> xr.Dataset:
    """Rename a variable that bears a pivot name but is not the pivot's band (Earth Search's S2 ``nir`` is B08)
    to its own name, when the pivot's band (B8A) is there under another name."""
    for name, own in getattr(model, "displaced", {}).items():
        preferred = [alias for alias, target in model.aliases.items() if target == name and alias != name]
        if name in ds.data_vars and any(alias in ds.data_vars for alias in preferred):
            ds = ds.rename({name: own})
    return ds


def _as_pivot_variable(da: xr.DataArray, name: str, sensor: str) -> xr.DataArray:
    if sensor == "s1":
        if str(da.attrs.get("units", "")).lower() == "db":
            da = (10.0 ** (da / 10.0)).assign_attrs(da.attrs)
        return da.assign_attrs(units="1", long_name=f"{name.upper()} backscatter coefficient sigma0 (linear)")
    return da.assign_attrs(units="1", long_name=f"{name} surface reflectance")
