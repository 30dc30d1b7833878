"""The largest output :func:`eoxr.io.load` builds, checked from the grid before any array or task exists.

A resolution given in the wrong unit (``resolution=0.01`` on 10 m data) describes petabytes: dask would spend
minutes and gigabytes making millions of tasks before anything failed. The limit is the dask config setting
``eoxr.io.max-output-bytes`` (default ``"1 TiB"``; bytes or a string such as ``"200 GiB"``), set with
``dask.config.set({"eoxr.io.max-output-bytes": "8 TiB"})``, in ``~/.config/dask/eoxr.yaml`` or with the
environment variable ``DASK_EOXR__IO__MAX_OUTPUT_BYTES``.
"""
from __future__ import annotations

import math

import dask.config
import numpy as np
from dask.utils import format_bytes, parse_bytes

from ..errors import ParameterError

SETTING = "eoxr.io.max-output-bytes"
DEFAULT_MAX_OUTPUT_BYTES = "1 TiB"
# Defaults only fill keys that YAML files and DASK_EOXR__* environment variables left unset.
dask.config.update_defaults({"eoxr": {"io": {"max-output-bytes": DEFAULT_MAX_OUTPUT_BYTES}}})


def max_output_bytes() -> int:
    """The configured limit in bytes."""
    value = dask.config.get(SETTING)
    try:
        limit = parse_bytes(value) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        limit = -1
    if limit <= 0:
        raise ParameterError(f"{SETTING} = {value!r} is not a size; set a positive number of bytes or a string such "
                             f"as '500 GiB' (default {DEFAULT_MAX_OUTPUT_BYTES!r}).")
    return limit


def check_output_size(n_times: int, names, bounds, res: float, crs, dtype, chunks, native: float | None) -> None:
    """Refuse an output of more than :func:`max_output_bytes`, naming its size, the setting and the fixes."""
    nx, ny = round((bounds[2] - bounds[0]) / res), round((bounds[3] - bounds[1]) / res)
    nbytes = n_times * len(names) * ny * nx * np.dtype(dtype).itemsize
    limit = max_output_bytes()
    if nbytes <= limit:
        return
    tasks = len(names) * math.ceil(n_times / chunks["time"]) * math.ceil(ny / chunks["y"]) * math.ceil(nx / chunks["x"])
    finer = ""
    if native is not None and res < native / 1.5:
        finer = (f" resolution={res:g} is {native / res:,.0f}x finer than the items' native {native:g} "
                 f"({crs.to_string()} units): pass resolution={native:g} or coarser.")
    raise ParameterError(
        f"load would build {format_bytes(nbytes)} ({n_times} time steps x {len(names)} bands x {ny} x {nx} pixels "
        f"of {np.dtype(dtype).name} at resolution={res:g} in {crs.to_string()}, {tasks} chunks), more than "
        f"{SETTING} = {format_bytes(limit)}.{finer} Otherwise pass a smaller bbox=, fewer items or bands, or "
        f"raise the limit if you mean it: dask.config.set({{'{SETTING}': "
        f"'{format_bytes(2 ** math.ceil(math.log2(nbytes)))}'}})."
    )
