"""Sensor degradation model for thermal imagery: Gaussian PSF, then block aggregation of radiance.

Temperature does not aggregate linearly: a coarse pixel sees the mean *emitted radiance* of its parts.
For broadband thermal emission (Stefan-Boltzmann, constant emissivity) radiance is proportional to T^4,
so the coarse temperature is ``mean(T^4) ** 0.25``, not the mean of T. The sensor point-spread function is a
Gaussian whose modulation transfer function at the coarse Nyquist frequency is ``mtf``.
"""
from __future__ import annotations

import math

import numpy as np
import xarray as xr
from scipy import ndimage

from ..arrays import as_float, block_mean, check_factor, coarse_coord, halo_map, rechunk_multiple
from ..attrs import cf, georeference, stamp
from ..errors import ParameterError
from ..units import declare_units, when
from ._grid import checked_lst, spatial

DOMAINS = ("radiance", "temperature", "linear")


def to_radiance(t):
    """Broadband emitted radiance up to a constant (sigma * emissivity): T^4, T in K."""
    return t ** 4


def from_radiance(r):
    """Inverse of :func:`to_radiance`: temperature (K)."""
    return r ** 0.25


def psf_sigma(factor: int, mtf: float) -> float:
    """Standard deviation (fine pixels) of the Gaussian PSF whose MTF at the coarse Nyquist is ``mtf``.

    A Gaussian of sigma s has MTF(f) = exp(-2 pi^2 s^2 f^2); the coarse Nyquist frequency is
    1 / (2 factor) cycles per fine pixel, hence s = factor sqrt(-2 ln mtf) / pi.
    """
    if not 0.0 < mtf < 1.0:
        raise ParameterError(f"mtf must lie in (0, 1) (modulation at the coarse Nyquist frequency), not {mtf!r}: "
                             "e.g. mtf=0.3, or mtf=None for no PSF")
    return factor * math.sqrt(-2.0 * math.log(mtf)) / math.pi


def _nan_gaussian(block: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian filter over the last two axes: normalised convolution of the valid pixels."""
    valid = np.isfinite(block)
    filled = np.where(valid, block, 0.0)
    sig = (0,) * (block.ndim - 2) + (sigma, sigma)
    num = ndimage.gaussian_filter(filled, sig, mode="reflect", truncate=4.0)
    den = ndimage.gaussian_filter(valid.astype(block.dtype), sig, mode="reflect", truncate=4.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(valid, out, np.nan)  # the PSF smears values, not the cloud mask


def blur(data, sigma: float):
    """Gaussian blur of (..., y, x) numpy or dask data, edges mirrored: one kernel with a 4-sigma halo (the
    kernel's own truncation), lazy for dask."""
    return halo_map(_nan_gaussian, data, int(4.0 * sigma + 0.5), boundary="reflect", sigma=sigma)


#: the domains in which a coarse pixel of temperature is formed (and so is in K)
_KELVIN = when("domain", radiance="K", temperature="K")


@declare_units(da=_KELVIN)
def aggregate(da: xr.DataArray, factor: int, domain: str = "radiance", min_valid: float = 1.0) -> xr.DataArray:
    """Block-aggregate ``da`` by ``factor`` (coarse pixel = mean of factor x factor fine pixels).

    domain: "radiance" averages T^4 (temperature in K), "temperature" averages temperatures (K), "linear"
    averages the values of any intensive quantity (NDVI, reflectance: no units expected).
    min_valid: fraction of valid fine pixels a coarse pixel needs; below it the coarse pixel is NaN
    (default 1.0: any cloud in the block masks the coarse pixel). A partly-cloudy block that has enough is
    the mean of its valid pixels.
    """
    factor = check_factor(factor)
    da = _checked(da, domain)
    return _aggregated(da, factor, domain, min_valid)


def _checked(da: xr.DataArray, domain: str) -> xr.DataArray:
    """``da`` as (..., y, x), its temperatures checked to lie in the LST range unless ``domain`` is linear."""
    if domain not in DOMAINS:
        raise ParameterError(f"domain must be one of {DOMAINS}, not {domain!r}")
    da = spatial(da, da.name or "input")
    return da if domain == "linear" else checked_lst(da, da.name or "temperature")


def _aggregated(da: xr.DataArray, factor: int, domain: str, min_valid: float) -> xr.DataArray:
    """The block means of ``da`` (already checked) in ``domain``, on the coarse grid with ``da``'s CRS."""
    data = rechunk_multiple(as_float(da.data), factor)
    x = to_radiance(data) if domain == "radiance" else data
    mean = block_mean(x, factor, min_valid)
    out = from_radiance(mean) if domain == "radiance" else mean
    coords = {d: da[d] for d in da.dims[:-2] if d in da.coords}
    coords.update(y=coarse_coord(da.y, factor), x=coarse_coord(da.x, factor))
    res = xr.DataArray(out, dims=da.dims, coords=coords, name=da.name, attrs=dict(da.attrs))
    return georeference(res, like=da)


@declare_units(da=_KELVIN)
def degrade(da: xr.DataArray, factor: int, mtf: float | None = None, domain: str = "radiance",
            min_valid: float = 1.0) -> xr.DataArray:
    """Simulate the coarse sensor: a Gaussian PSF (MTF ``mtf`` at the coarse Nyquist), then block aggregation.

    ``ds.lst.degrade(...)`` is this function on ``ds["lst"]`` (``ds.lst`` is the accessor; the variable is
    ``ds["lst"]``).

    Parameters
    ----------
    da : xarray.DataArray
        The fine field on (..., y, x): temperature in K for the domains ``"radiance"`` and ``"temperature"``
        (Celsius is converted, values outside 150-400 K are refused), any intensive quantity (NDVI,
        reflectance) for ``"linear"``.
    factor : int
        Aggregation factor: ``factor`` x ``factor`` fine pixels make one coarse pixel.
    mtf : float, optional
        Modulation transfer function of the Gaussian PSF at the coarse Nyquist frequency (0-1; e.g. 0.3).
        None skips the PSF: pure block aggregation, as a gridded product of a perfect sensor.
    domain : {"radiance", "temperature", "linear"}
        What a coarse pixel averages: T^4 (the emitted radiance, ``mean(T^4) ** 0.25``), T, or the values.
    min_valid : float
        Fraction of valid fine pixels a coarse pixel needs (default 1.0: any NaN in the block masks it);
        above it the coarse pixel is the mean of its valid pixels.

    Returns
    -------
    xarray.DataArray
        The coarse field (lazy for dask input) with the input's units, attributes, CRS and x/y coordinate
        attributes, its ``long_name`` saying ``degraded x<factor>``.

    Examples
    --------
    >>> from eoxr.lst import synth
    >>> truth = synth.scene(seed=0, size=64)  # 250 m
    >>> coarse = truth.lst.degrade(4, mtf=0.3)  # 1 km
    >>> dict(coarse.sizes), coarse.attrs["units"]
    ({'y': 16, 'x': 16}, 'K')
    """
    factor = check_factor(factor)
    da = _checked(da, domain)  # before the PSF, whose rounding may carry a value at the range's end past it
    source = da
    if mtf is not None:
        data = as_float(da.data)
        sig = psf_sigma(factor, mtf)
        if domain == "radiance":
            data = from_radiance(blur(to_radiance(data), sig))
        else:
            data = blur(data, sig)
        da = da.copy(data=data)
    out = _aggregated(da, factor, domain, min_valid)
    out = cf(out, da.attrs.get("units", "K" if domain == "radiance" else "1"),
             f"{da.attrs.get('long_name', da.name or 'field')} degraded x{factor}")
    return stamp(out, "lst.degrade", made_from=[source], factor=factor, mtf=mtf, domain=domain,
                 min_valid=min_valid)
