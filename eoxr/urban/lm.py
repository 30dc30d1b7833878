"""Batched, bounded Levenberg-Marquardt with a Gaussian prior: many small least-squares problems at once.

For every problem p (a pixel and its window) minimise

    C(x) = |r(x)|^2 + sum_i (x_i - m_i)^2 / s_i^2,     r = W^(1/2) (y - f(x))   (W = inverse noise variance)

with steps (H + lambda diag H) dx = J^T r - P (x - m), H = J^T J + P, P = diag(1/s^2), projected onto the box
[lo, hi] (Marquardt 1963, J. SIAM 11(2), 431-441). lambda shrinks by 3 after an accepted step and grows by 4
after a rejected one; unknowns on a bound that the step would push outward are held there. A problem stops
when a lightly damped step (lambda < 1) moves no unknown by more than ``tol`` or by more than ``std_tol`` times
its conditional standard deviation H_ii^-1/2 (a lower bound of its posterior one: further iterations would move
the estimate by a small fraction of its uncertainty, as in the convergence test of optimal estimation, Rodgers
2000, Inverse Methods for Atmospheric Sounding, sec. 5.6); a step that small is taken without evaluating the
model again, as it changes the cost at second order only. A problem also stops when an accepted step leaves its
cost unchanged, or when a rejected step changes the cost by no more than round-off (1e-10 relative). The cost,
residual and posterior covariance H^-1 are those of the last evaluated point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LMResult:
    x: np.ndarray  # (P, n)
    std: np.ndarray  # (P, n) posterior standard deviations
    cost: np.ndarray  # (P,)
    iterations: np.ndarray  # (P,) accepted + rejected steps taken
    converged: np.ndarray  # (P,) bool
    rss: np.ndarray  # (P,) |r|^2, the weighted residual sum of squares, without the prior
    cov: np.ndarray | None = None  # (P, n, n) posterior covariance, when asked for


def _solve(h, g):
    try:
        return np.linalg.solve(h, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return (np.linalg.pinv(h) @ g[..., None])[..., 0]


def levenberg_marquardt(fun, x0, lo, hi, prior_mean, prior_prec, max_iter=10, tol=1e-6, std_tol=0.0, lam0=1e-3,
                        full_cov: bool = False) -> LMResult:
    """``fun(x, idx) -> (r (len(idx), m), J (len(idx), m, n))`` with r the weighted residual and J = W^(1/2) df/dx.

    ``lo, hi, tol`` broadcast to (n,) or (P, n); ``prior_mean``/``prior_prec`` (P, n). ``full_cov``: also return
    the posterior covariance (for the spread of sums of unknowns).
    """
    x = np.clip(np.array(x0, dtype=float), lo, hi)
    P, n = x.shape
    lo = np.broadcast_to(lo, x.shape)
    hi = np.broadcast_to(hi, x.shape)
    tol = np.broadcast_to(np.asarray(tol, dtype=float), x.shape)
    allidx = np.arange(P)
    r, J = fun(x, allidx)

    def cost_of(r_, x_, idx):
        d = x_ - prior_mean[idx]
        return (r_**2).sum(-1) + (prior_prec[idx] * d * d).sum(-1)

    cost = cost_of(r, x, allidx)
    lam = np.full(P, lam0)
    iters = np.zeros(P, dtype=np.int32)
    done = np.zeros(P, dtype=bool)
    diag_n = np.arange(n)
    for _ in range(max_iter):
        idx = np.flatnonzero(~done)
        if idx.size == 0:
            break
        Ji, ri, xi = J[idx], r[idx], x[idx]
        pp = prior_prec[idx]
        # a contiguous left operand: numpy's stacked matmul is 2-3x faster on it than on a transposed view
        Jt = np.ascontiguousarray(Ji.transpose(0, 2, 1))
        h = (Jt @ Ji).astype(float, copy=False)  # J may come in single precision; the solve is in double
        h[:, diag_n, diag_n] += pp
        g = (Jt @ ri.astype(J.dtype, copy=False)[..., None])[..., 0] - pp * (xi - prior_mean[idx])
        # unknowns on a bound that the step would push outward stay there (projected step)
        held = ((xi <= lo[idx]) & (g < 0)) | ((xi >= hi[idx]) & (g > 0))
        hd = h.copy()
        hd[:, diag_n, diag_n] *= 1 + lam[idx, None]
        if held.any():
            free = ~held
            hd *= free[:, :, None] & free[:, None, :]
            hd[:, diag_n, diag_n] = np.where(held, 1.0, hd[:, diag_n, diag_n])
            g = np.where(held, 0.0, g)
        dx = _solve(hd, g)
        xn = np.clip(xi + dx, lo[idx], hi[idx])
        iters[idx] += 1
        # a lightly damped step that moves nothing by more than tol (or std_tol stds) ends the problem, unevaluated
        step = np.abs(xn - xi)
        limit = np.maximum(tol[idx], std_tol / np.sqrt(h[:, diag_n, diag_n])) if std_tol > 0 else tol[idx]
        last = np.all(step <= limit, axis=1) & (lam[idx] < 1.0)
        x[idx[last]] = xn[last]
        done[idx[last]] = True
        idx, xi, xn = idx[~last], xi[~last], xn[~last]
        if idx.size == 0:
            break
        rn, Jn = fun(xn, idx)
        cn = cost_of(rn, xn, idx)
        ok = np.isfinite(cn) & (cn <= cost[idx])
        flat = np.abs(cost[idx] - cn) <= 1e-12 * np.maximum(cost[idx], 1e-300)
        acc = idx[ok]
        x[acc], r[acc], J[acc], cost[acc] = xn[ok], rn[ok], Jn[ok], cn[ok]
        lam[acc] = np.maximum(lam[acc] / 3, 1e-12)
        rej = idx[~ok]
        lam[rej] = lam[rej] * 4
        # a rejected step that changes the cost only at round-off level means the minimum is reached: stop
        # there instead of inflating lambda until it overflows
        stuck = ~ok & np.isfinite(cn) & (np.abs(cost[idx] - cn) <= 1e-10 * np.maximum(cost[idx], 1e-300))
        done[idx[(ok & flat) | stuck | (lam[idx] > 1e10)]] = True
    h = (np.ascontiguousarray(J.transpose(0, 2, 1)) @ J).astype(float, copy=False)
    h[:, diag_n, diag_n] += prior_prec
    try:
        cov = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(h)
    cov_diag = cov[:, diag_n, diag_n]
    return LMResult(x, np.sqrt(np.maximum(cov_diag, 0)), cost, iters, done, (r**2).sum(-1),
                    cov if full_cov else None)
