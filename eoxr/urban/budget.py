"""Radiative budget from retrieved element properties: albedo, net shortwave, emitted longwave (W m-2).

Shortwave. The interval 0.3-2.5 um is split between the sensor's reflective bands (:func:`sensors.
broadband_weights`); band b stands for its interval, of solar weight w_b and effective width W_b (um). With the
area features of :func:`forward.features` (facet area per ground area of element e: a_e; lit and sky terms g_e,
s_e; one-bounce couplings cg, cs) and the atmosphere's S, D (W m-2 um-1):

    E_e,b   = S_b g_e + D_b s_e + sum_f rho_f,b (S_b cg_ef + D_b cs_ef)     irradiance on e per ground area
    SW_net  = sum_b W_b sum_e (1 - rho_e,b) E_e,b                          W m-2 of ground (pixel)
    albedo  = 1 - SW_net / sum_b W_b sum_e E_e,b                           reflected / received by the surfaces, 1
    albedo_e = sum_b w_b rho_e,b ;  SW_net,e = sum_b W_b (1 - rho_e,b) E_e,b / a_e  (W m-2 of element surface)

Net shortwave per pixel counts what the pixel's facets absorb; a sunlit wall can intercept more than the
pixel's horizontal share of the beam (the shadow it casts lands on other pixels), so it may exceed the incoming
flux on a horizontal plane locally while balancing over the scene; the albedo is therefore the ratio of what the
surfaces reflect to what they receive, bounded by 0 and 1.

Longwave: emitted exitance eps_e sigma T_e^4 (W m-2 of element surface) with eps_e the mean of the retrieved band
emissivities (a grey-body broadband value), and per pixel sum_e a_e eps_e sigma T_e^4 (W m-2 of ground; the
total emitted by all facets, walls included, not the net flux to the sky).

Elements not observable in a window (NaN reflectance) take the prior reflectance; elements with no retrieved
temperature take the mean retrieved temperature of the pixel's other elements.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..attrs import cf
from .sensors import SIGMA


def shortwave_arrays(rho: np.ndarray, a, g, s, cg, cs, S, D, weights, widths, prior):
    """The shortwave budget (see module doc) on numpy arrays: ``rho`` (ne, nb, ...) with NaN where not retrieved,
    area features ``a, g, s`` (ne, ...) and ``cg, cs`` (ne, ne, ...), ``S, D, weights, widths`` (nb,),
    ``prior`` (ne, nb). Returns albedo (...), net shortwave (...) W m-2, element albedo (ne, ...) and element net
    shortwave (ne, ...) W m-2 of element surface."""
    prior = np.asarray(prior, dtype=float)
    rho_f = np.where(np.isnan(rho), prior.reshape(prior.shape + (1,) * (rho.ndim - 2)), rho)
    absorbed = np.zeros(a.shape)
    received = np.zeros(a.shape[1:])
    for b in range(rho.shape[1]):
        r = rho_f[:, b]
        e = S[b] * g + D[b] * s + np.einsum("ef...,f...->e...", S[b] * cg + D[b] * cs, r)
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
                     "broadband shortwave albedo of the pixel's surfaces (reflected / received)"),
        "net_shortwave": cf(net_da, "W m-2", "net shortwave radiation absorbed by the urban surfaces",
                            standard_name="surface_net_downward_shortwave_flux"),
        "element_albedo": cf(xr.DataArray(element_albedo, dims=eyx), "1",
                             "broadband shortwave albedo of each element"),
        "element_net_shortwave": cf(xr.DataArray(element_net, dims=eyx), "W m-2",
                                    "net shortwave absorbed per unit surface of each element"),
        "incoming_shortwave": cf(xr.full_like(net_da, incoming), "W m-2",
                                 "incoming shortwave on a horizontal plane above the canopy"),
    }, coords=coords)


def incoming_shortwave(S, D, mu_s: float, widths) -> float:
    """Incoming shortwave on a horizontal plane above the canopy, W m-2."""
    return float(((np.asarray(S) * mu_s + np.asarray(D)) * np.asarray(widths)).sum())


def longwave(temperature: xr.DataArray, emissivity: xr.DataArray, area: xr.DataArray) -> xr.Dataset:
    """Emitted longwave per element surface and per ground area (see module doc).

    ``temperature`` and ``area`` (facet area per ground area) carry dims (element, part, y, x), part being the
    shaded and sunlit facets of each element.
    """
    t = temperature.fillna(temperature.mean(("element", "part")))
    eps = emissivity.mean("thermal_band")
    eps_f = eps.fillna(eps.mean("element"))
    exitance = eps_f * SIGMA * t**4  # W m-2 of facet
    a_el = area.sum("part")
    return xr.Dataset({
        "emitted_longwave": cf((area * exitance).sum(("element", "part")), "W m-2",
                               "longwave emitted by the urban surfaces per unit ground area"),
        "element_emitted_longwave": cf(((area * exitance).sum("part") / a_el.where(a_el > 1e-9)).where(eps.notnull()),
                                       "W m-2", "longwave emitted per unit surface of each element"),
        "broadband_emissivity": cf(eps, "1", "grey-body emissivity of each element (mean over thermal bands)"),
    })
