"""Batched Levenberg-Marquardt of eoxr.urban: the weighted element model, convergence, agreement with scipy."""
import numpy as np
import xarray as xr
from scipy.optimize import least_squares

import eoxr
from eoxr.urban import Atmosphere, Geometry, synth
from eoxr.urban.forward import reflective_model
from eoxr.urban.reflective import WeightedQuadratic
from eoxr.urban.lm import levenberg_marquardt


def _problems(rng, P=12, K=9, ne=4):
    A = rng.uniform(0.5, 2.0, (P, K, ne))
    Q = rng.uniform(0.0, 0.3, (P, K, ne, ne))
    Q = Q + Q.swapaxes(-1, -2)
    sw = rng.uniform(1.0, 3.0, (P, K))
    x_true = rng.uniform(0.05, 0.6, (P, ne))
    y, _ = reflective_model(x_true, A, Q, 0.0, symmetric=True)
    return A, Q, sw, x_true, y


def test_weighted_quadratic_matches_model_and_finite_differences(rng):
    A, Q, sw, x, y = _problems(rng)
    fun = WeightedQuadratic(A, Q, y + 0.01, sw)
    r, J = fun(x)
    ym, jac = reflective_model(x, A, Q, 0.0, symmetric=True)
    np.testing.assert_allclose(r, sw * (y + 0.01 - ym), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(J, sw[..., None] * jac, rtol=1e-12)
    h = 1e-6
    for e in range(x.shape[1]):
        dx = np.zeros_like(x)
        dx[:, e] = h
        fd = -(fun(x + dx)[0] - fun(x - dx)[0]) / (2 * h)  # r = y - f: dr/dx = -J
        np.testing.assert_allclose(fd, J[..., e], rtol=1e-6, atol=1e-8)
    # the still-iterating problems give the same rows: gathered anew (under half the rows), asked for again, or
    # evaluated within the gathered superset (a set that shrank by less than half); a set outside it is gathered
    for idx in ([1, 4, 7, 9], [1, 4, 7, 9], [4, 7, 9], [7], [0, 2, 11]):
        idx = np.array(idx)
        rs, Js = fun(x[idx], idx)
        np.testing.assert_allclose(rs, r[idx])
        np.testing.assert_allclose(Js, J[idx])
    # single-precision couplings: the Jacobian in float32, the residual still float64 and within Q's round-off
    r32, J32 = WeightedQuadratic(A, Q.astype(np.float32), y + 0.01, sw)(x)
    assert J32.dtype == np.float32 and r32.dtype == np.float64
    np.testing.assert_allclose(J32, J, rtol=1e-6)
    np.testing.assert_allclose(r32, r, rtol=0, atol=1e-6 * np.abs(sw * y).max())


def test_lm_converges_and_agrees_with_scipy(rng):
    A, Q, sw, x_true, y = _problems(rng)
    y = y * (1 + 0.01 * rng.standard_normal(y.shape))  # noisy: the optimum is not the truth
    P, ne = x_true.shape
    fun = WeightedQuadratic(A, Q, y, sw)
    pm = np.full((P, ne), 0.3)
    pp = np.full((P, ne), 1 / 0.5**2)
    # tol=0: no step is ever "small", so stopping rests on the cost criteria alone
    res = levenberg_marquardt(fun, pm, 0.0, 1.0, pm, pp, max_iter=60, tol=0.0)
    assert res.converged.all() and res.iterations.max() < 60
    for p in range(P):
        def resid(v, p=p):
            r, _ = fun(v[None], np.array([p]))
            return np.concatenate([r[0], (v - 0.3) / 0.5])

        ref = least_squares(resid, np.full(ne, 0.3), bounds=(0.0, 1.0), xtol=1e-14, ftol=1e-14, gtol=1e-14)
        np.testing.assert_allclose(res.x[p], ref.x, atol=1e-7)


def test_reflective_model_error_widens_the_posterior_toward_the_prior():
    city = synth.make_city(120.0, 2.0, seed=11)
    sen = eoxr.urban.get_sensor("sentinel-2").subset(["B04", "B08"])
    geom, atm = Geometry(35.0, 150.0, 8.0, 100.0), Atmosphere(aot550=0.15)
    truth = synth.draw_properties(city, sen, 11, geom)
    obs = synth.observe(city, truth, sen, geom, atm, pixel_size=10.0, noise=0.01, seed=11)
    prior = synth.reflectance_prior(sen.reflective())
    runs = [eoxr.urban.invert(obs, city, sen, atm, window=3, reflectance_prior=prior, budget=False,
                              reflective_model_error=me) for me in (0.0, 0.2)]
    std0, std1 = (r.reflectance_std for r in runs)
    ok = np.isfinite(std0) & np.isfinite(std1)
    assert int(ok.sum()) > 0
    # the posterior std scales with the data's spread (20 x here) until the prior takes over
    assert float(std1.values[ok].mean()) > 2 * float(std0.values[ok].mean())
    # with a larger model error the estimates move toward the prior mean
    pmean = xr_prior(prior, city.names, obs.band.values)
    d0 = float(np.abs(runs[0].reflectance - pmean).values[ok].mean())
    d1 = float(np.abs(runs[1].reflectance - pmean).values[ok].mean())
    assert d1 < d0


def xr_prior(prior, names, bands):
    return xr.DataArray(np.stack([np.asarray(prior[n][0]) for n in names]), dims=("element", "band"),
                        coords={"element": names, "band": bands})


def test_lm_stops_at_round_off_instead_of_inflating_damping(rng):
    A, Q, sw, x_true, y = _problems(rng)
    P, ne = x_true.shape
    exact = WeightedQuadratic(A, Q, y, sw)
    jitter = np.random.default_rng(1)

    def noisy(x, idx=None):  # the exact model plus round-off-sized noise, as in long float sums
        r, J = exact(x, idx)
        return r * (1 + 1e-11 * jitter.standard_normal(r.shape)), J

    pm = np.full((P, ne), 0.3)
    pp = np.full((P, ne), 1e-6)
    res = levenberg_marquardt(noisy, pm, 0.0, 1.0, pm, pp, max_iter=15, tol=1e-12)
    assert res.converged.all() and res.iterations.max() < 15
    np.testing.assert_allclose(res.x, x_true, atol=1e-6)


def test_lm_stops_within_a_fraction_of_the_posterior_std(rng):
    A, Q, sw, x_true, y = _problems(rng, P=40)
    y = y * (1 + 0.05 * rng.standard_normal(y.shape))  # large misfit: Gauss-Newton converges linearly
    P, ne = x_true.shape
    pm = np.full((P, ne), 0.3)
    pp = np.full((P, ne), 1 / 0.5**2)
    strict = levenberg_marquardt(WeightedQuadratic(A, Q, y, sw), pm, 0.0, 1.0, pm, pp, max_iter=60, tol=1e-12)
    loose = levenberg_marquardt(WeightedQuadratic(A, Q, y, sw), pm, 0.0, 1.0, pm, pp, max_iter=60, tol=1e-12,
                                std_tol=0.01)
    assert strict.converged.all() and loose.converged.all()
    assert loose.iterations.sum() < strict.iterations.sum()
    # stopped where the next step moved no unknown by more than 1 % of its (conditional) std: the remaining
    # distance to the strict solution is a small fraction of the posterior std
    assert np.all(np.abs(loose.x - strict.x) <= 0.1 * strict.std)
    # the residual sum of squares (chi-square units), without the prior, as last evaluated: the unevaluated last
    # step changes it by a small fraction of one unit
    r, _ = WeightedQuadratic(A, Q, y, sw)(loose.x)
    np.testing.assert_allclose(loose.rss, (r**2).sum(-1), atol=0.02)
