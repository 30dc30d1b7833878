"""The inversion's outputs: the solvers' channel stacks (:func:`.reflective.solve_reflective`,
:func:`.thermal.solve_thermal`) as CF variables on (element, band / part / thermal_band,) y, x, with the
radiative budget (:mod:`.budget`)."""
from __future__ import annotations

import xarray as xr

from .. import attrs as A
from .budget import incoming_shortwave, longwave_dataset, shortwave_dataset
from .sensors import broadband_weights
from .thermal import thermal_outputs


def reflective_variables(res, coords: dict, bands, terms: dict, mu_s: float, budget: bool) -> dict:
    """The variables of the reflective stack ``res`` (channels, Y, X) of ``bands``; with ``budget``, the
    shortwave budget's after them. ``coords``: element, y, x."""
    ne, nb = len(coords["element"]), len(bands)
    ny, nx = len(coords["y"]), len(coords["x"])
    yx = {"y": coords["y"], "x": coords["x"]}
    rc = {**coords, "band": [b.name for b in bands]}
    k = ne * nb
    out = {
        "reflectance": A.cf(xr.DataArray(res[:k].reshape(ne, nb, ny, nx), dims=("element", "band", "y", "x"),
                                         coords=rc), "1", "surface reflectance of each urban element",
                            "surface_bidirectional_reflectance"),
        "reflectance_std": A.cf(xr.DataArray(res[k:2 * k].reshape(ne, nb, ny, nx),
                                             dims=("element", "band", "y", "x"), coords=rc), "1",
                                "posterior standard deviation of the element reflectance",
                                "surface_bidirectional_reflectance standard_error"),
        "residual": A.cf(xr.DataArray(res[2 * k], dims=("y", "x"), coords=yx),
                         "1", "relative RMS radiance misfit over the window (reflective bands)"),
        "iterations": A.cf(xr.DataArray(res[2 * k + 1], dims=("y", "x"), coords=yx),
                           "1", "Levenberg-Marquardt iterations (largest over bands)"),
    }
    if budget:
        i = 2 * k + 2
        _, width = broadband_weights(bands)
        sw = shortwave_dataset(res[i], res[i + 1], res[i + 2:i + 2 + ne], res[i + 2 + ne:i + 2 + 2 * ne],
                               incoming_shortwave(terms["S"], terms["D"], mu_s, width), coords)
        out.update(sw.data_vars)
    return out


def thermal_variables(res, coords: dict, bands, anomaly: bool, budget: bool) -> dict:
    """The variables of the thermal stack ``res`` (channels, Y, X) of thermal ``bands``: element and part
    temperatures, emissivities, with ``anomaly`` the pixel anomaly, the thermal residual and iterations; with
    ``budget``, the emitted longwave's after them. ``coords``: element, y, x."""
    ne, nbt = len(coords["element"]), len(bands)
    ny, nx = len(coords["y"]), len(coords["x"])
    ns, nout = 2 * ne, thermal_outputs(nbt, ne)
    yx = {"y": coords["y"], "x": coords["x"]}
    tc = {**coords, "thermal_band": [b.name for b in bands]}
    pc = {**coords, "part": ["shaded", "sunlit"]}
    dims_p = ("element", "part", "y", "x")
    dims_e = ("element", "thermal_band", "y", "x")
    k = 2 * ne + 2 * ns
    out = {
        "temperature": A.cf(xr.DataArray(res[:ne], dims=("element", "y", "x"), coords=coords), "K",
                            "surface temperature of each urban element (its shaded and sunlit facets weighted by "
                            "their surface in the pixel)", "surface_temperature"),
        "temperature_std": A.cf(xr.DataArray(res[ne:2 * ne], dims=("element", "y", "x"), coords=coords), "K",
                                "posterior standard deviation of the element temperature",
                                "surface_temperature standard_error"),
        "temperature_parts": A.cf(xr.DataArray(res[2 * ne:2 * ne + ns].reshape(ne, 2, ny, nx), dims=dims_p,
                                               coords=pc), "K",
                                  "surface temperature of the shaded and sunlit facets of each urban element",
                                  "surface_temperature"),
        "temperature_parts_std": A.cf(xr.DataArray(res[2 * ne + ns:2 * ne + 2 * ns].reshape(ne, 2, ny, nx),
                                                   dims=dims_p, coords=pc), "K",
                                      "posterior standard deviation of temperature_parts",
                                      "surface_temperature standard_error"),
        "emissivity": A.cf(xr.DataArray(res[k:k + ne * nbt].reshape(ne, nbt, ny, nx), dims=dims_e, coords=tc), "1",
                           "emissivity of each urban element", "surface_longwave_emissivity"),
        "emissivity_std": A.cf(xr.DataArray(res[k + ne * nbt:k + 2 * ne * nbt].reshape(ne, nbt, ny, nx),
                                            dims=dims_e, coords=tc), "1",
                               "posterior standard deviation of the element emissivity",
                               "surface_longwave_emissivity standard_error"),
    }
    if anomaly:
        out["temperature_anomaly"] = A.cf(xr.DataArray(res[nout - 4], dims=("y", "x"), coords=yx), "K",
                                          "temperature anomaly shared by all surfaces of the pixel (included in "
                                          "temperature and temperature_parts)")
        out["temperature_anomaly_std"] = A.cf(xr.DataArray(res[nout - 3], dims=("y", "x"), coords=yx), "K",
                                              "posterior standard deviation of temperature_anomaly")
    out["thermal_residual"] = A.cf(xr.DataArray(res[nout - 2], dims=("y", "x"), coords=yx), "1",
                                   "relative RMS radiance misfit over the window (thermal bands)")
    out["thermal_iterations"] = A.cf(xr.DataArray(res[nout - 1], dims=("y", "x"), coords=yx), "1",
                                     "Levenberg-Marquardt iterations (thermal)")
    if budget:
        lw = longwave_dataset(res[nout], res[nout + 1:nout + 1 + ne], res[nout + 1 + ne:nout + 1 + 2 * ne], coords)
        out.update(lw.data_vars)
    return out
