"""``ds.no2.emissions(method=...)``: NOx emission maps from NO2 columns and winds, by the method named.

``"divergence"``: the flux divergence of Beirle et al. (2019), :func:`eoxr.no2.divergence.emissions`.
"""
from __future__ import annotations

import xarray as xr

from ..errors import ParameterError
from . import divergence

METHODS = ("divergence",)


def emissions(ds: xr.Dataset, *, method: str = "divergence", lifetime_h: float | str = 4.0, days: int | None = None,
              nox_to_no2: float = divergence.NOX_TO_NO2) -> xr.Dataset:
    """NOx emissions (mol m-2 s-1, as NO2) of a dataset of NO2 columns and winds, by ``method``.

    Parameters
    ----------
    ds : xarray.Dataset
        ``no2_column`` (mol m-2 or molec cm-2), ``u`` and ``v`` (m s-1) on one (y, x) grid with a CRS,
        optionally along ``time``.
    method : {"divergence"}
        The flux divergence of Beirle et al. (2019).
    lifetime_h : float or "fit"
        NOx lifetime in hours, or ``"fit"`` to fit it downwind of the sources.
    days : int, optional
        Average over windows of this many layers along ``time`` (None: over all of them).
    nox_to_no2 : float
        NOx/NO2 column ratio.

    Returns
    -------
    xarray.Dataset
        ``emission`` and ``emission_std`` (mol m-2 s-1) with the CRS, ``count`` of valid layers, the method's
        terms and the ``lifetime`` (h), lazy on dask input (:func:`eoxr.no2.divergence.emissions`).

    Examples
    --------
    >>> from eoxr.no2 import ctm
    >>> scene = ctm.scene(1, ctm.Grid(ny=24, nx=24), spinup_h=6)
    >>> em = scene.no2.emissions(method="divergence", lifetime_h=4.0)
    >>> em["emission"].attrs["units"], em["emission"].rio.crs is not None
    ('mol m-2 s-1', True)
    """
    if method not in METHODS:
        raise ParameterError(f"method={method!r} is not one of {METHODS}: pick one of them")
    return divergence.emissions(ds, lifetime_h=lifetime_h, days=days, nox_to_no2=nox_to_no2)
