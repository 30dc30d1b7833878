"""The urban solvers' residuals and Jacobians in torch, solved by :mod:`.lm_torch` on the device that holds them.

The same products as the numpy solvers, in the same precisions: the reflective windows' weighted quadratic model
(:class:`.reflective.WeightedQuadratic`: bounce couplings and Jacobian in float32, residual in float64) and the
thermal model of every window's parts (:class:`.thermal._ThermalProblem`, :func:`.forward.thermal_model`, float64).
The windows are cut on the device from the per-pixel fields (window^2 times smaller than their windows), so that
what crosses to a GPU is those fields and the results.
"""
from __future__ import annotations

import numpy as np
import torch

from .lm_torch import rows_of, levenberg_marquardt
from .sensors import C1, C2


def weighted_windows(fields, sw, window: int):
    """:func:`.windows.weighted_windows` of tensors: ``fields`` (G, Y + 2h, X + 2h, C) -> sw * windows (G, P, K,
    C), P and K in the same order."""
    G, _, _, C = fields.shape
    v = fields.unfold(1, window, 1).unfold(2, window, 1).permute(0, 1, 2, 4, 5, 3)  # (G, Py, Px, w, w, C)
    return (v * sw.reshape(v.shape[:-1] + (1,))).reshape(G, -1, window * window, C)


class WeightedQuadratic:
    """:class:`.reflective.WeightedQuadratic` of weighted tensors ``A`` (P, K, ne), ``Q`` (P, K, ne, ne) and
    ``y`` (P, K) = radiance - L_p: residuals sw (y - L_p - (A + Q rho / 2).rho) in float64 and the Jacobian
    sw (A + Q rho) in Q's precision."""

    def __init__(self, A, Q, y):
        self.A, self.Q, self.y = A, Q, y
        self.AJ = A.to(Q.dtype)

    def __call__(self, x, idx=None):
        A, AJ, Q, y = (rows_of(v, idx) for v in (self.A, self.AJ, self.Q, self.y))
        P, K, ne = A.shape
        # products as a row vector times a matrix: on the CPU torch's batched matrix times a column is many times
        # slower
        qr = (x.to(Q.dtype)[:, None, :] @ Q.reshape(P, K * ne, ne).transpose(1, 2)).reshape(P, K, ne)
        ym = (x[:, None, :] @ (A + 0.5 * qr).transpose(1, 2))[:, 0]  # (A + Q rho / 2).rho
        return y - ym, AJ + qr


def solve_reflective_windows(a_fields, q_fields, sw, yl, prior_mean, prior_prec, bounds, *, window: int,
                             device: str, **lm_kwargs):
    """The reflective windows of a block solved on ``device``: per-pixel fields ``a_fields`` (G, Y + 2h, X + 2h,
    ne) of A and ``q_fields`` (..., ne * ne) of Q, their windows weighted by ``sw`` (G, P, K); ``yl`` (G * P, K)
    the weighted radiance less the path radiance; the prior (G * P, ne) (see
    :func:`.reflective.invert_reflective_block`). The :class:`.lm.LMResult` in numpy arrays."""
    G, P, K = sw.shape
    ne = a_fields.shape[-1]

    def on_device(v):
        return torch.as_tensor(np.ascontiguousarray(v), device=device)

    A = weighted_windows(on_device(a_fields), on_device(sw), window).reshape(G * P, K, ne)
    Q = weighted_windows(on_device(q_fields), on_device(sw.astype(q_fields.dtype)), window).reshape(G * P, K, ne, ne)
    return levenberg_marquardt(WeightedQuadratic(A, Q, on_device(yl)), prior_mean, *bounds, prior_mean, prior_prec,
                               device=device, **lm_kwargs)


def band_planck(lam, weights, temp):
    """Band-effective Planck radiance and dB/dT (:func:`.sensors.band_planck`) of every band, sampled at ``lam``
    (nbt, N) um with SRF ``weights`` (nbt, N), at ``temp`` (..., ne) K: (..., nbt, ne) each."""
    lam, weights = lam[:, None, :], weights[:, None, :]
    t = temp[..., None, :, None]
    x = C2 / (lam * t)
    em1 = torch.expm1(x)
    lam5 = lam**5
    b = (C1 / (lam5 * em1) * weights).sum(-1)
    db = (C1 / lam5 * torch.exp(x) / em1**2 * x / t * weights).sum(-1)
    return b, db


def thermal_model(temp, eps, a, s, c, planck, terms):
    """:func:`.forward.thermal_model` of tensors: ``planck(temp)`` -> (B, dB/dT) (..., nbt, ne), ``terms``
    (tau, L_sky, L_up) (nbt,) each."""
    B, dB = planck(temp)
    tau, lsky, lup = terms
    emit = eps * B
    one_m = 1 - eps
    env = torch.einsum("...kef,...bf->...bke", c, emit)  # sum_f c_kef eps_f B_f
    y = lup[:, None] + tau[:, None] * (
        torch.einsum("...ke,...be->...bk", a, emit) + lsky[:, None] * torch.einsum("...ke,...be->...bk", s, one_m)
        + torch.einsum("...bke,...be->...bk", env, one_m))
    back = torch.einsum("...kef,...be->...bkf", c, one_m)  # sum_e c_kef (1 - eps_e)
    d_emit = a[..., None, :, :] + back  # dy / d(eps_f B_f)
    t3 = tau[:, None, None]
    dT = t3 * d_emit * (eps * dB)[..., :, None, :]
    deps = t3 * (d_emit * B[..., :, None, :] - lsky[:, None, None] * s[..., None, :, :] - env)
    return y, dT, deps


class ThermalProblem:
    """:class:`.thermal._ThermalProblem` ``problem`` (its windows, weights and prior rows) on ``device``."""

    def __init__(self, problem, device: str):
        def on_device(v):
            return torch.as_tensor(np.asarray(v), device=device)

        w = problem.w
        self.a, self.s, self.c, self.yb = (on_device(v) for v in (w.a, w.s, w.c, w.yb))
        self.sw, self.onehot, self.eye, self.diff = (on_device(v) for v in (problem.sw, problem.onehot, problem.eye,
                                                                               problem.diff))
        self.both = on_device(problem.both.astype(float))
        self.sub2el = on_device(problem.sub2el)
        self.nbt, self.ns, self.ne, self.ia, self.nk = problem.nbt, problem.ns, problem.ne, problem.ia, problem.nk
        self.eye_k = torch.eye(self.a.shape[1], dtype=torch.float64, device=device)
        self.contrast_std = problem.contrast_std
        srf = [b.wavelengths() for b in problem.bands]
        lam, weights = (on_device(np.stack(v)) for v in zip(*srf))
        self.planck = lambda t: band_planck(lam, weights, t)
        self.terms = tuple(on_device(problem.terms[k]) for k in ("tau", "L_sky", "L_up"))

    def model(self, x, idx):
        """Radiances (p, nbt, K) and their derivatives by the temperatures and the element emissivities."""
        ns, nbt, ne, ia = self.ns, self.nbt, self.ne, self.ia
        a, s, c = (rows_of(v, idx) for v in (self.a, self.s, self.c))
        temp, eps = x[:, :ns], x[:, ns:ia].reshape(-1, nbt, ne)
        if not self.nk:
            ym, dT, deps_sub = thermal_model(temp, eps[..., self.sub2el], a, s, c, self.planck, self.terms)
            return ym, dT, deps_sub @ self.onehot  # emissivity shared by the sunlit and shaded parts
        # each window pixel its own temperatures T_s + d_k: the model over (p, K) with one pixel each
        tk = temp[:, None, :] + x[:, ia:, None]
        ym, dT, deps_sub = thermal_model(tk, eps[:, None][..., self.sub2el], a[:, :, None], s[:, :, None],
                                         c[:, :, None], self.planck, self.terms)
        return ym[..., 0].swapaxes(1, 2), dT[..., 0, :].swapaxes(1, 2), \
            deps_sub[..., 0, :].swapaxes(1, 2) @ self.onehot

    def __call__(self, x, idx=None):
        ym, dT, deps = self.model(x, idx)
        nbt, K, p = self.nbt, self.a.shape[1], x.shape[0]
        sw = rows_of(self.sw, idx)
        r = (sw * (rows_of(self.yb, idx) - ym)).reshape(p, -1)
        swi = sw[..., None]
        jt = (swi * dT).reshape(p, nbt * K, self.ns)
        je = (swi * deps)[:, :, :, None, :] * self.eye[None, :, None, :, None]  # (p, nbt, K, nbt, ne)
        J = [jt, je.reshape(p, nbt * K, nbt * self.ne)]
        if self.nk:  # d_k moves every part of pixel k
            J.append(((swi[..., 0] * dT.sum(-1))[..., None] * self.eye_k).reshape(p, nbt * K, K))
        J = torch.cat(J, -1)
        if self.contrast_std:
            cw = rows_of(self.both, idx) / self.contrast_std  # (p, ne)
            r = torch.cat([r, -cw * (x @ self.diff.T)], -1)
            J = torch.cat([J, cw[..., None] * self.diff[None]], 1)
        return r, J


def solve_thermal_windows(problem, x0, lo, hi, prior_prec, *, device: str, **lm_kwargs):
    """The thermal windows of ``problem`` (:class:`.thermal._ThermalProblem`) solved on ``device`` from ``x0``,
    which is also the prior mean. The :class:`.lm.LMResult` in numpy arrays."""
    return levenberg_marquardt(ThermalProblem(problem, device), x0, lo, hi, x0, prior_prec, device=device,
                               **lm_kwargs)
