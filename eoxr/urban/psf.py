"""The sensor's PSF and the image's registration on the city model, estimated from the image.

A sensor's in-flight point spread function is known only approximately, and a 3-D inversion is sensitive to it:
the PSF decides how much of a shadow or a bright roof next door a pixel sees. The radiance misfit of the
inversion, as a function of the PSF it assumes, has a clear minimum near the true one: the city's facets are the
natural edges of the edge method of on-orbit MTF measurement, fitted with a parametric transfer function as in
"Improvement of the edge method for on-orbit MTF measurement" (Opt. Express 18(4), 3531-3545, 2010,
doi:10.1364/OE.18.003531). :func:`fit_psf` fits a parametric PSF the same way, one inversion pass per PSF tried on
a central crop: a Gaussian core from the pixel's box alone (sigma 0) to twice the nominal width (a parabola
through the smallest misfit and its neighbours, in the PSF's variance), then a wider Gaussian wing (stray light,
the MTF's low-frequency loss) where one fits better, with the core fitted again under it.

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
from ..errors import EoxrWarning, NoDataError, ParameterError
from ..units import declare_units
from .inputs import IMAGE_UNITS
from .invert import invert
from .sensors import get_sensor

# core widths scanned, times the sensor's nominal sigma: from the pixel's box alone (0) to twice the nominal width
PSF_SCALES = (0.0, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
# wings scanned around the fitted core: (share of the energy, width times the nominal sigma)
PSF_WINGS = tuple((w, s) for s in (2.0, 3.0, 4.5) for w in (0.05, 0.1, 0.2))
REFINE_STEPS = 4  # parabolic steps refining a scan's minimum
SCALE_TOL = 0.01  # a refinement that moves a scale (of the nominal sigma) or a weight by less stops
WING_GAIN = 0.98  # a wing is fitted where the best scanned one lowers the core's misfit by more than 2 %
WING_EVALUATIONS = 40  # inversion passes at most refining the core and the wing together
MAX_WING_WEIGHT, MAX_WING_SCALE = 0.5, 8.0  # the widest wing fitted: half the energy, 8 times the nominal sigma


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


def _parabola_vertex(x: np.ndarray, y: np.ndarray) -> float | None:
    """The vertex of the parabola through three points, None where it opens downward."""
    c2, c1, _ = np.polyfit(x, y, 2)
    return -c1 / (2 * c2) if c2 > 0 else None


def _refined_minimum(misfit, x, y, lo: float, hi: float, steps: int = REFINE_STEPS, tol: float = SCALE_TOL) -> float:
    """The ``x`` of least ``misfit(x)`` in [lo, hi] by successive parabolic interpolation from a scan (``x``,
    ``y``): a parabola through the three best points so far, the misfit at its vertex, ``steps`` times at most or
    until the vertex moves the best point by under ``tol``. The best point evaluated."""
    xs, ys = list(map(float, x)), list(map(float, y))
    for _ in range(steps):
        best3 = sorted(np.argsort(ys)[:3], key=lambda k: xs[k])
        v = _parabola_vertex(np.array(xs)[best3], np.array(ys)[best3])
        if v is None:
            break
        v = float(np.clip(v, lo, hi))
        if min(abs(v - xk) for xk in xs) < tol:
            break
        xs.append(v)
        ys.append(misfit(v))
    return xs[int(np.argmin(ys))]


def _fit_wing(misfit, core: float, wing: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    """The core's scale and the wing's (weight, scale) refined together from the core and the best scanned wing:
    the simplex method (Nelder & Mead 1965, Comput. J. 7(4), 308-313) on the log misfit, whose valleys (a wider
    wing of less weight, a narrower core under a wing) run across the parameters' axes."""
    from scipy.optimize import minimize

    def f(p):
        c, w, ws = p
        if not (0 <= c < ws <= MAX_WING_SCALE and 0 < w <= MAX_WING_WEIGHT):
            return np.inf
        return float(np.log(misfit(float(c), (float(w), float(ws)))))

    x0 = np.array([core, wing[0], wing[1]])
    simplex = np.array([x0, x0 * [0.85, 1, 1], x0 * [1, 1.5, 1], x0 * [1, 1, 0.75]])
    res = minimize(f, x0, method="Nelder-Mead", options=dict(initial_simplex=simplex, xatol=SCALE_TOL, fatol=1e-3,
                                                               maxfev=WING_EVALUATIONS))
    c, w, ws = map(float, res.x)
    return c, (w, ws)


@declare_units(obs=IMAGE_UNITS)
def fit_psf(obs: xr.Dataset, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, *,
            scales=PSF_SCALES, wings=PSF_WINGS, max_pixels: int = 64, progress: bool = False,
            **invert_kwargs) -> xr.Dataset:
    """Estimate the PSF of ``sensor`` on ``obs``: a Gaussian core, from the pixel's box alone to twice the nominal
    width, and a wider Gaussian wing where one fits better (computes; the image's central ``max_pixels`` x
    ``max_pixels`` pixels at most).

    ``ds.urban.fit_psf(city, ...)`` is this function on the image dataset ``ds``. Each PSF tried costs one
    inversion pass (:func:`.invert`, no budget, no second pass) and its mean square relative radiance misfit. The
    core first: a Gaussian of sigma s times the sensor's nominal one for each s of ``scales`` (0: the box), the
    minimum refined by successive parabolic interpolation between the scan's neighbours of the least misfit. Then
    each wing of ``wings`` added to that core; the best of them, where it lowers the core's misfit by more than
    2 % (:data:`WING_GAIN`: a wing is not chased into the noise), is refined with the core (:func:`_fit_wing`,
    :data:`WING_EVALUATIONS` passes at most). A core on the wide edge of ``scales`` warns: scan wider scales
    then. Fit on reflective bands: on the synthetic ECOSTRESS-like scenes of ``eoxr bench urban`` the thermal
    misfit's minimum made the temperatures worse.

    Parameters
    ----------
    obs, city, sensor, atmosphere, window, max_iter
        As :func:`.invert`.
    scales : sequence of float
        Core widths scanned, times the sensor's nominal sigma (0: the pixel's box alone).
    wings : sequence of (float, float)
        Wings tried on the fitted core: (share of the energy, width times the nominal sigma); ``()``: a single
        Gaussian.
    max_pixels : int
        The fit inverts the image's central ``max_pixels`` x ``max_pixels`` pixels at most.
    progress : bool
        Show a progress bar over the PSFs tried.
    **invert_kwargs
        Further arguments of :func:`.invert` (priors, ``adjacency_m``, model errors, ...): those of the
        inversion that follows.

    Returns
    -------
    xarray.Dataset
        ``misfit`` (1) over ``psf_scale`` (plot it: ``fit.misfit.plot(marker="o")``) and ``wing_misfit`` over
        ``wing``, with attributes ``psf_sigma`` (the core's sigma, pixels), ``psf_wing_weight`` and
        ``psf_wing_sigma`` (pixels; weight 0: no wing) and ``psf_scale`` (the core over the nominal sigma). Pass it
        on: ``invert(..., psf=fit)``.

    Examples
    --------
    >>> from eoxr.urban import Atmosphere, Geometry, get_sensor, synth
    >>> city = synth.make_city(100.0, 2.0, seed=1)
    >>> s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    >>> sun = Geometry(sun_zenith=35.0, sun_azimuth=150.0, view_zenith=8.0, view_azimuth=100.0)
    >>> obs = synth.observe(city, synth.draw_properties(city, s2, 1, sun), s2, sun, Atmosphere(aot550=0.15),
    ...                     pixel_size=10.0)
    >>> fit = obs.urban.fit_psf(city, s2, {"aot550": 0.15}, window=3, wings=())
    >>> round(fit.attrs["psf_scale"], 1), fit.attrs["psf_wing_weight"]  # the simulation used the nominal PSF
    (1.0, 0.0)
    >>> res = obs.urban.invert(city, s2, {"aot550": 0.15}, window=3, psf=fit)
    """
    sen = get_sensor(sensor)
    scales = np.asarray(sorted(float(s) for s in scales))
    if len(scales) < 3 or scales[0] < 0:
        raise ParameterError(f"fit_psf needs at least 3 scales >= 0 (0: the pixel's box alone), got {list(scales)}")
    wings = [(float(w), float(s)) for w, s in wings]
    if any(not 0 < w < 1 or s <= 0 for w, s in wings):
        raise ParameterError(f"wings are (share of the energy in (0, 1), width > 0 times the nominal sigma), got "
                             f"{wings}")
    kw = _one_pass_kwargs(invert_kwargs, "psf")
    crop = _central_crop(obs, max_pixels).compute()  # read once: every PSF inverts the same small crop
    nominal = sen.psf_sigma

    cache: dict[tuple, float] = {}

    def misfit(core: float, wing=(0.0, 0.0)) -> float:
        w, ws = wing
        psf = core * nominal if w == 0 else ((1 - w, core * nominal), (w, ws * nominal))
        if psf not in cache:
            cache[psf] = _one_pass_misfit(crop, city, sen, atmosphere, window, max_iter, dict(kw, psf=psf))
        return cache[psf]

    core_misfit = np.array([misfit(s) for s in _steps(scales, progress, "psf widths")])
    i = int(np.argmin(core_misfit))
    if i == len(scales) - 1 or (i == 0 and scales[0] > 0):  # the box (0) is no edge: no PSF is narrower
        warnings.warn(f"the misfit is least at the edge of the scanned PSF scales ({scales[0]:g}-{scales[-1]:g}); "
                      "pass wider scales= to fit_psf", EoxrWarning, stacklevel=2)
    core = _refined_minimum(misfit, scales, core_misfit, scales[max(i - 1, 0)], scales[min(i + 1, len(scales) - 1)])
    wing_misfit = np.array([misfit(core, w) for w in _steps(wings, progress, "psf wings")])
    wing = (0.0, 0.0)
    if len(wings) and wing_misfit.min() < WING_GAIN * misfit(core):
        core, wing = _fit_wing(misfit, core, wings[int(np.argmin(wing_misfit))])
    coords = {"psf_scale": A.cf(xr.DataArray(scales, dims="psf_scale"), "1",
                                "core PSF sigma over the sensor's nominal sigma"),
              "wing_weight": A.cf(xr.DataArray([w for w, _ in wings], dims="wing"), "1", "share of the wing"),
              "wing_scale": A.cf(xr.DataArray([s for _, s in wings], dims="wing"), "1",
                                 "wing sigma over the sensor's nominal sigma")}
    out = xr.Dataset(
        {"misfit": A.cf(xr.DataArray(core_misfit, dims="psf_scale"), "1",
                        "mean square relative radiance misfit of one inversion pass, single Gaussian"),
         "wing_misfit": A.cf(xr.DataArray(wing_misfit, dims="wing"), "1",
                             "mean square relative radiance misfit of one inversion pass, core and wing")},
        coords=coords)
    out.attrs.update(psf_scale=core, psf_sigma=core * nominal, psf_wing_weight=wing[0],
                     psf_wing_sigma=wing[1] * nominal, nominal_psf_sigma=nominal, psf_sigma_units="pixel",
                     sensor=sen.name, pixels=int(crop.sizes["y"] * crop.sizes["x"]))
    return A.stamp(out, "urban.fit_psf", sensor=sen.name, window=window, scales=[float(s) for s in scales],
                   wings=wings, max_pixels=max_pixels)


def _steps(values, progress: bool, desc: str):
    if not progress:
        return values
    from tqdm.auto import tqdm

    return tqdm(values, desc=desc)


@declare_units(obs=IMAGE_UNITS)
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
                      "max_shift_px= to fit_shift", EoxrWarning, stacklevel=2)
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
