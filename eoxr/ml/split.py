"""Train/validation splits without leakage: by blocks of space or of time.

Neighbouring pixels and consecutive days are correlated, so random pixel or patch splits overstate skill;
holding out whole blocks follows Roberts et al. (2017) Cross-validation strategies for data with temporal,
spatial, hierarchical, or phylogenetic structure, Ecography 40, 913-929, doi:10.1111/ecog.02881.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import MissingVariableError, NoDataError, ParameterError
from .patches import SPACE, Patches, _as_dims, _integral, _window_counts


def _pick(n_blocks: int, fraction: float, seed: int) -> np.ndarray:
    if not 0.0 < fraction < 1.0:
        raise ParameterError(f"fraction is the share of blocks held out for validation, in (0, 1), not {fraction}; "
                             "e.g. fraction=0.2")
    if n_blocks < 2:
        raise NoDataError(f"only {n_blocks} block to split; pass a smaller block= or use more data")
    n_val = min(max(1, int(round(fraction * n_blocks))), n_blocks - 1)
    return np.sort(np.random.default_rng(seed).choice(n_blocks, size=n_val, replace=False))


def space_blocks(shape: tuple[int, int], block: dict[str, int], fraction: float, seed: int) -> np.ndarray:
    """``(ny, nx)`` bool map, True on the validation blocks (a random ``fraction`` of ``block``-sized tiles)."""
    ny, nx = -(-shape[0] // block["y"]), -(-shape[1] // block["x"])
    val = np.zeros(ny * nx, bool)
    val[_pick(ny * nx, fraction, seed)] = True
    tiles = val.reshape(ny, nx)
    return np.repeat(np.repeat(tiles, block["y"], axis=0), block["x"], axis=1)[: shape[0], : shape[1]]


def time_blocks(n: int, block: int, fraction: float, seed: int) -> np.ndarray:
    """``(n,)`` bool, True on the validation time steps (random runs of ``block`` consecutive steps)."""
    nb = -(-n // block)
    val = np.zeros(nb, bool)
    val[_pick(nb, fraction, seed)] = True
    return np.repeat(val, block)[:n]


def split(data, by: str = "space", fraction: float = 0.2, seed: int = 0, block=None):
    """Split a :class:`Patches` generator or a Dataset into ``(train, val)`` with no shared pixel.

    ``by="space"``: the grid is cut into ``block``-sized tiles (default: the patch size; for a Dataset,
    a 4 x 4 layout), a random ``fraction`` of the tiles (drawn by ``seed``) is held out. A patch is
    validation when it lies wholly in held-out tiles, training when it touches none, and dropped when it
    straddles both, so no training patch sees a validation pixel even with overlapping strides.
    ``by="time"``: runs of ``block`` consecutive time steps (default 1) are held out.

    For a Dataset, ``by="time"`` returns two ``isel`` views; ``by="space"`` returns two lazy copies in which
    the other part's pixels are NaN (``patches(..., mask="valid")`` then never serves them).
    """
    if by not in ("space", "time"):
        raise ParameterError(f"by must be 'space' or 'time', not {by!r}: hold out blocks of pixels (by='space') or "
                             "runs of time steps (by='time')")
    if isinstance(data, Patches):
        return _split_patches(data, by, fraction, seed, block)
    if isinstance(data, xr.DataArray):
        data = data.to_dataset()
    if not isinstance(data, xr.Dataset):
        raise ParameterError(f"split takes eoxr.ml.Patches or an xarray Dataset, not {type(data).__name__}; build "
                             "patches with ml.patches(ds, inputs=[...], target='name')")
    return _split_dataset(data, by, fraction, seed, block)


def _split_patches(gen: Patches, by, fraction, seed, block):
    starts = gen.starts
    if by == "time":
        if not gen.sample_dims:
            raise MissingVariableError("split by='time' needs a 'time' dimension; the data have none: use by='space'")
        n = gen.dataset.sizes[gen.sample_dims[0]]
        val_t = time_blocks(n, int(block or 1), fraction, seed)
        is_val = val_t[starts[:, 0]]
        train, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    else:
        block = _as_dims(block, "block") if block is not None else gen.size
        shape = (gen.dataset.sizes["y"], gen.dataset.sizes["x"])
        region = space_blocks(shape, block, fraction, seed)
        ii = _integral(region[None])
        h, w = gen.size["y"], gen.size["x"]
        counts = _window_counts(ii, np.zeros(len(starts), int), starts[:, 1], starts[:, 2], h, w)
        train, val = np.flatnonzero(counts == 0), np.flatnonzero(counts == h * w)
    if len(train) == 0 or len(val) == 0:
        raise NoDataError(
            f"split by {by!r} left {len(train)} training and {len(val)} validation patches; use a larger "
            "block=, another fraction=, or more data"
        )
    return gen.subset(train, "train"), gen.subset(val, "val")


def _split_dataset(ds: xr.Dataset, by, fraction, seed, block):
    if by == "time":
        if "time" not in ds.dims:
            raise MissingVariableError("split by='time' needs a 'time' dimension; the data have none: use by='space'")
        val_t = time_blocks(ds.sizes["time"], int(block or 1), fraction, seed)
        return ds.isel(time=np.flatnonzero(~val_t)), ds.isel(time=np.flatnonzero(val_t))
    if block is None:
        block = {d: -(-ds.sizes[d] // 4) for d in SPACE}
    region = xr.DataArray(space_blocks((ds.sizes["y"], ds.sizes["x"]), _as_dims(block, "block"), fraction, seed),
                          dims=SPACE)

    def keep(part):
        out = ds.copy()
        for name, da in ds.data_vars.items():
            if set(SPACE) <= set(da.dims) and np.issubdtype(da.dtype, np.floating):
                out[name] = da.where(part).transpose(*da.dims).assign_attrs(da.attrs)
        return out

    return keep(~region), keep(region)
