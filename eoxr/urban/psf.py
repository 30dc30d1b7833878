"""The sensor's PSF width and the image's registration on the city model, estimated from the image.

A sensor's in-flight point spread function is known only approximately, and a 3-D inversion is sensitive to it:
the PSF decides how much of a shadow or a bright roof next door a pixel sees. The radiance misfit of the
inversion, as a function of the Gaussian width it assumes, has a clear minimum near the true width: the city's
facets are the natural edges of the edge method of on-orbit MTF measurement, fitted with a parametric transfer
function as in "Improvement of the edge method for on-orbit MTF measurement" (Opt. Express 18(4), 3531-3545,
2010, doi:10.1364/OE.18.003531). :func:`fit_psf` scans a few widths, one inversion pass each on a central crop,
and puts a parabola through the smallest misfit and its neighbours.

An image and a city model are seldom registered to better than a fraction of a pixel, and a shift moves every
facet edge the inversion models. :func:`fit_shift` finds the shift of the image's coordinates, in whole city
cells, that minimises the same misfit (x, then y, then x again), and :func:`register` applies it. Register first,
then fit the PSF.
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


def _central_crop(obs: xr.Dataset, max_pixels: int, margin: int = 0) -> xr.Dataset:
    """The central ``max_pixels`` x ``max_pixels`` pixels at most, ``margin`` pixels at least from every edge."""
    crop = {}
    for dim in ("y", "x"):
        n = obs.sizes[dim]
        size = min(max_pixels, n - 2 * margin)
        if size < 3:
            raise NoDataError(f"the image has {n} pixels along {dim}, too few to fit on {margin} pixels in from its "
                              "edges: pass a larger image (or, for fit_shift, a smaller max_shift_px)")
        if size < n:
            start = (n - size) // 2
            crop[dim] = slice(start, start + size)
    return obs.isel(crop) if crop else obs


def _one_pass_misfit(img: xr.Dataset, city, sen, atmosphere, window, max_iter, kw) -> float:
    """Mean square relative radiance misfit of one inversion pass (no budget, no second pass) of ``img``."""
    res = invert(img, city, sen, atmosphere, window, max_iter, **kw)
    r = np.asarray(res["residual"].values, dtype=float)
    if not np.isfinite(r).any():
        raise NoDataError("no pixel of the crop was inverted: is the city model's area in the image's centre?")
    return float(np.nanmean(r**2))


def _one_pass_kwargs(invert_kwargs: dict, scanned: str | None = None) -> dict:
    """The inversion's arguments for one pass without the budget; ``scanned``: an argument the fit sets itself."""
    if scanned and invert_kwargs.get(scanned) is not None:
        raise ParameterError(f"the fit scans {scanned} itself: leave it out")
    return dict(invert_kwargs, budget=False, reflectance_scene_std=None, temperature_scene_std=None)


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
    """Estimate the Gaussian PSF width of ``sensor`` on ``obs`` (computes, on a central crop).

    ``ds.urban.fit_psf(city, ...)`` is this function on the image dataset ``ds``. For every scale s of
    ``scales``, one inversion pass (:func:`.invert`, no budget, no second pass) with ``psf_sigma`` = s times the
    sensor's nominal sigma, and its mean square relative radiance misfit; the width is the minimum of a parabola
    through the least misfit and its neighbours. A minimum on the edge of ``scales`` warns: scan wider scales
    then. Fit on reflective bands: on the synthetic ECOSTRESS-like scenes of ``eoxr bench urban`` the thermal
    misfit's minimum made the temperatures worse.

    Parameters
    ----------
    obs, city, sensor, atmosphere, window, max_iter
        As :func:`.invert`.
    scales : sequence of float
        PSF widths scanned, times the sensor's nominal sigma (at least 3, positive).
    max_pixels : int
        The fit inverts the image's central ``max_pixels`` x ``max_pixels`` pixels at most.
    progress : bool
        Show a progress bar over the widths.
    **invert_kwargs
        Further arguments of :func:`.invert` (priors, ``adjacency_m``, model errors, ...): those of the
        inversion that follows.

    Returns
    -------
    xarray.Dataset
        ``misfit`` (1) over ``psf_scale`` (plot it: ``fit.misfit.plot(marker="o")``), with attributes
        ``psf_scale`` (the fitted width over the nominal one) and ``psf_sigma`` (pixels) to pass on:
        ``invert(..., psf_sigma=fit.attrs["psf_sigma"])``.

    Examples
    --------
    >>> from eoxr.urban import Atmosphere, Geometry, get_sensor, synth
    >>> city = synth.make_city(100.0, 2.0, seed=1)
    >>> s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    >>> sun = Geometry(sun_zenith=35.0, sun_azimuth=150.0, view_zenith=8.0, view_azimuth=100.0)
    >>> obs = synth.observe(city, synth.draw_properties(city, s2, 1, sun), s2, sun, Atmosphere(aot550=0.15),
    ...                     pixel_size=10.0)
    >>> fit = obs.urban.fit_psf(city, s2, {"aot550": 0.15}, window=3)
    >>> round(fit.attrs["psf_scale"], 1)  # the simulation used the nominal PSF
    1.0
    >>> res = obs.urban.invert(city, s2, {"aot550": 0.15}, window=3, psf_sigma=fit.attrs["psf_sigma"])
    """
    sen = get_sensor(sensor)
    scales = np.asarray(sorted(float(s) for s in scales))
    if len(scales) < 3 or scales[0] <= 0:
        raise ParameterError(f"fit_psf needs at least 3 positive scales, got {list(scales)}")
    kw = _one_pass_kwargs(invert_kwargs, "psf_sigma")
    crop = _central_crop(obs, max_pixels).compute()  # read once: every width inverts the same small crop
    misfit = np.array([_one_pass_misfit(crop, city, sen, atmosphere, window, max_iter,
                                        dict(kw, psf_sigma=s * sen.psf_sigma))
                       for s in _steps(scales, progress, "psf widths")])
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


def _steps(values, progress: bool, desc: str):
    if not progress:
        return values
    from tqdm.auto import tqdm

    return tqdm(values, desc=desc)


def fit_shift(obs: xr.Dataset, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, *,
              max_shift_px: float = 0.5, max_pixels: int = 64, progress: bool = False,
              **invert_kwargs) -> xr.Dataset:
    """Register ``obs`` on ``city``: the shift (m, whole city cells) to add to the image's x and y coordinates.

    ``ds.urban.fit_shift(city, ...)`` is this function on the image dataset ``ds``; :func:`register` applies the
    shift. Computes, on a central crop away from the edges by the largest shift. Each shift scanned costs one
    inversion pass (:func:`.invert`, no budget, no second pass) and its mean square relative radiance misfit;
    x, then y at the best x, then x again at the best y. A minimum on the edge of the scan warns: pass a larger
    ``max_shift_px`` then.

    Parameters
    ----------
    obs, city, sensor, atmosphere, window, max_iter
        As :func:`.invert`.
    max_shift_px : float
        The largest shift scanned, in pixels (in whole city cells, at least one).
    max_pixels : int
        The fit inverts a central crop of ``max_pixels`` x ``max_pixels`` pixels at most.
    progress : bool
        Show a progress bar over the scans.
    **invert_kwargs
        Further arguments of :func:`.invert`: those of the inversion that follows.

    Returns
    -------
    xarray.Dataset
        ``misfit_x`` over ``shift_x`` and ``misfit_y`` over ``shift_y`` (the last scan along each axis, m), with
        attributes ``shift_x`` and ``shift_y`` (m).

    Examples
    --------
    >>> from eoxr.urban import Atmosphere, Geometry, get_sensor, synth
    >>> city = synth.make_city(100.0, 2.0, seed=1)
    >>> s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    >>> sun = Geometry(sun_zenith=35.0, sun_azimuth=150.0, view_zenith=8.0, view_azimuth=100.0)
    >>> obs = synth.observe(city, synth.draw_properties(city, s2, 1, sun), s2, sun, Atmosphere(aot550=0.15),
    ...                     pixel_size=10.0)
    >>> fit = obs.urban.fit_shift(city, s2, {"aot550": 0.15}, window=3)
    >>> fit.attrs["shift_x"], fit.attrs["shift_y"]  # a simulated image sits on its city model
    (0.0, 0.0)
    """
    sen = get_sensor(sensor)
    f = city.grid_for(obs).factor
    m = int(np.floor(max_shift_px * f + 1e-9))
    if m < 1:
        raise ParameterError(f"max_shift_px={max_shift_px} is under one city cell ({1 / f:g} pixel): scan wider")
    kw = _one_pass_kwargs(invert_kwargs)
    crop = _central_crop(obs, max_pixels, margin=int(np.ceil(m / f))).compute()
    shifts = np.arange(-m, m + 1) * city.res
    cache: dict[tuple[float, float], float] = {}

    def misfit(dx, dy):
        if (dx, dy) not in cache:
            moved = crop.assign_coords(x=crop.x + dx, y=crop.y + dy)
            cache[dx, dy] = _one_pass_misfit(moved, city, sen, atmosphere, window, max_iter, kw)
        return cache[dx, dy]

    best = {"x": 0.0, "y": 0.0}
    scans = {}
    for axis in _steps(("x", "y", "x"), progress, "registration scans"):
        curve = np.array([misfit(*((d, best["y"]) if axis == "x" else (best["x"], d))) for d in shifts])
        best[axis] = float(shifts[int(np.argmin(curve))])
        scans[axis] = curve
    edges = [a for a in ("x", "y") if abs(best[a]) >= shifts[-1] - 1e-9]
    if edges:
        warnings.warn(f"the misfit is least at the largest shift scanned along {', '.join(edges)}: pass a larger "
                      "max_shift_px= to fit_shift", stacklevel=2)
    out = xr.Dataset(
        {f"misfit_{a}": A.cf(xr.DataArray(scans[a], dims=f"shift_{a}"), "1",
                             f"mean square relative radiance misfit of one inversion pass, image moved along {a}")
         for a in ("x", "y")},
        coords={f"shift_{a}": A.cf(xr.DataArray(shifts, dims=f"shift_{a}"), "m", f"shift added to the image's {a}")
                for a in ("x", "y")})
    out.attrs.update(shift_x=best["x"], shift_y=best["y"], shift_units="m", sensor=sen.name,
                     pixels=int(crop.sizes["y"] * crop.sizes["x"]))
    return A.stamp(out, "urban.fit_shift", sensor=sen.name, window=window, max_shift_px=max_shift_px,
                   max_pixels=max_pixels)


def register(obs: xr.Dataset, fit: xr.Dataset, city=None) -> xr.Dataset:
    """``obs`` registered on the city model: the shift :func:`fit_shift` found added to its x and y coordinates.

    ``ds.urban.register(fit, city)`` is this function on the image dataset ``ds``. Lazy: the pixels keep their
    values, the map moves, and its CRS and geotransform with it.

    Parameters
    ----------
    obs : xarray.Dataset
        The image (as :func:`.invert` takes it).
    fit : xarray.Dataset
        The result of :func:`fit_shift` (attributes ``shift_x``, ``shift_y``, m).
    city : eoxr.urban.City, optional
        With it, only the pixels whose footprint then lies on the city model are kept, so that the inversion
        covers them all.

    Returns
    -------
    xarray.Dataset
        ``obs`` moved, with the shift in its attrs (``registration_shift_x_m``, ``registration_shift_y_m``).

    Examples
    --------
    >>> from eoxr.urban import Atmosphere, Geometry, get_sensor, synth
    >>> city = synth.make_city(100.0, 2.0, seed=1)
    >>> s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    >>> sun = Geometry(sun_zenith=35.0, sun_azimuth=150.0, view_zenith=8.0, view_azimuth=100.0)
    >>> obs = synth.observe(city, synth.draw_properties(city, s2, 1, sun), s2, sun, Atmosphere(aot550=0.15),
    ...                     pixel_size=10.0)
    >>> fit = obs.urban.fit_shift(city, s2, {"aot550": 0.15}, window=3)
    >>> moved = obs.urban.register(fit, city)
    >>> moved.attrs["registration_shift_x_m"], dict(moved.sizes)
    (0.0, {'band': 3, 'y': 10, 'x': 10})
    """
    try:
        dx, dy = float(fit.attrs["shift_x"]), float(fit.attrs["shift_y"])
    except KeyError:
        raise ParameterError("register takes the result of fit_shift (attributes shift_x, shift_y)") from None
    if city is not None:
        city.check_crs(obs)
    out = obs.assign_coords(x=obs.x + dx, y=obs.y + dy)
    if out.rio.crs is not None:  # the stored geotransform would otherwise still place the image where it was
        out = out.rio.write_transform(out.rio.transform(recalc=True))
    if city is not None:
        px = abs(float(out.x[1] - out.x[0])) if out.sizes["x"] > 1 else city.res
        left, bottom, right, top = city.bounds
        tol = 1e-6 * px
        out = out.isel(x=np.flatnonzero((out.x.values - px / 2 >= left - tol) & (out.x.values + px / 2 <= right + tol)),
                       y=np.flatnonzero((out.y.values - px / 2 >= bottom - tol) & (out.y.values + px / 2 <= top + tol)))
        if out.sizes["x"] < 2 or out.sizes["y"] < 2:
            raise NoDataError(f"under 2 x 2 pixels of the registered image lie on the city model {city.bounds}: "
                              "check that image and city cover the same area")
        city.grid_for(out)  # pixel edges on city cell edges (a shift of whole cells keeps them there)
    out.attrs.update(registration_shift_x_m=dx, registration_shift_y_m=dy)
    return out
