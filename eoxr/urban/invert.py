"""Per-pixel inversion of the element form of the forward model over a weighted neighbourhood window.

For a sensor pixel p the unknowns are the properties of the elements seen in the window x window pixels
around it (reflectance per element and band; temperature per element part and emissivity per element and band),
the window's pixels weighted so that a property varies from pixel to pixel only as much as the windows differ
(:mod:`.windows`). :func:`invert` reads as its steps, each in a module of its own:

1. the image as the inversion reads it: variable, bands, scene angles (:mod:`.inputs`);
2. the feature plan: the city's geometric features per pixel that the solvers need, the city on the cluster, the
   tile tasks (:mod:`.plan`);
3. the reflective solver (:mod:`.reflective`) and the thermal solver (:mod:`.thermal`): each window a small
   bounded least-squares problem (:mod:`.lm`), solved for all pixels of a chunk at once, over Dask chunks that
   take a halo of ``window // 2`` pixels (:mod:`.tiles`), so that results do not depend on chunking;
4. the scene-level passes: both kinds of bands take two passes, the second drawing each window toward the
   scene-level values the first found (:mod:`.scene`);
5. the outputs and the radiative budget (:mod:`.outputs`, :mod:`.budget`).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .. import attrs as A
from ..errors import MissingVariableError, ParameterError
from ..units import declare_units
from .atmosphere import Atmosphere, reflective_terms, thermal_terms
from .device import check_device
from .forward import as_psf
from .inputs import (IMAGE_UNITS, model_terms, observed_image, reflective_radiance, scene_geometry,
                     thermal_radiance)
from .outputs import reflective_variables, thermal_variables
from .plan import (REFLECTIVE_FEATURES, SHORTWAVE_AREA_FEATURES, THERMAL_FEATURES, TileFeatures, feature_parts,
                   feature_recipes)
from .reflective import reflectance_priors, solve_reflective
from .thermal import emissivity_priors, solve_thermal


@declare_units(obs=IMAGE_UNITS)
def invert(obs, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, *,
           geometry=None, noise: float | None = None, nedt: float | None = None,
           reflectance_prior: tuple | dict = (0.2, 0.5), emissivity_prior: dict | None = None,
           emissivity_std: float = 0.01, temperature_std: float = 10.0, contrast_std: float | None = 5.0,
           thermal_model_error: float = 0.8, temperature_scene_std: float | None = 1.0,
           shaded_std: float | None = 5.0, temperature_anomaly_std: float | None = None,
           reflective_model_error: float = 0.0, reflectance_scene_std: float | None = 0.1,
           min_fraction: float = 0.05,
           psf=None, bounce_radius: float = 8.0, n_azimuths: int = 16,
           flat: bool = False, budget: bool = True, adjacency_m: float | None = None,
           device: str = "auto") -> xr.Dataset:
    """Per-element reflectance / emissivity / temperature maps and the radiative budget of a city.

    Parameters
    ----------
    obs
        Dataset with one of ``radiance`` (band, y, x; top-of-atmosphere, W m-2 sr-1 um-1), ``toa_reflectance``
        (1; L1C) or ``reflectance`` (surface reflectance, 1; L2A), the reflectances for reflective bands only; units
        converted at the call where their ``units`` attribute names others (``%``, ``mW cm-2 sr-1 um-1``, ...),
        values outside their physical range refused; band names as the sensor's (e.g. B02..B12, TIR1..TIR5);
        scene angles in attrs or ``geometry=``. Lazy when Dask-backed.
    city
        :class:`~eoxr.urban.City` in the image's CRS, covering it, whose cell divides the pixel.
    sensor
        A sensor name or :class:`~eoxr.urban.Sensor`.
    atmosphere
        dict or :class:`~eoxr.urban.Atmosphere`.
    window
        Odd neighbourhood size (pixels); the Dask halo is ``window // 2`` pixels.
    max_iter
        Levenberg-Marquardt iterations at most.
    geometry
        Sun and view angles (degrees), a dict or :class:`~eoxr.urban.Geometry`, where ``obs`` lacks them.
    noise, nedt
        Relative radiance noise (default the sensor's), NEdT (K).
    reflectance_prior
        (mean, std) for all elements, or {element: (mean, std)} with scalars or per-band sequences (e.g. a
        spectral library with its spread).
    emissivity_prior, emissivity_std
        {element: emissivity or per-band list}, required with thermal bands; ``emissivity_std`` its spread.
    temperature_std
        Prior spread (K) around the window's brightness temperature.
    contrast_std
        Prior spread (K) of the sunlit-minus-shaded temperature difference of an element (None: free).
    thermal_model_error
        K, added in quadrature to the NEdT: the temperature variation inside a window that one temperature per
        element part cannot follow.
    temperature_scene_std
        K: a second thermal pass draws each element part toward its scene-level temperature from the first pass
        with that spread (:mod:`.scene`; None: one pass).
    shaded_std
        K: shaded facets, which no direct sun heats, get the atmosphere's air temperature +- that as their prior
        (None: the window's brightness temperature like sunlit ones); it matters for shaded parts the sensor
        barely sees (cf. Voogt & Oke 2003, Remote Sens. Environ. 86(3), 370-384, on urban surface temperatures).
    temperature_anomaly_std
        K: every pixel gets a temperature anomaly shared by all the surfaces it holds, with a prior 0 +- that
        (local air temperature, wind and humidity shift a neighbourhood's surfaces together, which a window of
        parts constant over its pixels cannot follow; output ``temperature_anomaly``, K; None: no anomaly term;
        with two passes only the second has it; e.g. 1.0 with ``thermal_model_error=0.3``). It is off by default:
        on synthetic cities (:mod:`.synth`), whose anomaly field varies within a pixel, it lowered the error on
        some scenes and raised it on others. The thermal defaults (``contrast_std``, ``thermal_model_error``,
        ``temperature_scene_std``, ``shaded_std``) were chosen on synthetic cities (seeds 4-6, 8, 9).
    reflective_model_error
        Relative radiance, added in quadrature to ``noise`` for the same reason in the reflective bands (property
        variation inside the window, PSF and adjacency approximations), so that weakly seen elements lean on their
        prior rather than absorb the misfit.
    reflectance_scene_std
        Relative: a second reflective pass draws each element toward its scene-level reflectance from the first
        pass, +- that fraction of it (empirical Bayes, :mod:`.scene`, :func:`.reflective.scene_reflectance_prior`;
        None: one pass, half the solver's work; with 0.1 the reflectance RMSE of 15 benchmark scenes, seeds 4-6,
        fell by 19 % on average and by up to 40 %, and rose by 2-4 % on three).
    min_fraction
        Elements seen in less of the window's weighted view are reported as NaN (they rest on the prior).
    psf
        The sensor's PSF: a Gaussian's sigma (pixels; 0: the pixel's box alone), a mixture of Gaussians
        ((weight, sigma), ...), or the result of :func:`eoxr.urban.fit_psf` (the PSF it fits to the image);
        default the sensor's nominal Gaussian.
    bounce_radius, n_azimuths
        Reach of the facets' one-bounce exchange (m); azimuths of the sky view factor.
    flat
        The 2-D unmixing baseline (no shadows, sky view, walls or bounces).
    budget
        Add the radiative budget: albedo, net shortwave, emitted longwave (W m-2).
    adjacency_m
        Correct reflective radiances for the adjacency effect over a Gaussian environment of that scale (m) first
        (:func:`.inputs.adjacency_correct`).
    device
        Where the solvers run: ``"cuda"`` (or ``"cuda:N"``) the torch solver on that GPU, ``"cpu"`` the CPU,
        ``"auto"`` a GPU where torch sees one, else the CPU; resolved on the machine that inverts each chunk (a
        Dask worker's own GPU). The same results on every device, to round-off (:mod:`.device`).

    Returns
    -------
    xarray.Dataset
        On the image's grid, CRS and x/y coordinate attributes (lazy for Dask input), with CF ``units``,
        ``long_name`` and, where the CF table has one, ``standard_name``. Reflective bands: ``reflectance`` and
        ``reflectance_std`` (element, band, y, x; 1), ``residual`` (relative RMS misfit) and ``iterations``; with
        ``budget``, ``albedo`` (1), ``net_shortwave`` and ``incoming_shortwave`` (W m-2), ``element_albedo`` and
        ``element_net_shortwave`` (element, y, x). Thermal bands: ``temperature`` and ``temperature_std``
        (element, y, x; K), ``temperature_parts`` (element, part = shaded / sunlit, y, x; K) and its ``_std``,
        ``emissivity`` and ``emissivity_std`` (element, thermal_band, y, x), ``thermal_residual``,
        ``thermal_iterations`` (and ``temperature_anomaly`` with ``temperature_anomaly_std``); with ``budget``,
        ``emitted_longwave`` (W m-2 of ground), ``element_emitted_longwave`` and ``broadband_emissivity``.
        NaN where an element is not reported. The attrs name the method, its settings and its input
        (:mod:`eoxr.attrs`).

    Examples
    --------
    >>> from eoxr.urban import Atmosphere, Geometry, get_sensor, synth
    >>> city = synth.make_city(100.0, 2.0, seed=1)
    >>> s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    >>> sun = Geometry(sun_zenith=35.0, sun_azimuth=150.0, view_zenith=8.0, view_azimuth=100.0)
    >>> truth = synth.draw_properties(city, s2, 1, sun)
    >>> obs = synth.observe(city, truth, s2, sun, Atmosphere(aot550=0.15), pixel_size=10.0)
    >>> res = obs.urban.invert(city, "sentinel-2", {"aot550": 0.15}, window=3)
    >>> res["reflectance"].dims, res["albedo"].attrs["standard_name"], res["net_shortwave"].attrs["units"]
    (('element', 'band', 'y', 'x'), 'surface_albedo', 'W m-2')
    >>> res["x"].attrs["standard_name"], res["x"].attrs["units"]
    ('projection_x_coordinate', 'metre')
    """
    _check_settings(window, min_fraction, noise=noise, nedt=nedt, emissivity_std=emissivity_std,
                    temperature_std=temperature_std, contrast_std=contrast_std, thermal_model_error=thermal_model_error,
                    temperature_scene_std=temperature_scene_std, shaded_std=shaded_std,
                    temperature_anomaly_std=temperature_anomaly_std, reflective_model_error=reflective_model_error,
                    reflectance_scene_std=reflectance_scene_std, bounce_radius=bounce_radius, adjacency_m=adjacency_m)
    check_device(device)
    image = observed_image(obs, sensor)
    rbands, tbands = image.sensor.reflective(), image.sensor.thermal()
    if tbands and not emissivity_prior:
        raise MissingVariableError(
            f"thermal bands {[b.name for b in tbands]} need an emissivity prior per element: pass "
            f"emissivity_prior={{'roof': 0.92, 'road': 0.95, ...}} for the elements {city.names}")
    geom = scene_geometry(obs, geometry)
    atm = Atmosphere.from_any(atmosphere)
    grid = city.grid_for(image.data)
    h, ne, lazy = window // 2, len(city.names), image.lazy
    mu_s = float(np.cos(np.radians(geom.sun_zenith)))

    recipes = feature_recipes(as_psf(psf, image.sensor.psf_sigma), bool(rbands), bool(tbands), budget)
    tile = TileFeatures(recipes, grid, geom, n_azimuths, bounce_radius, flat)
    parts = feature_parts(city, tile, image.data.data, h, lazy)
    coords = {"element": city.names, "y": image.data.y.values, "x": image.data.x.values}
    out = {}
    if rbands:
        terms = model_terms(image, reflective_terms(atm, rbands, geom))
        adjacency_px = adjacency_m / float(image.data.x[1] - image.data.x[0]) if adjacency_m else None
        prior, prior_sd = reflectance_priors(reflectance_prior, city.names, len(rbands))
        res = solve_reflective(
            reflective_radiance(image, rbands, terms, geom, adjacency_px), [parts[k] for k in REFLECTIVE_FEATURES],
            [parts[k] for k in SHORTWAVE_AREA_FEATURES] if budget else [], bands=rbands, ne=ne, window=window,
            terms=terms, noise=float(np.hypot(noise if noise else image.sensor.snr_noise, reflective_model_error)),
            prior_mean=prior, prior_std=prior_sd, max_iter=max_iter, min_fraction=min_fraction,
            scene_std=reflectance_scene_std, lazy=lazy, device=device)
        out.update(reflective_variables(res, coords, rbands, terms, mu_s, budget))
    if tbands:
        # the data's spread: sensor NEdT and, in quadrature, what the window-constant model cannot follow
        res = solve_thermal(
            thermal_radiance(image, tbands), [parts[k] for k in THERMAL_FEATURES], bands=tbands, ne=ne,
            window=window, terms=thermal_terms(atm, tbands, geom),
            nedt=float(np.hypot(nedt if nedt else image.sensor.nedt, thermal_model_error)),
            eps_mean=emissivity_priors(emissivity_prior, city.names, len(tbands)), eps_std=emissivity_std,
            t_std=temperature_std, max_iter=max_iter, min_fraction=min_fraction, contrast_std=contrast_std,
            anomaly_std=temperature_anomaly_std, shade_prior=None if shaded_std is None else
            (atm.air_temperature, shaded_std), scene_std=temperature_scene_std, budget=budget, lazy=lazy,
            device=device)
        out.update(thermal_variables(res, coords, tbands, bool(temperature_anomaly_std), budget))
        out.setdefault("residual", out["thermal_residual"])
        out.setdefault("iterations", out["thermal_iterations"])
    ds = A.georeference(xr.Dataset(out), like=image.data)
    return A.stamp(ds, "urban.unmix_flat" if flat else "urban.invert", made_from=[obs], window=window,
                   max_iter=max_iter, sensor=image.sensor.name, atmosphere=atm.__dict__, flat=flat,
                   geometry=geom.__dict__)


def _check_settings(window: int, min_fraction: float, **spreads) -> None:
    """Raise an error naming the fix for a window that is not odd, a ``min_fraction`` outside [0, 1), or a noise,
    spread or distance that is negative or not a number (None: not used)."""
    if window < 1 or window % 2 == 0:
        raise ParameterError(f"window must be an odd number of pixels (1, 3, 5, ...), not {window}")
    if not 0 <= min_fraction < 1:
        raise ParameterError(f"min_fraction is a share of the window's view in [0, 1), not {min_fraction}")
    bad = {k: v for k, v in spreads.items() if v is not None and not (np.isfinite(v) and v >= 0)}
    if bad:
        raise ParameterError(f"{', '.join(f'{k}={v!r}' for k, v in bad.items())}: noises, spreads and distances "
                             "are numbers >= 0 (None where the term is optional)")
