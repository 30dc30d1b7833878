"""Scene-level values of the element properties: the first of two passes of the urban inversion.

A single window rarely pins down an element it barely sees, nor separates the sunlit and shaded temperatures of
an element that its pixels mix in similar proportions, while the scene's many windows, each with other
proportions, do. A first pass inverts every window and pools what each retrieves into one value per element (and
band, or part) for the whole scene, weighted by its posterior precision (:func:`scene_sums`, additive over the
chunks of an image, so each chunk's task returns one small vector; :func:`scene_means` turns their total into
values and standard errors); the second pass draws every window toward them.

Empirical Bayes (Robbins 1956; Efron & Morris 1975, JASA 70(350), 311-319).
"""
from __future__ import annotations

from functools import partial

import numpy as np

from ..arrays import namespace
from .tiles import stack_run


def scene_sums(values, std, std_floor: float = 0.0, prior_std=None) -> np.ndarray:
    """The sums behind the scene-level value of each channel of ``values`` (n, Y, X), additive over the chunks of
    an image (:func:`scene_means` turns their total into values): the posterior precision-weighted sum of the
    values (1 / ``std``^2, std floored at ``std_floor``) and the sum of the weights, (2n,). With ``prior_std``
    (n,), the spread of the prior the values were drawn with, also the sum of the precisions less the prior's,
    what the data alone say, (3n,): a window that barely sees an element returns about its prior, and many such
    windows must not count as evidence."""
    ok = np.isfinite(values) & np.isfinite(std)
    w = np.where(ok, 1.0 / np.maximum(np.where(ok, std, 1.0), max(std_floor, 1e-12)) ** 2, 0.0)
    out = [(w * np.where(ok, values, 0.0)).sum(axis=(1, 2)), w.sum(axis=(1, 2))]
    if prior_std is not None:
        p0 = 1 / np.asarray(prior_std, dtype=float).reshape(-1, 1, 1) ** 2
        out.append(np.where(ok, np.maximum(w - p0, 0.0), 0.0).sum(axis=(1, 2)))
    return np.concatenate(out)


def scene_means(sums, window: int, xp=np, prior_std=None):
    """Scene-level value of each of n channels and its standard error, (2n,): from the image's total of
    :func:`scene_sums`, the precision-weighted mean; NaN for channels with no finite value. Overlapping windows
    share their pixels: about window^2 of them make one independent estimate, which sets the standard error.
    With ``prior_std`` (n,), as given to :func:`scene_sums`: the standard error from the data's precision and
    the prior's.
    """
    n = sums.shape[0] // (2 if prior_std is None else 3)
    num, den = sums[:n], sums[n:2 * n]
    known = den > 0
    mean = xp.where(known, num / xp.where(known, den, 1.0), np.nan)
    if prior_std is None:
        se = xp.where(known, xp.sqrt(window**2 / xp.where(known, den, 1.0)), np.nan)
    else:
        se = 1 / xp.sqrt(sums[2 * n:] / window**2 + 1 / np.asarray(prior_std, dtype=float) ** 2)
    return xp.concatenate([mean, se])


def _scene_sums_of(block, func, values: slice, stds: slice, std_floor: float, prior_std=None) -> np.ndarray:
    """A first pass's chunk task: ``func`` on the block, then :func:`scene_sums` of its ``values`` channels."""
    out = func(block)
    return scene_sums(out[values], out[stds], std_floor, prior_std)


def scene_values(y, parts, func, values: slice, stds: slice, std_floor: float, prior_std, window: int, lazy: bool):
    """The first pass: ``func`` (a chunk's inversion, outputs (channels, Y, X)) over the image ``y`` and its
    ``parts`` (see :func:`.tiles.stack_run`), its ``values`` channels pooled with the precision of its ``stds``
    channels (:func:`scene_sums`) into the scene-level value of each and its standard error (:func:`scene_means`,
    (2n,); a Dask array of one chunk when ``lazy``)."""
    first = partial(_scene_sums_of, func=func, values=values, stds=stds, std_floor=std_floor, prior_std=prior_std)
    n = values.stop - values.start
    sums = stack_run(y, parts, first, 3 * n, window // 2, lazy, reduce=True)
    return scene_means(sums, window, namespace(sums), prior_std)
