"""Flux divergence: exact on steady simulated fields within the discretisation bound, point sources integrated,
the lifetime fitted, lazy and seamless, units converted, bad input refused."""
import numpy as np
import pytest
import xarray as xr
from checks import assert_cf, assert_chunked_equals_unchunked, assert_lazy

from eoxr.errors import MissingVariableError, ParameterError, UnitsError
from eoxr.no2 import ctm, divergence

TAU = 4 * 3600.0


def _steady(grid, sources, wind, diffusivity=0.0, dt=200.0):
    """The steady columns of ``sources`` in a steady ``wind`` (15 lifetimes from empty), as a Dataset."""
    e = sources.mean_emission(grid)
    chem = ctm.Chemistry(tau_s=TAU, diffusivity=diffusivity)
    c, _ = ctm.simulate(np.zeros(grid.shape), grid, chem, wind, lambda t: e, start=0.0, end=15 * TAU, dt=dt)
    u, v = ctm.cell_winds(*wind(0.0))
    return ctm.as_dataset(grid, no2_column=c, u=u, v=v, emission=e)


def _smooth_case(n):
    """Two Gaussian cities and a background in a diagonal wind on a periodic domain of n x n cells (200 km)."""
    grid = ctm.Grid(ny=n, nx=n, dx=200e3 / n, boundary="periodic")
    sources = ctm.Sources(cities=[(n * 0.4, n * 0.45, n / 10, 3.0), (n * 0.7, n * 0.6, n / 16, 1.0)],
                          background=1e-10)
    return grid, _steady(grid, sources, ctm.uniform_wind(grid, 5.0, 240.0))


def _third_difference(f, axis, dx):
    """|d3 f / dx3| by the central difference of a periodic field."""
    r = lambda k: np.roll(f, -k, axis)  # noqa: E731
    return np.abs(r(2) - 2 * r(1) + 2 * r(-1) - r(-2)) / (2 * dx ** 3)


@pytest.fixture(scope="module")
def smooth():
    return {n: _smooth_case(n) for n in (40, 80)}


def test_a_noise_free_steady_field_gives_the_true_emission_within_the_discretisation_bound(smooth):
    """E_div - E = L (central difference - model's flux difference) of the steady flux F = V w. Each has a
    second-order truncation error; the central difference's is dx2 / 6 |d3F/dx3| per axis, and the model's
    limited upwind-biased flux one of the same size, so |E_div - E| <= L dx2 / 3 max(|d3F/dx3| + |d3G/dy3|)."""
    for n, (grid, ds) in smooth.items():
        em = divergence.emissions(ds, lifetime_h=TAU / 3600)
        inner = np.s_[1:-1, 1:-1]
        error = np.abs(em["emission"].values - ds["emission"].values)[inner]
        flux_x, flux_y = ((ds["no2_column"] * ds[w]).values for w in ("u", "v"))
        bound = ctm.NOX_TO_NO2 * grid.dx ** 2 / 3 * (_third_difference(flux_x, 1, grid.dx)
                                                      + _third_difference(flux_y, 0, grid.dx)).max()
        assert error.max() <= bound, n
        assert error.max() > 0.1 * bound  # the bound is tight, not vacuous
        total = float(em["emission"][inner].sum() / ds["emission"][inner].sum())
        assert total == pytest.approx(1.0, abs=1e-3)


def test_the_error_falls_as_dx_squared(smooth):
    errors = [np.nanmax(np.abs(divergence.emissions(ds, lifetime_h=TAU / 3600)["emission"] - ds["emission"]))
              for _, ds in smooth.values()]
    assert errors[0] / errors[1] > 2.5  # second order: 4 in the limit


@pytest.fixture(scope="module")
def plumes():
    grid = ctm.Grid(ny=41, nx=60, dx=5000.0, boundary="open")
    sources = ctm.Sources(points=[(20, 15, 1.0), (12, 40, 0.3)])
    return _steady(grid, sources, ctm.uniform_wind(grid, 5.0, 250.0), diffusivity=100.0, dt=500.0)


def test_point_sources_are_found_and_integrated_within_a_few_percent(plumes):
    table = divergence.sources(divergence.emissions(plumes, lifetime_h=TAU / 3600), threshold=1e-8, radius_km=20)
    assert table.sizes["source"] == 2
    np.testing.assert_allclose(table["emission"], [1.0, 0.3], rtol=0.03)
    np.testing.assert_allclose(table["y"], [20.5 * 5000, 12.5 * 5000]) and np.testing.assert_allclose(
        table["x"], [15.5 * 5000, 40.5 * 5000])
    assert 52 < float(table["lat"][0]) < 53.5 and 5 < float(table["lon"][0]) < 7
    assert table["emission"].attrs["units"] == "kg s-1" and np.isnan(table["emission_std"]).all()


def test_the_lifetime_is_fitted_downwind_of_the_sources(plumes):
    em = divergence.emissions(plumes, lifetime_h="fit")
    assert float(em["lifetime"]) == pytest.approx(TAU / 3600, rel=0.05)
    assert em["lifetime"].attrs["units"] == "h"


def test_divergence_is_exact_for_a_linear_flux_on_projected_and_geographic_grids():
    lat, lon = np.linspace(52.0, 50.0, 9), np.linspace(3.0, 7.0, 11)
    geo = xr.Dataset(coords={"y": lat, "x": lon}).rio.write_crs("EPSG:4326")
    on_sphere = (6371e3 * np.cos(np.deg2rad(lat))[:, None] * np.deg2rad(lon)[None, :],
                 6371e3 * np.deg2rad(lat)[:, None] + 0 * lon)
    grid = ctm.Grid(ny=9, nx=11)
    projected = ctm.as_dataset(grid, dummy=np.zeros(grid.shape))
    in_metres = np.meshgrid(projected.x.values, projected.y.values)
    for ds, (east, north) in ((geo, on_sphere), (projected, in_metres)):
        like = xr.DataArray(np.ones((9, 11)), coords={"y": ds.y, "x": ds.x}, dims=("y", "x"))
        like = like.rio.write_crs(ds.rio.crs)
        d = divergence.flux_divergence(like, like * 2e-6 * east, like * (1.0 - 3e-6 * north))
        np.testing.assert_allclose(d.values[1:-1, 1:-1], -1e-6, rtol=1e-9)
        assert np.isnan(d.values[0]).all() and np.isnan(d.values[:, -1]).all()


def _days(n=4):
    layers = [ctm.scene(s, ctm.Grid(ny=30, nx=30), ctm.Observation(cloud_fraction=0.2), spinup_h=10)
              for s in range(n)]
    ds = xr.concat([layer.drop_vars(["tau", "no2_column_true", "emission"]) for layer in layers], dim="time")
    return ds.assign_coords(time=np.arange(n))


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:Degrees of freedom")  # numpy's, on all-NaN cells
def test_days_are_averaged_with_their_standard_error():
    ds = _days()
    em = divergence.emissions(ds, lifetime_h=4.0)
    daily = [divergence.emissions(ds.isel(time=t), lifetime_h=4.0)["emission"].values for t in range(4)]
    np.testing.assert_allclose(em["emission"], np.nanmean(daily, axis=0))
    n = np.isfinite(daily).sum(axis=0)
    assert (em["count"].values == n).all() and n.max() == 4 and n.min() == 0
    expected_std = np.nanstd(daily, axis=0, ddof=1) / np.sqrt(n)
    np.testing.assert_allclose(em["emission_std"].values[n >= 2], expected_std[n >= 2])
    assert np.isnan(em["emission_std"].values[n < 2]).all()
    two = divergence.emissions(ds, lifetime_h=4.0, days=2)
    assert two.sizes["time"] == 2
    np.testing.assert_allclose(two["emission"].isel(time=1), np.nanmean(daily[2:], axis=0))


def test_lazy_seamless_and_cf():
    ds = _days(3)
    run = lambda d: divergence.emissions(d, lifetime_h="fit")  # noqa: E731
    out = assert_lazy(run, ds.chunk({"y": 11, "x": 13}))
    assert_cf(out[["emission", "emission_std", "flux_divergence", "sink"]], units="mol m-2 s-1")
    assert_chunked_equals_unchunked(run, ds, [{"y": 7}, {"y": 10, "x": 9, "time": 1}])


def test_columns_in_molec_cm2_are_converted_and_unknown_units_refused(plumes):
    expected = divergence.emissions(plumes, lifetime_h=4.0)["emission"]
    molec = plumes.assign(no2_column=(plumes["no2_column"] / ctm.MOLEC_CM2).assign_attrs(units="molec cm-2"))
    np.testing.assert_allclose(divergence.emissions(molec, lifetime_h=4.0)["emission"], expected, rtol=1e-12)
    with pytest.raises(UnitsError, match="no2_column"):
        divergence.emissions(plumes.assign(no2_column=plumes["no2_column"].assign_attrs(units="DU per fortnight")))


@pytest.mark.parametrize("change, error, match", [
    (lambda ds: ds.drop_vars("u"), MissingVariableError, "u"),
    (lambda ds: ds.assign(v=ds["v"].rename(x="lon")), ParameterError, "interp_like"),
    (lambda ds: ds.rio.write_crs("EPSG:2227"), ParameterError, "reproject"),
])
def test_bad_input_is_refused_with_the_fix(plumes, change, error, match):
    with pytest.raises(error, match=match):
        divergence.emissions(change(plumes))


@pytest.mark.parametrize("kwargs, match", [
    ({"lifetime_h": -1.0}, "lifetime_h=-1.0"), ({"lifetime_h": "guess"}, "'fit'"), ({"days": 0}, "days=0"),
    ({"nox_to_no2": 0.0}, "nox_to_no2=0.0"),
])
def test_bad_parameters_are_refused(plumes, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        divergence.emissions(plumes, **kwargs)


def test_sources_refuse_a_bad_threshold(plumes):
    with pytest.raises(ParameterError, match="threshold=nan"):
        divergence.sources(divergence.emissions(plumes), threshold=float("nan"))


def test_the_docstring_examples_run():
    import doctest

    result = doctest.testmod(divergence, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


def test_a_cell_between_two_sources_counts_once_for_the_nearer():
    grid = ctm.Grid(ny=20, nx=20, dx=5000.0)
    per_kg_s = 1 / ctm.NO2_MOLAR_MASS / grid.cell_area  # mol m-2 s-1 of 1 kg s-1 in one cell
    e = np.zeros(grid.shape)
    e[10, 5], e[10, 11], e[10, 7] = 1.0 * per_kg_s, 0.6 * per_kg_s, 0.1 * per_kg_s  # the 0.1 is 2 and 4 cells away
    sigma = 1e-9
    em = ctm.as_dataset(grid, emission=e, emission_std=np.full(grid.shape, sigma))
    table = divergence.sources(em, threshold=0.5 * per_kg_s, radius_km=20)
    np.testing.assert_allclose(table["emission"], [1.1, 0.6], rtol=1e-9)
    expected_std = np.sqrt(table["cells"]) * sigma * grid.cell_area * ctm.NO2_MOLAR_MASS
    np.testing.assert_allclose(table["emission_std"], expected_std, rtol=1e-9)
