"""The image as the urban inversion reads it: which variable, which bands, the scene's angles, and the reflective
radiances its model compares with (from top-of-atmosphere reflectance, corrected for the adjacency effect)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .. import attrs as A
from ..errors import MissingVariableError, ParameterError
from .atmosphere import Geometry
from .sensors import Band, Sensor, band_solar_irradiance, get_sensor


@dataclass(frozen=True)
class Image:
    """The observation of an inversion: ``data`` (band, y, x), which variable it was (``kind``), and the sensor
    restricted to its bands."""

    data: xr.DataArray
    kind: str
    sensor: Sensor

    @property
    def lazy(self) -> bool:
        return not isinstance(self.data.data, np.ndarray)

    def bands(self, bands: list[Band]) -> xr.DataArray:
        """The image's ``bands``; the image itself when it holds just those, in order (a selection would add a
        slicing task per chunk to a lazy image's graph)."""
        want = [b.name for b in bands]
        return self.data if [str(b) for b in self.data.band.values] == want else self.data.sel(band=want)


def observed_image(obs, sensor) -> Image:
    """The image of ``obs`` (a Dataset with ``radiance`` or ``reflectance`` (band, y, x), or such a DataArray)."""
    if isinstance(obs, xr.DataArray):
        obs = obs.to_dataset(name=obs.name or "radiance")
    kind = "radiance" if "radiance" in obs else "reflectance" if "reflectance" in obs else None
    if kind is None:
        raise MissingVariableError(f"the image needs a 'radiance' or 'reflectance' variable (band, y, x); it has "
                                   f"{sorted(map(str, obs.data_vars))}")
    img = obs[kind]
    A.require_dims(img, ("band", "y", "x"), "urban.invert image")
    img = img.transpose("band", "y", "x")
    sen = get_sensor(sensor).subset([str(b) for b in img.band.values])
    if kind == "reflectance" and sen.thermal():
        raise ParameterError(f"thermal bands {[b.name for b in sen.thermal()]} must be given as radiance, not "
                             "reflectance")
    return Image(img, kind, sen)


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


def reflective_radiance(image: Image, bands: list[Band], terms: dict, geom: Geometry, adjacency_px: float | None):
    """The top-of-atmosphere radiances (nb, Y, X) of the reflective ``bands`` that the inversion's model compares
    with: numpy, or Dask for a lazy image; from reflectance, radiance = reflectance E0 mu_s / pi; with
    ``adjacency_px``, corrected for the adjacency effect (:func:`adjacency_correct`)."""
    y = image.bands(bands)
    if image.kind == "reflectance":
        e0 = xr.DataArray([band_solar_irradiance(b) for b in bands], dims="band", coords={"band": y.band})
        y = y * e0 * float(np.cos(np.radians(geom.sun_zenith))) / np.pi
    ya = as_array(y, image.lazy)
    if adjacency_px:
        ya = adjacency_correct(ya, terms, adjacency_px, image.lazy)
    return ya


def as_array(da: xr.DataArray, lazy: bool):
    """The data of ``da``: its Dask array when ``lazy``, else float numpy."""
    return da.data if lazy else np.asarray(da.values, dtype=float)


def adjacency_correct(y, terms: dict, sigma_px: float, lazy: bool):
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

    def env(block):
        return ndimage.gaussian_filter(block, sig, mode="reflect", truncate=4.0)

    if lazy:
        import dask.array as dsa

        r = int(np.ceil(4.0 * sigma_px))
        r = min(r, y.shape[1] - 1, y.shape[2] - 1)
        y = y.rechunk({0: -1})
        if r > 0 and 4.0 * sigma_px > min(y.shape[1], y.shape[2]) - 1:
            m = dsa.map_blocks(env, y.rechunk({1: -1, 2: -1}), dtype=float).rechunk(y.chunks)
        else:
            m = dsa.map_overlap(env, y, depth={0: 0, 1: r, 2: r}, boundary={0: "none", 1: "reflect", 2: "reflect"},
                                dtype=float)
    else:
        m = env(np.asarray(y, dtype=float))
    ls_env = (m - lp) / (tup + tdif)
    ls = (y - lp - tdif * ls_env) / tup
    return lp + (tup + tdif) * ls
