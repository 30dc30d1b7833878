"""The transport model: mass balance, the steady plume of a point source, the CFL guard, seeded lazy scenes."""
import math

import numpy as np
import pytest
from checks import assert_lazy

from eoxr.errors import ParameterError, StabilityError
from eoxr.no2 import ctm

TAU = 4 * 3600.0


def _windy_sources(grid, seed):
    rng = np.random.default_rng(seed)
    sources = ctm.Sources(points=[(5, 6, 1.5), (12, 3, 0.4)], cities=[(10.0, 12.0, 2.0, 3.0)], background=1e-10)
    return sources, ctm.diurnal_wind(ctm.random_wind(grid, rng, speed=6.0))


@pytest.mark.parametrize("boundary", ["closed", "periodic"])
def test_mass_changes_only_by_emission_and_loss_in_a_closed_domain(boundary):
    grid = ctm.Grid(ny=18, nx=20, dx=5000.0, boundary=boundary)
    sources, wind = _windy_sources(grid, 1)
    chem = ctm.Chemistry(tau_s=TAU, diffusivity=300.0)
    c, budget = ctm.simulate(np.zeros(grid.shape), grid, chem, wind, sources.emission(grid),
                             start=0.0, end=86400.0, dt=900.0)
    assert budget.outflow == 0.0 and budget.lost > 0.1 * budget.emitted
    assert abs(budget.residual) <= 1e-12 * budget.emitted
    assert c.min() >= 0.0  # the limited scheme creates no negative columns


def test_without_loss_the_mass_is_the_emission_integral():
    grid = ctm.Grid(ny=15, nx=17, boundary="closed")
    sources, wind = _windy_sources(grid, 2)
    chem = ctm.Chemistry(tau_s=1e30, diffusivity=100.0)
    steady = ctm.Sources(points=sources.points, background=sources.background)  # no cycles: E is constant
    hours = 10
    c, _ = ctm.simulate(np.zeros(grid.shape), grid, chem, wind, steady.emission(grid), start=0.0,
                        end=hours * 3600.0)
    moles_s = sum(kg for _, _, kg in steady.points) / ctm.NO2_MOLAR_MASS + steady.background * grid.ny * grid.nx \
        * grid.cell_area
    expected = moles_s / chem.nox_to_no2 * hours * 3600.0
    assert grid.mass(c) == pytest.approx(expected, rel=1e-12)


def test_open_domain_budget_counts_the_outflow():
    grid = ctm.Grid(ny=16, nx=16, boundary="open")
    sources, wind = _windy_sources(grid, 3)
    c, budget = ctm.simulate(np.zeros(grid.shape), grid, ctm.Chemistry(tau_s=TAU), wind, sources.emission(grid),
                             start=0.0, end=43200.0)
    assert budget.outflow > 0.05 * budget.emitted and abs(budget.residual) <= 1e-12 * budget.emitted


def test_a_steady_point_source_plume_has_the_analytic_line_density():
    """Cross-wind integral of the steady plume: lambda(x) = Q / (L u) exp(-x / (u tau)).

    The e-folding length is recovered to 1 %; the amplitude, from two cells downwind on, to the source cell's
    first-order error: the limiter is upwind at the plume's peak, so the emitted mass leaves its cell after
    dx / u on average instead of dx / (2 u), a bias of at most dx / (2 u tau) (3.5 % here).
    """
    grid = ctm.Grid(ny=31, nx=100, dx=5000.0, boundary="open")
    u, q_kg_s, col = 5.0, 1.0, 8
    chem = ctm.Chemistry(tau_s=TAU, diffusivity=100.0)
    sources = ctm.Sources(points=[(15, col, q_kg_s)])
    c, _ = ctm.simulate(np.zeros(grid.shape), grid, chem, ctm.uniform_wind(grid, u, 270.0),
                        sources.emission(grid), start=0.0, end=12 * TAU, dt=1000.0)
    line = c.sum(axis=0) * grid.dx
    x = (np.arange(grid.nx) - col) * grid.dx
    length = u * TAU
    analytic = q_kg_s / ctm.NO2_MOLAR_MASS / chem.nox_to_no2 / u * np.exp(-x / length)
    down = (x >= 2 * grid.dx) & (x <= 4 * length)
    fitted = -1.0 / np.polyfit(x[down], np.log(line[down]), 1)[0]
    assert fitted == pytest.approx(length, rel=0.01)
    assert np.abs(line[down] / analytic[down] - 1).max() <= grid.dx / (2 * length)
    assert line[:col - 1].max() < 1e-4 * line.max()  # upwind only what diffusion carries (K / (u dx) = 0.4 %)


def test_a_long_step_is_substepped_to_the_same_result():
    grid = ctm.Grid(ny=14, nx=14, boundary="periodic")
    sources, wind = _windy_sources(grid, 4)
    chem = ctm.Chemistry(tau_s=TAU, diffusivity=50.0)
    steady = ctm.Sources(points=sources.points)
    u, v = wind(0.0)
    assert ctm.substeps(u, v, 3600.0, grid, chem.diffusivity) == math.ceil(
        max(np.abs(u).max(), np.abs(v).max()) * 3600.0 / grid.dx / ctm.CFL)
    frozen = lambda t: (u, v)  # noqa: E731  (one wind for both runs)
    n = ctm.substeps(u, v, 3600.0, grid, chem.diffusivity)
    long, _ = ctm.simulate(np.zeros(grid.shape), grid, chem, frozen, steady.emission(grid), start=0.0, end=3600.0,
                           dt=3600.0)
    short, _ = ctm.simulate(np.zeros(grid.shape), grid, chem, frozen, steady.emission(grid), start=0.0, end=3600.0,
                            dt=3600.0 / n)
    np.testing.assert_allclose(long, short, rtol=1e-12, atol=1e-20)


def test_a_step_needing_too_many_substeps_is_refused():
    grid = ctm.Grid(ny=8, nx=8, boundary="periodic")
    with pytest.raises(StabilityError, match=r"Courant number 7\.2.*max_substeps=4: take steps of at most 1000 s"):
        ctm.simulate(np.zeros(grid.shape), grid, ctm.Chemistry(), ctm.uniform_wind(grid, 10.0), lambda t: 0.0,
                     start=0.0, end=3600.0, dt=3600.0, max_substeps=4)


def test_diffusion_limits_the_step_too():
    grid = ctm.Grid(ny=8, nx=8, dx=3500.0)
    still = np.zeros((8, 9)), np.zeros((9, 8))
    assert ctm.substeps(*still, 3600.0, grid, 500.0) == math.ceil(500.0 * 3600.0 / 3500.0 ** 2 / 0.25)


def test_streamfunction_winds_are_divergence_free():
    grid = ctm.Grid(ny=20, nx=24)
    for wind in (ctm.rotating_wind(grid, 86400.0), ctm.random_wind(grid, np.random.default_rng(0), speed=0.0)):
        u, v = wind(0.0)
        divergence = (u[:, 1:] - u[:, :-1] + v[1:, :] - v[:-1, :]) / grid.dx
        assert np.abs(divergence).max() < 1e-12 * np.abs(u).max() / grid.dx and np.abs(u).max() > 0.1


def test_city_cycles_average_to_the_stated_rate():
    grid = ctm.Grid(ny=30, nx=30)
    sources = ctm.Sources(cities=[(15.0, 15.0, 2.0, 2.0)])
    hours = np.arange(0, 7 * 24, 0.25) * 3600.0
    total = np.mean([sources.emission(grid)(t).sum() for t in hours]) * grid.cell_area * ctm.NO2_MOLAR_MASS
    assert total == pytest.approx(2.0, rel=1e-3)
    e = sources.emission(grid)
    assert e(5 * 86400 + 8 * 3600).sum() < e(2 * 86400 + 8 * 3600).sum()  # Saturday below Wednesday
    assert e(2 * 86400 + 3 * 3600).sum() < e(2 * 86400 + 12 * 3600).sum()  # night below noon


def test_scenes_repeat_per_seed_and_differ_between_seeds():
    grid = ctm.Grid(ny=20, nx=20)
    a, b, other = (ctm.scene(s, grid, spinup_h=8) for s in (5, 5, 6))
    for name in ("no2_column", "no2_column_true", "emission", "u"):
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.allclose(a[name], other[name])


def test_scenes_are_lazy_one_task_each_and_equal_the_eager_scene():
    grid = ctm.Grid(ny=16, nx=16)
    lazy = assert_lazy(ctm.scenes, [3, 9], grid, spinup_h=6)
    assert lazy["no2_column"].chunks[0] == (1, 1)
    eager = ctm.scene(9, grid, spinup_h=6)
    computed = lazy.sel(scene=9).compute()
    for name in ("no2_column", "emission", "v", "tau"):
        np.testing.assert_array_equal(computed[name], eager[name])
    assert lazy.rio.crs is not None and lazy["emission"].attrs["units"] == "mol m-2 s-1"


def test_observation_adds_noise_in_range_footprints_and_clouds():
    grid = ctm.Grid(ny=40, nx=40)
    flat = np.full(grid.shape, 5e-5)
    clear = ctm.observe(flat, grid, ctm.Observation(), np.random.default_rng(0))
    noise = np.nanstd(clear - flat) / ctm.MOLEC_CM2
    assert 0.45e15 < noise < 1.05e15
    cloudy = ctm.observe(flat, grid, ctm.Observation(cloud_fraction=0.3), np.random.default_rng(0))
    assert np.isnan(cloudy).mean() == pytest.approx(0.3, abs=0.01)
    spike = np.zeros(grid.shape)
    spike[20, 20] = 1.0
    seen = ctm.observe(spike, grid, ctm.Observation(noise_molec_cm2=(0.0, 0.0)), np.random.default_rng(0))
    assert seen.sum() == pytest.approx(1.0) and seen.max() < 0.9 and seen[20, 21] > 0.05  # spread, total kept


@pytest.mark.parametrize("make, match", [
    (lambda: ctm.Grid(boundary="wall"), "boundary='wall'"),
    (lambda: ctm.Chemistry(tau_s=0.0), "lifetime 0.0 s"),
    (lambda: ctm.Observation(cloud_fraction=1.0), "cloud_fraction=1.0"),
    (lambda: ctm.scenes([]), "no seed"),
    (lambda: ctm.Sources(points=[(9, 2, 1.0)]).emission(ctm.Grid(ny=8, nx=8)), r"\(9, 2\).*outside the 8 x 8"),
    (lambda: ctm.simulate(np.zeros((3, 3)), ctm.Grid(), ctm.Chemistry(), None, None, start=0, end=1), "shape"),
])
def test_bad_setups_are_refused_with_the_fix(make, match):
    with pytest.raises(ParameterError, match=match):
        make()


def test_the_docstring_examples_run():
    import doctest

    result = doctest.testmod(ctm, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
