"""Kalman filter and Rauch-Tung-Striebel smoother of a random walk, for every pixel of a block at once.

The state of one pixel (one band) is a random walk on the pivot's time axis: ``x[t+1] = x[t] + w``, ``w ~ N(0, q)``
per step; an observation is ``y[t] = x[t] + v``, ``v ~ N(0, r[t])`` (NaN: no observation). The forward filter
(Kalman 1960, doi:10.1115/1.3662552) and the backward smoother (Rauch, Tung and Striebel 1965,
doi:10.2514/3.3166) give the posterior mean and variance of ``x`` on every step given all observations.

Between two observations the smoothed mean of a random walk is the straight line between the smoothed values at
the observations (a Brownian bridge), so a series linear in time is reproduced exactly where it is observed
without noise; the variance grows by ``q`` per step away from the nearest observation. The loop runs over time
only; every pixel of the block is one element of a numpy vector.
"""
from __future__ import annotations

import numpy as np


def smooth(y: np.ndarray, r: np.ndarray, q, prior_mean=0.0, prior_var=1e2) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of a random walk observed with noise, for every series of a block.

    Parameters
    ----------
    y : numpy.ndarray
        Observations shaped (..., time); NaN where there is none.
    r : numpy.ndarray
        Observation variances, broadcastable to ``y`` (ignored where ``y`` is NaN; 0: exact observations).
    q : float or numpy.ndarray
        Process variance per step (broadcastable to ``y[..., 0]``).
    prior_mean, prior_var : float or numpy.ndarray
        Mean and variance of the state before the first step (a large variance: the first observation decides).

    Returns
    -------
    mean, var : numpy.ndarray
        Smoothed mean and variance of the state, shaped as ``y`` (float64).
    """
    y = np.asarray(y, dtype="f8")
    r = np.broadcast_to(np.asarray(r, dtype="f8"), y.shape)
    q = np.broadcast_to(np.asarray(q, dtype="f8"), y.shape[:-1])
    m_filt, p_filt = np.empty_like(y), np.empty_like(y)
    m = np.broadcast_to(np.asarray(prior_mean, dtype="f8"), y.shape[:-1]).copy()
    p = np.broadcast_to(np.asarray(prior_var, dtype="f8"), y.shape[:-1]).copy()
    for t in range(y.shape[-1]):
        if t:
            p = p + q
        seen = np.isfinite(y[..., t])
        gain = np.where(seen, p / np.where(seen, p + r[..., t], 1.0), 0.0)
        m = m + gain * np.where(seen, y[..., t] - m, 0.0)
        p = (1.0 - gain) * p
        m_filt[..., t], p_filt[..., t] = m, p
    return _rts(m_filt, p_filt, q)


def smooth_observed(y: np.ndarray, r, q) -> tuple[np.ndarray, np.ndarray]:
    """:func:`smooth` with a diffuse prior, NaN for the series that hold no observation."""
    mean, var = smooth(y, r, q)
    seen = np.isfinite(y).any(axis=-1, keepdims=True)
    return np.where(seen, mean, np.nan), np.where(seen, var, np.nan)


def _rts(m_filt: np.ndarray, p_filt: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The backward (RTS) pass over filtered means and variances of a random walk."""
    mean, var = m_filt.copy(), p_filt.copy()
    for t in range(m_filt.shape[-1] - 2, -1, -1):
        p_pred = p_filt[..., t] + q
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(p_pred > 0, p_filt[..., t] / p_pred, 0.0)
        mean[..., t] = m_filt[..., t] + c * (mean[..., t + 1] - m_filt[..., t])
        var[..., t] = p_filt[..., t] + c * c * (var[..., t + 1] - p_pred)
    return mean, np.maximum(var, 0.0)


def days_since(seen: np.ndarray, step_days: float = 1.0) -> np.ndarray:
    """Days since the last True of ``seen`` along the last axis (NaN before the first one)."""
    steps = np.arange(seen.shape[-1], dtype="f8")
    last = np.where(seen, steps, np.nan)
    last = np.fmax.accumulate(last, axis=-1)
    return (steps - last) * step_days
