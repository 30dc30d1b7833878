"""The pivot variables derived from the fused reflectance and backscatter, and the attributes of the output.

NDVI and its standard deviation by first-order error propagation of the red and NIR standard deviations
(the bands' errors taken as independent); LAI by the canopy model's NDVI inverse
(:func:`eoxr.pivot.sensors.lai_from_ndvi`); soil moisture by the water-cloud model's inverse (Attema and Ulaby
1978, doi:10.1029/RS013i002p00357; :func:`eoxr.pivot.sensors.soil_moisture_from_backscatter`) from VV sigma0
under that LAI.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..attrs import cf, georeference
from .sensors import SENSORS, lai_from_ndvi, soil_moisture_from_backscatter

_ATTRS = {
    "reflectance": ("1", "surface reflectance, harmonised to Sentinel-2 MSI", "surface_bidirectional_reflectance"),
    "reflectance_std": ("1", "standard deviation of the surface reflectance",
                        "surface_bidirectional_reflectance standard_error"),
    "ndvi": ("1", "normalized difference vegetation index", "normalized_difference_vegetation_index"),
    "ndvi_std": ("1", "standard deviation of the NDVI", "normalized_difference_vegetation_index standard_error"),
    "lai": ("m2 m-2", "leaf area index", "leaf_area_index"),
    "days_since_clear": ("d", "days since the last clear observation of a fine sensor", None),
    "backscatter": ("1", "backscatter coefficient sigma0 (linear), smoothed in time", None),
    "soil_moisture": ("m3 m-3", "volumetric soil moisture of the top soil", "volume_fraction_of_condensed_water_in_soil"),
}


def ndvi_with_std(reflectance: xr.DataArray, std: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """NDVI of the red and NIR reflectance and its standard deviation (first-order propagation)."""
    red, nir = reflectance.sel(band="red", drop=True), reflectance.sel(band="nir", drop=True)
    s_red, s_nir = std.sel(band="red", drop=True), std.sel(band="nir", drop=True)
    total = nir + red
    ndvi = (nir - red) / total
    # d ndvi / d nir = 2 red / total**2, d ndvi / d red = -2 nir / total**2
    ndvi_std = 2.0 * np.sqrt((red * s_nir) ** 2 + (nir * s_red) ** 2) / total ** 2
    return ndvi, ndvi_std


def _elementwise(func, *args: xr.DataArray, **kwargs) -> xr.DataArray:
    """``func`` of numpy arrays applied to DataArrays block by block (lazy on dask), as float32."""
    return xr.apply_ufunc(func, *args, kwargs=kwargs, dask="parallelized", output_dtypes=["f4"]).astype("f4")


def finished(out: xr.Dataset, grid) -> xr.Dataset:
    """``out`` with the derived variables, CF attributes and the pivot grid's CRS."""
    out = out.copy()
    if {"red", "nir"} <= set(out.band.values):
        out["ndvi"], out["ndvi_std"] = ndvi_with_std(out["reflectance"], out["reflectance_std"])
        out["lai"] = _elementwise(lai_from_ndvi, out["ndvi"])
        if "backscatter" in out and "VV" in out.polarization.values:
            radar = SENSORS["s1"]
            out["soil_moisture"] = _elementwise(soil_moisture_from_backscatter,
                                                out["backscatter"].sel(polarization="VV", drop=True), out["lai"],
                                                polarization="VV", incidence_deg=radar.incidence_deg)
    for name in out.data_vars:
        units, long_name, standard_name = _ATTRS[name]
        out[name] = cf(out[name], units, long_name, standard_name)
    return georeference(out, crs=grid.crs.to_wkt())
