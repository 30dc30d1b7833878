"""Radiative budget from retrieved element properties: albedo, net shortwave, emitted longwave (W m-2).

Shortwave. The interval 0.3-2.5 um is split between the sensor's reflective bands (:func:`sensors.
broadband_weights`); band b stands for its interval, of solar weight w_b and effective width W_b (um). With the
area features of :func:`forward.features` (facet area per ground area of element e: a_e; lit and sky terms g_e,
s_e; one-bounce couplings cg, cs; the coupling cb of an exitance spread like the bounce irradiance) and the
atmosphere's S, D (W m-2 um-1):

    B1_e,b  = sum_f rho_f,b (S_b cg_ef + D_b cs_ef)                        first bounce on e per ground area
    B(n+1)_e,b = sum_f cb_ef rho_f,b Bn_f,b / r_f                           next orders, r_f = a_f - s_f
    E_e,b   = S_b g_e + D_b s_e + sum_n Bn_e,b                             irradiance on e per ground area
    SW_net  = sum_b W_b sum_e (1 - rho_e,b) E_e,b                          W m-2 of ground (pixel)
    albedo  = 1 - SW_net / sum_b W_b sum_e E_e,b                           reflected / received by the surfaces, 1
    albedo_e = sum_b w_b rho_e,b ;  SW_net,e = sum_b W_b (1 - rho_e,b) E_e,b / a_e  (W m-2 of element surface)

The bounce irradiance reaches a facet in proportion to its share of the hemisphere hidden from the sky, 1 - V; the
facets of f in the pixel, of receiving area r_f, then hold Bn_f / r_f per unit of it, which they reflect to e as
the exitance (1 - V) of unit density does (cb). The first order is exact; the higher ones take that density as
uniform over the facets of f around the pixel. On synthetic cities (:mod:`.synth`, 10 m pixels) the orders after
the first add 3-5 W m-2 on average and up to 50-80 W m-2 in pixels between close walls (radiative trapping), of
which this form recovers 88-99 %; :data:`BOUNCES` orders converge (8 bounces of the per-cell model come within
0.06 W m-2 of 16 bounces in every pixel there).

Net shortwave per pixel counts what the pixel's facets absorb; a sunlit wall can intercept more than the
pixel's horizontal share of the beam (the shadow it casts lands on other pixels), so it may exceed the incoming
flux on a horizontal plane locally while balancing over the scene; the albedo is therefore the ratio of what the
surfaces reflect to what they receive, bounded by 0 and 1.

Longwave: per pixel sum_e sum_p a_ep eps_e sigma T_ep^4 (W m-2 of ground; the total emitted by all facets, walls
included, not the net flux to the sky) over the parts p (shaded, sunlit facets) of each element e, of area a_ep
per ground area and temperature T_ep, with eps_e the mean of the band emissivities (a grey-body broadband value);
per element the same sum over its parts divided by a_e (W m-2 of element surface).

Elements not observable in a window (NaN reflectance) take the prior reflectance. Every element part in the
pixel emits: with its posterior temperature where the data inform it (halve its prior spread), even where it is
seen too little to be reported (its element's temperature may be the other part's: sunlit for shaded), else
with its element's reported temperature, else the mean of the pixel's parts (the prior of a part that no data
inform, e.g. the air temperature for shaded walls facing away from the sensor, erred by more on synthetic
cities); and with its element's posterior emissivity (the prior where the element is not seen).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..attrs import cf
from .sensors import SIGMA


BOUNCES = 8  # orders of reflection between the facets in the shortwave budget


def shortwave_arrays(rho: np.ndarray, a, g, s, cg, cs, cb, S, D, weights, widths, prior, n_bounce: int = BOUNCES):
    """The shortwave budget (see module doc) on numpy arrays: ``rho`` (ne, nb, ...) with NaN where not retrieved,
    area features ``a, g, s`` (ne, ...) and ``cg, cs, cb`` (ne, ne, ...; ``cb`` unused with one bounce),
    ``S, D, weights, widths`` (nb,), ``prior`` (ne, nb), ``n_bounce`` orders of reflection. Returns albedo (...),
    net shortwave (...) W m-2, element albedo (ne, ...) and element net shortwave (ne, ...) W m-2 of element
    surface."""
    prior = np.asarray(prior, dtype=float)
    rho_f = np.where(np.isnan(rho), prior.reshape(prior.shape + (1,) * (rho.ndim - 2)), rho)
    absorbed = np.zeros(a.shape)
    received = np.zeros(a.shape[1:])
    r_area = a - s  # receiving area of each element's facets: what the sky does not light
    per_r = np.where(r_area > 1e-9, 1 / np.where(r_area > 1e-9, r_area, 1.0), 0.0)
    for b in range(rho.shape[1]):
        r = rho_f[:, b]
        bounce = np.einsum("ef...,f...->e...", S[b] * cg + D[b] * cs, r)
        e = S[b] * g + D[b] * s + bounce
        if n_bounce > 1:
            onward = cb * (r * per_r)[None]  # (ne, ne, ...): an order's bounce irradiance to the next one's
            for _ in range(n_bounce - 1):
                bounce = np.einsum("ef...,f...->e...", onward, bounce)
                e = e + bounce
        absorbed += widths[b] * (1 - r) * e
        received += widths[b] * e.sum(0)
    net = absorbed.sum(0)
    albedo = 1 - net / np.where(received > 0, received, np.nan)
    element_albedo = np.einsum("eb...,b->e...", rho, np.asarray(weights, dtype=float))  # NaN where not retrieved
    element_net = np.where(a > 1e-9, absorbed / np.where(a > 1e-9, a, 1.0), np.nan)
    return albedo, net, element_albedo, element_net


def shortwave_dataset(albedo, net, element_albedo, element_net, incoming: float, coords: dict) -> xr.Dataset:
    """The outputs of :func:`shortwave_arrays` (numpy or Dask arrays) as CF variables on (element,) y, x."""
    yx, eyx = ("y", "x"), ("element", "y", "x")
    net_da = xr.DataArray(net, dims=yx, coords={k: coords[k] for k in yx})
    return xr.Dataset({
        "albedo": cf(xr.DataArray(albedo, dims=yx), "1",
                     "broadband shortwave albedo of the pixel's surfaces (reflected / received)", "surface_albedo"),
        "net_shortwave": cf(net_da, "W m-2", "net shortwave radiation absorbed by the urban surfaces",
                            standard_name="surface_net_downward_shortwave_flux"),
        "element_albedo": cf(xr.DataArray(element_albedo, dims=eyx), "1",
                             "broadband shortwave albedo of each element", "surface_albedo"),
        "element_net_shortwave": cf(xr.DataArray(element_net, dims=eyx), "W m-2",
                                    "net shortwave absorbed per unit surface of each element",
                                    "surface_net_downward_shortwave_flux"),
        "incoming_shortwave": cf(xr.full_like(net_da, incoming), "W m-2",
                                 "incoming shortwave on a horizontal plane above the canopy",
                                 "surface_downwelling_shortwave_flux_in_air"),
    }, coords=coords)


def incoming_shortwave(S, D, mu_s: float, widths) -> float:
    """Incoming shortwave on a horizontal plane above the canopy, W m-2."""
    return float(((np.asarray(S) * mu_s + np.asarray(D)) * np.asarray(widths)).sum())


def longwave_arrays(t_parts: np.ndarray, t_element: np.ndarray, emissivity: np.ndarray, area: np.ndarray,
                    reported: np.ndarray):
    """The emitted longwave (see module doc) on numpy arrays: temperatures of the element parts ``t_parts``
    (ne, 2, ...) K (shaded and sunlit facets; NaN where unknown), of the elements ``t_element`` (ne, ...) K,
    broadband emissivity ``emissivity`` (ne, ...), facet area per ground area ``area`` (ne, 2, ...), and the
    elements ``reported`` (ne, ...) bool. A part of unknown temperature takes its element's, else the mean of the
    pixel's parts. Returns the emitted longwave (...) W m-2 of ground, per reported element (ne, ...) W m-2 of
    element surface, and the reported broadband emissivity (ne, ...); NaN where not reported."""
    t = np.where(np.isnan(t_parts), t_element[:, None], t_parts)
    known = np.isfinite(t)
    n = known.sum((0, 1))
    pixel_mean = np.where(known, t, 0.0).sum((0, 1)) / np.where(n > 0, n, 1)
    t = np.where(known, t, np.where(n > 0, pixel_mean, np.nan))
    emitted = area * (emissivity * SIGMA)[:, None] * t**4  # W m-2 of ground, per element part
    a_el = area.sum(1)
    keep = reported & (a_el > 1e-9)
    per_element = np.where(keep, emitted.sum(1) / np.where(keep, a_el, 1.0), np.nan)
    return emitted.sum((0, 1)), per_element, np.where(reported, emissivity, np.nan)


def longwave_dataset(emitted, per_element, eps, coords: dict) -> xr.Dataset:
    """The outputs of :func:`longwave_arrays` (numpy or Dask arrays) as CF variables on (element,) y, x."""
    yx, eyx = ("y", "x"), ("element", "y", "x")
    # no CF standard name for the emitted part alone (surface_upwelling_longwave_flux_in_air adds the reflected sky)
    return xr.Dataset({
        "emitted_longwave": cf(xr.DataArray(emitted, dims=yx), "W m-2",
                               "longwave emitted by the urban surfaces per unit ground area"),
        "element_emitted_longwave": cf(xr.DataArray(per_element, dims=eyx), "W m-2",
                                       "longwave emitted per unit surface of each element"),
        "broadband_emissivity": cf(xr.DataArray(eps, dims=eyx), "1",
                                   "grey-body emissivity of each element (mean over thermal bands)",
                                   "surface_longwave_emissivity"),
    }, coords=coords)
