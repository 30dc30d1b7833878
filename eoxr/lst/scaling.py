"""Multiscale statistics of LST and NDVI fields, and their extrapolation to a finer scale.

- structure functions S_q(l) = < |f(r + l) - f(r)|^q > over x and y lags (Frisch 1995, "Turbulence";
  for remote-sensing fields Lovejoy & Schertzer 2013, "The Weather and Climate", doi:10.1017/CBO9781139093811);
- increment flatness F(l) = S_4(l) / S_2(l)^2 (3 for Gaussian increments, larger for intermittent fields);
- radially averaged power spectrum P(k) and its log-log slope;
- the LST-NDVI regression slope per scale (the TsHARP slope, Agam et al. 2007, doi:10.1016/j.rse.2006.10.006).

``multiscale`` measures them on the field block-aggregated to several scales (each statistic at the field's
own pixel lag), and ``extrapolate`` fits them against log(scale) and evaluates the fit at a finer scale.
Everything is lazy for dask input (spectra through ``apply_ufunc`` with the spatial core dims in one chunk).
"""
from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..arrays import as_float, check_factor, is_lazy, linear_fit, namespace, pixel_size
from ..attrs import cf, stamp
from ..errors import ParameterError
from ..units import declare_units
from ._grid import checked_guide, checked_lst, spatial
from .degrade import aggregate


def _increment_moments(data, lag: int, orders) -> list:
    """Mean |increment|^q over x and y lags of ``lag`` pixels (NaN pairs skipped), for each q."""
    dx = data[..., :, lag:] - data[..., :, :-lag]
    dy = data[..., lag:, :] - data[..., :-lag, :]
    out = []
    for q in orders:
        tot, n = 0.0, 0
        for d in (dx, dy):
            xp = namespace(d)
            ok = xp.isfinite(d)
            tot = tot + xp.where(ok, abs(d) ** q, 0.0).sum()
            n = n + ok.sum()
        out.append(tot / n)
    return out


def structure_function(da: xr.DataArray, lags=(1, 2, 4, 8), orders=(1, 2, 3, 4)) -> xr.DataArray:
    """S_q(l) of ``da`` for lags in pixels, returned over dims (order, lag) with ``lag`` in CRS units.

    Units: (units of da)^q. NaN pixels are skipped pair by pair.
    """
    da = spatial(da, da.name or "field")
    data = as_float(da.data)
    rows = [_increment_moments(data, int(lag), orders) for lag in lags]
    xp = namespace(data)
    arr = xp.stack([xp.stack([xp.asarray(v) for v in row]) for row in rows], axis=1)
    step = abs(pixel_size(da.x))
    out = xr.DataArray(arr, dims=("order", "lag"), coords={"order": list(orders), "lag": [lag * step for lag in lags]})
    units = da.attrs.get("units", "1")
    return cf(out, f"({units})^order", f"structure function of {da.attrs.get('long_name', da.name)}")


def flatness(da: xr.DataArray, lag: int = 1):
    """Increment flatness S_4(l) / S_2(l)^2 (1): 3 for Gaussian increments."""
    s2, s4 = _increment_moments(spatial(da).data, lag, (2, 4))
    return s4 / s2 ** 2


def _edges(n: int, nbins: int) -> np.ndarray:
    return np.logspace(np.log10(2.0 / n), np.log10(0.5), nbins + 1)


def _hann(n: int) -> np.ndarray:
    # the symmetric Hann window (numpy's): xrft's own windows are scipy's periodic ones (sym=False), which move
    # the binned spectra by up to 2 % (measured on a 64 x 80 fractal field) and the published slopes with them
    return np.hanning(n)


def power_spectrum(da: xr.DataArray, nbins: int = 16) -> xr.DataArray:
    """Radially averaged power spectrum over log-spaced bins of wavenumber (cycles per CRS unit).

    The field is demeaned, NaN set to the mean and Hann-windowed; the 2-D spectrum is xrft's power spectral
    density (``xrft.power_spectrum``, Uchida et al. 2021, doi:10.5281/zenodo.1402635) in pixel units, corrected
    for the window's energy, then averaged over wavenumber rings (NaN for a field of fewer than 16 valid pixels,
    or an empty ring). Units: (units of da)^2 per (cycle per pixel)^2. Lazy for dask input (the y/x dims are
    gathered in one chunk).
    """
    import xrft

    da = spatial(da, da.name or "field")
    if is_lazy(da.data):
        da = da.chunk({"y": -1, "x": -1})
    ny, nx = da.sizes["y"], da.sizes["x"]
    step = abs(pixel_size(da.x))
    pixels = da.astype("f8").drop_vars(["y", "x", "spatial_ref"], errors="ignore").assign_coords(
        y=np.arange(ny, dtype="f8"), x=np.arange(nx, dtype="f8"))
    valid = pixels.notnull()
    anomaly = (pixels - pixels.mean(("y", "x"))).where(valid, 0.0)  # clouds and fill become the mean
    win = xr.DataArray(np.outer(_hann(ny), _hann(nx)), dims=("y", "x"))
    with warnings.catch_warnings():  # xrft 1.0.1 calls xarray's deprecated Dataset.drop
        warnings.simplefilter("ignore", FutureWarning)
        psd = xrft.power_spectrum(anomaly * win, dim=["y", "x"], detrend=None, scaling="density")
    psd = psd / float((win ** 2).mean())
    edges = _edges(min(ny, nx), nbins)
    ring = np.hypot(psd["freq_y"], psd["freq_x"]).rename("ring")
    rings = psd.groupby_bins(ring, edges, right=False, labels=np.arange(nbins)).mean()
    rings = rings.reindex(ring_bins=np.arange(nbins)).rename(ring_bins="wavenumber")
    out = rings.where(valid.sum(("y", "x")) >= 16).transpose(..., "wavenumber")
    if is_lazy(out.data):
        out = out.chunk({"wavenumber": -1})
    out = out.assign_coords(wavenumber=np.sqrt(edges[:-1] * edges[1:]) / step)
    out.wavenumber.attrs.update(units="cycles per CRS unit", long_name="wavenumber")
    units = da.attrs.get("units", "1")
    return cf(out.rename(da.name), f"({units})^2", f"power spectrum of {da.attrs.get('long_name', da.name)}")


def spectral_slope(da: xr.DataArray, nbins: int = 16, kmin_px: float = 4.0 / 64, kmax_px: float = 0.5):
    """Log-log slope of the power spectrum (P ~ k^slope; about -3 for smooth fields, -1 to -2 for rough ones),
    fitted between ``kmin_px`` and ``kmax_px`` cycles per pixel. Lazy 0-d for dask input."""
    p = power_spectrum(da, nbins)
    step = abs(pixel_size(spatial(da).x))
    k = p.wavenumber.values * step
    sel = (k >= kmin_px) & (k <= kmax_px)
    lk = np.log(k[sel])

    def fit(v):
        v = np.asarray(v)[sel]
        ok = np.isfinite(v) & (v > 0)
        if ok.sum() < 3:
            return np.nan
        return np.polyfit(lk[ok], np.log(v[ok]), 1)[0]

    return xr.apply_ufunc(fit, p, input_core_dims=[["wavenumber"]], vectorize=True, dask="parallelized",
                          output_dtypes=["f8"])


def regression_slope(lst: xr.DataArray, ndvi: xr.DataArray):
    """Least-squares slope dLST/dNDVI (K per unit NDVI) over pixels where both are finite."""
    return linear_fit(spatial(ndvi).data, spatial(lst).data)[1]


@declare_units(lst="K", ndvi="1")
def multiscale(lst: xr.DataArray, ndvi: xr.DataArray | None = None, factors=(1, 4, 16),
               min_pixels: int = 8) -> xr.Dataset:
    """Multiscale statistics of ``lst`` (and ``ndvi``): the field aggregated by each factor, over dim ``scale``.

    ``ds.lst.scaling(...)`` is this function on ``ds["lst"]`` (``ds.lst`` is the accessor; the variable is
    ``ds["lst"]``), with the dataset's ``ndvi`` when it is on the LST's grid (or ``ndvi=`` a variable's name).
    A scale-invariant field follows straight lines in log-log plots of these statistics against ``scale``.

    Parameters
    ----------
    lst : xarray.DataArray
        LST in K on (y, x) (aggregated in radiance, T^4).
    ndvi : xarray.DataArray, optional
        NDVI (1) on the same grid (aggregated linearly); adds its statistics and the LST-NDVI regression.
    factors : sequence of int
        Aggregation factors (1: the field itself).
    min_pixels : int
        Scales whose aggregated field is under ``min_pixels`` per side (and under 2, where no increment is
        left) are skipped.

    Returns
    -------
    xarray.Dataset
        Over ``scale`` (the aggregated pixel size, CRS units): ``lst_s2`` (K2, increment variance at one pixel
        of that scale), ``lst_flatness`` (1, increment kurtosis; 3 for Gaussian increments),
        ``lst_spectral_slope`` (1, log-log slope of the radial power spectrum); with ``ndvi`` also
        ``ndvi_s2``, ``ndvi_flatness``, ``ndvi_spectral_slope`` and ``regression_slope`` (K, dLST/dNDVI).

    Examples
    --------
    >>> from eoxr.lst import synth
    >>> truth = synth.scene(seed=0, size=128)  # lst and ndvi at 250 m
    >>> stats = truth.lst.scaling(factors=(1, 2, 4))  # the dataset's ndvi joins in
    >>> stats["scale"].values.tolist(), "regression_slope" in stats
    ([250.0, 500.0, 1000.0], True)
    """
    lst = checked_lst(spatial(lst))
    step = abs(pixel_size(lst.x))
    fields = {"lst": (lst, "radiance", "K")}
    if ndvi is not None:
        fields["ndvi"] = (checked_guide(spatial(ndvi, "ndvi"), "ndvi"), "linear", "1")
    asked = tuple(factors)
    side = max(min_pixels, 2)  # an increment needs two pixels
    factors = [f for f in map(check_factor, asked) if min(lst.sizes["y"], lst.sizes["x"]) // f >= side]
    if not factors:
        raise ParameterError(f"the field is too small for any of the factors: {lst.sizes['y']}x{lst.sizes['x']} px "
                             f"aggregated by {asked} leaves fewer than {side} pixels per side; pass "
                             "smaller factors= or a larger field")
    rows: dict[str, list] = {}
    agg = {}
    for f in factors:
        for name, (da, domain, _) in fields.items():
            a = aggregate(da, f, domain=domain, min_valid=0.5)
            agg[name] = a
            s2, s4 = _increment_moments(a.data, 1, (2, 4))
            rows.setdefault(f"{name}_s2", []).append(s2)
            rows.setdefault(f"{name}_flatness", []).append(s4 / s2 ** 2)
            slope = spectral_slope(a) if min(a.shape[-2:]) >= 16 else np.nan
            rows.setdefault(f"{name}_spectral_slope", []).append(getattr(slope, "data", slope))
        if ndvi is not None:
            rows.setdefault("regression_slope", []).append(regression_slope(agg["lst"], agg["ndvi"]))
    scale = np.array([f * step for f in factors])
    out = xr.Dataset(coords={"scale": scale})
    out.scale.attrs.update(units="CRS units", long_name="pixel size of the aggregated field")
    meta = {"s2": ("({u})^2", "increment variance at one pixel"), "flatness": ("1", "increment flatness at one pixel"),
            "spectral_slope": ("1", "log-log power spectrum slope")}
    for key, vals in rows.items():
        xp = namespace(*vals)
        arr = xp.stack([xp.asarray(v, dtype="f8") for v in vals])
        if key == "regression_slope":
            units, long_name = "K", "LST-NDVI regression slope"
        else:
            name, stat = key.split("_", 1)
            units, long_name = meta[stat][0].format(u=fields[name][2]), f"{name} {meta[stat][1]}"
        out[key] = cf(xr.DataArray(arr, dims="scale"), units, long_name)
    return stamp(out, "lst.scaling", made_from=[lst] + ([ndvi] if ndvi is not None else []),
                 factors=list(factors))


def extrapolate(stat: xr.DataArray, to_scale: float, order: int = 1, log_value: bool | None = None):
    """Fit ``stat`` against log(scale) with a polynomial of ``order`` and evaluate it at ``to_scale``.

    Positive statistics (increment variances) are fitted in log-log (a power law for order 1); signed ones
    (slopes) in lin-log. Returns a 0-d DataArray (lazy for dask input).
    """
    if order >= stat.sizes["scale"]:
        raise ParameterError(f"order {order} needs more than {stat.sizes['scale']} scales; pass a lower order")
    if log_value is None:
        log_value = stat.name is not None and (stat.name.endswith("_s2"))
    ls = np.log(stat.scale.values.astype("f8"))

    def fit(v):
        v = np.asarray(v, dtype="f8")
        y = np.log(v) if log_value else v
        ok = np.isfinite(y)
        if ok.sum() <= order:
            return np.nan
        p = np.polyval(np.polyfit(ls[ok], y[ok], order), np.log(to_scale))
        return np.exp(p) if log_value else p

    if stat.chunks is not None:
        stat = stat.chunk({"scale": -1})
    out = xr.apply_ufunc(fit, stat, input_core_dims=[["scale"]], vectorize=True, dask="parallelized",
                         output_dtypes=["f8"])
    return out.assign_attrs(dict(stat.attrs, long_name=f"{stat.attrs.get('long_name', stat.name)} "
                                                        f"extrapolated to {to_scale:g}"))
