"""Quicklook PNGs: maps with colorbars, titles from ``long_name`` and ``units``."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import ParameterError


def _figure(n: int, ncols: int):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def label(da: xr.DataArray) -> str:
    name = da.attrs.get("long_name", da.name or "")
    units = da.attrs.get("units")
    text = f"{name} [{units}]" if units else str(name)
    return textwrap.fill(text, 36)  # long CF names would overrun the neighbouring panel


def panels(maps: dict[str, xr.DataArray], path: str | Path, *, ncols: int = 3, cmap: str | dict = "viridis",
           robust: bool = True, title: str | None = None) -> Path:
    """Save one map per entry (2-D DataArrays on y/x), each with its own colorbar labelled with units."""
    fig, axes = _figure(len(maps), ncols)
    for ax, (name, da) in zip(axes, maps.items()):
        da = da.squeeze()
        if da.ndim != 2:
            raise ParameterError(f"panel {name!r} is not 2-D after squeeze: dims {da.dims}; select one "
                                 "map, e.g. da.isel(time=0)")
        cm = cmap.get(name, "viridis") if isinstance(cmap, dict) else cmap
        vals = np.asarray(da.values, dtype=float)
        finite = vals[np.isfinite(vals)]
        vmin, vmax = (np.percentile(finite, [2, 98]) if robust and finite.size else (None, None))
        extent = None
        if "x" in da.dims and "y" in da.dims and da.sizes["x"] > 1 and da.sizes["y"] > 1:
            x, y = da["x"].values, da["y"].values
            extent = [x[0], x[-1], y[-1], y[0]]
        im = ax.imshow(vals, cmap=cm, vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.8, label=label(da))
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.locator_params(nbins=4)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def rgb(ds: xr.Dataset, path: str | Path, bands=("red", "green", "blue"), *, gain: float | None = None,
        title: str | None = None) -> Path:
    """True-colour PNG of a (y, x) reflectance Dataset, stretched to its 2-98 % range (or by ``gain``)."""
    stack = np.stack([np.asarray(ds[b].squeeze().values, dtype=float) for b in bands], axis=-1)
    if gain is None:
        lo, hi = np.nanpercentile(stack, [2, 98])
        stack = (stack - lo) / max(hi - lo, 1e-9)
    else:
        stack = stack * gain
    stack = np.clip(np.nan_to_num(stack, nan=1.0), 0, 1)
    fig, (ax,) = _figure(1, 1)
    ax.imshow(stack)
    ax.set_title(title or "true colour")
    ax.set_axis_off()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
