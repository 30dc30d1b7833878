"""``ds.no2.emissions(method=...)``: NOx emission maps from NO2 columns and winds, by the method named.

``"divergence"``: the flux divergence of Beirle et al. (2019), :func:`eoxr.no2.divergence.emissions`;
``"smaat-unet"`` and ``"vae"``: networks trained on transport-model scenes, :func:`eoxr.no2.learned.emissions`.
"""
from __future__ import annotations

import xarray as xr

from ..errors import ParameterError
from . import divergence, learned

METHODS = ("divergence", *learned.METHODS)


def emissions(ds: xr.Dataset, *, method: str = "divergence", lifetime_h: float | str = 4.0, days: int | None = None,
              nox_to_no2: float = divergence.NOX_TO_NO2, model=None, device: str = "auto",
              n_samples: int = 16) -> xr.Dataset:
    """NOx emissions (mol m-2 s-1, as NO2) of a dataset of NO2 columns and winds, by ``method``.

    Parameters
    ----------
    ds : xarray.Dataset
        ``no2_column`` (mol m-2 or molec cm-2), ``u`` and ``v`` (m s-1) on one (y, x) grid with a CRS,
        optionally along ``time``.
    method : {"divergence", "smaat-unet", "vae"}
        The flux divergence of Beirle et al. (2019), or a network (:mod:`eoxr.no2.learned`).
    lifetime_h : float or "fit"
        Divergence: NOx lifetime in hours, or ``"fit"`` to fit it downwind of the sources.
    days : int, optional
        Divergence: average over windows of this many layers along ``time`` (None: over all of them).
    nox_to_no2 : float
        Divergence: NOx/NO2 column ratio.
    model : str or path, optional
        Networks: a checkpoint (path or registry name); None: the shipped one of ``method``.
    device : str
        Networks: ``"auto"`` runs on CUDA where present.
    n_samples : int
        VAE: posterior draws giving ``emission_std``.

    Returns
    -------
    xarray.Dataset
        ``emission`` (mol m-2 s-1) with the CRS, lazy. Divergence: ``emission_std``, ``count`` of valid layers,
        the method's terms and the ``lifetime`` (h) (:func:`eoxr.no2.divergence.emissions`); VAE:
        ``emission_std`` (:func:`eoxr.no2.learned.emissions`).

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
    if method in learned.METHODS:
        return learned.emissions(ds, method=method, model=model, device=device, n_samples=n_samples)
    return divergence.emissions(ds, lifetime_h=lifetime_h, days=days, nox_to_no2=nox_to_no2)
