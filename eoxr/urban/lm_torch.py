"""The batched Levenberg-Marquardt of :mod:`.lm` in torch: the same steps, stops and precisions, on a CPU or a GPU.

Every step, stop and damping rule is that of :func:`.lm.levenberg_marquardt` (see there); the normal equations
are formed in the Jacobian's precision and solved in float64, as there. Two ways of skipping the problems that
have stopped:

- gathered (the CPU's way, as :mod:`.lm`): each iteration takes the rows of the problems still iterating, so a
  problem costs only its own iterations;
- masked (CUDA's way): each iteration runs over all problems and keeps the stopped ones as they were, for all
  ``max_iter`` iterations. Gathering asks the host how many problems still iterate, which stalls the device at
  every step; the masked loop reads nothing back until it ends, and a batch of thousands of problems has some
  still iterating near ``max_iter`` anyway.

A step whose damped normal matrix cannot be factorised (it is positive definite wherever the prior precision is
positive, as in the urban solvers) is rejected as a non-finite one, which raises the damping; :mod:`.lm` takes a
pseudo-inverse step there. The posterior covariance falls back on the pseudo-inverse alike.
"""
from __future__ import annotations

import torch

from .lm import LMResult


def rows_of(t, idx):
    """``t`` (P, ...) itself when ``idx`` is None, else its rows ``idx``."""
    return t if idx is None else t.index_select(0, idx)


def _diag(m):
    return m.diagonal(dim1=-2, dim2=-1)


def _cost(r, x, prior_mean, prior_prec):
    d = x - prior_mean
    return (r**2).sum(-1) + (prior_prec * d * d).sum(-1)


def _normal_equations(J, r, x, prior_mean, prior_prec):
    """H = J^T J + P (float64) and the gradient J^T r - P (x - m) at ``x``: products in J's precision."""
    Jt = J.transpose(1, 2)
    h = (Jt @ J).to(torch.float64)
    _diag(h).add_(prior_prec)
    g = (Jt @ r.to(J.dtype)[..., None])[..., 0].to(torch.float64) - prior_prec * (x - prior_mean)
    return h, g


def _projected_step(h, g, x, lo, hi, lam):
    """The damped step from ``x`` on the box [lo, hi]: unknowns on a bound that it would push outward are held
    there (their rows and columns out of the system)."""
    held = ((x <= lo) & (g < 0)) | ((x >= hi) & (g > 0))
    free = ~held
    hd = h.clone()
    _diag(hd).mul_(1 + lam[:, None])
    hd = hd * (free[:, :, None] & free[:, None, :])
    _diag(hd).copy_(torch.where(held, 1.0, _diag(hd)))
    g = torch.where(held, 0.0, g)
    dx, info = torch.linalg.solve_ex(hd, g[..., None])
    dx = torch.where((info == 0)[:, None], dx[..., 0], torch.nan)  # not factorised: a rejected step
    return torch.clamp(x + dx, lo, hi)


class _State:
    """The iterate of every problem: unknowns, residuals, Jacobians, cost, damping, steps taken, stopped."""

    def __init__(self, fun, x, prior_mean, prior_prec, lam0):
        self.x, self.pm, self.pp = x, prior_mean, prior_prec
        self.r, self.J = fun(x, None)
        self.cost = _cost(self.r, x, prior_mean, prior_prec)
        P = x.shape[0]
        self.lam = torch.full((P,), lam0, dtype=torch.float64, device=x.device)
        self.iters = torch.zeros(P, dtype=torch.int32, device=x.device)
        self.done = torch.zeros(P, dtype=torch.bool, device=x.device)

    def update(self, idx, mask, **values):
        """Rows ``idx`` (None: all) where ``mask`` (None: all of them) take ``values``."""
        for name, v in values.items():
            t = getattr(self, name)
            if idx is None:
                m = mask.reshape(mask.shape + (1,) * (t.ndim - 1))
                setattr(self, name, torch.where(m, v, t))
            else:
                t[idx if mask is None else idx[mask]] = v if mask is None else v[mask]


def _iterate(fun, s: _State, lo, hi, tol, std_tol: float, max_iter: int, masked: bool) -> None:
    """The iterations of :func:`levenberg_marquardt` on the state ``s``, gathered or ``masked`` (module doc)."""
    for _ in range(max_iter):
        if masked:
            idx, act = None, ~s.done
        else:
            idx, act = torch.nonzero(~s.done)[:, 0], None
            if idx.numel() == 0:
                break
        xi, lam, pm, pp = (rows_of(t, idx) for t in (s.x, s.lam, s.pm, s.pp))
        h, g = _normal_equations(rows_of(s.J, idx), rows_of(s.r, idx), xi, pm, pp)
        xn = _projected_step(h, g, xi, rows_of(lo, idx), rows_of(hi, idx), lam)
        s.update(idx, act, iters=rows_of(s.iters, idx) + (1 if act is None else act.to(torch.int32)))
        # a lightly damped step that moves nothing by more than tol (or std_tol stds) ends the problem, unevaluated
        limit = rows_of(tol, idx)
        if std_tol > 0:
            limit = torch.maximum(limit, std_tol / _diag(h).sqrt())
        last = ((xn - xi).abs() <= limit).all(1) & (lam < 1.0)
        if masked:
            last &= act
            s.update(None, last, x=xn, done=last)
            act = act & ~last
        else:
            s.update(idx, last, x=xn, done=torch.ones_like(last))
            keep = ~last
            idx, xn, pm, pp = idx[keep], xn[keep], pm[keep], pp[keep]
            if idx.numel() == 0:
                break
        rn, Jn = fun(xn, idx)
        cn = _cost(rn, xn, pm, pp)
        c0 = rows_of(s.cost, idx)
        ok = torch.isfinite(cn) & (cn <= c0)
        change = (c0 - cn).abs()
        scale = c0.clamp_min(1e-300)
        flat = change <= 1e-12 * scale
        lam = rows_of(s.lam, idx)
        lam = torch.where(ok, (lam / 3).clamp_min(1e-12), lam * 4)
        # a rejected step that changes the cost only at round-off level means the minimum is reached: stop there
        # instead of inflating lambda until it overflows
        stuck = ~ok & torch.isfinite(cn) & (change <= 1e-10 * scale)
        stop = (ok & flat) | stuck | (lam > 1e10)
        acc = ok if act is None else ok & act
        s.update(idx, acc, x=xn, r=rn, J=Jn, cost=cn)
        s.update(idx, act, lam=lam, done=rows_of(s.done, idx) | stop)


def levenberg_marquardt(fun, x0, lo, hi, prior_mean, prior_prec, max_iter=10, tol=1e-6, std_tol=0.0, lam0=1e-3,
                        full_cov: bool = False, *, device="cpu", masked: bool | None = None) -> LMResult:
    """:func:`.lm.levenberg_marquardt` on ``device``: ``fun(x, idx) -> (r, J)`` as there, with ``x`` a float64
    tensor on the device and ``idx`` a tensor of problem indices, or None for all problems; the other arguments
    as there (numpy arrays, numbers or tensors). ``masked``: skip stopped problems by masks, not by gathering
    (module doc; default: on CUDA). The result in numpy arrays."""
    dev = torch.device(device)
    masked = dev.type == "cuda" if masked is None else masked

    def tensor(v):
        return torch.as_tensor(v, dtype=torch.float64, device=dev)

    x = torch.clamp(tensor(x0), tensor(lo), tensor(hi))
    lo, hi, tol = (tensor(v).broadcast_to(x.shape) for v in (lo, hi, tol))
    s = _State(fun, x, tensor(prior_mean), tensor(prior_prec), lam0)
    _iterate(fun, s, lo, hi, tol, std_tol, max_iter, masked)
    h, _ = _normal_equations(s.J, s.r, s.x, s.pm, s.pp)
    cov, info = torch.linalg.inv_ex(h)
    if bool(info.any()):
        cov = torch.linalg.pinv(h)
    std = _diag(cov).clamp_min(0).sqrt()
    out = [t.cpu().numpy() for t in (s.x, std, s.cost, s.iters, s.done, (s.r**2).sum(-1))]
    return LMResult(*out, cov.cpu().numpy() if full_cov else None)
