"""``retrieve``: surface rain rate, its uncertainty and the probability of rain from brightness temperatures.

The public function reads as its steps: :func:`_radiometer` (the sensor's channel table),
:func:`_channels` (the radiometer's channels found in the data by frequency and polarisation, or by name),
:func:`_physical` (fill values to NaN, the physical range checked), :func:`_ancillary` (surface type and
precipitable water on the same pixels), then the method (:func:`_bayes` or :func:`_unet`), and
:func:`_result` (the three variables on the input's pixels and coordinates, with CF attributes and history).

The input is the layout of :func:`eoxr.io.open_product` for 1C files: ``brightness_temperature`` (K) on
two spatial dims (``along_track``, ``cross_track`` with 2-D ``latitude``/``longitude``, or a gridded ``y``,
``x``) and ``channel``, with ``frequency`` (GHz) and ``polarization`` coords. Lazy on dask input.
"""
from __future__ import annotations

import dask
import dask.array as dsa
import numpy as np
import xarray as xr

from ..arrays import is_lazy
from ..attrs import cf, georeference, stamp
from ..errors import GridError, MissingVariableError, ParameterError
from ..units import check_range, declare_units
from . import bayes
from .radiometers import Radiometer, get

METHODS = ("bayes", "unet")
TB_RANGE = (20.0, 350.0)  # K: any microwave brightness temperature of the Earth
FILL_BELOW = -999.0  # K: below this a value is a fill code (1C files write -9999.9)
OUTPUTS = {
    "rain_rate": ("mm h-1", "surface rain rate", "rainfall_rate"),
    "rain_rate_std": ("mm h-1", "standard deviation of the surface rain rate", None),
    "rain_probability": ("1", "probability of rain (>= 0.1 mm h-1)", None),
}


def _radiometer(tb: xr.DataArray, sensor) -> Radiometer:
    """The radiometer named ``sensor``; by default the one the data say (``sensor`` or ``instrument``
    attribute), else GMI."""
    if sensor is None:
        sensor = tb.attrs.get("sensor") or tb.attrs.get("instrument") or "gmi"
    return get(sensor)


def _spatial_dims(tb: xr.DataArray) -> tuple[str, str]:
    if "channel" not in tb.dims:
        raise MissingVariableError(f"the brightness temperatures have dims {tb.dims}, without 'channel': pass the "
                                   "1C layout (open_product), with one channel dimension")
    space = tuple(d for d in tb.dims if d != "channel")
    if len(space) != 2:
        raise GridError(f"the brightness temperatures have dims {tb.dims}: rain retrievals take one swath or grid "
                        "(two spatial dims and 'channel'); select one time step or granule first")
    return space


def _keys(tb: xr.DataArray) -> list[tuple]:
    """(frequency, polarisation, offset) of each channel of the data, from its coords."""
    offset = tb["frequency_offset"].values if "frequency_offset" in tb.coords else np.zeros(tb.sizes["channel"])
    return [(round(float(f), 1), str(p), round(float(o), 1))
            for f, p, o in zip(tb["frequency"].values, tb["polarization"].values, offset)]


def _channels(tb: xr.DataArray, radiometer: Radiometer, wanted: list[str] | None) -> xr.DataArray:
    """The data's brightness temperatures of the channels ``wanted`` (default: all of the radiometer's), in
    the radiometer's order and named as its channels: found by name (the labels of :func:`eoxr.io.open_product`),
    else by the ``frequency``/``polarization`` (and ``frequency_offset``) coords."""
    wanted = radiometer.channel_names if wanted is None else list(wanted)
    for name in wanted:
        radiometer.channel(name)  # unknown names raise, listing the radiometer's
    have = list(map(str, tb["channel"].values))
    key = {c.name: c.name for c in radiometer.channels}
    if any(n not in have for n in wanted) and {"frequency", "polarization"} <= set(tb.coords):
        have = _keys(tb)
        key = {c.name: (round(c.frequency, 1), c.polarization, round(c.offset, 1)) for c in radiometer.channels}
    missing = [n for n in wanted if key[n] not in have]
    if missing:
        raise MissingVariableError(
            f"the brightness temperatures lack the {radiometer.name.upper()} channels {missing} (they have "
            f"{list(map(str, tb['channel'].values))}); pass the granule with every channel (swath='both' for "
            "GMI's 166/183 GHz), retrieve with channels= the ones you have (method='bayes'), or give the "
            "radiometer's name as sensor="
        )
    out = tb.isel(channel=[have.index(key[n]) for n in wanted])
    return out.assign_coords(channel=wanted)


def _physical(tb: xr.DataArray) -> xr.DataArray:
    """Fill values (< -999 K) as NaN; any other value outside 20-350 K raises
    :class:`~eoxr.errors.PhysicalRangeError` (at once on numpy, when computed on dask)."""
    tb = tb.where(tb > FILL_BELOW)
    return check_range(tb, *TB_RANGE, name="brightness_temperature",
                       hint="brightness temperatures are in K: check the units (degC?), the scale factor and the "
                            "fill values of the file")


def surface_from_tb(tb: xr.DataArray) -> xr.DataArray:
    """Surface type codes when none is given, from the polarisation difference (V - H) at the lowest window
    frequency with both (10.65 GHz for GMI and AMSR2): ocean above 55 K, coast from 35 K, land below (the
    thresholds of 10.65 GHz, scaled by 0.75 at 18-19 GHz). Heavy rain over the sea may read as coast and snow
    as land: pass ``surface=`` (a land-sea mask and a snow analysis) for the best retrieval."""
    names = list(map(str, tb["channel"].values))
    pairs = sorted({(float(n[:-1]), n[:-1]) for n in names if n.endswith("V") and n[:-1] + "H" in names
                    and "+-" not in n and float(n[:-1]) < 40.0})
    if not pairs:
        raise MissingVariableError(f"channels {names} have no V and H pair below 40 GHz to tell sea from land: "
                                   "pass surface= (0 ocean, 1 land, 2 coast, 3 snow on the same pixels)")
    frequency, label = pairs[0]
    pd = tb.sel(channel=label + "V") - tb.sel(channel=label + "H")
    scale = 1.0 if frequency < 15.0 else 0.75
    return xr.where(pd > 55.0 * scale, 0, xr.where(pd > 35.0 * scale, 2, 1)).astype(np.int8)


def _ancillary(value, tb: xr.DataArray, space, name: str):
    """``value`` on the pixels of ``tb`` (GridError if the swath or grid differs), or None."""
    if value is None:
        return None
    sizes = {d: tb.sizes[d] for d in space}
    if not isinstance(value, xr.DataArray):
        value = np.asarray(value)
        value = xr.DataArray(value, dims=space) if value.shape == tuple(sizes.values()) else \
            xr.DataArray(value, dims=[f"dim_{i}" for i in range(value.ndim)])
    if set(value.dims) != set(space) or any(value.sizes[d] != n for d, n in sizes.items()):
        raise GridError(f"{name} has dims {dict(value.sizes)}, the brightness temperatures {sizes}: pass {name} on "
                        "the same swath (same scans and pixels) or grid")
    return value.transpose(*space)


def _stat_block(tb, surface, tpw, database, channels, k, model_error, tpw_error):
    """One block: ``(..., channel)`` Tb -> ``(..., 3)`` posterior mean, std and probability."""
    shape = tb.shape[:-1]
    out = bayes.posterior(tb.reshape(-1, tb.shape[-1]), surface.reshape(-1), None if tpw is None else tpw.reshape(-1),
                          bayes.load(database), channels, k=k, model_error=model_error, tpw_error=tpw_error)
    return out.reshape(*shape, 3)


def _bayes(tb, surface, tpw, database, radiometer, **kw) -> xr.DataArray:
    """Posterior statistics ``(*space, statistic)`` by :func:`eoxr.rain.bayes.posterior`, per block on dask.

    On dask each block loads the database file once per worker (:func:`eoxr.rain.bayes.load`); a
    :class:`~eoxr.rain.bayes.Database` object enters the graph once.
    """
    kw["channels"] = list(map(str, tb["channel"].values))
    space = tb.dims[:-1]
    if database is None:
        bayes.load(None, radiometer)  # builds the default database on first use, here rather than in a task
        database = bayes.default_path(radiometer)
    if not is_lazy(tb):
        stats = _stat_block(tb.values, surface.values, None if tpw is None else tpw.values, database, **kw)
        return xr.DataArray(stats, dims=(*space, "statistic"))
    data = tb.data.rechunk({tb.ndim - 1: -1})
    chunks = data.chunks[:-1]

    def aligned(a):
        return None if a is None else (a.data.rechunk(chunks) if is_lazy(a) else dsa.from_array(a.values, chunks))

    ref = dask.delayed(database, pure=True) if isinstance(database, bayes.Database) else str(database)
    stats = dsa.blockwise(_stat_block, "ijs", data, "ijc", aligned(surface), "ij", aligned(tpw),
                          None if tpw is None else "ij", ref, None, new_axes={"s": 3}, concatenate=True,
                          dtype=np.float64, meta=np.empty((0, 0, 0)), **kw)
    return xr.DataArray(stats, dims=(*space, "statistic"))


def _result(stats: xr.DataArray, tb: xr.DataArray, method: str, radiometer: Radiometer,
            checkpoint_sha256: str | None = None, **params) -> xr.Dataset:
    """The three output variables on ``tb``'s pixels and coordinates, with CF attributes, history and provenance
    (made from ``tb``; the network's checkpoint SHA-256)."""
    coords = {k: v for k, v in tb.coords.items() if "channel" not in v.dims}
    out = xr.Dataset(coords=coords)
    for i, (name, (units, long_name, standard)) in enumerate(OUTPUTS.items()):
        da = stats.isel(statistic=i, drop=True).astype(np.float32)
        if name == "rain_probability":
            da = da.clip(0.0, 1.0)
        out[name] = cf(da.assign_coords(coords), units, f"{long_name} ({method}, {radiometer.name.upper()})",
                       standard_name=standard)
    out.attrs.update({k: v for k, v in tb.attrs.items() if k == "history"})
    out = georeference(out, like=tb)  # a grid's CRS and CF x/y attributes; a swath keeps its CRS only
    return stamp(out, f"rain.retrieve[{method}]", made_from=[tb], checkpoint_sha256=checkpoint_sha256,
                 sensor=radiometer.name, **params)


@declare_units(tb="K", tpw="kg m-2")
def retrieve(tb: xr.DataArray, method: str = "bayes", *, sensor: str | Radiometer | None = None, surface=None,
             tpw=None, channels: list[str] | None = None, database=None, k: int = 64,
             model_error: float = bayes.MODEL_ERROR, tpw_error: float = bayes.TPW_ERROR, model=None,
             device: str = "auto") -> xr.Dataset:
    """Surface rain rate, its standard deviation and the probability of rain from brightness temperatures.

    Parameters
    ----------
    tb : DataArray
        Brightness temperatures (K) on two spatial dims and ``channel`` (with ``frequency``/``polarization``
        coords, or the radiometer's channel names), numpy or dask. Fill values (-9999.9) become NaN.
    method : {"bayes", "unet"}
        ``"bayes"``: posterior over an a-priori database (:mod:`eoxr.rain.bayes`); ``"unet"``: the network
        of :mod:`eoxr.rain.learned`, which uses the swath's spatial context.
    sensor : str, optional
        Radiometer (``"gmi"``, ``"amsr2"``, ...); default the data's ``sensor``/``instrument`` attribute, else GMI.
    surface : DataArray, optional
        Surface type codes (0 ocean, 1 land, 2 coast, 3 snow) on the same pixels; default
        :func:`surface_from_tb`.
    tpw : DataArray, optional
        Total precipitable water (kg m-2) on the same pixels: the Bayesian retrieval weights entries of other
        moisture regimes down (``tpw_error``, kg m-2).
    channels : list of str, optional
        Bayesian retrieval: the channels to use (default all of the radiometer's).
    database : Database or path, optional
        Bayesian retrieval: the a-priori database (default: the sensor's, built and cached on first use).
    k, model_error, tpw_error : int, float, float
        Bayesian retrieval: candidates per pixel, the model error (K) added to each channel's NEdT, and the
        error (kg m-2) of ``tpw``.
    model : path or registry name, optional
        U-Net retrieval: the checkpoint (default: the shipped ``rain-unet-<sensor>``).
    device : str
        U-Net retrieval: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    Dataset
        ``rain_rate``, ``rain_rate_std`` (mm h-1) and ``rain_probability`` (1) on the input's pixels, with its
        coordinates (latitude/longitude of a swath, the CRS of a grid); lazy for dask input.

    Examples
    --------
    A small synthetic GMI swath, retrieved by a database of one other scene:

    >>> import eoxr
    >>> from eoxr.rain import bayes, synth
    >>> swath = synth.scene(3, scans=8, pixels=32)
    >>> db = bayes.build("gmi", seeds=[500], scans=16)
    >>> out = swath.rain.retrieve(method="bayes", database=db, surface=swath["surface_type"])
    >>> sorted(out.data_vars), out["rain_rate"].dims
    (['rain_probability', 'rain_rate', 'rain_rate_std'], ('along_track', 'cross_track'))
    >>> out["rain_rate"].attrs["units"], bool((out["rain_probability"] <= 1).all())
    ('mm h-1', True)
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {METHODS}, not {method!r}")
    radiometer = _radiometer(tb, sensor)
    space = _spatial_dims(tb)
    tb = _physical(_channels(tb, radiometer, channels if method == "bayes" else None).transpose(*space, "channel"))
    surface = _ancillary(surface, tb, space, "surface")
    surface = surface_from_tb(tb) if surface is None else surface
    tpw = _ancillary(tpw, tb, space, "tpw")
    if method == "bayes":
        stats = _bayes(tb, surface.astype(np.int8), tpw, database, radiometer, k=k, model_error=model_error,
                       tpw_error=tpw_error)
        return _result(stats, tb, method, radiometer, k=k, model_error=model_error, tpw=tpw is not None)
    from ..ml.checkpoint import sha256
    from .learned import predict, resolve_model

    stats = predict(tb, surface.astype(np.int8), radiometer, model=model, device=device)
    return _result(stats, tb, method, radiometer, checkpoint_sha256=sha256(resolve_model(model, radiometer)),
                   model=str(model) if model is not None else None)
