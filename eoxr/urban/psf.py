"""The sensor PSF's width estimated from the image and the city model.

A sensor's in-flight point spread function is known only approximately, and a 3-D inversion is sensitive to it:
the PSF decides how much of a shadow or a bright roof next door a pixel sees. The radiance misfit of the
inversion, as a function of the Gaussian width it assumes, has a clear minimum near the true width: the city's
facets are the natural edges of the edge method of on-orbit MTF measurement, fitted with a parametric transfer
function as in "Improvement of the edge method for on-orbit MTF measurement" (Opt. Express 18(4), 3531-3545,
2010, doi:10.1364/OE.18.003531). :func:`fit_psf` scans a few widths, one inversion pass each on a central crop,
and puts a parabola through the smallest misfit and its neighbours.
"""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .. import attrs as A
from ..errors import NoDataError, ParameterError
from .invert import invert
from .sensors import get_sensor

PSF_SCALES = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)  # widths scanned, times the sensor's nominal sigma


def _central_crop(obs: xr.Dataset, max_pixels: int) -> xr.Dataset:
    crop = {}
    for dim in ("y", "x"):
        n = obs.sizes[dim]
        if n > max_pixels:
            start = (n - max_pixels) // 2
            crop[dim] = slice(start, start + max_pixels)
    return obs.isel(crop) if crop else obs


def _parabola_minimum(scales: np.ndarray, misfit: np.ndarray) -> tuple[float, bool]:
    """The scale of least misfit from a parabola through the smallest point and its neighbours (clipped to them),
    and whether that point lies on the edge of the scan."""
    i = int(np.nanargmin(misfit))
    edge = i in (0, len(scales) - 1)
    j = min(max(i, 1), len(scales) - 2)
    x, y = scales[j - 1:j + 2], misfit[j - 1:j + 2]
    c2, c1, _ = np.polyfit(x, y, 2)
    best = -c1 / (2 * c2) if c2 > 0 else scales[i]
    return float(np.clip(best, x[0], x[-1])), edge


def fit_psf(obs: xr.Dataset, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, *,
            scales=PSF_SCALES, max_pixels: int = 64, progress: bool = False, **invert_kwargs) -> xr.Dataset:
    """Estimate the Gaussian PSF width of ``sensor`` on ``obs`` (computes; the image's central ``max_pixels`` x
    ``max_pixels`` pixels at most).

    For every scale s of ``scales``, one inversion pass (:func:`.invert`, no budget, no second pass) with
    ``psf_sigma = s`` times the sensor's nominal sigma, and its mean square relative radiance misfit. The
    ``invert_kwargs`` (priors, ``adjacency_m``, model errors, ...) should be those of the inversion that follows.
    Returns the misfit per scale (plot it: ``fit.misfit.plot(marker="o")``) with attributes ``psf_scale`` (the
    parabola's minimum) and ``psf_sigma`` (pixels) to pass on: ``invert(..., psf_sigma=fit.attrs["psf_sigma"])``.
    A minimum on the edge of ``scales`` warns: scan wider scales then. Fit on reflective bands: on the synthetic
    ECOSTRESS-like scenes of ``eoxr bench urban`` the thermal misfit's minimum made the temperatures worse.
    """
    sen = get_sensor(sensor)
    scales = np.asarray(sorted(float(s) for s in scales))
    if len(scales) < 3 or scales[0] <= 0:
        raise ParameterError(f"fit_psf needs at least 3 positive scales, got {list(scales)}")
    kw = dict(invert_kwargs, budget=False, reflectance_scene_std=None, temperature_scene_std=None)
    if kw.pop("psf_sigma", None) is not None:
        raise ParameterError("fit_psf scans psf_sigma itself: leave it out")
    crop = _central_crop(obs, max_pixels).compute()  # read once: every width inverts the same small crop
    misfit = []
    steps = scales
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(scales, desc="psf widths", unit="width")
    for s in steps:
        res = invert(crop, city, sen, atmosphere, window, max_iter, psf_sigma=s * sen.psf_sigma, **kw)
        r = np.asarray(res["residual"].values, dtype=float)
        if not np.isfinite(r).any():
            raise NoDataError("no pixel of the crop was inverted: is the city model's area in the image's centre?")
        misfit.append(float(np.nanmean(r**2)))
    misfit = np.asarray(misfit)
    best, edge = _parabola_minimum(scales, misfit)
    if edge:
        warnings.warn(f"the misfit is least at the edge of the scanned PSF scales ({scales[0]:g}-{scales[-1]:g}); "
                      "pass wider scales= to fit_psf", stacklevel=2)
    out = xr.Dataset(
        {"misfit": A.cf(xr.DataArray(misfit, dims="psf_scale"), "1",
                        "mean square relative radiance misfit of one inversion pass")},
        coords={"psf_scale": A.cf(xr.DataArray(scales, dims="psf_scale"), "1",
                                  "PSF sigma over the sensor's nominal sigma")})
    out.attrs.update(psf_scale=best, psf_sigma=best * sen.psf_sigma, nominal_psf_sigma=sen.psf_sigma,
                     psf_sigma_units="pixel", sensor=sen.name, pixels=int(crop.sizes["y"] * crop.sizes["x"]))
    return A.stamp(out, "urban.fit_psf", sensor=sen.name, window=window, scales=[float(s) for s in scales],
                   max_pixels=max_pixels)
