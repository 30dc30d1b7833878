"""3-D radiative transfer over a 2.5-D city and its element-aggregated form with an analytic Jacobian.

The scene model follows the discrete-facet view of DART (Gastellu-Etchegorry et al. 2015, IEEE JSTARS 8(6),
doi:10.1109/JSTARS.2015.2406827), reduced to Lambertian facets on a raster, one sun, an isotropic sky, and
inter-facet exchange through a local kernel. A cell holds up to two facets (a wall and its horizontal top, the
layers of :mod:`.city`): per-facet fields and properties carry a layer axis of length 2 before (y, x), and every
sum over cells below runs over both layers.

Reflective band (per facet i of reflectance rho_i; S, D, L_p, T_up, T_dif from :mod:`.atmosphere`, W m-2 um-1):

    E0_i = S mu_i + D V_i                              mu_i: lit cos(incidence) x lit fraction, V_i: sky view
    M_i  = rho_i (E0_i + E_b,i)                        exitance, W m-2 um-1
    E_b,j = (1 - V_j) [K * (u M / Dk)]_j               one bounce from the surrounding facets
    u_i = (1 - V_i) A_i,  Dk = K * u                   A_i: facet area per cell, K: box kernel of radius r

The exchange sends the share (1 - V_i) of facet i's exitance to its neighbours j in proportion to K_ij u_j, so
with rho = 1 and many bounces the energy leaving to the sky equals the energy coming in (tested).
Surface-leaving radiance M_i / pi reaches the top of atmosphere as L = L_p + T_up M_i/pi + T_dif <M/pi>, where
<.> is the adjacency (Gaussian mean over ``adjacency_m``) or the facet itself when adjacency is off.

Thermal band (emissivity eps_i, temperature T_i, sky radiance L_sky, path emission L_up, transmittance tau):

    L_s,i = eps_i B(T_i) + (1 - eps_i) [V_i L_sky + (1 - V_i) K * (u L_s / Dk)]_i,   L = L_up + tau L_s

with L_s on the right taken from the previous bounce (first bounce: eps B).

A sensor pixel q averages the top-of-atmosphere radiance of the facets it sees, weighted by the seen projected
area w_i (:func:`geometry.view_weight`) convolved with the PSF (a Gaussian, sigma in pixels, or a mixture of
Gaussians, :func:`psf_components`):
y_q = sum_i P_qi w_i L_i / sum_i P_qi w_i.

Element form. With properties constant per element e over the pixels that are compared, one bounce is exactly

    y_qb = L_p + (T_up + T_dif)/pi [sum_e rho_e (S g_qe + D s_qe) + sum_{e,f} rho_e rho_f (S cg_qef + D cs_qef)]
    y_qb = L_up + tau [sum_e a_qe eps_e B(T_e) + (1 - eps_e) s_qe L_sky + sum_{e,f} (1 - eps_e) c_qef eps_f B(T_f)]

with geometric features a (seen fraction), g (lit cosine), s (sky view), c, cg, cs (one-bounce couplings)
from :func:`features`. These are linear (a, g, s) and bilinear (c...) in the properties, which gives the
analytic Jacobians of :func:`reflective_model` and :func:`thermal_model`. A further coupling, cb, of an exitance
spread like the bounce irradiance (as 1 - V), carries the higher orders of reflection in the radiative budget
(:mod:`.budget`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from ..errors import ParameterError
from .city import City, CoarseGrid
from .sensors import Band, band_planck

FEATURES_1 = ("a", "g", "s")
SUNLIT_SHARE = 0.5  # a facet lit over at least this share of its surface is sunlit (warmer: its own temperature)
FEATURES_2 = ("c", "cg", "cs", "cb")


def _box(field: np.ndarray, radius_cells: int) -> np.ndarray:
    if radius_cells <= 0:
        return field
    return ndimage.uniform_filter(field, size=2 * radius_cells + 1, mode="constant") * (2 * radius_cells + 1) ** 2


class Exchange:
    """The one-bounce exchange operator of a city grid: x -> (1 - V) K * (u x / Dk), over the facet layers
    (the layer axis, -3, is summed as a source: a cell's wall and cap both send and receive)."""

    def __init__(self, svf: np.ndarray, area: np.ndarray, radius_cells: int):
        self.svf = svf
        self.r = int(radius_cells)
        self.u = (1 - svf) * area  # (2, ny, nx)
        dk = _box(self.u.sum(0), self.r)
        self.inv_dk = np.where(dk > 1e-12, 1 / np.where(dk > 1e-12, dk, 1), 0.0)

    def gather(self, exitance: np.ndarray) -> np.ndarray:
        """K * (u M / Dk) (the environment term before the (1 - V) factor): (..., 2, ny, nx) -> (..., ny, nx)."""
        src = (self.u * exitance).sum(-3) * self.inv_dk
        if src.ndim == 2:
            return _box(src, self.r)
        return np.stack([_box(s, self.r) for s in src.reshape(-1, *src.shape[-2:])]).reshape(src.shape)

    def __call__(self, exitance: np.ndarray) -> np.ndarray:
        return (1 - self.svf) * self.gather(exitance)[..., None, :, :]


@lru_cache(maxsize=8)
def _blur_and_sum(n: int, start: int, count: int, factor: int, sigma: float, dtype=np.float64) -> np.ndarray:
    """(count, n) matrix M with M f = the sums over pixels of ``factor`` fine cells (from cell ``start``) of f
    blurred by a Gaussian of ``sigma`` cells along one axis (zero beyond the grid): the blur is symmetric, so
    M^T is the blur of the pixels' indicator columns. Cached (read-only): a feature aggregates many fields on
    one grid. In ``dtype``, that of the fields it aggregates (a matrix of another precision would convert them)."""
    ind = np.zeros((n, count))
    for r in range(count):
        ind[start + r * factor:start + (r + 1) * factor, r] = 1.0
    m = ndimage.gaussian_filter1d(ind, sigma, axis=0, mode="constant").T.astype(dtype)
    m.flags.writeable = False
    return m


def psf_components(psf_px) -> list[tuple[float, float]]:
    """A PSF as (weight, Gaussian sigma in pixels) components, weights summing to 1: ``psf_px`` a sigma (one
    Gaussian) or a sequence of (weight, sigma) pairs (e.g. a core and a wider wing)."""
    if np.ndim(psf_px) == 0:
        if not np.isfinite(psf_px) or psf_px < 0:
            raise ParameterError(f"a PSF's Gaussian sigma is a number of pixels >= 0 (0: the pixel's box alone), "
                                 f"not {psf_px}")
        return [(1.0, float(psf_px))]
    comps = [(float(w), float(s)) for w, s in psf_px]
    total = sum(w for w, _ in comps)
    if not comps or min(w for w, _ in comps) < 0 or min(s for _, s in comps) < 0 or total <= 0:
        raise ParameterError(f"a PSF mixture needs (weight >= 0, sigma >= 0) pairs with a positive total, got {psf_px}")
    return [(w / total, s) for w, s in comps]


def as_psf(psf, nominal: float):
    """The PSF an inversion assumes (pixels): ``psf`` a Gaussian's sigma, a mixture ((weight, sigma), ...) (see
    :func:`psf_components`), the result of :func:`eoxr.urban.fit_psf` (its attributes ``psf_sigma``,
    ``psf_wing_weight``, ``psf_wing_sigma``), or None: the sensor's ``nominal`` sigma. A sigma, or a tuple of
    (weight, sigma) pairs (hashable: features of one PSF are computed together)."""
    if psf is None:
        return float(nominal)
    attrs = getattr(psf, "attrs", None)
    if attrs is not None:
        try:
            core, weight, wing = (float(attrs[k]) for k in ("psf_sigma", "psf_wing_weight", "psf_wing_sigma"))
        except KeyError:
            raise ParameterError("psf= takes a sigma (pixels), ((weight, sigma), ...) or the result of fit_psf "
                                 "(attributes psf_sigma, psf_wing_weight, psf_wing_sigma)") from None
        return core if weight == 0 else ((1.0 - weight, core), (weight, wing))
    if np.ndim(psf) == 0:
        return float(psf_components(psf)[0][1])
    return tuple(psf_components(psf))


def psf_reach(psf_px) -> float:
    """The widest sigma (pixels) of a PSF (see :func:`psf_components`)."""
    return max(s for _, s in psf_components(psf_px))


def _aggregate(num: np.ndarray, den: np.ndarray, grid: CoarseGrid, psf_px, shift_px=(0.0, 0.0)):
    """PSF-weighted pixel means sum P num / sum P den of per-cell fields (facet layers summed before);
    ``psf_px``: see :func:`psf_components`; ``shift_px`` moves the sensor grid (misregistration)."""
    comps = psf_components(psf_px)
    if len(comps) > 1:
        parts = [(w, _aggregate_sums(num, den, grid, s, shift_px)) for w, s in comps]
        n = sum(w * p[0] for w, p in parts)
        d = sum(w * p[1] for w, p in parts)
    else:
        n, d = _aggregate_sums(num, den, grid, comps[0][1], shift_px)
    return n / np.where(d > 0, d, np.nan)


def _aggregate_sums(num: np.ndarray, den: np.ndarray, grid: CoarseGrid, psf_px: float, shift_px=(0.0, 0.0)):
    """The PSF-weighted pixel sums (sum P num, sum P den) of a Gaussian PSF of ``psf_px`` pixels."""
    sigma = psf_px * grid.factor
    if sigma > 0 and not (shift_px[0] or shift_px[1]):
        # blur and block sum as two small matrix products per field (BLAS), several times faster than a
        # blurred fine field summed afterwards; the same Gaussian weights and zero boundary as gaussian_filter
        f = grid.factor
        (ry, cx), (ny, nx) = num.shape[-2:], (grid.ny, grid.nx)
        dtype = np.result_type(num, den)
        my = _blur_and_sum(ry, grid.row0, ny, f, sigma, dtype)
        mx = _blur_and_sum(cx, grid.col0, nx, f, sigma, dtype)
        d = my @ den @ mx.T
        # the cheaper order first: a band of pixel rows (ny << nx) reduces its rows first, 2-4x fewer flops
        if ny * ry * cx + ny * cx * nx < ry * cx * nx + ny * ry * nx:
            return (my @ num) @ mx.T, d
        return my @ (num @ mx.T), d

    def conv(f):
        out = ndimage.gaussian_filter(f, sigma=(0,) * (f.ndim - 2) + (sigma, sigma), mode="constant") if sigma > 0 else f
        if shift_px[0] or shift_px[1]:
            sh = (0,) * (f.ndim - 2) + (-shift_px[0] * grid.factor, -shift_px[1] * grid.factor)
            out = ndimage.shift(out, sh, order=1, mode="nearest")
        return out
    return grid.block_sum(conv(num)), grid.block_sum(conv(den))


@lru_cache(maxsize=4)
def _reflect_blur_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) matrix M with M f = ``gaussian_filter1d(f, sigma, mode="reflect")`` along one axis (cached,
    read-only)."""
    m = ndimage.gaussian_filter1d(np.eye(n), sigma, axis=0, mode="reflect")
    m.flags.writeable = False
    return m


def _blur_reflect(field: np.ndarray, sigma: float) -> np.ndarray:
    """``gaussian_filter`` of the last two axes, ``mode="reflect"``. An environment of hundreds of metres on a fine
    grid has a kernel wider than the grid; up to 2048 cells a side, two matrix products are then many times faster
    than the direct convolution (300 m at 0.5 m on 320 x 320 cells: a 4801-tap kernel)."""
    ny, nx = field.shape[-2:]
    if max(ny, nx) > 2048:
        return ndimage.gaussian_filter(field, sigma=(0,) * (field.ndim - 2) + (sigma, sigma), mode="reflect")
    return _reflect_blur_matrix(ny, sigma) @ field @ _reflect_blur_matrix(nx, sigma).T


def fine_reflective(city: City, fields: dict, rho: np.ndarray, terms: dict, radius_m: float = 8.0,
                    n_bounce: int = 1) -> dict[str, np.ndarray]:
    """Per-facet irradiance and exitance for reflectances ``rho`` (nb, 2, ny, nx) (facet layers, see
    :mod:`.city`): ``E0``, ``E`` (incl. bounces), ``M`` (exitance), all W m-2 um-1, shaped like ``rho``."""
    S, D = terms["S"][:, None, None, None], terms["D"][:, None, None, None]
    e0 = S * fields["mu_sun"] + D * fields["svf"]
    ex = Exchange(fields["svf"], fields["area"], int(round(radius_m / city.res)))
    m = rho * e0
    e = e0
    for _ in range(n_bounce):
        e = e0 + ex(m)
        m = rho * e
    return {"E0": e0, "E": e, "M": m}


def energy_balance(city: City, fields: dict, rho: np.ndarray, terms: dict, radius_m: float = 8.0,
                   n_bounce: int = 50) -> dict[str, np.ndarray]:
    """Where the shortwave that reaches the scene's facets goes, per band, summed over the scene (W um-1 per
    cell area): ``incoming`` (sun and sky, sum E0 A), ``absorbed`` (sum (1 - rho) E A) and ``to_sky`` (the
    share V of every facet's exitance, sum V M A), after ``n_bounce`` orders of reflection (:func:`fine_reflective`).
    The exchange passes on all that it does not send to the sky, so ``closure`` = (absorbed + to_sky) / incoming
    is 1 up to the last order's change (negligible after 50 orders for reflectances below ~0.8)."""
    out = fine_reflective(city, fields, rho, terms, radius_m, n_bounce)
    area = fields["area"]
    incoming = (out["E0"] * area).sum((-3, -2, -1))
    absorbed = ((1 - rho) * out["E"] * area).sum((-3, -2, -1))
    to_sky = (fields["svf"] * out["M"] * area).sum((-3, -2, -1))
    return {"incoming": incoming, "absorbed": absorbed, "to_sky": to_sky, "closure": (absorbed + to_sky) / incoming}


def simulate_reflective(city: City, fields: dict, rho: np.ndarray, terms: dict, grid: CoarseGrid, psf_px: float,
                        radius_m: float = 8.0, n_bounce: int = 1, adjacency_m: float | None = None,
                        shift_px=(0.0, 0.0)) -> np.ndarray:
    """Top-of-atmosphere radiance (nb, ny, nx) of the sensor pixels for reflectances (nb, 2, ny, nx),
    W m-2 sr-1 um-1."""
    f = fine_reflective(city, fields, rho, terms, radius_m, n_bounce)
    w = fields["view"]
    ls = (f["M"] / np.pi * w).sum(-3)  # seen surface-leaving radiance x seen area, per cell
    tup, tdif = terms["T_up"][:, None, None], terms["T_dif"][:, None, None]
    seen = w.sum(0)
    if adjacency_m:
        sig = adjacency_m / city.res
        env = _blur_reflect(ls, sig) / np.maximum(_blur_reflect(seen, sig), 1e-12)
        num = terms["L_path"][:, None, None] * seen + tup * ls + tdif * env * seen
    else:
        num = terms["L_path"][:, None, None] * seen + (tup + tdif) * ls
    return _aggregate(num, seen, grid, psf_px, shift_px)


def fine_thermal(city: City, fields: dict, eps: np.ndarray, temp: np.ndarray, bands: list[Band], terms: dict,
                 radius_m: float = 8.0, n_bounce: int = 1) -> np.ndarray:
    """Surface-leaving radiance (nbt, 2, ny, nx) for emissivities (nbt, 2, ny, nx) and temperatures
    (2, ny, nx) K (facet layers, see :mod:`.city`)."""
    emit = eps * np.stack([band_planck(b, temp) for b in bands])
    ex = Exchange(fields["svf"], fields["area"], int(round(radius_m / city.res)))
    sky = fields["svf"] * terms["L_sky"][:, None, None, None]
    ls = emit
    for _ in range(max(n_bounce, 1)):
        ls = emit + (1 - eps) * (sky + ex(ls))
    return ls


def simulate_thermal(city: City, fields: dict, eps: np.ndarray, temp: np.ndarray, bands: list[Band], terms: dict,
                     grid: CoarseGrid, psf_px: float, radius_m: float = 8.0, n_bounce: int = 1,
                     shift_px=(0.0, 0.0)) -> np.ndarray:
    ls = fine_thermal(city, fields, eps, temp, bands, terms, radius_m, n_bounce)
    w = fields["view"]
    seen = w.sum(0)
    num = terms["L_up"][:, None, None] * seen + terms["tau"][:, None, None] * (ls * w).sum(-3)
    return _aggregate(num, seen, grid, psf_px, shift_px)


def _margin_cells(grid: CoarseGrid, psf_px, radius_cells: int, couplings: bool) -> int:
    """Fine cells beyond a tile of pixels that its features depend on: the PSF's reach (the truncation of
    ``gaussian_filter1d`` for its widest Gaussian) and, for the couplings, twice the bounce radius (a receiver's neighbours' normaliser
    reaches as far again)."""
    return int(4.0 * psf_reach(psf_px) * grid.factor + 0.5) + (2 * radius_cells if couplings else 0)


def features(city: City, fields: dict, grid: CoarseGrid, psf_px: float = 0.0, radius_m: float = 8.0,
             weight: str = "view", flat: bool = False, mu_s: float = 1.0, split_lit: bool = False,
             only: tuple[str, ...] | None = None, rows: tuple[int, int] | None = None,
             cols: tuple[int, int] | None = None, dtype=np.float64) -> dict[str, np.ndarray]:
    """Element features per sensor pixel: a, g, s (ne, ny, nx) and c, cg, cs, cb (ne, ne, ny, nx).

    ``weight="view"``: PSF-weighted means over what the sensor sees (sum a = 1), for the observation model.
    ``weight="area"``: facet area per ground area (no PSF), for the energy budget.
    ``flat=True``: the 2-D baseline: every cell a flat unshaded facet (a = g/mu_s = s = class fraction, c = 0),
    ``mu_s`` the cosine of the sun zenith.
    ``split_lit=True``: classes 2e (shaded) and 2e + 1 (sunlit) for element e, for temperatures that differ
    between sunlit and shaded facets (sunlit: a ``lit`` share of at least :data:`SUNLIT_SHARE`). ``only``: compute just these features. ``rows``, ``cols``: just pixel rows
    [r0, r1) and columns [c0, c1) of ``grid``, from the fine cells they depend on (the same values as those
    pixels of the whole grid: tasks over tiles share out the work). ``dtype``: the precision of the computation
    and of the features; float32 takes about half the time of float64, for relative errors of about 1e-6.
    """
    ne = len(city.names)
    want = set(only or FEATURES_1 + FEATURES_2)
    radius_cells = int(round(radius_m / city.res))
    el, cap = city.layers, city.present[1]  # (2, ny, nx): the facets of each cell, see :mod:`.city`
    if rows is not None or cols is not None:
        margin = _margin_cells(grid, psf_px if weight == "view" else 0.0, radius_cells,
                               not flat and bool(want & set(FEATURES_2)))
        f = grid.factor
        rows, cols = rows or (0, grid.ny), cols or (0, grid.nx)
        top, left = grid.row0 + rows[0] * f, grid.col0 + cols[0] * f
        a, b = max(top - margin, 0), min(grid.row0 + rows[1] * f + margin, el.shape[-2])
        c, d = max(left - margin, 0), min(grid.col0 + cols[1] * f + margin, el.shape[-1])
        el, cap = el[:, a:b, c:d], cap[a:b, c:d]
        fields = {k: v[..., a:b, c:d] for k, v in fields.items()}
        grid = CoarseGrid(f, top - a, left - c, rows[1] - rows[0], cols[1] - cols[0])
    fields = {k: v.astype(dtype, copy=False) if v.dtype.kind == "f" else v for k, v in fields.items()}
    if split_lit:  # a facet sunlit over most of its surface is a sunlit part
        lit = (fields["lit"] >= SUNLIT_SHARE) if not flat else np.ones(el.shape, bool)
        el = 2 * el + lit
        ne = 2 * ne
    onehot = np.stack([(el == k).astype(dtype) for k in range(ne)])
    if flat:
        mu = np.full(el.shape, mu_s, dtype)
        svf = np.ones(el.shape, dtype)
        # in plan view a wall cell is its building's top: the cap where there is one, else the cell itself
        w = np.stack([~cap, cap]).astype(dtype)
    else:
        mu, svf = fields["mu_sun"], fields["svf"]
        w = fields["view"] if weight == "view" else fields["area"]
    out = {}
    if weight == "view":  # agg: per-pixel values of fields summed over the facet layers
        wsum = w.sum(0)
        agg = lambda num: _aggregate(num, wsum, grid, psf_px)  # noqa: E731
    else:
        agg = lambda num: grid.block_sum(num) / grid.factor**2  # noqa: E731
    wo = w * onehot
    for k, f in (("a", 1.0), ("g", mu), ("s", svf)):
        if k in want:
            out[k] = agg((wo * f).sum(-3))
    shape2 = (ne, ne, grid.ny, grid.nx)
    if flat:
        for k in want & set(FEATURES_2):
            out[k] = np.zeros(shape2, dtype)
        return out
    ex = Exchange(svf, fields["area"], radius_cells)
    recv = (wo * (1 - svf)).sum(-3)  # (ne, ny, nx): receiving facets of element e (the source has no layer axis)
    for k, f in (("c", 1.0), ("cg", mu), ("cs", svf), ("cb", 1 - svf)):
        if k in want:
            src = ex.gather(onehot * f)  # (ne, ny, nx)
            out[k] = np.stack([agg(recv * sf) for sf in src], axis=1)  # a source at a time: bounded memory
    return out


# --- element form: models and Jacobians, batched over leading axes --------------------------------------------

def reflective_model(rho, A, Q, l_path, symmetric: bool = False):
    """y = L_p + A.rho + rho.Q.rho and dy/drho = A + (Q + Q^T) rho.

    rho (..., ne); A (..., k, ne); Q (..., k, ne, ne); l_path scalar or broadcastable to (..., k).
    A = (T_up + T_dif)/pi (S g + D s), Q = (T_up + T_dif)/pi (S cg + D cs) per band. With ``symmetric=True``
    ``Q`` is already Q + Q^T (then y = L_p + (A + Q rho / 2).rho), which saves work in iterative solvers.
    """
    qs = Q if symmetric else Q + np.swapaxes(Q, -1, -2)
    lead = np.broadcast_shapes(qs.shape[:-3], np.shape(rho)[:-1])
    k, ne = qs.shape[-3], qs.shape[-1]
    qs = np.broadcast_to(qs, lead + qs.shape[-3:])
    r = np.broadcast_to(rho, lead + (ne,))
    qr = (qs.reshape(lead + (k * ne, ne)) @ r[..., None]).reshape(lead + (k, ne))  # (Q + Q^T) rho
    jac = A + qr
    y = l_path + ((A + 0.5 * qr) * r[..., None, :]).sum(-1)
    return y, jac


def thermal_model(temp, eps, a, s, c, bands: list[Band], terms: dict):
    """Element thermal model and its Jacobian.

    temp (..., ne) K; eps (..., nbt, ne); a, s (..., k, ne); c (..., k, ne, ne).
    Returns y (..., nbt, k), dy/dT (..., nbt, k, ne) and dy/deps (..., nbt, k, ne) (band-diagonal in eps).
    """
    B, dB = zip(*(band_planck(b, temp, derivative=True) for b in bands))
    B, dB = np.stack(B, -2), np.stack(dB, -2)  # (..., nbt, ne)
    tau, lsky, lup = terms["tau"], terms["L_sky"], terms["L_up"]
    emit = eps * B
    one_m = 1 - eps
    env = np.einsum("...kef,...bf->...bke", c, emit)  # sum_f c_kef eps_f B_f
    y = lup[:, None] + tau[:, None] * (
        np.einsum("...ke,...be->...bk", a, emit) + lsky[:, None] * np.einsum("...ke,...be->...bk", s, one_m)
        + np.einsum("...bke,...be->...bk", env, one_m))
    back = np.einsum("...kef,...be->...bkf", c, one_m)  # sum_e c_kef (1 - eps_e)
    d_emit = a[..., None, :, :] + back  # dy / d(eps_f B_f)
    t3 = tau[:, None, None]
    dT = t3 * d_emit * (eps * dB)[..., :, None, :]
    deps = t3 * (d_emit * B[..., :, None, :] - lsky[:, None, None] * s[..., None, :, :] - env)
    return y, dT, deps
