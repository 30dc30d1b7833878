"""Per-pixel inversion of the element form of the forward model over a weighted neighbourhood window.

For a sensor pixel p the unknowns are the properties of the elements seen in the window x window pixels
around it (reflectance per element and band; temperature per element and emissivity per element and band);
the window's pixels are weighted by exp(-d^2 / (2 (window/2)^2)) (d in pixels), which regularises across
neighbours: a property varies from pixel to pixel only as much as the windows differ. Each window is a small
bounded least-squares problem (:mod:`.lm`), solved for all pixels of a chunk at once. Over Dask the chunks
overlap by a halo of ``window // 2`` pixels (one task per chunk), so results do not depend on chunking.

Both kinds of bands take two passes. The first gives every element a scene-level reflectance per band, and
every element part (sunlit, shaded) a scene-level temperature; the second draws each window toward them
(:func:`scene_means`): a single window rarely pins down an element it barely sees, nor separates the sunlit and
shaded temperatures of an element that its pixels mix in similar proportions. A first pass's chunk tasks return
only their sums for the scene-level values (:func:`scene_sums`), one small vector each.

Every element seen in a window is an unknown there; elements seen with less than ``min_fraction`` of the
window's weighted view are reported as NaN: their properties are barely observable (e.g. walls in a nadir
view) and rest on the prior.

With a distributed client the city model is installed on every worker once per client (:mod:`.shipping`) and
reused by later calls (a time series of scenes over one city), instead of travelling inside every graph.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConvergenceError
from .forward import features, thermal_model
from .lm import levenberg_marquardt
from .sensors import band_planck
from .shipping import resolve

T_BOUNDS = (200.0, 380.0)  # K
EPS_BOUNDS = (0.8, 1.0)
RHO_BOUNDS = (0.0, 1.0)
SVF_TASKS = 4  # azimuth sectors of the sky view factor computed in parallel over Dask
ANOMALY_BOUND = 30.0  # K, bound of a pixel's temperature anomaly
# reflectances stop iterating once a step moves each by under 1 % of its conditional std (see .lm): stricter
# limits (0.3 %, none) only add iterations for problems converging linearly under model error
REFLECTANCE_STEP_STD = 0.01
# the reflective features' precision: float32's relative 1e-6 lies far below any radiance noise, in about half the
# time of float64; the thermal inversion, whose temperatures and emissivities trade off, turns that round-off into
# mK (6 mK on a noise-free test scene): its features stay float64
REFLECTIVE_FEATURE_DTYPE = np.float32
# the reflective solver's windowed bounce couplings Q (ne times the size of the rest) and its Jacobian in the same
# precision: they dominate its memory traffic. The residual stays float64 (with A and y in float32 too, the
# round-off of the cost made the solver reject steps and some windows ran to max_iter); the bounces are a small part
# of the radiance, so Q's round-off in it stays far below that of the cost comparisons
BOUNCE_DTYPE = np.float32
# the solver takes several bands' windows in one batch up to this many coupling elements (Q's size): one band at a
# time (some 1.3e6 for a 32 x 32 chunk) added more Python overhead per call than it saved in cache misses
LM_BATCH_COUPLINGS = 4e6
FIRST_PASS_T_STD_FACTOR = 3.0  # temperature prior widening of the first of two thermal passes (1, 3, 10 tried)


def window_weights(window: int) -> np.ndarray:
    h = window // 2
    d2 = (np.arange(window) - h)[:, None] ** 2 + (np.arange(window) - h)[None, :] ** 2
    return np.exp(-d2 / (2 * max(window / 2, 1.0) ** 2)).ravel()


def _windows(arr: np.ndarray, window: int) -> np.ndarray:
    """(C, Y, X) with a halo of window//2 -> (P, K, C) for the P interior pixels and K = window^2 offsets."""
    w = sliding_window_view(arr, (window, window), axis=(-2, -1))  # (C, Py, Px, win, win)
    c = arr.shape[0]
    return np.moveaxis(w.reshape(c, -1, window * window), 0, -1)


def split_reflective(nb: int, ne: int):
    """Channel layout of the reflective stack: radiance (nb), a, g, s (ne each), cg, cs (ne*ne each)."""
    sizes = [("y", nb), ("a", ne), ("g", ne), ("s", ne), ("cg", ne * ne), ("cs", ne * ne)]
    out, i = {}, 0
    for k, n in sizes:
        out[k] = slice(i, i + n)
        i += n
    return out, i


def split_thermal(nbt: int, ne: int, scene_prior: bool = False):
    """Channel layout of the thermal stack: radiance (nbt), a, s (ne sub-elements each), c (ne*ne), area (ne),
    and with ``scene_prior`` the scene-level temperature of each sub-element and its standard error (ne each,
    constant over the image)."""
    sizes = [("y", nbt), ("a", ne), ("s", ne), ("c", ne * ne), ("area", ne)]
    sizes += [("scene", ne), ("scene_se", ne)] if scene_prior else []
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


def _weighted_windows(fields: np.ndarray, sw: np.ndarray, window: int) -> np.ndarray:
    """``fields`` (G, Y + 2h, X + 2h, C) -> sw * windows (G, P, K, C) in one pass (no unweighted copy).

    ``sw`` (G, P, K) weights each window offset; P and K are ordered as by :func:`_windows`."""
    G, _, _, C = fields.shape
    v = np.moveaxis(sliding_window_view(fields, (window, window), axis=(1, 2)), 3, -1)  # (G, Py, Px, w, w, C)
    out = np.multiply(v, sw.reshape(v.shape[:-1] + (1,)), order="C")  # C order: the reshape below is a view
    return out.reshape(G, -1, window * window, C)


def invert_reflective_block(block: np.ndarray, *, nb: int, ne: int, window: int, terms: dict, noise: float,
                            prior_mean: np.ndarray, prior_std, max_iter: int, min_fraction: float,
                            tol: float = 1e-6) -> np.ndarray:
    """Invert one block (channels, Y + 2h, X + 2h) -> (outputs, Y, X); NaN halo cells count as missing."""
    lay, _ = split_reflective(nb, ne)
    h = window // 2
    Yp, Xp = block.shape[1:]
    Y, X = Yp - 2 * h, Xp - 2 * h
    # per-pixel arrays first (window^2 times smaller than their windows), windowed once combined
    feat_ok = _windows(np.isfinite(block[lay["a"]]).all(0)[None], window)[..., 0]  # (P, K)
    yw = _windows(block[lay["y"]], window)  # (P, K, nb)
    a = _windows(np.nan_to_num(block[lay["a"]]), window)  # (P, K, ne)
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
    per_band = max(P * K * ne * ne, 1)
    group = max(1, min(nb, int(LM_BATCH_COUPLINGS // per_band)))
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
        A = _weighted_windows(cS * g + cD * s, sw, window).reshape(G * P, K, ne)
        Q = _weighted_windows((cS * cg + cD * cs).astype(BOUNCE_DTYPE), sw.astype(BOUNCE_DTYPE), window).reshape(
            G * P, K, ne, ne)
        yl = (sw * (yb - terms["L_path"][bs][:, None, None])).reshape(G * P, K)
        pm = np.repeat(prior_mean[:, bs].T, P, axis=0)  # (G*P, ne)
        pp = np.where(seen.reshape(G * P, ne), 1.0 / np.repeat(prior_sd[:, bs].T, P, axis=0) ** 2, 1e12)
        res = levenberg_marquardt(WeightedQuadratic(A, Q, yl), pm, RHO_BOUNDS[0], RHO_BOUNDS[1], pm, pp,
                                  max_iter=max_iter, tol=tol, std_tol=REFLECTANCE_STEP_STD)
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
    element and band (``scene``: (2, ne, nb), value and standard error, NaN where unknown, see :func:`scene_means`)
    +- ``scene_std`` times itself (at least ``REFLECTANCE_SCENE_FLOOR``) and the standard error in quadrature;
    the given prior where the first pass retrieved nothing."""
    value, se = scene
    known = np.isfinite(value) & np.isfinite(se)
    spread = np.hypot(np.maximum(scene_std * np.where(known, value, 0.0), REFLECTANCE_SCENE_FLOOR),
                      np.where(known, se, 0.0))
    return np.where(known, value, prior_mean), np.where(known, spread, prior_std)


def _reflective_chunk(block: np.ndarray, kw: dict, sw_kw: dict | None = None,
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


def thermal_outputs(nbt: int, ne: int) -> int:
    """Output channels: element temperature (ne) and std (ne) in the pixel, temperature of the shaded and sunlit
    parts (2 ne: 2e shaded, 2e + 1 sunlit) and std, emissivity (ne*nbt) and std, the pixel's temperature anomaly
    and its std, residual, iterations."""
    return 6 * ne + 2 * ne * nbt + 4


# a part's temperature is informed by the data when its posterior spread is under this share of its prior's
# (the emitted longwave uses it then, reported or not); 0.5 and 0.8 gave the same emitted-longwave error on the
# benchmark's thermal scenes (seeds 4-6, 8, 9)
INFORMED = 0.5


def _thermal_and_budget(block: np.ndarray, kw: dict) -> np.ndarray:
    """:func:`invert_thermal_block` and the emitted longwave of the block's pixels (:func:`.budget.
    longwave_arrays`) from the posterior of every element part that the data inform, reported or not, and the
    area channels: emitted longwave, per element (ne), broadband emissivity (ne), after the thermal outputs."""
    from .budget import longwave_arrays

    ne, nbt, h = kw["ne"], len(kw["bands"]), kw["window"] // 2
    n, ns = thermal_outputs(nbt, ne), 2 * ne
    out = invert_thermal_block(block, **kw, all_parts=True)
    Y, X = out.shape[1:]
    lay, _ = split_thermal(nbt, ns)  # the area channels come before the scene-level ones
    area = np.nan_to_num(block[lay["area"], h:h + Y, h:h + X]).reshape(ne, 2, Y, X)
    t_seen, eps_all = out[n:n + ns].reshape(ne, 2, Y, X), out[n + ns:]
    emitted, per_element, bb_eps = longwave_arrays(t_seen, out[:ne], eps_all, area, np.isfinite(out[:ne]))
    emitted = np.where(np.isnan(out[n - 4]), np.nan, emitted)  # no valid data around the pixel
    return np.concatenate([out[:n], emitted[None], per_element, bb_eps])


def invert_thermal_block(block: np.ndarray, *, bands, ne: int, window: int, terms: dict, nedt: float,
                         eps_mean: np.ndarray, eps_std: float, t_std: float, max_iter: int, min_fraction: float,
                         contrast_std: float | None = None, shade_prior: tuple[float, float] | None = None,
                         scene_std: float | None = None, anomaly_std: float | None = None, tol_t: float = 1e-4,
                         tol_eps: float = 1e-6, all_parts: bool = False) -> np.ndarray:
    """Invert one thermal block (channels, Y + 2h, X + 2h) -> (outputs, Y, X).

    The features come per sub-element (2e: shaded facets of element e, 2e + 1: sunlit ones, see
    :func:`forward.features` ``split_lit``): sunlit and shaded parts of an element have their own temperature
    and share the element's emissivity. Unknowns per pixel: temperatures (2 ne) then emissivities (nbt x ne);
    prior: emissivity ``eps_mean`` (nbt, ne) +- ``eps_std``, temperature the window's brightness temperature
    +- ``t_std`` K (shaded parts: ``shade_prior`` (mean, std) K when given); with ``contrast_std`` (K), the
    sunlit-minus-shaded difference of an element seen in both states is also drawn toward 0 with that spread (a
    prior row per element). With ``scene_std`` (K) the block carries the scene-level temperature of each part and
    its standard error (channels ``scene``, ``scene_se``, NaN where unknown, see :func:`scene_means`):
    the prior of a part is then that temperature +- ``scene_std`` and the standard error in quadrature. The
    element's temperature in the pixel averages its parts weighted by their surface in the pixel (channels
    ``area``). With ``anomaly_std`` (K) every pixel k of the window adds its own anomaly d_k (prior 0 +- that) to
    the temperature of all the parts it holds (T_s + d_k): local weather (air temperature, wind, humidity) shifts
    every surface of a neighbourhood together, and the window's parts stay common to its pixels. Unknowns then
    end with the window's K anomalies; the centre pixel's is added to the parts and elements reported.
    ``all_parts``: after the outputs, the posterior mean temperature of every part that the data inform (its
    posterior spread under ``INFORMED`` times its prior's; ns, NaN for the others), reported or not, and the
    broadband emissivity of every element (ne; unseen ones at their prior).
    """
    nbt = len(bands)
    ns = 2 * ne
    lay, _ = split_thermal(nbt, ns, scene_std is not None)
    h = window // 2
    Y, X = block.shape[1] - 2 * h, block.shape[2] - 2 * h
    win = _windows(block, window)
    P, K = win.shape[:2]
    ww = window_weights(window)[None, :]
    yw = np.moveaxis(win[..., lay["y"]], -1, 1)  # (P, nbt, K)
    feat_ok = np.isfinite(win[..., lay["a"]]).all(-1)
    valid = feat_ok[:, None, :] & np.isfinite(yw)
    wk = np.where(valid, ww[:, None, :], 0.0)  # (P, nbt, K)
    yb = np.nan_to_num(yw)
    a = np.nan_to_num(win[..., lay["a"]])
    s = np.nan_to_num(win[..., lay["s"]])
    c = np.nan_to_num(win[..., lay["c"]]).reshape(P, K, ns, ns)
    wsum = wk.sum(-1)  # (P, nbt)
    frac_sub = (wk[:, 0, :, None] * a).sum(1) / np.maximum(wsum[:, :1], 1e-300)  # (P, ns)
    frac = frac_sub.reshape(P, ne, 2).sum(-1)
    ok = wsum[:, :1] > 0
    seen_sub = (frac_sub > 1e-9) & ok  # unknowns of this window
    seen = (frac > 1e-9) & ok
    present_sub = seen_sub & (frac_sub > min_fraction / 2)  # reported
    present = seen & (frac > min_fraction)
    sub2el = np.repeat(np.arange(ne), 2)
    onehot = np.eye(ne)[sub2el]  # (ns, ne)
    # noise: NEdT converted to radiance at 300 K through the band's dB/dT and the transmittance
    sig = np.array([band_planck(b, 300.0, derivative=True)[1] for b in bands]) * nedt * terms["tau"]
    sw = np.sqrt(wk) / sig[None, :, None]
    # temperature prior/start: brightness temperature of the window mean in the clearest band, emissivity-corrected
    ib = int(np.argmax(terms["tau"]))
    lmean = (wk[:, ib] * yb[:, ib]).sum(-1) / np.maximum(wsum[:, ib], 1e-300)
    lsurf = (lmean - terms["L_up"][ib]) / terms["tau"][ib]
    grid_t = np.linspace(*T_BOUNDS, 721)
    bt = np.interp(lsurf / np.clip(eps_mean[ib].mean(), 0.8, 1.0), band_planck(bands[ib], grid_t), grid_t)
    t0 = np.repeat(bt[:, None], ns, 1)
    tp = np.full((P, ns), 1 / t_std**2)
    if shade_prior is not None:
        t0[:, 0::2] = shade_prior[0]
        tp[:, 0::2] = 1 / shade_prior[1] ** 2
    if scene_std is not None:
        scene = win[:, K // 2, lay["scene"]]  # (P, ns), the same in every pixel
        known = np.isfinite(scene)
        t0 = np.where(known, scene, t0)
        # a weakly determined scene temperature is a weak prior
        se = np.nan_to_num(win[:, K // 2, lay["scene_se"]])
        tp = np.where(known, 1 / (scene_std**2 + se**2), tp)
    nk = K if anomaly_std else 0  # per-pixel anomalies: the last unknowns
    ia = ns + nbt * ne  # index of the first anomaly
    x0 = np.concatenate([t0, np.broadcast_to(eps_mean.reshape(1, -1), (P, nbt * ne)), np.zeros((P, nk))], 1)
    pm = x0.copy()
    pp = np.concatenate([np.where(seen_sub, tp, 1e12), np.where(np.tile(seen, (1, nbt)), 1 / eps_std**2, 1e12),
                         np.where(valid.any(1), 1 / anomaly_std**2, 1e12) if nk else np.zeros((P, 0))], 1)
    lo = np.array([T_BOUNDS[0]] * ns + [EPS_BOUNDS[0]] * (nbt * ne) + [-ANOMALY_BOUND] * nk)
    hi = np.array([T_BOUNDS[1]] * ns + [EPS_BOUNDS[1]] * (nbt * ne) + [ANOMALY_BOUND] * nk)
    tol = np.array([tol_t] * ns + [tol_eps] * (nbt * ne) + [tol_t] * nk)
    eye = np.eye(nbt)

    def model(x, idx):
        temp, eps = x[:, :ns], x[:, ns:ia].reshape(-1, nbt, ne)
        if not nk:
            ym, dT, deps_sub = thermal_model(temp, eps[..., sub2el], a[idx], s[idx], c[idx], bands, terms)
            return ym, dT, deps_sub @ onehot  # emissivity shared by the sunlit and shaded parts
        # each window pixel its own temperatures T_s + d_k: the model over (p, K) with one pixel each
        tk = temp[:, None, :] + x[:, ia:, None]
        ym, dT, deps_sub = thermal_model(tk, eps[:, None][..., sub2el], a[idx][:, :, None], s[idx][:, :, None],
                                         c[idx][:, :, None], bands, terms)
        return ym[..., 0].swapaxes(1, 2), dT[..., 0, :].swapaxes(1, 2), deps_sub[..., 0, :].swapaxes(1, 2) @ onehot

    both = seen_sub.reshape(P, ne, 2).all(-1)  # elements seen sunlit and shaded
    diff = np.zeros((ne, ns + nbt * ne + nk))
    diff[np.arange(ne), 2 * np.arange(ne) + 1] = 1.0
    diff[np.arange(ne), 2 * np.arange(ne)] = -1.0

    def fun(x, idx):
        ym, dT, deps = model(x, idx)
        r = (sw[idx] * (yb[idx] - ym)).reshape(len(idx), -1)
        swi = sw[idx][..., None]
        jt = (swi * dT).reshape(len(idx), nbt * K, ns)
        je = (swi * deps)[:, :, :, None, :] * eye[None, :, None, :, None]  # (p, nbt, K, nbt, ne)
        J = [jt, je.reshape(len(idx), nbt * K, nbt * ne)]
        if nk:  # d_k moves every part of pixel k
            J.append(((swi[..., 0] * dT.sum(-1))[..., None] * np.eye(K)).reshape(len(idx), nbt * K, K))
        J = np.concatenate(J, -1)
        if contrast_std:
            cw = both[idx] / contrast_std  # (p, ne)
            r = np.concatenate([r, -cw * (x @ diff.T)], -1)
            J = np.concatenate([J, cw[..., None] * diff[None]], 1)
        return r, J

    if P and not np.isfinite(x0).all():
        raise ConvergenceError("no finite start temperature: the thermal radiances hold NaN or negative values")
    res = levenberg_marquardt(fun, x0, lo, hi, pm, pp, max_iter=max_iter, tol=tol, full_cov=True)
    n = res.x.shape[1]
    # what is reported, as linear combinations of the unknowns (P, ., n): parts in the centre pixel (T_s + d_centre)
    # and elements (their parts weighted by surface); their spread from the posterior covariance
    part_of = np.zeros((P, ns, n))
    part_of[:, np.arange(ns), np.arange(ns)] = 1.0
    if nk:
        part_of[:, :, ia + K // 2] = 1.0
    area = np.nan_to_num(block[lay["area"], h:h + Y, h:h + X].reshape(ns, -1).T)  # (P, ns) centre pixel
    # parts the sensor sees in the window carry the element's temperature; unseen ones (e.g. walls facing away
    # from the sensor) are left out of the average; an element absent from the centre pixel but seen in the
    # window gets the plain mean of its parts
    use = seen_sub.reshape(P, ne, 2)
    w = np.where(use, area.reshape(P, ne, 2), 0.0)
    w = np.where(w.sum(-1, keepdims=True) > 0, w, use.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        w = w / w.sum(-1, keepdims=True)
    el_of = np.einsum("pes,pesn->pen", np.nan_to_num(w), part_of.reshape(P, ne, 2, n))

    def combine(m):
        return (m @ res.x[:, :, None])[..., 0], np.sqrt(np.maximum(np.einsum("pin,pnm,pim->pi", m, res.cov, m), 0))

    t_parts, s_parts = combine(part_of)
    temp = np.where(present_sub, t_parts, np.nan)
    tstd = np.where(present_sub, s_parts, np.nan)
    t_el, s_el = combine(el_of)
    t_el = np.where(present, t_el, np.nan)
    s_el = np.where(present, s_el, np.nan)
    eps = np.where(present[:, None, :], res.x[:, ns:ia].reshape(P, nbt, ne), np.nan)
    estd = np.where(present[:, None, :], res.std[:, ns:ia].reshape(P, nbt, ne), np.nan)
    centre_ok = valid[:, :, K // 2].any(1)
    anomaly = np.where(centre_ok, res.x[:, ia + K // 2] if nk else 0.0, np.nan)
    anomaly_sd = np.where(centre_ok, res.std[:, ia + K // 2] if nk else 0.0, np.nan)
    # residual: relative RMS radiance misfit, like the reflective one
    ym, _, _ = model(res.x, np.arange(P))
    scale = (wk * yb).sum(-1).sum(-1) / np.maximum(wsum.sum(-1), 1e-300)
    rr = np.sqrt((wk * (yb - ym) ** 2).sum((1, 2)) / np.maximum(wsum.sum(-1), 1e-300)) / np.maximum(scale, 1e-300)
    out = np.concatenate([t_el.T, s_el.T, temp.T, tstd.T, np.moveaxis(eps, 0, -1).transpose(1, 0, 2).reshape(ne * nbt, P),
                          np.moveaxis(estd, 0, -1).transpose(1, 0, 2).reshape(ne * nbt, P),
                          anomaly[None], anomaly_sd[None], rr[None], res.iterations[None].astype(float)])
    if all_parts:
        informed = seen_sub & (s_parts < INFORMED * tp**-0.5)
        eps_all = res.x[:, ns:ia].reshape(P, nbt, ne).mean(1)
        out = np.concatenate([out, np.where(informed, t_parts, np.nan).T, eps_all.T])
    return out.reshape(-1, Y, X)


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

    Empirical Bayes (Robbins 1956; Efron & Morris 1975, JASA 70(350), 311-319): one window rarely pins down an
    element it barely sees, while the scene's many windows, each with other proportions, do; a second inversion
    then draws every window toward the scene-level values.
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


# --- xarray / Dask level ------------------------------------------------------------------------------------

def scene_geometry(obs, geometry=None):
    """Sun/view angles (degrees) from ``geometry``, the dataset attrs, or scene-constant (numpy) variables."""
    from ..errors import MissingVariableError
    from .atmosphere import Geometry

    if isinstance(geometry, Geometry):
        return geometry
    vals = dict(geometry or {})
    for k in ("sun_zenith", "sun_azimuth", "view_zenith", "view_azimuth"):
        if k in vals:
            continue
        if k in obs.attrs:
            vals[k] = float(obs.attrs[k])
        elif hasattr(obs, "data_vars") and k in obs.variables:
            v = obs[k].data
            if not isinstance(v, np.ndarray):
                raise MissingVariableError(f"{k} is a lazy variable: pass geometry={{'{k}': ...}} or put scene "
                                           "angles in ds.attrs (the model uses one sun and view per scene)")
            vals[k] = float(np.nanmean(v))
        elif k.startswith("view"):
            vals[k] = 0.0
        else:
            raise MissingVariableError(f"the image has no {k!r} (degrees) in attrs or variables: add "
                                       f"ds.attrs['{k}'] or pass geometry={{'{k}': ...}}")
    return Geometry(**vals)


def adjacency_correct(y, terms: dict, sigma_px: float, lazy: bool):
    """Remove the adjacency effect from top-of-atmosphere radiances y (band, Y, X).

    The image holds L = L_p + T_up L_s + T_dif <L_s>, <.> the Gaussian environment mean (sigma ``sigma_px``
    pixels); the inversion's model holds L' = L_p + (T_up + T_dif) L_s. With <L_s> estimated from the image,
    <L_s> = <L - L_p> / (T_up + T_dif) (the environment of the environment is the environment), L_s follows and
    L' = L_p + (T_up + T_dif) (L - L_p - T_dif <L_s>) / T_up. Beyond its edges the image is mirrored: the scene
    is assumed to continue with the statistics it has near them (repeating the border pixels instead weighs them
    as if they stretched to infinity, which dominates the environment where the kernel is wider than the image);
    the Dask version overlaps chunks by the kernel radius (4 sigma), so chunking does not change it. Cf. the
    environment term of 6S (Vermote et al. 1997, IEEE TGRS 35(3), 675-686).
    """
    from scipy import ndimage

    lp = terms["L_path"][:, None, None]
    tup, tdif = terms["T_up"][:, None, None], terms["T_dif"][:, None, None]
    sig = (0, sigma_px, sigma_px)

    def env(block):
        return ndimage.gaussian_filter(block, sig, mode="reflect", truncate=4.0)

    if lazy:
        import dask.array as dsa

        r = int(np.ceil(4.0 * sigma_px))
        r = min(r, y.shape[1] - 1, y.shape[2] - 1)
        y = y.rechunk({0: -1})
        if r > 0 and 4.0 * sigma_px > min(y.shape[1], y.shape[2]) - 1:
            m = dsa.map_blocks(env, y.rechunk({1: -1, 2: -1}), dtype=float).rechunk(y.chunks)
        else:
            m = dsa.map_overlap(env, y, depth={0: 0, 1: r, 2: r}, boundary={0: "none", 1: "reflect", 2: "reflect"},
                                dtype=float)
    else:
        m = env(np.asarray(y, dtype=float))
    ls_env = (m - lp) / (tup + tdif)
    ls = (y - lp - tdif * ls_env) / tup
    return lp + (tup + tdif) * ls


def _halo_slice(part, y0, x0, hy, hx, ny, nx):
    """Rows y0..y0+hy, columns x0..x0+hx of the whole-image ``part`` (C, ny, nx); NaN outside the image."""
    out = np.full((part.shape[0], hy, hx), np.nan)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y0 + hy, ny), min(x0 + hx, nx)
    if sy1 > sy0 and sx1 > sx0:
        out[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = part[:, sy0:sy1, sx0:sx1]
    return out


def _with_halo(around, h: int) -> np.ndarray:
    """The centre chunk of ``around`` (3 x 3 nested lists of neighbouring chunks (C, y, x), None beyond the
    image) with ``h`` pixels of its neighbours on every side, NaN beyond the image."""
    c = around[1][1]
    hs, ws = (h, c.shape[1], h), (h, c.shape[2], h)
    oy, ox = np.cumsum((0,) + hs), np.cumsum((0,) + ws)
    out = np.full((c.shape[0], oy[-1], ox[-1]), np.nan)
    take = (slice(-h, None), slice(None), slice(0, h))  # rows/columns of the neighbour above/left, centre, below/right
    for a in range(3):
        for b in range(3):
            n = around[a][b]
            if n is not None and hs[a] and ws[b]:
                out[:, oy[a]:oy[a + 1], ox[b]:ox[b + 1]] = n[:, take[a], take[b]]
    return out


def _pick(source, name):
    """A part of the stack: ``source[name]``, or ``source`` itself when ``name`` is None."""
    return source if name is None else source[name]


def _mosaic(sources, name) -> np.ndarray:
    """One part, (C, rows, columns), from its sources: rows of tiles (nested lists), adjacent in the image."""
    rows = [np.concatenate([_pick(v, name) for v in row], axis=-1) if len(row) > 1 else _pick(row[0], name)
            for row in sources]
    p = np.concatenate(rows, axis=-2) if len(rows) > 1 else rows[0]
    return p.reshape(-1, *p.shape[-2:])


def _stack_block(around, parts, const, at, h, func):
    """One chunk's task: its window of the image (with halo), of the parts (``[sources, first row, first
    column, name]``: the tiles its window overlaps) and of ``const``."""
    y0, x0, hy, hx = at[:4]
    chans = [_with_halo(around, h)]
    for sources, row0, col0, name in parts:
        p = _mosaic(sources, name)
        chans.append(_halo_slice(p, y0 - row0, x0 - col0, hy, hx, *p.shape[-2:]))
    if const is not None:
        c = np.asarray(const, dtype=float)
        chans.append(_halo_slice(np.broadcast_to(c[:, None, None], (len(c),) + at[-2:]), *at))
    return func(np.concatenate(chans))


def _halo_ready(y, h: int):
    """Dask array ``y`` (..., Y, X) rechunked, if need be, so that a halo of ``h`` pixels reaches the next chunk
    only: its chunks are the tiles of :func:`_stack_run`'s parts."""
    cy, cx = y.chunks[-2:]
    if min(cy + cx) < max(h, 1):
        y = y.rechunk({y.ndim - 2: max(h, max(cy)), y.ndim - 1: max(h, max(cx))})
    return y


def _sum_of(vectors) -> np.ndarray:
    return np.sum(vectors, axis=0)


def _stack_run(y, parts, func, nout, h, lazy, const=None, reduce: bool = False):
    """Run ``func`` on the stack (C, Y, X) of the image ``y``, the whole-image ``parts`` (each (..., Y, X),
    flattened to channels) and ``const`` (a vector repeated in every pixel), with a NaN halo of ``h`` pixels.
    A part is ``(sources, name, col_edges)``: ``source[name]`` (``source`` itself when ``name`` is None) of the
    sources, rows of tiles (nested lists): one row for the whole image or one per row chunk of
    :func:`_halo_ready` ``(y)``, and in each row one tile for all columns (``col_edges`` None) or one per interval
    of ``col_edges`` (pixel columns; tiles span whole chunks).

    ``reduce``: ``func`` returns a vector (``nout``,) of sums over its pixels instead of channels, and the result
    is their total over the image (Dask: one more task).

    Eager: on the whole image. Lazy: one task per chunk of ``y``, which takes its halo from the (up to 8)
    neighbouring chunks itself and slices its window of the parts from the sources of its tile and their
    neighbours; the sources (Dask delayed objects, e.g. a dict of features computed together) and ``const`` are
    computed once, so the graph holds one task per chunk however many channels the stack has (halos by
    ``da.overlap`` cost some ten slicing and padding tasks per chunk, and a getitem task per part would add a
    scheduler round trip each).
    """
    if not lazy:
        chans = [np.asarray(y, dtype=float)] + [_mosaic(*p[:2]) for p in parts]
        if const is not None:
            chans.append(np.broadcast_to(np.asarray(const, float)[:, None, None], (len(const),) + y.shape[1:]))
        padded = np.pad(np.concatenate(chans), ((0, 0), (h, h), (h, h)), constant_values=np.nan)
        return func(padded)
    import uuid

    import dask
    import dask.array as da
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph

    y = _halo_ready(y.rechunk({0: -1}), h)
    cy, cx = tuple(y.chunks[1]), tuple(y.chunks[2])
    ny, nx = sum(cy), sum(cx)
    oy, ox = np.cumsum((0,) + cy), np.cumsum((0,) + cx)
    deps = {}
    tiles = []
    for sources, pname, col_edges in parts:
        nr, nc = len(sources), len(sources[0])
        if nr not in (1, len(cy)) or nc != (1 if col_edges is None else len(col_edges) - 1):
            raise ValueError(f"a part has {nr} x {nc} tiles for {len(cy)} row chunks of the image and column "
                             f"edges {col_edges}")
        ds = [[src if isinstance(src, Delayed) else dask.delayed(src) for src in row] for row in sources]
        deps.update({d.key: d for row in ds for d in row})
        tiles.append(([[d.key for d in row] for row in ds], col_edges, pname))
    # a Dask ``const`` enters by the key of its one chunk: wrapped in a delayed call, its graph would be optimised
    # under new keys, and every task upstream of it (the features, the horizons) would run twice
    cdeps, ckey = [], None
    if isinstance(const, da.Array):
        const = const.rechunk(-1)
        cdeps, ckey = [const], (const.name, 0)
    elif const is not None:
        ckey = np.asarray(const, dtype=float)
    name = f"urban-window-{uuid.uuid4().hex}"  # func may be a closure: a token would not tell passes apart

    def key(i, j):
        return (y.name, 0, i, j) if 0 <= i < len(cy) and 0 <= j < len(cx) else None

    def span(edges, lo, hi, n):  # the tiles of ``edges`` that pixels [lo, hi) overlap: first, end, first pixel
        if edges is None:
            return 0, 1, 0
        k0 = max(int(np.searchsorted(edges, lo, "right")) - 1, 0)
        return k0, min(int(np.searchsorted(edges, hi, "left")), n), int(edges[k0])

    dsk = {}
    for i in range(len(cy)):
        for j in range(len(cx)):
            pk = []
            for keys, col_edges, pname in tiles:
                i0, i1, r0 = span(None if len(keys) == 1 else oy, oy[i] - h, oy[i + 1] + h, len(keys))
                j0, j1, c0 = span(col_edges, ox[j] - h, ox[j + 1] + h, len(keys[0]))
                pk.append([[row[j0:j1] for row in keys[i0:i1]], r0, c0, pname])
            around = [[key(i + a, j + b) for b in (-1, 0, 1)] for a in (-1, 0, 1)]
            at = (int(oy[i]) - h, int(ox[j]) - h, cy[i] + 2 * h, cx[j] + 2 * h, ny, nx)
            dsk[(name, 0, i, j)] = (_stack_block, around, pk, ckey, at, h, func)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[y, *deps.values(), *cdeps])
    if not reduce:
        return da.Array(graph, name, chunks=((nout,), cy, cx), dtype=float, meta=np.empty((0, 0, 0)))
    blocks = da.Array(graph, name, chunks=((nout,), (1,) * len(cy), (1,) * len(cx)), dtype=float,
                      meta=np.empty((0, 0, 0)))  # the chunk tasks' vectors, as they are (not arrays of that shape)
    total = f"{name}-sum"
    graph = HighLevelGraph.from_collections(total, {(total, 0): (_sum_of, list(dsk))}, dependencies=[blocks])
    return da.Array(graph, total, chunks=((nout,),), dtype=float, meta=np.empty((0,)))


MIN_TILE_PX = 64  # feature tiles span column chunks up to this width at least


def _tile_edges(col_chunks, min_px: int) -> np.ndarray:
    """Column edges (pixels) of feature tiles: runs of consecutive column chunks, each at least ``min_px`` wide
    (the last one may hold the rest)."""
    edges, width = [0], 0
    for c in col_chunks:
        width += c
        if width >= min_px:
            edges.append(edges[-1] + width)
            width = 0
    if width:
        if len(edges) > 1:
            edges[-1] += width
        else:
            edges.append(width)
    return np.array(edges)


def _sky_view_sum(city, n_azimuths, sectors):
    """The sky view sum of ``sectors``; None where the worker's copy holds the horizons of an earlier call."""
    city = resolve(city)
    return None if city.has_sky_view(n_azimuths) else city.sky_view_sum(n_azimuths, sectors)


def _fields(city, geom, n_azimuths, sums, sectors):
    """The city's fields from the sector sums of :func:`_sky_view_sum`; sectors left out (their task ran on a
    worker whose copy holds the horizons) are computed here unless this copy holds them too."""
    city = resolve(city)
    if not city.has_sky_view(n_azimuths):
        sums = [city.sky_view_sum(n_azimuths, sec) if s is None else s for s, sec in zip(sums, sectors)]
    return city.fields(geom, n_azimuths, sums)


def _bands(img, bands):
    """The image's ``bands``; the image itself when it holds just those, in order (a selection would add a
    slicing task per chunk to a lazy image's graph)."""
    want = [b.name for b in bands]
    return img if [str(b) for b in img.band.values] == want else img.sel(band=want)


def _as_array(da_, lazy, chunks=None):
    import dask.array as dsa

    if lazy:
        return da_.data if isinstance(da_.data, dsa.Array) else dsa.from_array(np.asarray(da_.data), chunks=chunks)
    return np.asarray(da_.values, dtype=float)


def invert(obs, city, sensor="sentinel-2", atmosphere=None, window: int = 5, max_iter: int = 10, *,
           geometry=None, noise: float | None = None, nedt: float | None = None,
           reflectance_prior: tuple | dict = (0.2, 0.5), emissivity_prior: dict | None = None,
           emissivity_std: float = 0.01, temperature_std: float = 10.0, contrast_std: float | None = 5.0,
           thermal_model_error: float = 0.8, temperature_scene_std: float | None = 1.0,
           shaded_std: float | None = 5.0, temperature_anomaly_std: float | None = None,
           reflective_model_error: float = 0.0, reflectance_scene_std: float | None = 0.1,
           min_fraction: float = 0.05,
           psf_sigma: float | None = None, bounce_radius: float = 8.0, n_azimuths: int = 16,
           flat: bool = False, budget: bool = True, adjacency_m: float | None = None):
    """Per-element reflectance / emissivity / temperature maps and the radiative budget of a city.

    ``ds.urban.invert(city, ...)`` is this function on the image dataset ``ds``. Lazy when ``obs`` is
    Dask-backed (halo ``window // 2`` pixels: the result does not depend on the chunks).

    Parameters
    ----------
    obs : xarray.Dataset
        The image: ``radiance`` (band, y, x; W m-2 sr-1 um-1) or ``reflectance`` (top-of-atmosphere, 1;
        reflective bands only), band names as the sensor's (``B02`` .. ``B12``, ``TIR1`` .. ``TIR5``), scene
        angles in attrs (``sun_zenith``, ``sun_azimuth``, ``view_zenith``, ``view_azimuth``, degrees) or in
        ``geometry``.
    city : eoxr.urban.City
        The 3-D city model (e.g. ``City.from_rasters("dsm.tif", "classes.tif", {1: "roof", ...})``) in the
        image's CRS, covering it, whose cell divides the pixel.
    sensor : str or eoxr.urban.Sensor
        The sensor's name (``"sentinel-2"``, ``"landsat-8"``, ``"ecostress"``, ...) or model; its bands are
        matched to the image's by name.
    atmosphere : dict or eoxr.urban.Atmosphere, optional
        Aerosol optical depth, water vapour, air temperature, ... (e.g. ``{"aot550": 0.15}``); default
        ``Atmosphere()``.
    window : int
        Odd neighbourhood size (pixels) over which each element's properties are constant.
    max_iter : int
        Levenberg-Marquardt iterations per pass.
    geometry : eoxr.urban.Geometry or dict, optional
        Sun and view angles (degrees), when the image's attrs lack them.
    noise : float, optional
        Relative radiance noise of the reflective bands (default: the sensor's).
    nedt : float, optional
        Noise-equivalent temperature difference of the thermal bands, K (default: the sensor's).
    reflectance_prior : tuple or dict
        ``(mean, std)`` for every element, or ``{element: (mean, std)}`` with scalars or per-band sequences
        (e.g. a spectral library with its spread).
    emissivity_prior : dict, optional
        ``{element: emissivity or per-band list}``; required with thermal bands.
    emissivity_std : float
        Prior spread of the emissivities.
    temperature_std : float
        Prior spread (K) around the window's brightness temperature.
    contrast_std : float, optional
        Prior spread (K) of an element's sunlit-minus-shaded temperature difference (None: free).
    thermal_model_error : float
        K, added in quadrature to the NEdT: the temperature variation inside a window that one temperature per
        element part cannot follow.
    temperature_scene_std : float, optional
        K: a second thermal pass draws each element part toward its scene-level temperature from the first pass
        with that spread (:func:`scene_means`; None: one pass).
    shaded_std : float, optional
        K: shaded facets, which no direct sun heats, get the atmosphere's air temperature +- that as their prior
        (None: the window's brightness temperature, like sunlit ones); it matters for shaded parts the sensor
        barely sees (cf. Voogt & Oke 2003, Remote Sens. Environ. 86(3), 370-384, on urban surface temperatures).
    temperature_anomaly_std : float, optional
        K: every pixel gets a temperature anomaly shared by all the surfaces it holds, with a prior 0 +- that
        (local air temperature, wind and humidity shift a neighbourhood's surfaces together, which a window of
        parts constant over its pixels cannot follow; output ``temperature_anomaly``; with two passes only the
        second has it; e.g. 1.0 with ``thermal_model_error=0.3``). None (default): no anomaly term; on synthetic
        cities (:mod:`.synth`), whose anomaly field varies within a pixel, it lowered the error on some scenes
        and raised it on others. The thermal defaults (``contrast_std``, ``thermal_model_error``,
        ``temperature_scene_std``, ``shaded_std``) were chosen on synthetic cities (seeds 4-6, 8, 9).
    reflective_model_error : float
        Relative radiance added in quadrature to ``noise`` in the reflective bands (property variation inside
        the window, PSF and adjacency approximations), so that weakly seen elements lean on their prior rather
        than absorb the misfit.
    reflectance_scene_std : float, optional
        Relative: a second reflective pass draws each element toward its scene-level reflectance from the first
        pass, +- that fraction of it (empirical Bayes, :func:`scene_means`, :func:`scene_reflectance_prior`).
        None: one pass, half the solver's work; with 0.1 the reflectance RMSE of 15 benchmark scenes (seeds 4-6)
        fell by 19 % on average and by up to 40 %, and rose by 2-4 % on three.
    min_fraction : float
        Elements seen in less than this fraction of a window's weighted view are reported as NaN (their
        properties rest on the prior).
    psf_sigma : float, optional
        The Gaussian PSF's sigma in pixels (default: the sensor's nominal one), e.g. the width
        :func:`eoxr.urban.fit_psf` fits to the image.
    bounce_radius : float
        Metres: how far the facets that light each other by reflection are looked for.
    n_azimuths : int
        Azimuths of the horizons behind the sky view factors.
    flat : bool
        True: the 2-D unmixing baseline (:func:`eoxr.urban.unmix_flat`: no shadows, sky view, walls or bounces).
    budget : bool
        Also compute the radiative budget (albedo, net shortwave, emitted longwave).
    adjacency_m : float, optional
        Correct the reflective radiances for the adjacency effect over a Gaussian environment of that scale (m)
        first (:func:`adjacency_correct`).

    Returns
    -------
    xarray.Dataset
        On the image's grid, CRS and x/y coordinate attributes, with CF ``units``, ``long_name`` and, where the
        CF table has one, ``standard_name``. Reflective bands: ``reflectance`` and ``reflectance_std``
        (element, band, y, x; 1), ``residual`` (relative RMS misfit) and ``iterations``; with ``budget``,
        ``albedo`` (1), ``net_shortwave`` and ``incoming_shortwave`` (W m-2), ``element_albedo`` and
        ``element_net_shortwave`` (element, y, x). Thermal bands: ``temperature`` and ``temperature_std``
        (element, y, x; K), ``temperature_parts`` (element, part = shaded / sunlit, y, x; K) and its
        ``_std``, ``emissivity`` and ``emissivity_std`` (element, thermal_band, y, x), ``thermal_residual``,
        ``thermal_iterations`` (and ``temperature_anomaly`` with ``temperature_anomaly_std``); with ``budget``,
        ``emitted_longwave`` (W m-2 of ground), ``element_emitted_longwave`` and ``broadband_emissivity``.
        NaN where an element is not reported. ``attrs["history"]`` names the method and its settings.

    Examples
    --------
    A synthetic city and its Sentinel-2-like image (on real data: ``City.from_rasters`` and
    ``eoxr.cube.open``):

    >>> from eoxr.urban import Atmosphere, Geometry, get_sensor, synth
    >>> city = synth.make_city(100.0, 2.0, seed=1)
    >>> s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    >>> sun = Geometry(sun_zenith=35.0, sun_azimuth=150.0, view_zenith=8.0, view_azimuth=100.0)
    >>> truth = synth.draw_properties(city, s2, 1, sun)
    >>> obs = synth.observe(city, truth, s2, sun, Atmosphere(aot550=0.15), pixel_size=10.0)
    >>> res = obs.urban.invert(city, "sentinel-2", {"aot550": 0.15}, window=3)
    >>> res["reflectance"].dims, res["albedo"].attrs["units"], res["net_shortwave"].attrs["units"]
    (('element', 'band', 'y', 'x'), '1', 'W m-2')
    """
    import xarray as xr

    from .. import attrs as A
    from ..errors import EoxrError, MissingVariableError
    from .atmosphere import Atmosphere, reflective_terms, thermal_terms
    from .budget import incoming_shortwave, longwave_dataset, shortwave_dataset
    from .sensors import band_solar_irradiance, broadband_weights, get_sensor

    if window < 1 or window % 2 == 0:
        raise EoxrError(f"window must be an odd number of pixels (1, 3, 5, ...), not {window}")
    if isinstance(obs, xr.DataArray):
        obs = obs.to_dataset(name=obs.name or "radiance")
    var = "radiance" if "radiance" in obs else "reflectance" if "reflectance" in obs else None
    if var is None:
        raise MissingVariableError(f"the image needs a 'radiance' or 'reflectance' variable (band, y, x); it has "
                                   f"{sorted(map(str, obs.data_vars))}")
    img = obs[var]
    A.require_dims(img, ("band", "y", "x"), "urban.invert image")
    img = img.transpose("band", "y", "x")
    sen = get_sensor(sensor)
    names = [str(b) for b in img.band.values]
    sen = sen.subset(names)
    rbands, tbands = sen.reflective(), sen.thermal()
    if var == "reflectance" and tbands:
        raise EoxrError(f"thermal bands {[b.name for b in tbands]} must be given as radiance, not reflectance")
    if tbands and not emissivity_prior:
        raise MissingVariableError(
            f"thermal bands {[b.name for b in tbands]} need an emissivity prior per element: pass "
            f"emissivity_prior={{'roof': 0.92, 'road': 0.95, ...}} for the elements {city.names}")
    geom = scene_geometry(obs, geometry)
    atm = Atmosphere.from_any(atmosphere)
    grid = city.grid_for(img)
    h = window // 2
    ne = len(city.names)
    lazy = not isinstance(img.data, np.ndarray)
    psf = sen.psf_sigma if psf_sigma is None else psf_sigma
    mu_s = float(np.cos(np.radians(geom.sun_zenith)))
    ny, nx = grid.ny, grid.nx

    # the features: key -> (weight, psf, split_lit, feature name), computed by groups of one weighting
    recipes = {}
    if rbands:
        recipes.update({k: ("view", psf, False, k) for k in ("a", "g", "s", "cg", "cs")})
        if budget:
            recipes.update({"A" + k: ("area", 0.0, False, k) for k in ("a", "g", "s", "cg", "cs", "cb")})
    if tbands:
        recipes.update({"T" + k: ("view", psf, True, k) for k in ("a", "s", "c")})
        recipes["TAa"] = ("area", 0.0, True, "a")
    groups = {}
    for k, (weight, psf_, split, _) in recipes.items():
        groups.setdefault((weight, psf_, split), []).append(k)

    def tile_task(city_, fields, rows, cols):
        """Every feature of the pixels of rows [r0, r1) and columns [c0, c1) (None: all): {recipe key: array}."""
        city_ = resolve(city_)
        if fields is None:
            fields = city_.fields(geom, n_azimuths)
        else:  # computed in other tasks: kept in this worker's copy, later calls over the city skip them
            city_.adopt_fields(geom, n_azimuths, fields)
        out = {}
        for (weight, psf_, split), keys in groups.items():
            ft = features(city_, fields, grid, psf_, bounce_radius, weight, flat=flat, mu_s=mu_s, split_lit=split,
                          only=tuple(recipes[k][3] for k in keys), rows=rows, cols=cols,
                          dtype=np.float64 if split else REFLECTIVE_FEATURE_DTYPE)  # split: thermal recipes
            out.update({k: ft[recipes[k][3]] for k in keys})
        return out

    if lazy:
        import dask
        import dask.array as dsa

        from .city import City
        from .shipping import CityRef, city_for_graph, copies_where

        # the city enters the graph once, then its horizons (a few sector tasks unless cached), then the features
        # by tiles: one per row chunk of the image and run of column chunks at least MIN_TILE_PX wide (its margin,
        # the PSF's and the bounces' reach, a small share of it); the work shared out over the workers, and each
        # chunk's inversion waits only for the tiles its window overlaps
        dcity = city_for_graph(city)
        def on_every_worker():  # a small query to the workers, only when the city here lacks the fields
            holders, n_workers = copies_where(dcity, partial(City.has_sky_view, n_azimuths=n_azimuths))
            return 0 < len(holders) == n_workers

        if city.has_fields(geom, n_azimuths) or (isinstance(dcity, CityRef) and on_every_worker()):
            # cached in the city, or every worker's copy holds the horizons of an earlier call (a time series over
            # one city): each tile task reads its own copy's fields, adding the sun and view of this scene
            dfields = None
        else:  # the horizon marches, the costliest part, in parallel tasks (a copy that holds them skips its own)
            sectors = [tuple(int(k) for k in sec)
                       for sec in np.array_split(np.arange(n_azimuths), min(SVF_TASKS, n_azimuths))]
            sums = [dask.delayed(_sky_view_sum, pure=False)(dcity, n_azimuths, sec) for sec in sectors]
            dfields = dask.delayed(_fields, pure=False)(dcity, geom, n_azimuths, sums, sectors)
        chunks = _halo_ready(img.data, h).chunks
        rows = np.cumsum((0,) + chunks[1])
        cols = _tile_edges(chunks[2], MIN_TILE_PX)
        tiles = [[dask.delayed(tile_task, pure=False)(dcity, dfields, (int(r0), int(r1)), (int(c0), int(c1)))
                  for c0, c1 in zip(cols[:-1], cols[1:])] for r0, r1 in zip(rows[:-1], rows[1:])]
        parts = {k: (tiles, k, cols) for k in recipes}

    else:
        whole = tile_task(city, city.fields(geom, n_azimuths), None, None)
        parts = {k: ([[whole]], k, None) for k in recipes}
    xp = dsa if lazy else np  # noqa: F821 (dsa bound when lazy)
    coords = {"element": city.names, "y": img.y.values, "x": img.x.values}
    yx = {"y": coords["y"], "x": coords["x"]}
    out = {}
    settings = dict(window=window, max_iter=max_iter, sensor=sen.name, atmosphere=atm.__dict__, flat=flat,
                    geometry=geom.__dict__)

    if rbands:
        nb = len(rbands)
        terms = reflective_terms(atm, rbands, geom)
        y = _bands(img, rbands)
        if var == "reflectance":
            e0 = xr.DataArray([band_solar_irradiance(b) for b in rbands], dims="band", coords={"band": y.band})
            y = y * e0 * mu_s / np.pi
        ya = _as_array(y, lazy)
        if adjacency_m:
            ya = adjacency_correct(ya, terms, adjacency_m / float(img.x[1] - img.x[0]), lazy)
        prior, prior_sd = reflectance_priors(reflectance_prior, city.names, nb)
        noise_total = float(np.hypot(noise if noise else sen.snr_noise, reflective_model_error))
        kw = dict(nb=nb, ne=ne, window=window, terms=terms, noise=noise_total,
                  prior_mean=prior, prior_std=prior_sd, max_iter=max_iter,
                  min_fraction=min_fraction)
        nout = reflective_outputs(nb, ne)
        inv_parts = [parts[k] for k in ("a", "g", "s", "cg", "cs")]
        area_parts = [parts[k] for k in ("Aa", "Ag", "As", "Acg", "Acs", "Acb")] if budget else []
        scene = None
        if reflectance_scene_std is not None:
            # first pass: the scene-level reflectance of each element and band, pooled over every window that
            # reports it (empirical Bayes, see scene_means); the second pass below draws each window toward it
            k = ne * nb
            sd = np.broadcast_to(prior_sd, prior.shape).ravel()  # (element, band) order
            first = partial(_scene_sums_of, func=partial(_reflective_chunk, kw=kw), values=slice(0, k),
                            stds=slice(k, 2 * k), std_floor=1e-3, prior_std=sd)
            scene = scene_means(_stack_run(ya, inv_parts, first, 3 * k, h, lazy, reduce=True), window, xp, sd)
        sw_kw = None
        if budget:  # computed in the chunk tasks from the area features: no graph of its own
            w, width = broadband_weights(rbands)
            sw_kw = dict(S=terms["S"], D=terms["D"], weights=w, widths=width, prior=prior)
            nout += 2 + 2 * ne
        chunk = partial(_reflective_chunk, kw=kw, sw_kw=sw_kw,
                        scene_std=None if scene is None else reflectance_scene_std)
        res = _stack_run(ya, inv_parts + area_parts, chunk, nout, h, lazy, scene)
        bc = [b.name for b in rbands]
        rc = {**coords, "band": bc}
        k = ne * nb
        out["reflectance"] = A.cf(xr.DataArray(res[:k].reshape(ne, nb, ny, nx), dims=("element", "band", "y", "x"),
                                               coords=rc), "1", "surface reflectance of each urban element",
                                 standard_name="surface_bidirectional_reflectance")
        out["reflectance_std"] = A.cf(xr.DataArray(res[k:2 * k].reshape(ne, nb, ny, nx),
                                                   dims=("element", "band", "y", "x"), coords=rc), "1",
                                      "posterior standard deviation of the element reflectance",
                                      standard_name="surface_bidirectional_reflectance standard_error")
        out["residual"] = A.cf(xr.DataArray(res[2 * k], dims=("y", "x"), coords=yx),
                               "1", "relative RMS radiance misfit over the window (reflective bands)")
        out["iterations"] = A.cf(xr.DataArray(res[2 * k + 1], dims=("y", "x"), coords=yx),
                                 "1", "Levenberg-Marquardt iterations (largest over bands)")
        if budget:
            i = 2 * k + 2
            sw = shortwave_dataset(res[i], res[i + 1], res[i + 2:i + 2 + ne], res[i + 2 + ne:i + 2 + 2 * ne],
                                   incoming_shortwave(terms["S"], terms["D"], mu_s, width), coords)
            out.update(sw.data_vars)

    if tbands:
        nbt = len(tbands)
        terms_t = thermal_terms(atm, tbands, geom)
        eps_mean = np.zeros((nbt, ne))
        missing = [e for e in city.names if e not in emissivity_prior]
        if missing:
            raise MissingVariableError(f"emissivity_prior lacks element(s) {missing}; give a value for every "
                                       f"element of the city {city.names}")
        for j, e in enumerate(city.names):
            eps_mean[:, j] = np.broadcast_to(np.asarray(emissivity_prior[e], dtype=float), (nbt,))
        yt = _bands(img, tbands)
        ya = _as_array(yt, lazy)
        ns = 2 * ne
        tparts = [parts[k] for k in ("Ta", "Ts", "Tc", "TAa")]
        # the data's spread: sensor NEdT and, in quadrature, what the window-constant model cannot follow
        nedt_total = float(np.hypot(nedt if nedt else sen.nedt, thermal_model_error))
        kw = dict(bands=tbands, ne=ne, window=window, terms=terms_t, nedt=nedt_total,
                  eps_mean=eps_mean, eps_std=emissivity_std, t_std=temperature_std, max_iter=max_iter,
                  min_fraction=min_fraction, contrast_std=contrast_std, anomaly_std=temperature_anomaly_std,
                  shade_prior=None if shaded_std is None else (atm.air_temperature, shaded_std))
        nout = thermal_outputs(nbt, ne)
        if temperature_scene_std is not None:
            # first pass: every part seen in a window reports, so that barely seen ones (shaded grass, say) get a
            # scene-level temperature too, weighted by their (low) precision; a wider temperature prior keeps the
            # scene estimate from shrinking toward the windows' brightness temperatures; no per-pixel anomalies
            # there: they would absorb the pixel-to-pixel contrasts that separate the parts (the second pass,
            # anchored on the scene temperatures, lets each pixel follow its local weather)
            kw1 = dict(kw, min_fraction=0.0, t_std=FIRST_PASS_T_STD_FACTOR * temperature_std, anomaly_std=None)
            t_sd = np.full(ns, kw1["t_std"])
            if shaded_std is not None:
                t_sd[0::2] = shaded_std
            first = partial(_scene_sums_of, func=partial(invert_thermal_block, **kw1),
                            values=slice(2 * ne, 2 * ne + ns), stds=slice(2 * ne + ns, 2 * ne + 2 * ns), std_floor=0.1,
                            prior_std=t_sd)
            scene = scene_means(_stack_run(ya, tparts, first, 3 * ns, h, lazy, reduce=True), window, xp, t_sd)
            kw = dict(kw, scene_std=temperature_scene_std, contrast_std=None)
        const = scene if temperature_scene_std is not None else None
        if budget:  # computed in the chunk tasks from the area channels: no graph of its own
            res = _stack_run(ya, tparts, partial(_thermal_and_budget, kw=kw), nout + 1 + 2 * ne, h, lazy, const)
        else:
            res = _stack_run(ya, tparts, partial(invert_thermal_block, **kw), nout, h, lazy, const)
        tc = {**coords, "thermal_band": [b.name for b in tbands]}
        pc = {**coords, "part": ["shaded", "sunlit"]}
        dims_p = ("element", "part", "y", "x")
        t_el = xr.DataArray(res[:ne], dims=("element", "y", "x"), coords=coords)
        t_el_std = xr.DataArray(res[ne:2 * ne], dims=("element", "y", "x"), coords=coords)
        t_parts = xr.DataArray(res[2 * ne:2 * ne + ns].reshape(ne, 2, ny, nx), dims=dims_p, coords=pc)
        t_parts_std = xr.DataArray(res[2 * ne + ns:2 * ne + 2 * ns].reshape(ne, 2, ny, nx), dims=dims_p, coords=pc)
        k = 2 * ne + 2 * ns
        out["temperature"] = A.cf(t_el, "K", "surface temperature of each urban element (its shaded and sunlit "
                                             "facets weighted by their surface in the pixel)", "surface_temperature")
        out["temperature_std"] = A.cf(t_el_std, "K", "posterior standard deviation of the element temperature",
                                      "surface_temperature standard_error")
        out["temperature_parts"] = A.cf(t_parts, "K", "surface temperature of the shaded and sunlit facets of "
                                                      "each urban element", "surface_temperature")
        out["temperature_parts_std"] = A.cf(t_parts_std, "K", "posterior standard deviation of temperature_parts",
                                            "surface_temperature standard_error")
        out["emissivity"] = A.cf(xr.DataArray(res[k:k + ne * nbt].reshape(ne, nbt, ny, nx),
                                              dims=("element", "thermal_band", "y", "x"), coords=tc), "1",
                                 "emissivity of each urban element", "surface_longwave_emissivity")
        out["emissivity_std"] = A.cf(xr.DataArray(res[k + ne * nbt:k + 2 * ne * nbt].reshape(ne, nbt, ny, nx),
                                                  dims=("element", "thermal_band", "y", "x"), coords=tc), "1",
                                     "posterior standard deviation of the element emissivity",
                                     "surface_longwave_emissivity standard_error")
        if temperature_anomaly_std:
            out["temperature_anomaly"] = A.cf(xr.DataArray(res[nout - 4], dims=("y", "x"), coords=yx), "K",
                                              "temperature anomaly shared by all surfaces of the pixel (included in "
                                              "temperature and temperature_parts)")
            out["temperature_anomaly_std"] = A.cf(xr.DataArray(res[nout - 3], dims=("y", "x"), coords=yx), "K",
                                                  "posterior standard deviation of temperature_anomaly")
        out["thermal_residual"] = A.cf(xr.DataArray(res[nout - 2], dims=("y", "x"), coords=yx), "1",
                                       "relative RMS radiance misfit over the window (thermal bands)")
        out["thermal_iterations"] = A.cf(xr.DataArray(res[nout - 1], dims=("y", "x"), coords=yx), "1",
                                         "Levenberg-Marquardt iterations (thermal)")
        if "residual" not in out:
            out["residual"], out["iterations"] = out["thermal_residual"], out["thermal_iterations"]
        if budget:
            lw = longwave_dataset(res[nout], res[nout + 1:nout + 1 + ne], res[nout + 1 + ne:nout + 1 + 2 * ne], coords)
            out.update(lw.data_vars)

    ds = A.georeference(xr.Dataset(out), like=img)
    return A.stamp(ds, "urban.unmix_flat" if flat else "urban.invert", **settings)
