"""The reflective solver: element reflectances of every pixel's window, in two passes.

In a reflective band b the element form of the forward model (:mod:`.forward`) is bilinear in the element
reflectances rho (ne,) of a window's pixels k:

    y_k = L_p + A_k.rho + rho.Q_k.rho,   A = (T_up + T_dif)/pi (S g + D s),   Q = (T_up + T_dif)/pi (S cg + D cs)

with the window's features g, s (lit cosine, sky view) and cg, cs (one-bounce couplings). Each window is a small
bounded least-squares problem with a Gaussian prior per element and band, weighted by the window's weights
(:mod:`.windows`) over the relative radiance noise; all windows of a block and several bands are solved at once by
:func:`.lm.levenberg_marquardt` (:class:`WeightedQuadratic` gives it residuals and Jacobians). Bands are
independent problems.

Every element seen in a window is an unknown there; elements seen with less than ``min_fraction`` of the
window's weighted view are reported as NaN: their reflectances are barely observable (e.g. walls in a nadir view)
and rest on the prior. A second pass draws every window toward the scene-level reflectance of each element that
the first pass found (:mod:`.scene`, :func:`scene_reflectance_prior`).
"""
from __future__ import annotations

from functools import partial

import numpy as np

from .device import solver_device
from .lm import levenberg_marquardt
from .scene import scene_values
from .tiles import stack_run
from .windows import weighted_windows, window_weights, windows

RHO_BOUNDS = (0.0, 1.0)
# reflectances stop iterating once a step moves each by under 1 % of its conditional std (see .lm): stricter
# limits (0.3 %, none) only add iterations for problems converging linearly under model error
REFLECTANCE_STEP_STD = 0.01
# the reflective solver's windowed bounce couplings Q (ne times the size of the rest) and its Jacobian in the same
# precision: they dominate its memory traffic. The residual stays float64 (with A and y in float32 too, the
# round-off of the cost made the solver reject steps and some windows ran to max_iter); the bounces are a small part
# of the radiance, so Q's round-off in it stays far below that of the cost comparisons
BOUNCE_DTYPE = np.float32
# the solver takes several bands' windows in one batch up to this many coupling elements (Q's size): one band at a
# time (some 1.3e6 for a 32 x 32 chunk) added more Python overhead per call than it saved in cache misses
LM_BATCH_COUPLINGS = 4e6
# on a GPU, all bands of a chunk in one batch up to this many (Q: 4 bytes each, its windows built on the device)
GPU_BATCH_COUPLINGS = 5e7


def split_reflective(nb: int, ne: int):
    """Channel layout of the reflective stack: radiance (nb), a, g, s (ne each), cg, cs (ne*ne each)."""
    sizes = [("y", nb), ("a", ne), ("g", ne), ("s", ne), ("cg", ne * ne), ("cs", ne * ne)]
    out, i = {}, 0
    for k, n in sizes:
        out[k] = slice(i, i + n)
        i += n
    return out, i


def reflective_outputs(nb: int, ne: int) -> int:
    """Output channels: reflectance (ne*nb), its std (ne*nb), residual, iterations."""
    return 2 * ne * nb + 2


def reflectance_priors(prior, names, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) arrays (ne, nb) from (mean, std) or {element: (mean, std)} (scalars or per-band)."""
    mean = np.full((len(names), nb), 0.2)
    std = np.full((len(names), nb), 0.5)
    items = {n: prior for n in names} if not isinstance(prior, dict) else prior
    for j, n in enumerate(names):
        if n in items:
            m, s = items[n]
            mean[j] = np.broadcast_to(np.asarray(m, dtype=float), (nb,))
            std[j] = np.broadcast_to(np.asarray(s, dtype=float), (nb,))
    return mean, np.maximum(std, 1e-6)


class WeightedQuadratic:
    """Weighted residuals r = sw (y - L_p - (A + Q rho / 2).rho) and Jacobian sw (A + Q rho) of a batch of windows
    (``Q`` symmetric), as :func:`.lm.levenberg_marquardt` asks for them.

    The Jacobian comes in Q's precision (e.g. float32: the solver forms its normal equations from it and solves
    them in float64), the residual in float64. The weights are folded into A and Q once. The problems still
    iterating are evaluated on a gathered copy of their arrays, gathered anew only when they fall under half of it:
    the set shrinks as problems converge, and copying Q (the largest array) at every change would cost more than
    evaluating a few converged rows.
    """

    def __init__(self, A, Q, y, sw=None):
        """``A`` (P, K, ne), ``Q`` (P, K, ne, ne), ``y`` (P, K) = radiance - L_p; ``sw`` (P, K) the square-root
        weights, or None when A, Q and y come weighted already."""
        if sw is not None:
            A, Q, y = sw[..., None] * A, sw.astype(Q.dtype)[..., None, None] * Q, sw * y
        self.A, self.Q, self.y = A, Q, y
        self.AJ = A.astype(Q.dtype, copy=False)  # the Jacobian comes in Q's precision
        self._rows = None  # sorted problem indices of the gathered copy (None: all problems)
        self._sub = None

    def _gathered(self, idx):
        """The arrays of a gathered superset of the problems ``idx`` and the positions of ``idx`` in them (None
        when they hold exactly ``idx``)."""
        full = (self.A, self.AJ, self.Q, self.y)
        if idx is None:
            return full, None
        rows = np.arange(len(self.A)) if self._rows is None else self._rows
        pos = np.minimum(np.searchsorted(rows, idx), len(rows) - 1)
        if 2 * len(idx) < len(rows) or not np.array_equal(rows[pos], idx):
            rows = self._rows = np.unique(idx)
            self._sub = tuple(v[rows] for v in full)
            pos = np.searchsorted(rows, idx)
        arrays = full if self._rows is None else self._sub
        return arrays, (None if len(idx) == len(rows) else pos)

    def __call__(self, x, idx=None):
        (A, AJ, Q, y), pos = self._gathered(idx)
        if pos is not None:  # evaluate the gathered rows, the others at x = 0
            xs = np.zeros((len(A), x.shape[1]))
            xs[pos] = x
            x = xs
        P, K, ne = A.shape
        # Q rho in Q's precision (no upcast copy of Q, the largest array); the residual in float64
        qr = (Q.reshape(P, K * ne, ne) @ x.astype(Q.dtype, copy=False)[:, :, None]).reshape(P, K, ne)
        jac = AJ + qr
        ym = ((A + 0.5 * qr) @ x[:, :, None])[..., 0]  # (A + Q rho / 2).rho
        r = y - ym
        return (r, jac) if pos is None else (r[pos], jac[pos])


def _solve_windows(a_fields, q_fields, sw, yl, pm, pp, *, window: int, device: str | None, max_iter: int,
                   tol: float):
    """The windows of a block's bands (see :func:`invert_reflective_block`): per-pixel fields ``a_fields`` (G,
    Y + 2h, X + 2h, ne) of A and ``q_fields`` (..., ne * ne) of Q, windowed and weighted by ``sw`` (G, P, K), solved
    by the numpy solver or, on a torch ``device``, by :func:`.problems_torch.solve_reflective_windows`."""
    kw = dict(max_iter=max_iter, tol=tol, std_tol=REFLECTANCE_STEP_STD)
    if device is not None:
        from .problems_torch import solve_reflective_windows

        return solve_reflective_windows(a_fields, q_fields, sw, yl, pm, pp, RHO_BOUNDS, window=window, device=device,
                                        **kw)
    G, P, K = sw.shape
    ne = a_fields.shape[-1]
    A = weighted_windows(a_fields, sw, window).reshape(G * P, K, ne)
    Q = weighted_windows(q_fields, sw.astype(BOUNCE_DTYPE), window).reshape(G * P, K, ne, ne)
    return levenberg_marquardt(WeightedQuadratic(A, Q, yl), pm, RHO_BOUNDS[0], RHO_BOUNDS[1], pm, pp, **kw)


def invert_reflective_block(block: np.ndarray, *, nb: int, ne: int, window: int, terms: dict, noise: float,
                            prior_mean: np.ndarray, prior_std, max_iter: int, min_fraction: float,
                            tol: float = 1e-6, device: str = "cpu") -> np.ndarray:
    """Invert one block (channels, Y + 2h, X + 2h) -> (outputs, Y, X) on ``device`` (:func:`.device.solver_device`);
    NaN halo cells count as missing."""
    lay, _ = split_reflective(nb, ne)
    h = window // 2
    Yp, Xp = block.shape[1:]
    Y, X = Yp - 2 * h, Xp - 2 * h
    # per-pixel arrays first (window^2 times smaller than their windows), windowed once combined
    feat_ok = windows(np.isfinite(block[lay["a"]]).all(0)[None], window)[..., 0]  # (P, K)
    yw = windows(block[lay["y"]], window)  # (P, K, nb)
    a = windows(np.nan_to_num(block[lay["a"]]), window)  # (P, K, ne)
    P, K = a.shape[:2]
    g, s = (np.moveaxis(np.nan_to_num(block[lay[k]]), 0, -1) for k in ("g", "s"))  # (Yp, Xp, ne)
    cg, cs = (np.nan_to_num(block[lay[k]]).reshape(ne, ne, Yp, Xp) for k in ("cg", "cs"))
    # symmetric parts: all the model needs
    cg, cs = (np.moveaxis((c + c.swapaxes(0, 1)).reshape(ne * ne, Yp, Xp), 0, -1) for c in (cg, cs))
    ww = window_weights(window)[None, :]
    rho = np.full((ne, nb, P), np.nan)
    std = np.full((ne, nb, P), np.nan)
    resid = np.zeros(P)
    iters = np.zeros(P)
    prior_sd = np.broadcast_to(prior_std, (ne, nb))
    # bands are independent problems: solve several bands' windows in one batch (bounded memory)
    dev = solver_device(device)
    per_band = max(P * K * ne * ne, 1)
    batch = GPU_BATCH_COUPLINGS if dev is not None and dev.startswith("cuda") else LM_BATCH_COUPLINGS
    group = max(1, min(nb, int(batch // per_band)))
    for b0 in range(0, nb, group):
        bs = np.arange(b0, min(nb, b0 + group))
        G = len(bs)
        valid = feat_ok[None] & np.isfinite(np.moveaxis(yw[..., bs], -1, 0))  # (G, P, K)
        wk = np.where(valid, ww[None], 0.0)
        yb = np.nan_to_num(np.moveaxis(yw[..., bs], -1, 0))
        wsum = wk.sum(-1)  # (G, P)
        frac = np.einsum("gpk,pke->gpe", wk, a) / np.maximum(wsum, 1e-300)[..., None]
        seen = (frac > 1e-9) & (wsum[..., None] > 0)  # unknowns of this window
        present = seen & (frac > min_fraction)  # reported
        scale = np.abs((wk * yb).sum(-1)) / np.maximum(wsum, 1e-300)
        sigma = noise * np.maximum(scale, 1e-6)
        sw = np.sqrt(wk) / sigma[..., None]  # (G, P, K)
        tt = (terms["T_up"][bs] + terms["T_dif"][bs]) / np.pi
        cS, cD = (tt * terms["S"][bs])[:, None, None, None], (tt * terms["D"][bs])[:, None, None, None]
        yl = (sw * (yb - terms["L_path"][bs][:, None, None])).reshape(G * P, K)
        pm = np.repeat(prior_mean[:, bs].T, P, axis=0)  # (G*P, ne)
        pp = np.where(seen.reshape(G * P, ne), 1.0 / np.repeat(prior_sd[:, bs].T, P, axis=0) ** 2, 1e12)
        res = _solve_windows(cS * g + cD * s, (cS * cg + cD * cs).astype(BOUNCE_DTYPE), sw, yl, pm, pp, window=window,
                             device=dev, max_iter=max_iter, tol=tol)
        x = res.x.reshape(G, P, ne)
        rho[:, bs] = np.where(present, x, np.nan).transpose(2, 0, 1)
        std[:, bs] = np.where(present, res.std.reshape(G, P, ne), np.nan).transpose(2, 0, 1)
        # relative RMS misfit: sum_k w_k (y - f)^2 = sigma^2 |r|^2 with r the weighted residual
        rr = np.sqrt(sigma**2 * res.rss.reshape(G, P) / np.maximum(wsum, 1e-300)) / np.maximum(scale, 1e-300)
        resid += np.where(wsum > 0, rr, np.nan).sum(0) / nb
        iters = np.maximum(iters, res.iterations.reshape(G, P).max(0))
    out = np.concatenate([rho.reshape(ne * nb, P), std.reshape(ne * nb, P), resid[None], iters[None]])
    return out.reshape(-1, Y, X)


REFLECTANCE_SCENE_FLOOR = 0.005  # smallest prior spread of an element's reflectance around its scene-level value


def scene_reflectance_prior(scene: np.ndarray, prior_mean: np.ndarray, prior_std: np.ndarray, scene_std: float):
    """The prior (mean, std), each (ne, nb), of a second reflective pass: the scene-level reflectance of each
    element and band (``scene``: (2, ne, nb), value and standard error, NaN where unknown, see
    :func:`.scene.scene_means`) +- ``scene_std`` times itself (at least ``REFLECTANCE_SCENE_FLOOR``) and the
    standard error in quadrature; the given prior where the first pass retrieved nothing."""
    value, se = scene
    known = np.isfinite(value) & np.isfinite(se)
    spread = np.hypot(np.maximum(scene_std * np.where(known, value, 0.0), REFLECTANCE_SCENE_FLOOR),
                      np.where(known, se, 0.0))
    return np.where(known, value, prior_mean), np.where(known, spread, prior_std)


def reflective_chunk(block: np.ndarray, kw: dict, sw_kw: dict | None = None,
                     scene_std: float | None = None) -> np.ndarray:
    """One chunk of the reflective inversion: :func:`invert_reflective_block` on the inversion's channels; with
    ``scene_std``, its prior from the scene-level reflectances in the block's last 2 ne nb channels (constant over
    the image, :func:`scene_reflectance_prior`); with ``sw_kw``, then the shortwave budget of the block's pixels
    (:func:`.budget.shortwave_arrays`) from the area features after the inversion's channels (a, g, s of ne
    channels, cg, cs, cb of ne * ne): albedo, net shortwave, element albedo (ne), element net shortwave (ne)."""
    from .budget import shortwave_arrays

    nb, ne, h = kw["nb"], kw["ne"], kw["window"] // 2
    if scene_std is not None:
        n = 2 * ne * nb
        mean, std = scene_reflectance_prior(block[-n:, h, h].reshape(2, ne, nb), kw["prior_mean"],
                                            np.broadcast_to(kw["prior_std"], (ne, nb)), scene_std)
        kw = dict(kw, prior_mean=mean, prior_std=std)
        sw_kw = None if sw_kw is None else dict(sw_kw, prior=mean)
        block = block[:-n]
    _, n_inv = split_reflective(nb, ne)
    out = invert_reflective_block(block[:n_inv], **kw)
    if sw_kw is None:
        return out
    Y, X = out.shape[1:]
    area = block[n_inv:, h:h + Y, h:h + X]
    a, g, s = area[:3 * ne].reshape(3, ne, Y, X)
    cg, cs, cb = area[3 * ne:].reshape(3, ne, ne, Y, X)
    albedo, net, e_albedo, e_net = shortwave_arrays(out[:ne * nb].reshape(ne, nb, Y, X), a, g, s, cg, cs, cb,
                                                    **sw_kw)
    return np.concatenate([out, albedo[None], net[None], e_albedo, e_net])




def solve_reflective(y, parts: list, area_parts: list, *, bands, ne: int, window: int, terms: dict, noise: float,
                     prior_mean: np.ndarray, prior_std: np.ndarray, max_iter: int, min_fraction: float, scene_std,
                     lazy: bool, device: str = "cpu"):
    """Both reflective passes over the image radiances ``y`` (nb, Y, X) and the feature ``parts`` ``a, g, s, cg,
    cs`` (see :func:`.tiles.stack_run`): the outputs of :func:`invert_reflective_block`, (channels, Y, X); with
    ``area_parts`` (the area features ``Aa, Ag, As, Acg, Acs, Acb``) then the shortwave budget of each pixel.

    With ``scene_std`` (relative) a first pass gives the scene-level reflectance of each element and band, pooled
    over every window that reports it (:mod:`.scene`); the second draws each window toward it. ``device``: where
    the solver runs, resolved in each chunk's task (:func:`.device.solver_device`)."""
    from .sensors import broadband_weights

    nb = len(bands)
    kw = dict(nb=nb, ne=ne, window=window, terms=terms, noise=noise, prior_mean=prior_mean, prior_std=prior_std,
              max_iter=max_iter, min_fraction=min_fraction, device=device)
    nout = reflective_outputs(nb, ne)
    scene = None
    if scene_std is not None:
        k = ne * nb
        sd = np.broadcast_to(prior_std, prior_mean.shape).ravel()  # (element, band) order
        scene = scene_values(y, parts, partial(reflective_chunk, kw=kw), slice(0, k), slice(k, 2 * k), 1e-3, sd,
                             window, lazy)
    sw_kw = None
    if area_parts:  # computed in the chunk tasks from the area features: no graph of its own
        w, width = broadband_weights(bands)
        sw_kw = dict(S=terms["S"], D=terms["D"], weights=w, widths=width, prior=prior_mean)
        nout += 2 + 2 * ne
    chunk = partial(reflective_chunk, kw=kw, sw_kw=sw_kw, scene_std=None if scene is None else scene_std)
    return stack_run(y, parts + area_parts, chunk, nout, window // 2, lazy, scene)
