"""The image as the urban inversion reads it: which variable, its units and physical range, which bands, the
scene's angles, and the reflective radiances its model compares with.

The shared names say what an image holds: ``radiance`` (top-of-atmosphere radiance, W m-2 sr-1 um-1; reflective
and thermal bands), ``toa_reflectance`` (top-of-atmosphere reflectance, 1) and ``reflectance`` (surface,
bottom-of-atmosphere reflectance, 1: a Sentinel-2 L2A or Landsat collection-2 level-2 product, whose atmospheric
correction is done). Where the image's attributes say otherwise (STAC ``processing:level``, the collection, the
product type, as :func:`eoxr.io.load` records them), :func:`observed_image` refuses it and names the variable it
should be.

Surface reflectance is compared with the same 3-D model (shadows, sky view, walls, bounces, adjacency) without the
atmosphere's path: an L2A processor treats each pixel as a flat Lambertian surface under the open-sky irradiance
S mu_s + D, so that its reflectance rho_s = pi (L - L_p) / ((T_up + T_dif) (S mu_s + D)); the inversion turns it
back into the path-free radiance (T_up + T_dif) rho_s (S mu_s + D) / pi and models it with L_p = 0.
"""
from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .. import attrs as A
from ..arrays import halo_map, is_lazy
from ..errors import GridError, MissingVariableError, ParameterError
from ..units import check_range
from .atmosphere import Geometry
from .sensors import Band, Sensor, band_planck, band_solar_irradiance, get_sensor

# variable -> (units, what it is)
KINDS = {
    "radiance": ("W m-2 sr-1 um-1", "top-of-atmosphere radiance"),
    "toa_reflectance": ("1", "top-of-atmosphere reflectance"),
    "reflectance": ("1", "surface (bottom-of-atmosphere, L2A) reflectance"),
}
IMAGE_UNITS = {k: units for k, (units, _) in KINDS.items()}  # for units.declare_units on the image argument
SURFACE, TOA = "surface", "toa"
# attributes that name a product's processing level, the most specific first
LEVEL_ATTRS = ("processing:level", "processing_level", "product_type", "s2:product_type", "product", "collection")
# tokens of those attributes (split at anything but letters and digits) that say which level the data are
_LEVEL_TOKENS = {SURFACE: {"l2", "l2a", "l2sp", "l2sr", "2a", "s2msi2a", "msil2a", "ard", "boa", "sr"},
                 TOA: {"l1", "l1c", "l1tp", "l1gt", "l1gs", "1c", "s2msi1c", "msil1c", "toa"}}
REFLECTANCE_RANGE = (-0.1, 1.6)  # 1: L2A slightly below 0 over dark water, above 1 over bright clouds and snow
MAX_TOA_REFLECTANCE = 1.6  # the reflective radiances' upper bound, as a TOA reflectance at the sun's zenith
MAX_BRIGHTNESS_TEMPERATURE = 400.0  # K, the thermal radiances' upper bound


@dataclass(frozen=True)
class Image:
    """The observation of an inversion: ``data`` (band, y, x), which variable it was (``kind``, see
    :data:`KINDS`), and the sensor restricted to its bands."""

    data: xr.DataArray
    kind: str
    sensor: Sensor

    @property
    def lazy(self) -> bool:
        return is_lazy(self.data)

    def bands(self, bands: list[Band]) -> xr.DataArray:
        """The image's ``bands``; the image itself when it holds just those, in order (a selection would add a
        slicing task per chunk to a lazy image's graph)."""
        want = [b.name for b in bands]
        return self.data if [str(b) for b in self.data.band.values] == want else self.data.sel(band=want)


def observed_image(obs, sensor) -> Image:
    """The image of ``obs``: a Dataset with one of ``radiance``, ``toa_reflectance`` or ``reflectance`` (band, y,
    x), or such a DataArray (unnamed: radiance), its attributes checked against its name (:func:`check_level`).
    The public functions declare its units (:data:`IMAGE_UNITS`, :func:`eoxr.units.declare_units`)."""
    if isinstance(obs, xr.DataArray):
        obs = obs.to_dataset(name=obs.name or "radiance")
    present = [k for k in KINDS if k in obs]
    if not present:
        raise MissingVariableError(f"the image needs one of the variables {list(KINDS)} (band, y, x): "
                                   f"'radiance' (TOA, W m-2 sr-1 um-1), 'toa_reflectance' (L1C) or 'reflectance' "
                                   f"(surface, L2A); it has {sorted(map(str, obs.data_vars))}: rename yours")
    if len(present) > 1:
        raise ParameterError(f"the image holds {present}: pass one of them, e.g. ds[[{present[0]!r}]]")
    kind = present[0]
    img = obs[kind]
    A.require_dims(img, ("band", "y", "x"), "urban.invert image")
    if not img.sizes["band"]:
        raise GridError(f"the image's {kind} has no band (its band dimension is empty): pass at least one of the "
                        f"sensor's bands, {get_sensor(sensor).band_names}")
    check_level(kind, obs.attrs, img.attrs)
    img = img.transpose("band", "y", "x")
    sen = get_sensor(sensor).subset([str(b) for b in img.band.values])
    if kind != "radiance" and sen.thermal():
        raise ParameterError(f"thermal bands {[b.name for b in sen.thermal()]} must be given as radiance, not "
                             f"{kind}: put them in a 'radiance' variable of their own image")
    return Image(img, kind, sen)


def product_level(*attrs: dict) -> tuple[str | None, str | None]:
    """The processing level that attributes name (:data:`SURFACE`, :data:`TOA` or None) and the attribute that
    says so (``"collection='sentinel-2-l2a'"``), from the first of :data:`LEVEL_ATTRS` that names one."""
    for key in LEVEL_ATTRS:
        for a in attrs:
            if key not in a:
                continue
            tokens = set(re.split(r"[^a-z0-9]+", str(a[key]).lower()))
            for level, names in _LEVEL_TOKENS.items():
                if tokens & names:
                    return level, f"{key}={a[key]!r}"
    return None, None


def check_level(kind: str, *attrs: dict) -> None:
    """Raise an error naming the right variable where the attributes' processing level contradicts ``kind``."""
    level, said = product_level(*attrs)
    if kind == "reflectance" and level == TOA:
        raise ParameterError(f"the image's {said} says top-of-atmosphere (level-1) data, but its variable is "
                             "'reflectance', which is surface (L2A) reflectance: rename it "
                             "ds.rename(reflectance='toa_reflectance') (or give 'radiance')")
    if kind != "reflectance" and level == SURFACE:
        raise ParameterError(f"the image's {said} says surface reflectance (L2A, atmospherically corrected), but "
                             f"its variable is {kind!r}, which is top-of-atmosphere: rename it "
                             f"ds.rename({kind}='reflectance')")


def checked_radiance(y: xr.DataArray, bands: list[Band], kind: str) -> xr.DataArray:
    """``y`` (band, y, x) of ``bands`` once its values are checked to lie in their physical range (lazily on
    Dask), with an error that names the likely mistake (units, scale factor, percent)."""
    if kind != "radiance":
        return check_range(y, *REFLECTANCE_RANGE, name=f"the image's {kind!r}",
                           hint="reflectance is a fraction: percent values need attrs['units'] = '%' (converted at "
                                "the call), integer products their scale factor (e.g. x 0.0001 for Sentinel-2)")
    if bands[0].thermal:
        hi = max(float(band_planck(b, MAX_BRIGHTNESS_TEMPERATURE)) for b in bands)
        what = f"brightness temperatures up to {MAX_BRIGHTNESS_TEMPERATURE:g} K"
    else:
        hi = MAX_TOA_REFLECTANCE * max(band_solar_irradiance(b) for b in bands) / np.pi
        what = f"TOA reflectances up to {MAX_TOA_REFLECTANCE:g}"
    return check_range(y, 0.0, hi, name=f"the image's radiance in bands {[b.name for b in bands]}",
                       hint=f"the range holds {what}: values beyond it, or negative, look like another unit (set "
                            "attrs['units'], e.g. 'mW cm-2 sr-1 um-1' or 'W m-2 sr-1 nm-1', converted at the call), "
                            "a missing scale factor or a fill value")


def scene_geometry(obs, geometry=None) -> Geometry:
    """Sun/view angles (degrees) from ``geometry``, the dataset attrs, or scene-constant (numpy) variables."""
    if isinstance(geometry, Geometry):
        return geometry
    vals = dict(geometry or {})
    for k in ("sun_zenith", "sun_azimuth", "view_zenith", "view_azimuth"):
        if k in vals:
            continue
        if k in obs.attrs:
            vals[k] = float(obs.attrs[k])
        elif hasattr(obs, "data_vars") and k in obs.variables:
            v = obs[k].data
            if not isinstance(v, np.ndarray):
                raise MissingVariableError(f"{k} is a lazy variable: pass geometry={{'{k}': ...}} or put scene "
                                           "angles in ds.attrs (the model uses one sun and view per scene)")
            vals[k] = float(np.nanmean(v))
        elif k.startswith("view"):
            vals[k] = 0.0
        else:
            raise MissingVariableError(f"the image has no {k!r} (degrees) in attrs or variables: add "
                                       f"ds.attrs['{k}'] or pass geometry={{'{k}': ...}}")
    return Geometry(**vals)


def model_terms(image: Image, terms: dict) -> dict:
    """The atmospheric terms (:func:`.atmosphere.reflective_terms`) of the model the image is compared with:
    without path radiance for surface reflectance (see module doc)."""
    return dict(terms, L_path=np.zeros_like(terms["L_path"])) if image.kind == "reflectance" else terms


def reflective_radiance(image: Image, bands: list[Band], terms: dict, geom: Geometry, adjacency_px: float | None):
    """The radiances (nb, Y, X) of the reflective ``bands`` that the inversion's model (of atmospheric ``terms``,
    :func:`model_terms`) compares with: numpy, or Dask for a lazy image. TOA radiance as it is; from TOA
    reflectance, rho E0 mu_s / pi; from surface reflectance, (T_up + T_dif) rho (S mu_s + D) / pi (see module
    doc); with ``adjacency_px``, corrected for the adjacency effect (:func:`adjacency_correct`)."""
    y = checked_radiance(image.bands(bands), bands, image.kind)
    mu_s = float(np.cos(np.radians(geom.sun_zenith)))
    if image.kind != "radiance":
        if image.kind == "toa_reflectance":
            scale = np.array([band_solar_irradiance(b) for b in bands]) * mu_s / np.pi
        else:
            scale = (terms["T_up"] + terms["T_dif"]) * (terms["S"] * mu_s + terms["D"]) / np.pi
        y = y * xr.DataArray(scale, dims="band", coords={"band": y.band})
    ya = as_array(y, image.lazy)
    if adjacency_px:
        ya = adjacency_correct(ya, terms, adjacency_px, image.lazy)
    return ya


def thermal_radiance(image: Image, bands: list[Band]):
    """The top-of-atmosphere radiances (nbt, Y, X) of the thermal ``bands``, checked (:func:`checked_radiance`):
    numpy, or Dask for a lazy image."""
    return as_array(checked_radiance(image.bands(bands), bands, image.kind), image.lazy)


def as_array(da: xr.DataArray, lazy: bool):
    """The data of ``da``: its Dask array when ``lazy``, else float numpy."""
    return da.data if lazy else np.asarray(da.values, dtype=float)


# the last eager adjacency corrections by a digest of their inputs: fit_psf and fit_shift invert one crop some 30-60
# times, and its correction (a Gaussian some 8 sigma wide over every band) took half of each small pass
_CORRECTED: OrderedDict = OrderedDict()
_CORRECTED_KEPT = 4


def _digest(y: np.ndarray, terms: dict, sigma_px: float) -> bytes:
    h = hashlib.blake2b(repr((y.shape, y.dtype.str, float(sigma_px))).encode(), digest_size=16)
    for a in (y, terms["L_path"], terms["T_up"], terms["T_dif"]):
        h.update(np.ascontiguousarray(a, dtype=float).tobytes())
    return h.digest()


def adjacency_correct(y, terms: dict, sigma_px: float, lazy: bool):
    """:func:`corrected_for_adjacency`, computed once for repeated eager inputs (a copy of the last result for the
    same radiances, terms and scale)."""
    if lazy:
        return corrected_for_adjacency(y, terms, sigma_px, lazy)
    y = np.asarray(y, dtype=float)
    key = _digest(y, terms, sigma_px)
    if key not in _CORRECTED:
        _CORRECTED[key] = corrected_for_adjacency(y, terms, sigma_px, lazy)
        if len(_CORRECTED) > _CORRECTED_KEPT:
            _CORRECTED.popitem(last=False)
    _CORRECTED.move_to_end(key)
    return _CORRECTED[key].copy()


def corrected_for_adjacency(y, terms: dict, sigma_px: float, lazy: bool):
    """Remove the adjacency effect from top-of-atmosphere radiances y (band, Y, X).

    The image holds L = L_p + T_up L_s + T_dif <L_s>, <.> the Gaussian environment mean (sigma ``sigma_px``
    pixels); the inversion's model holds L' = L_p + (T_up + T_dif) L_s. With <L_s> estimated from the image,
    <L_s> = <L - L_p> / (T_up + T_dif) (the environment of the environment is the environment), L_s follows and
    L' = L_p + (T_up + T_dif) (L - L_p - T_dif <L_s>) / T_up. Beyond its edges the image is mirrored: the scene
    is assumed to continue with the statistics it has near them (repeating the border pixels instead weighs them
    as if they stretched to infinity, which dominates the environment where the kernel is wider than the image);
    the Dask version overlaps chunks by the kernel radius (4 sigma), so chunking does not change it. Cf. the
    environment term of 6S (Vermote et al. 1997, IEEE TGRS 35(3), 675-686).
    """
    from scipy import ndimage

    lp = terms["L_path"][:, None, None]
    tup, tdif = terms["T_up"][:, None, None], terms["T_dif"][:, None, None]
    sig = (0, sigma_px, sigma_px)
    r = int(np.ceil(4.0 * sigma_px))  # the kernel's reach (gaussian_filter's truncate=4)

    def env(block):
        return ndimage.gaussian_filter(block, sig, mode="reflect", truncate=4.0)

    if lazy and r > min(y.shape[1:]) - 1:  # a kernel wider than the image: the image in one chunk
        m = y.rechunk({0: -1, 1: -1, 2: -1}).map_blocks(env, dtype=float).rechunk(y.chunks)
    else:  # beyond its edges the image is mirrored, by the halo's padding as by gaussian_filter's
        m = halo_map(env, y.rechunk({0: -1}) if lazy else np.asarray(y, dtype=float), r, "reflect", dtype=float)
    ls_env = (m - lp) / (tup + tdif)
    ls = (y - lp - tdif * ls_env) / tup
    return lp + (tup + tdif) * ls
