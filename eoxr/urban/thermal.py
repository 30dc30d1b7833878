"""The thermal solver: temperatures of the sunlit and shaded parts of every element, and element emissivities.

The features come per sub-element (2e: shaded facets of element e, 2e + 1: sunlit ones, see
:func:`.forward.features` ``split_lit``): sunlit and shaded parts of an element have their own temperature and
share the element's emissivity. In thermal band b a window's pixel k sees (:func:`.forward.thermal_model`)

    y_kb = L_up + tau [sum_e a_ke eps_e B(T_e) + (1 - eps_e) s_ke L_sky + sum_{e,f} (1 - eps_e) c_kef eps_f B(T_f)]

Unknowns per pixel: temperatures (2 ne) then emissivities (nbt x ne), and with ``anomaly_std`` the window's K
pixel anomalies; every window is a small bounded least-squares problem with a Gaussian prior, solved for all
windows of a block at once by :func:`.lm.levenberg_marquardt`. Elements seen with less than ``min_fraction`` of
the window's weighted view (parts: half of it) are reported as NaN. A second pass draws every part toward its
scene-level temperature from the first (:mod:`.scene`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ..errors import ConvergenceError, MissingVariableError
from .device import solver_device
from .forward import thermal_model
from .lm import levenberg_marquardt
from .scene import scene_values
from .sensors import band_planck
from .tiles import stack_run
from .windows import window_weights, windows

T_BOUNDS = (200.0, 380.0)  # K
EPS_BOUNDS = (0.8, 1.0)
ANOMALY_BOUND = 30.0  # K, bound of a pixel's temperature anomaly
FIRST_PASS_T_STD_FACTOR = 3.0  # temperature prior widening of the first of two thermal passes (1, 3, 10 tried)
# a part's temperature is informed by the data when its posterior spread is under this share of its prior's
# (the emitted longwave uses it then, reported or not); 0.5 and 0.8 gave the same emitted-longwave error on the
# benchmark's thermal scenes (seeds 4-6, 8, 9)
INFORMED = 0.5


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


def emissivity_priors(prior: dict, names, nbt: int) -> np.ndarray:
    """The prior emissivity (nbt, ne) from {element: emissivity or per-band list}, one for every element."""
    missing = [e for e in names if e not in prior]
    if missing:
        raise MissingVariableError(f"emissivity_prior lacks element(s) {missing}; give a value for every "
                                   f"element of the city {list(names)}")
    eps_mean = np.zeros((nbt, len(names)))
    for j, e in enumerate(names):
        eps_mean[:, j] = np.broadcast_to(np.asarray(prior[e], dtype=float), (nbt,))
    return eps_mean


def thermal_outputs(nbt: int, ne: int) -> int:
    """Output channels: element temperature (ne) and std (ne) in the pixel, temperature of the shaded and sunlit
    parts (2 ne: 2e shaded, 2e + 1 sunlit) and std, emissivity (ne*nbt) and std, the pixel's temperature anomaly
    and its std, residual, iterations."""
    return 6 * ne + 2 * ne * nbt + 4


@dataclass
class _Windows:
    """A block's windows (P pixels, K offsets) as the thermal solver reads them."""

    raw: np.ndarray  # (P, K, channels)
    yb: np.ndarray  # (P, nbt, K) radiances, 0 where missing
    wk: np.ndarray  # (P, nbt, K) window weights, 0 where missing
    valid: np.ndarray  # (P, nbt, K)
    a: np.ndarray  # (P, K, ns) seen fraction of each part
    s: np.ndarray  # (P, K, ns) sky view
    c: np.ndarray  # (P, K, ns, ns) couplings
    seen_sub: np.ndarray  # (P, ns) parts that are unknowns of the window
    seen: np.ndarray  # (P, ne)
    present_sub: np.ndarray  # (P, ns) parts reported
    present: np.ndarray  # (P, ne)

    @property
    def wsum(self) -> np.ndarray:
        return self.wk.sum(-1)  # (P, nbt)


def _thermal_windows(block, lay: dict, window: int, ne: int, min_fraction: float) -> _Windows:
    """The windows of ``block`` and which parts and elements each sees (unknowns) and reports."""
    win = windows(block, window)
    P, K = win.shape[:2]
    ns = 2 * ne
    ww = window_weights(window)[None, :]
    yw = np.moveaxis(win[..., lay["y"]], -1, 1)  # (P, nbt, K)
    feat_ok = np.isfinite(win[..., lay["a"]]).all(-1)
    valid = feat_ok[:, None, :] & np.isfinite(yw)
    wk = np.where(valid, ww[:, None, :], 0.0)  # (P, nbt, K)
    a = np.nan_to_num(win[..., lay["a"]])
    wsum = wk.sum(-1)
    frac_sub = (wk[:, 0, :, None] * a).sum(1) / np.maximum(wsum[:, :1], 1e-300)  # (P, ns)
    frac = frac_sub.reshape(P, ne, 2).sum(-1)
    ok = wsum[:, :1] > 0
    seen_sub = (frac_sub > 1e-9) & ok
    seen = (frac > 1e-9) & ok
    return _Windows(win, np.nan_to_num(yw), wk, valid, a, np.nan_to_num(win[..., lay["s"]]),
                    np.nan_to_num(win[..., lay["c"]]).reshape(P, K, ns, ns), seen_sub, seen,
                    seen_sub & (frac_sub > min_fraction / 2), seen & (frac > min_fraction))


def _temperature_prior(w: _Windows, lay: dict, bands, terms: dict, eps_mean: np.ndarray, t_std: float,
                       shade_prior, scene_std):
    """Start and prior (mean, precision) of every part's temperature, (P, ns) each: the brightness temperature
    of the window's mean radiance in the clearest band, emissivity-corrected, +- ``t_std``; shaded parts at
    ``shade_prior`` (mean, std) when given; with ``scene_std``, the scene-level temperatures in the block."""
    P, K = w.a.shape[:2]
    ns = w.a.shape[-1]
    wsum = w.wsum
    ib = int(np.argmax(terms["tau"]))
    lmean = (w.wk[:, ib] * w.yb[:, ib]).sum(-1) / np.maximum(wsum[:, ib], 1e-300)
    lsurf = (lmean - terms["L_up"][ib]) / terms["tau"][ib]
    grid_t = np.linspace(*T_BOUNDS, 721)
    bt = np.interp(lsurf / np.clip(eps_mean[ib].mean(), 0.8, 1.0), band_planck(bands[ib], grid_t), grid_t)
    t0 = np.repeat(bt[:, None], ns, 1)
    tp = np.full((P, ns), 1 / t_std**2)
    if shade_prior is not None:
        t0[:, 0::2] = shade_prior[0]
        tp[:, 0::2] = 1 / shade_prior[1] ** 2
    if scene_std is not None:
        scene = w.raw[:, K // 2, lay["scene"]]  # (P, ns), the same in every pixel
        known = np.isfinite(scene)
        t0 = np.where(known, scene, t0)
        # a weakly determined scene temperature is a weak prior
        se = np.nan_to_num(w.raw[:, K // 2, lay["scene_se"]])
        tp = np.where(known, 1 / (scene_std**2 + se**2), tp)
    return t0, tp


class _ThermalProblem:
    """Weighted residuals and Jacobian of a block's windows for :func:`.lm.levenberg_marquardt`; unknowns:
    temperatures (ns), emissivities (nbt x ne), and ``nk`` pixel anomalies; with ``contrast_std``, a prior row
    per element seen sunlit and shaded that draws their difference toward 0."""

    def __init__(self, w: _Windows, bands, terms: dict, nedt: float, nk: int, contrast_std):
        self.w, self.bands, self.terms, self.nk = w, bands, terms, nk
        self.nbt, self.ns = len(bands), w.a.shape[-1]
        self.ne = self.ns // 2
        self.ia = self.ns + self.nbt * self.ne  # index of the first anomaly
        self.sub2el = np.repeat(np.arange(self.ne), 2)
        self.onehot = np.eye(self.ne)[self.sub2el]  # (ns, ne)
        # noise: NEdT converted to radiance at 300 K through the band's dB/dT and the transmittance
        sig = np.array([band_planck(b, 300.0, derivative=True)[1] for b in bands]) * nedt * terms["tau"]
        self.sw = np.sqrt(w.wk) / sig[None, :, None]
        self.eye = np.eye(self.nbt)
        self.contrast_std = contrast_std
        ne = self.ne
        self.both = w.seen_sub.reshape(-1, ne, 2).all(-1)  # elements seen sunlit and shaded
        self.diff = np.zeros((ne, self.ia + nk))
        self.diff[np.arange(ne), 2 * np.arange(ne) + 1] = 1.0
        self.diff[np.arange(ne), 2 * np.arange(ne)] = -1.0

    def model(self, x, idx):
        """Radiances (p, nbt, K) and their derivatives by the temperatures and the element emissivities."""
        w, ns, nbt, ne = self.w, self.ns, self.nbt, self.ne
        temp, eps = x[:, :ns], x[:, ns:self.ia].reshape(-1, nbt, ne)
        if not self.nk:
            ym, dT, deps_sub = thermal_model(temp, eps[..., self.sub2el], w.a[idx], w.s[idx], w.c[idx], self.bands,
                                             self.terms)
            return ym, dT, deps_sub @ self.onehot  # emissivity shared by the sunlit and shaded parts
        # each window pixel its own temperatures T_s + d_k: the model over (p, K) with one pixel each
        tk = temp[:, None, :] + x[:, self.ia:, None]
        ym, dT, deps_sub = thermal_model(tk, eps[:, None][..., self.sub2el], w.a[idx][:, :, None],
                                         w.s[idx][:, :, None], w.c[idx][:, :, None], self.bands, self.terms)
        return ym[..., 0].swapaxes(1, 2), dT[..., 0, :].swapaxes(1, 2), \
            deps_sub[..., 0, :].swapaxes(1, 2) @ self.onehot

    def __call__(self, x, idx):
        ym, dT, deps = self.model(x, idx)
        nbt, K = self.nbt, self.w.a.shape[1]
        r = (self.sw[idx] * (self.w.yb[idx] - ym)).reshape(len(idx), -1)
        swi = self.sw[idx][..., None]
        jt = (swi * dT).reshape(len(idx), nbt * K, self.ns)
        je = (swi * deps)[:, :, :, None, :] * self.eye[None, :, None, :, None]  # (p, nbt, K, nbt, ne)
        J = [jt, je.reshape(len(idx), nbt * K, nbt * self.ne)]
        if self.nk:  # d_k moves every part of pixel k
            J.append(((swi[..., 0] * dT.sum(-1))[..., None] * np.eye(K)).reshape(len(idx), nbt * K, K))
        J = np.concatenate(J, -1)
        if self.contrast_std:
            cw = self.both[idx] / self.contrast_std  # (p, ne)
            r = np.concatenate([r, -cw * (x @ self.diff.T)], -1)
            J = np.concatenate([J, cw[..., None] * self.diff[None]], 1)
        return r, J


def invert_thermal_block(block: np.ndarray, *, bands, ne: int, window: int, terms: dict, nedt: float,
                         eps_mean: np.ndarray, eps_std: float, t_std: float, max_iter: int, min_fraction: float,
                         contrast_std: float | None = None, shade_prior: tuple[float, float] | None = None,
                         scene_std: float | None = None, anomaly_std: float | None = None, tol_t: float = 1e-4,
                         tol_eps: float = 1e-6, all_parts: bool = False, device: str = "cpu") -> np.ndarray:
    """Invert one thermal block (channels, Y + 2h, X + 2h) -> (outputs, Y, X) (see module doc).

    Prior: emissivity ``eps_mean`` (nbt, ne) +- ``eps_std``, temperature the window's brightness temperature
    +- ``t_std`` K (shaded parts: ``shade_prior`` (mean, std) K when given); with ``contrast_std`` (K), the
    sunlit-minus-shaded difference of an element seen in both states is also drawn toward 0 with that spread (a
    prior row per element). With ``scene_std`` (K) the block carries the scene-level temperature of each part and
    its standard error (channels ``scene``, ``scene_se``, NaN where unknown, see :func:`.scene.scene_means`):
    the prior of a part is then that temperature +- ``scene_std`` and the standard error in quadrature. The
    element's temperature in the pixel averages its parts weighted by their surface in the pixel (channels
    ``area``). With ``anomaly_std`` (K) every pixel k of the window adds its own anomaly d_k (prior 0 +- that) to
    the temperature of all the parts it holds (T_s + d_k): local weather (air temperature, wind, humidity) shifts
    every surface of a neighbourhood together, and the window's parts stay common to its pixels. Unknowns then
    end with the window's K anomalies; the centre pixel's is added to the parts and elements reported.
    ``all_parts``: after the outputs, the posterior mean temperature of every part that the data inform (its
    posterior spread under ``INFORMED`` times its prior's; ns, NaN for the others), reported or not, and the
    broadband emissivity of every element (ne; unseen ones at their prior). ``device``: where the solver runs
    (:func:`.device.solver_device`).
    """
    nbt, ns, h = len(bands), 2 * ne, window // 2
    lay, _ = split_thermal(nbt, ns, scene_std is not None)
    w = _thermal_windows(block, lay, window, ne, min_fraction)
    P, K = w.a.shape[:2]
    t0, tp = _temperature_prior(w, lay, bands, terms, eps_mean, t_std, shade_prior, scene_std)
    nk = K if anomaly_std else 0  # per-pixel anomalies: the last unknowns
    problem = _ThermalProblem(w, bands, terms, nedt, nk, contrast_std)
    x0 = np.concatenate([t0, np.broadcast_to(eps_mean.reshape(1, -1), (P, nbt * ne)), np.zeros((P, nk))], 1)
    pp = np.concatenate([np.where(w.seen_sub, tp, 1e12), np.where(np.tile(w.seen, (1, nbt)), 1 / eps_std**2, 1e12),
                         np.where(w.valid.any(1), 1 / anomaly_std**2, 1e12) if nk else np.zeros((P, 0))], 1)
    lo = np.array([T_BOUNDS[0]] * ns + [EPS_BOUNDS[0]] * (nbt * ne) + [-ANOMALY_BOUND] * nk)
    hi = np.array([T_BOUNDS[1]] * ns + [EPS_BOUNDS[1]] * (nbt * ne) + [ANOMALY_BOUND] * nk)
    tol = np.array([tol_t] * ns + [tol_eps] * (nbt * ne) + [tol_t] * nk)
    if P and not np.isfinite(x0).all():
        raise ConvergenceError("no finite start temperature: the thermal radiances hold NaN or negative values; "
                               "pass calibrated radiances (W m-2 sr-1 um-1) of the thermal bands")
    dev = solver_device(device)
    if dev is None:
        res = levenberg_marquardt(problem, x0, lo, hi, x0.copy(), pp, max_iter=max_iter, tol=tol, full_cov=True)
    else:
        from .problems_torch import solve_thermal_windows

        res = solve_thermal_windows(problem, x0, lo, hi, pp, device=dev, max_iter=max_iter, tol=tol, full_cov=True)
    Y, X = block.shape[1] - 2 * h, block.shape[2] - 2 * h
    area = np.nan_to_num(block[lay["area"], h:h + Y, h:h + X].reshape(ns, -1).T)  # (P, ns) centre pixel
    out = _thermal_report(res, problem, area, tp if all_parts else None)
    return out.reshape(-1, Y, X)


def _thermal_report(res, problem: _ThermalProblem, area: np.ndarray, part_prior_precision) -> np.ndarray:
    """The outputs (channels, P) of a solved block (see :func:`thermal_outputs`); with the parts' prior precision
    (``invert_thermal_block``'s ``all_parts``) also the informed parts' temperatures and every element's
    broadband emissivity."""
    w, ns, nbt, ne, nk, ia = problem.w, problem.ns, problem.nbt, problem.ne, problem.nk, problem.ia
    P, K = w.a.shape[:2]
    n = res.x.shape[1]
    # what is reported, as linear combinations of the unknowns (P, ., n): parts in the centre pixel (T_s + d_centre)
    # and elements (their parts weighted by surface); their spread from the posterior covariance
    part_of = np.zeros((P, ns, n))
    part_of[:, np.arange(ns), np.arange(ns)] = 1.0
    if nk:
        part_of[:, :, ia + K // 2] = 1.0
    # parts the sensor sees in the window carry the element's temperature; unseen ones (e.g. walls facing away
    # from the sensor) are left out of the average; an element absent from the centre pixel but seen in the
    # window gets the plain mean of its parts
    use = w.seen_sub.reshape(P, ne, 2)
    wt = np.where(use, area.reshape(P, ne, 2), 0.0)
    wt = np.where(wt.sum(-1, keepdims=True) > 0, wt, use.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        wt = wt / wt.sum(-1, keepdims=True)
    el_of = np.einsum("pes,pesn->pen", np.nan_to_num(wt), part_of.reshape(P, ne, 2, n))

    def combine(m):
        return (m @ res.x[:, :, None])[..., 0], np.sqrt(np.maximum(np.einsum("pin,pnm,pim->pi", m, res.cov, m), 0))

    t_parts, s_parts = combine(part_of)
    temp = np.where(w.present_sub, t_parts, np.nan)
    tstd = np.where(w.present_sub, s_parts, np.nan)
    t_el, s_el = combine(el_of)
    t_el = np.where(w.present, t_el, np.nan)
    s_el = np.where(w.present, s_el, np.nan)
    eps = np.where(w.present[:, None, :], res.x[:, ns:ia].reshape(P, nbt, ne), np.nan)
    estd = np.where(w.present[:, None, :], res.std[:, ns:ia].reshape(P, nbt, ne), np.nan)
    centre_ok = w.valid[:, :, K // 2].any(1)
    anomaly = np.where(centre_ok, res.x[:, ia + K // 2] if nk else 0.0, np.nan)
    anomaly_sd = np.where(centre_ok, res.std[:, ia + K // 2] if nk else 0.0, np.nan)
    # residual: relative RMS radiance misfit, like the reflective one
    ym, _, _ = problem.model(res.x, np.arange(P))
    wsum = w.wsum
    scale = (w.wk * w.yb).sum(-1).sum(-1) / np.maximum(wsum.sum(-1), 1e-300)
    rr = np.sqrt((w.wk * (w.yb - ym) ** 2).sum((1, 2)) / np.maximum(wsum.sum(-1), 1e-300)) \
        / np.maximum(scale, 1e-300)
    out = np.concatenate([t_el.T, s_el.T, temp.T, tstd.T,
                          np.moveaxis(eps, 0, -1).transpose(1, 0, 2).reshape(ne * nbt, P),
                          np.moveaxis(estd, 0, -1).transpose(1, 0, 2).reshape(ne * nbt, P),
                          anomaly[None], anomaly_sd[None], rr[None], res.iterations[None].astype(float)])
    if part_prior_precision is not None:
        informed = w.seen_sub & (s_parts < INFORMED * part_prior_precision**-0.5)
        eps_all = res.x[:, ns:ia].reshape(P, nbt, ne).mean(1)
        out = np.concatenate([out, np.where(informed, t_parts, np.nan).T, eps_all.T])
    return out


def thermal_and_budget(block: np.ndarray, kw: dict) -> np.ndarray:
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


def solve_thermal(y, parts: list, *, bands, ne: int, window: int, terms: dict, nedt: float, eps_mean: np.ndarray,
                  eps_std: float, t_std: float, max_iter: int, min_fraction: float, contrast_std, anomaly_std,
                  shade_prior, scene_std, budget: bool, lazy: bool, device: str = "cpu"):
    """Both thermal passes over the image radiances ``y`` (nbt, Y, X) and the feature ``parts`` ``Ta, Ts, Tc,
    TAa`` (see :func:`.tiles.stack_run`): the outputs of :func:`invert_thermal_block` (with ``budget``, of
    :func:`thermal_and_budget`), (channels, Y, X).

    With ``scene_std`` (K), a first pass gives every part a scene-level temperature: every part seen in a window
    reports, so that barely seen ones (shaded grass, say) get one too, weighted by their (low) precision; a wider
    temperature prior keeps the scene estimate from shrinking toward the windows' brightness temperatures; no
    per-pixel anomalies there: they would absorb the pixel-to-pixel contrasts that separate the parts (the second
    pass, anchored on the scene temperatures, lets each pixel follow its local weather). ``device``: where the
    solver runs, resolved in each chunk's task (:func:`.device.solver_device`)."""
    kw = dict(bands=bands, ne=ne, window=window, terms=terms, nedt=nedt, eps_mean=eps_mean, eps_std=eps_std,
              t_std=t_std, max_iter=max_iter, min_fraction=min_fraction, contrast_std=contrast_std,
              anomaly_std=anomaly_std, shade_prior=shade_prior, device=device)
    nout = thermal_outputs(len(bands), ne)
    scene = None
    if scene_std is not None:
        ns = 2 * ne
        kw1 = dict(kw, min_fraction=0.0, t_std=FIRST_PASS_T_STD_FACTOR * t_std, anomaly_std=None)
        t_sd = np.full(ns, kw1["t_std"])
        if shade_prior is not None:
            t_sd[0::2] = shade_prior[1]
        scene = scene_values(y, parts, partial(invert_thermal_block, **kw1), slice(2 * ne, 2 * ne + ns),
                             slice(2 * ne + ns, 2 * ne + 2 * ns), 0.1, t_sd, window, lazy)
        kw = dict(kw, scene_std=scene_std, contrast_std=None)
    if budget:  # computed in the chunk tasks from the area channels: no graph of its own
        return stack_run(y, parts, partial(thermal_and_budget, kw=kw), nout + 1 + 2 * ne, window // 2, lazy, scene)
    return stack_run(y, parts, partial(invert_thermal_block, **kw), nout, window // 2, lazy, scene)
