"""The weighted neighbourhood window of a pixel, in which the urban inversion compares model and data.

For a sensor pixel p the unknowns are the properties of the elements seen in the window x window pixels around
it; the window's pixels are weighted by exp(-d^2 / (2 (window/2)^2)) (d in pixels), which regularises across
neighbours: a property varies from pixel to pixel only as much as the windows differ.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def window_weights(window: int) -> np.ndarray:
    """The weights (window^2,) of a window's pixels, row by row (see module doc)."""
    h = window // 2
    d2 = (np.arange(window) - h)[:, None] ** 2 + (np.arange(window) - h)[None, :] ** 2
    return np.exp(-d2 / (2 * max(window / 2, 1.0) ** 2)).ravel()


def windows(arr: np.ndarray, window: int) -> np.ndarray:
    """(C, Y, X) with a halo of window//2 -> (P, K, C) for the P interior pixels and K = window^2 offsets."""
    w = sliding_window_view(arr, (window, window), axis=(-2, -1))  # (C, Py, Px, win, win)
    c = arr.shape[0]
    return np.moveaxis(w.reshape(c, -1, window * window), 0, -1)


def weighted_windows(fields: np.ndarray, sw: np.ndarray, window: int) -> np.ndarray:
    """``fields`` (G, Y + 2h, X + 2h, C) -> sw * windows (G, P, K, C) in one pass (no unweighted copy).

    ``sw`` (G, P, K) weights each window offset; P and K are ordered as by :func:`windows`."""
    G, _, _, C = fields.shape
    v = np.moveaxis(sliding_window_view(fields, (window, window), axis=(1, 2)), 3, -1)  # (G, Py, Px, w, w, C)
    out = np.multiply(v, sw.reshape(v.shape[:-1] + (1,)), order="C")  # C order: the reshape below is a view
    return out.reshape(G, -1, window * window, C)
