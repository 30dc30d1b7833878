"""``superres``: one entry for every LST super-resolution method (the accessor calls this)."""
from __future__ import annotations

import xarray as xr

from ..arrays import check_factor, fine_coord, is_lazy
from ..attrs import cf, georeference, require, stamp
from ..errors import MissingVariableError, ParameterError
from ..units import declare_units
from ._grid import align_guide, checked_lst, crs_of, like, spatial
from .baselines import BACKPROJECTIONS, bicubic, conserve, distrad, tsharp, upsample_data
from .guide import R2_IGNORE, R2_TRUST, guide_skill, guide_weight

METHODS = ("bicubic", "tsharp", "distrad", "sisr", "disr")
GUIDED = ("tsharp", "distrad", "disr")


def _fill(lst: xr.DataArray, fill) -> xr.DataArray:
    """Replace NaN coarse pixels by ``fill`` (K) or by the clear-sky mean for ``fill="mean"``."""
    if fill is None:
        return lst
    if isinstance(fill, str):
        if fill != "mean":
            raise ParameterError(f"fill must be None, a temperature in K or 'mean', not {fill!r}")
        return lst.fillna(lst.mean())
    return lst.fillna(float(fill))


@declare_units(lst="K", guide="1")
def superres(lst: xr.DataArray | xr.Dataset, factor: int = 4, method: str = "bicubic",
             guide: xr.DataArray | None = None, scale_correction: bool | str = False, fill=None, model=None,
             conserve_coarse: bool | None = None, device: str = "auto", domain: str = "radiance",
             ensemble: bool = True) -> xr.Dataset:
    """Super-resolve land surface temperature ``factor`` times (1 km -> 250 m for ``factor=4``).

    ``ds.lst.superres(...)`` is this function on ``ds["lst"]`` (``ds.lst`` is the accessor; the variable is
    ``ds["lst"]``), with ``guide`` also given as the name of one of the dataset's variables.

    Parameters
    ----------
    lst : xarray.DataArray or xarray.Dataset
        Coarse LST in K on (..., y, x) with a CRS (a Dataset: its variable ``lst``). One in Celsius
        (``units="degC"``) is converted, one without ``units`` is taken as K; values outside 150-400 K are
        refused (:class:`~eoxr.errors.PhysicalRangeError`, lazily on dask).
    factor : int
        Refinement factor: each coarse pixel becomes ``factor`` x ``factor`` fine pixels.
    method : {"bicubic", "tsharp", "distrad", "sisr", "disr"}
        Cubic convolution (Keys 1981); the NDVI regressions TsHARP (Agam et al. 2007) and DisTrad (Kustas et al.
        2003); a CNN trained by Wald's protocol on the LST alone (``"sisr"``) or guided by ``guide``
        (``"disr"``).
    guide : xarray.DataArray, optional
        Fine NDVI (1) or another predictor on the grid ``factor`` times finer than ``lst`` (a finer grid by an
        integer ratio is block-averaged to it). Required by ``"tsharp"``, ``"distrad"`` and ``"disr"``.
    scale_correction : bool or {"shrink", "match", "conserve"}
        The scale-invariance correction (:mod:`eoxr.lst.correction`): damp the detail above the energy
        extrapolated across scales (``"shrink"``, or True), match that energy (``"match"``: better texture,
        higher RMSE) or only conserve the observation (``"conserve"``). Every mode conserves the observation.
    fill : None, float or "mean"
        None keeps clouds (NaN coarse pixels) NaN in the output; a temperature (K) or ``"mean"`` (the clear
        pixels' mean) fills them first.
    model : str or path, optional
        Checkpoint path or registry name of the network of ``"sisr"`` / ``"disr"`` (default: the shipped
        ``lst-<method>-x<factor>``).
    conserve_coarse : bool, optional
        Add the coarse residual back (in ``domain``: iterative back-projection, then a flat remainder) so the
        output aggregated by ``factor`` equals the input. Default: on for the networks, off for bicubic;
        TsHARP and DisTrad always conserve, with the flat per-pixel residual of their published form.
    device : {"auto", "cpu", "cuda"}
        Where the networks run (``"auto"``: CUDA when present).
    domain : {"radiance", "temperature"}
        The quantity a coarse pixel averages when the residual is conserved: T^4 (a sensor's radiance,
        default) or T itself.
    ensemble : bool
        ``"sisr"`` / ``"disr"`` average the network over the four mirror images of the input (geometric
        self-ensemble, 4x the compute).

    Returns
    -------
    xarray.Dataset
        Lazy: ``lst`` (K, ``standard_name`` surface_temperature) on the fine grid, with the input's CRS and
        x/y coordinate attributes, NaN under clouds unless ``fill``; ``detail_gain`` (1) with
        ``scale_correction``; ``guide_r2`` and ``guide_weight`` (1) with ``"disr"``, ``detail_weight`` (1)
        with ``"sisr"`` (see Notes). ``attrs["history"]`` names the method and its settings.

    Notes
    -----
    ``"disr"`` weighs the network's detail by how much the guide explains of the coarse LST
    (:mod:`eoxr.lst.guide`): a guide whose cross-validated coarse R2 is low gives bicubic plus the conservation
    step; ``lst.attrs["guide_weighting"]`` says so. ``"sisr"`` weighs the network's detail by its
    least-squares weight on the input one scale coarser (:func:`eoxr.lst.learned.detail_skill`): a network
    whose detail does not help there gives bicubic plus the conservation step (``lst.attrs["detail_weighting"]``).
    Both run bicubic, network and conservation on the model's device (:mod:`eoxr.lst.ondevice`).

    Examples
    --------
    A synthetic MODIS-like scene: 1 km LST, its 250 m NDVI and the 250 m truth.

    >>> from eoxr.lst import synth
    >>> truth, obs = synth.observation(seed=0, size=64, factor=4)
    >>> fine = obs.lst.superres(4, method="tsharp", guide=truth["ndvi"])  # lazy
    >>> dict(fine["lst"].sizes), fine["lst"].attrs["units"]
    ({'y': 64, 'x': 64}, 'K')
    >>> bool(abs(fine["lst"] - truth["lst"]).mean() < abs(obs.lst.superres(4)["lst"] - truth["lst"]).mean())
    True
    """
    sources = [lst] + ([guide] if guide is not None else [])  # provenance: a Dataset's attrs name its items
    if isinstance(lst, xr.Dataset):
        require(lst, ["lst"], "superres input")
        lst = lst["lst"]
    factor = check_factor(factor)
    if method not in METHODS:
        raise ParameterError(f"method must be one of {METHODS}, not {method!r}")
    if scale_correction not in (False, True, "shrink", "match", "conserve"):
        raise ParameterError(f"scale_correction must be False, True, 'shrink', 'match' or 'conserve', not "
                             f"{scale_correction!r}")
    lst = _fill(checked_lst(spatial(lst)), fill)
    if method in GUIDED and guide is None:
        raise MissingVariableError(
            f"method {method!r} needs guide= (fine NDVI or reflectance on the grid {factor} times finer than "
            "the LST); use method='bicubic' or 'sisr' without a guide"
        )
    if guide is not None:
        align_guide(guide, lst, factor)  # fail early on another CRS or grid
    out = xr.Dataset()
    conserved = method in ("tsharp", "distrad")  # their published form conserves, with a flat residual
    checkpoint_sha256 = None
    if method == "bicubic":
        fine = bicubic(lst, factor)
    elif method == "tsharp":
        fine = tsharp(lst, guide, factor, domain=domain)
    elif method == "distrad":
        fine = distrad(lst, guide, factor, domain=domain)
    else:
        from ..ml.checkpoint import sha256
        from .learned import detail_skill, predict_fine, resolve_model

        ckpt = resolve_model(model, method, factor)
        checkpoint_sha256 = sha256(ckpt)
        if method == "sisr":
            out["detail_weight"] = detail_skill(lst, factor, ckpt, device=device, ensemble=ensemble)
            weight = out["detail_weight"].data
        else:
            out["guide_r2"] = guide_skill(lst, guide, factor)
            out["guide_weight"] = cf(xr.DataArray(guide_weight(out["guide_r2"].data), name="guide_weight"), "1",
                                     "weight of the guided detail (cross-validated R2 of the coarse LST on the "
                                     f"guide: 0 below {R2_IGNORE}, 1 from {R2_TRUST})")
            weight = out["guide_weight"].data
        in_chain = not scale_correction and conserve_coarse is not False and domain == "radiance"
        fine = predict_fine(lst, factor, ckpt, guide=guide if method == "disr" else None, device=device,
                            ensemble=ensemble, backprojections=BACKPROJECTIONS if in_chain else None,
                            detail_weight=weight)
        conserved = in_chain
    fine = spatial(fine)
    if scale_correction:
        from .correction import scale_correct

        base = upsample_data(lst.data, factor)
        base = fine.copy(data=base)
        mode = "shrink" if scale_correction is True else scale_correction
        fine, gain = scale_correct(fine, base, lst, factor, domain=domain, mode=mode)
        out["detail_gain"] = gain
    elif not conserved and (conserve_coarse or (conserve_coarse is None and method in ("sisr", "disr"))):
        fine = conserve(fine, lst, factor, domain, backprojections=BACKPROJECTIONS)
    y, x = fine_coord(lst.y, factor), fine_coord(lst.x, factor)
    label = {"bicubic": "bicubic interpolation", "tsharp": "TsHARP", "distrad": "DisTrad",
             "sisr": "single-image CNN", "disr": "NDVI-guided CNN"}[method]
    suffix = f", scale-invariance corrected ({'shrink' if scale_correction is True else scale_correction})" \
        if scale_correction else ""
    out["lst"] = like(fine.data, lst, y, x, "lst", "K", f"land surface temperature, {label} x{factor}{suffix}",
                      crs=crs_of(lst))
    out["lst"].attrs["standard_name"] = "surface_temperature"
    if method == "disr":
        out["lst"].attrs["guide_weighting"] = (
            f"the network's detail is weighted by guide_weight = clip((guide_r2 - {R2_IGNORE}) / ({R2_TRUST} - "
            f"{R2_IGNORE}), 0, 1), guide_r2 the cross-validated R2 of the coarse LST on the block-averaged guide: "
            "a guide that explains little gives bicubic plus the conservation step")
        if not is_lazy(out["guide_r2"]):
            out["lst"].attrs.update(guide_r2=float(out["guide_r2"]), guide_weight=float(out["guide_weight"]))
    if method == "sisr":
        out["lst"].attrs["detail_weighting"] = (
            "the network's detail is weighted by detail_weight, its least-squares weight on the input degraded "
            f"x{factor} and super-resolved back (0: bicubic plus the conservation step)")
        if not is_lazy(out["detail_weight"]):
            out["lst"].attrs["detail_weight"] = float(out["detail_weight"])
    out = georeference(out, like=lst)
    return stamp(out, f"lst.superres[{method}]", made_from=sources, checkpoint_sha256=checkpoint_sha256,
                 factor=factor, scale_correction=scale_correction, fill=fill,
                 model=str(model) if model is not None else None,
                 ensemble=ensemble if method in ("sisr", "disr") else None)

