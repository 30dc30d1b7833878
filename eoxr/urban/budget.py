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


def shortwave(reflectance: xr.DataArray, area: xr.Dataset, S: xr.DataArray, D: xr.DataArray, mu_s: float,
              weights: xr.DataArray, widths: xr.DataArray, prior) -> xr.Dataset:
    """Albedo and net shortwave per pixel and per element (see module doc). ``S, D, weights, widths``: dim band."""
    rho = reflectance.fillna(prior)
    rho2 = rho.rename(element="element2")
    E = S * area["g"] + D * area["s"] + ((S * area["cg"] + D * area["cs"]) * rho2).sum("element2")
    absorbed = ((1 - rho) * E * widths).sum("band")  # W m-2 of ground, per element
    received = (E * widths).sum(("band", "element"))
    incoming = float(((S * mu_s + D) * widths).sum())
    net = absorbed.sum("element")
    a = area["a"]
    out = xr.Dataset({
        "albedo": cf(1 - net / received.where(received > 0), "1",
                     "broadband shortwave albedo of the pixel's surfaces (reflected / received)"),
        "net_shortwave": cf(net, "W m-2", "net shortwave radiation absorbed by the urban surfaces",
                            standard_name="surface_net_downward_shortwave_flux"),
        "element_albedo": cf((reflectance * weights).sum("band", skipna=False), "1",
                             "broadband shortwave albedo of each element"),
        "element_net_shortwave": cf(absorbed.where(a > 1e-9) / a.where(a > 1e-9), "W m-2",
                                    "net shortwave absorbed per unit surface of each element"),
        "incoming_shortwave": cf(xr.full_like(net, incoming), "W m-2",
                                 "incoming shortwave on a horizontal plane above the canopy"),
    })
    return out


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


def broadband_arrays(bands) -> tuple[xr.DataArray, xr.DataArray]:
    from .sensors import broadband_weights

    w, width = broadband_weights(list(bands))
    names = [b.name for b in bands]
    return (xr.DataArray(w, dims="band", coords={"band": names}),
            xr.DataArray(width, dims="band", coords={"band": names}))


def to_numpy_budget(rho_e: np.ndarray, area: dict, terms: dict, widths: np.ndarray) -> np.ndarray:
    """Net shortwave (ny, nx) W m-2 for element reflectances ``rho_e`` (ne, nb, ny, nx), numpy version."""
    S, D = terms["S"][:, None, None], terms["D"][:, None, None]
    tot = 0.0
    for b in range(rho_e.shape[1]):
        r = rho_e[:, b]
        E = S[b] * area["g"] + D[b] * area["s"] + np.einsum("efyx,fyx->eyx", S[b] * area["cg"] + D[b] * area["cs"], r)
        tot = tot + widths[b] * ((1 - r) * E).sum(0)
    return tot
