"""Inversion of eoxr.urban: recovery on noise-free scenes, chunking, laziness, budget, baseline, bad input."""
import json

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

import eoxr
from eoxr.errors import CRSError, EoxrWarning, GridError, MissingVariableError, NoDataError, ParameterError
from eoxr.urban import Atmosphere, City, Geometry, synth
from eoxr.urban.budget import BOUNCES, SIGMA, incoming_shortwave, longwave_arrays, shortwave_arrays, shortwave_dataset
from eoxr.urban.forward import features
from eoxr.urban.reflective import REFLECTANCE_SCENE_FLOOR, scene_reflectance_prior
from eoxr.urban.sensors import broadband_weights

from urbanscene import ATM, GEOM, S2_BANDS
# lazy vs eager reflective results: the reflective features are float32 (invert.REFLECTIVE_FEATURE_DTYPE), summed by
# tiles over other extents than the whole image's, so they agree to that round-off; a wrong halo or tile would
# differ by orders more
TILED = dict(rtol=2e-5, atol=1e-6)


@pytest.fixture(scope="module")
def tir_scene():
    city = synth.make_city(300.0, 2.0, seed=5)
    sen = eoxr.urban.get_sensor("ecostress").subset(["TIR1", "TIR2", "TIR3", "TIR4", "TIR5"])
    # sunlit facets warmer than shaded ones; emissivity equal to the library prior the inversion gets
    truth = synth.draw_properties(city, sen, 5, GEOM, eps_spread=0.0, sun_contrast=True, temp_variability=0.0)
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=30.0)
    return city, sen, truth, obs


def _truth_da(values, city, obs):
    return xr.DataArray(values, dims=("element", "band"), coords={"element": city.names, "band": obs.band.values})


def test_reflective_recovers_truth_noise_free(s2_scene):
    city, sen, truth, obs = s2_scene
    res = eoxr.urban.invert(obs, city, sen, ATM, window=5, max_iter=30, noise=1e-5)
    err = np.abs(res.reflectance - _truth_da(truth.element_reflectance, city, obs))
    reported = np.isfinite(res.reflectance)
    assert int(reported.sum()) > 0.3 * reported.size  # most (element, pixel) pairs are retrieved
    assert float(err.max()) <= 1e-3
    assert float(res.residual.max()) < 1e-3 and float(res.residual.median()) < 1e-6
    assert res.reflectance.attrs["units"] == "1" and res.net_shortwave.attrs["units"] == "W m-2"
    assert res.rio.crs == city.crs
    assert "urban.invert" in res.attrs["history"] and res.attrs["eoxr_method"] == "urban.invert"
    assert json.loads(res.attrs["eoxr_parameters"])["window"] == 5


def test_thermal_recovers_truth_noise_free(tir_scene):
    city, sen, truth, obs = tir_scene
    prior = synth.emissivity_prior(sen.thermal())
    # uninformative temperature priors: noise-free data alone fix the answer (slow convergence: many steps)
    res = eoxr.urban.invert(obs, city, sen, ATM, window=5, max_iter=200, nedt=1e-4, emissivity_prior=prior,
                            contrast_std=None, temperature_std=1e4, thermal_model_error=0.0)
    grid = city.grid_for(obs.radiance)
    t_true = synth.element_truth(city, truth.temperature, grid, city.fields(GEOM)["area"])  # surface-weighted
    err = np.abs(res.temperature - t_true)
    assert np.isfinite(err).sum() > 50
    inner = err.isel(y=slice(2, -2), x=slice(2, -2))  # pixels whose 5 x 5 window lies inside the image
    assert float(inner.max()) <= 1e-3
    # truncated windows at the image border are less determined: most of them still hold
    assert float(np.nanpercentile(err.values, 80)) <= 1e-2
    eps_true = xr.DataArray(truth.element_emissivity, dims=("element", "thermal_band"),
                            coords={"element": city.names, "thermal_band": res.thermal_band.values})
    eps_err = np.abs(res.emissivity - eps_true)
    assert float(eps_err.isel(y=slice(2, -2), x=slice(2, -2)).max()) <= 1e-3
    assert res.temperature.attrs["units"] == "K" and res.emitted_longwave.attrs["units"] == "W m-2"
    # the emitted longwave of the retrieved parts equals the per-cell sum of the truth
    lw_true = synth.true_budget(city, truth, sen, GEOM, ATM, grid)["emitted_longwave"]
    np.testing.assert_allclose(res.emitted_longwave.values[2:-2, 2:-2], lw_true[2:-2, 2:-2], rtol=1e-4)
    assert float(res.temperature_std.isel(y=slice(2, -2), x=slice(2, -2)).max()) > 0


def _chunked_runs(s2_scene, tir_scene):
    """A reflective and a thermal inversion of chunked images (lazy), and the same calls on the numpy images."""
    city, sen, truth, obs = s2_scene
    tcity, tsen, _, tobs = tir_scene
    prior = synth.emissivity_prior(tsen.thermal())
    with xr.set_options(keep_attrs=True):
        lazy = obs.chunk({"y": 7, "x": 9, "band": 2})
    tkw = dict(window=3, max_iter=6, emissivity_prior=prior, temperature_anomaly_std=1.0)
    return ((lazy.urban.invert(city, sen, ATM, window=5, max_iter=8), lambda: obs.urban.invert(city, sen, ATM, window=5,
                                                                                             max_iter=8)),
            (tobs.chunk({"y": 4, "x": 5}).urban.invert(tcity, tsen, ATM, **tkw),
             lambda: tobs.urban.invert(tcity, tsen, ATM, **tkw)))


def test_chunked_inversion_stays_lazy(s2_scene, tir_scene, no_compute):
    (res, _), (tres, _) = _chunked_runs(s2_scene, tir_scene)
    for v in ("reflectance", "reflectance_std", "albedo", "net_shortwave", "residual"):
        assert isinstance(res[v].data, dsa.Array), v
    # the budget comes out of the inversion's chunk tasks: no graph of its own
    assert len(dict(res.net_shortwave.data.__dask_graph__())) <= len(dict(res.reflectance.data.__dask_graph__()))
    assert isinstance(tres["temperature"].data, dsa.Array) and isinstance(tres["temperature_anomaly"].data, dsa.Array)


def test_chunked_equals_unchunked_values(s2_scene, tir_scene):
    (res, eager), (tres, teager) = _chunked_runs(s2_scene, tir_scene)
    got, ref = res.compute(), eager()
    for v in ("reflectance", "reflectance_std", "albedo", "net_shortwave", "iterations"):
        np.testing.assert_allclose(got[v].values, ref[v].values, err_msg=v, **TILED)
    tgot, tref = tres.compute(), teager()
    for v in ("temperature", "emissivity", "emitted_longwave", "temperature_anomaly"):
        np.testing.assert_allclose(tgot[v].values, tref[v].values, rtol=1e-9, atol=1e-9, err_msg=v)


def test_lazy_inversion_of_an_uncached_city_splits_the_horizon_marches(s2_scene):
    from eoxr.urban.plan import SVF_TASKS

    city, sen, truth, obs = s2_scene
    fresh = synth.make_city(200.0, 2.0, seed=3)  # the same city, nothing cached yet
    assert city.has_fields(GEOM) and not fresh.has_fields(GEOM)
    res = obs.chunk({"y": 10, "x": 10}).urban.invert(fresh, sen, ATM, window=5, max_iter=8, budget=False)
    keys = [str(k) for k in res["reflectance"].data.__dask_graph__()]
    assert sum("sky_view_sum" in k for k in keys) == SVF_TASKS
    ref = obs.urban.invert(city, sen, ATM, window=5, max_iter=8, budget=False)
    # the sectors add in another order than one march loop: rounding-level differences only
    np.testing.assert_allclose(res["reflectance"].values, ref["reflectance"].values, **TILED)


def test_later_calls_on_a_cluster_reuse_the_horizons_of_the_first(s2_scene):
    from dask.distributed import Client, LocalCluster

    from eoxr.urban.plan import fields_from_sums, sky_view_sum

    city, sen, truth, obs = s2_scene
    fresh = synth.make_city(200.0, 2.0, seed=3)  # the same city, nothing cached in this process
    lazy = obs.chunk({"y": 10, "x": 10})
    other = Geometry(50.0, 120.0, 8.0, 100.0)  # a later scene: the horizons are the same, the sun is not

    def marches(res):
        return sum("sky_view_sum" in str(k) for k in res["reflectance"].data.__dask_graph__())

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cl, \
            Client(cl):
        first = lazy.urban.invert(fresh, sen, ATM, window=5, max_iter=8, budget=False)
        assert marches(first) > 0
        first = first.compute()
        again = lazy.urban.invert(fresh, sen, ATM, window=5, max_iter=8, budget=False)
        later = lazy.urban.invert(fresh, sen, ATM, window=5, max_iter=8, budget=False, geometry=other)
        assert marches(again) == marches(later) == 0 and not fresh.has_fields(GEOM)
        np.testing.assert_allclose(again.reflectance.values, first.reflectance.values, rtol=1e-9, atol=1e-12)
        ref = obs.urban.invert(city, sen, ATM, window=5, max_iter=8, budget=False, geometry=other)
        np.testing.assert_allclose(later.reflectance.values, ref.reflectance.values, **TILED)
    # with several workers, a copy that holds the horizons skips its sector; a copy without them adds the sectors
    # that were skipped elsewhere
    holder, bare = synth.make_city(200.0, 2.0, seed=3), synth.make_city(200.0, 2.0, seed=3)
    holder.fields(GEOM)
    sectors = [(0, 1, 2, 3, 4, 5, 6, 7), (8, 9, 10, 11, 12, 13, 14, 15)]
    sums = [sky_view_sum(holder, 16, sectors[0]), sky_view_sum(bare, 16, sectors[1])]
    assert sums[0] is None and sums[1] is not None
    np.testing.assert_allclose(fields_from_sums(bare, GEOM, 16, sums, sectors)["svf"], holder.fields(GEOM)["svf"], atol=1e-12)


def test_scene_reflectance_prior():
    value = np.array([[0.2, np.nan], [0.01, 0.4]])  # (ne, nb): element 0 band 1 never retrieved
    se = np.array([[0.003, np.nan], [0.001, 0.0]])
    mean, std = scene_reflectance_prior(np.stack([value, se]), np.full((2, 2), 0.3), np.full((2, 2), 0.1), 0.1)
    np.testing.assert_allclose(mean, [[0.2, 0.3], [0.01, 0.4]])
    # 10 % of the scene value (at least the floor) and the standard error in quadrature; the given prior elsewhere
    np.testing.assert_allclose(std, [[np.hypot(0.02, 0.003), 0.1], [np.hypot(REFLECTANCE_SCENE_FLOOR, 0.001), 0.04]])


def test_second_reflective_pass_lowers_the_error_on_a_noisy_scene():
    # reflectances varying in space, 2 % noise: drawn toward their scene-level values, the windows' estimates
    # lose much of the noise that one window's few pixels let through (0.016 -> 0.011 here)
    city = synth.make_city(200.0, 2.0, seed=3)
    sen = eoxr.urban.get_sensor("sentinel-2").subset(S2_BANDS)
    truth = synth.draw_properties(city, sen, 3, GEOM)
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=10.0, noise=0.02, seed=3)
    rho_t = synth.element_truth(city, truth.reflectance, city.grid_for(obs.radiance))
    prior = synth.reflectance_prior(sen.reflective())
    err = {}
    for scene_std in (None, 0.1):
        res = eoxr.urban.invert(obs, city, sen, ATM, window=5, max_iter=15, noise=0.02, reflectance_prior=prior,
                                reflectance_scene_std=scene_std, budget=False)
        err[scene_std] = float(np.sqrt(np.nanmean((res.reflectance.values - rho_t) ** 2)))
    assert err[0.1] < 0.8 * err[None]


def test_budget_matches_cell_truth(s2_scene):
    # with the true element reflectances the budget formulas equal the per-cell energy sums of the forward model
    # for one bounce; with several orders they follow the per-cell sums of as many bounces
    city, sen, truth, obs = s2_scene
    grid = city.grid_for(obs.radiance)
    fields = city.fields(GEOM)
    area = features(city, fields, grid, 0.0, 8.0, "area")
    from eoxr.urban.atmosphere import reflective_terms

    rb = sen.reflective()
    terms = reflective_terms(ATM, rb, GEOM)
    w, width = broadband_weights(rb)
    rho_e = truth.element_reflectance  # (ne, nb): uniform per element, so the element form holds exactly
    rho = np.broadcast_to(rho_e[..., None, None], rho_e.shape + area["a"].shape[1:])
    coords = {"element": city.names, "y": obs.y.values, "x": obs.x.values}
    nets = {}
    for n in (1, BOUNCES):
        sw = shortwave_dataset(*shortwave_arrays(rho, *(area[k] for k in ("a", "g", "s", "cg", "cs", "cb")),
                                                 terms["S"], terms["D"], w, width, np.full(rho.shape[:2], 0.2), n),
                               incoming_shortwave(terms["S"], terms["D"], terms["mu_s"][0], width), coords)
        tb = synth.true_budget(city, truth, sen, GEOM, ATM, grid, n_bounce=n)
        nets[n] = sw.net_shortwave.values, tb["net_shortwave"]
        if n == 1:
            np.testing.assert_allclose(sw.net_shortwave.values, tb["net_shortwave"], rtol=1e-10)
            np.testing.assert_allclose(sw.albedo.values, tb["albedo"], rtol=1e-10)
        assert 0.02 < float(sw.albedo.mean()) < 0.4
        assert 100 < float(sw.net_shortwave.mean()) < 1200
    # the higher orders (up to some 50 W m-2 between close walls): the element form gains most of what the cells
    # gain over one bounce (88 % here, up to 99 % on finer cities), and leaves a fraction of one bounce's error
    (one, truth1), (many, truth_n) = nets[1], nets[BOUNCES]
    gain, gain_true = many - one, truth_n - truth1
    assert gain.min() >= 0 and gain_true.max() > 30 and 0.8 < gain.sum() / gain_true.sum() < 1.2
    rmse = lambda d: float(np.sqrt(np.mean(d**2)))  # noqa: E731
    assert np.abs(many - truth_n).max() < 0.3 * np.abs(one - truth_n).max()
    assert rmse(many - truth_n) < 0.3 * rmse(one - truth_n)


def test_longwave_fills_parts_of_unknown_temperature():
    # 2 elements x (shaded, sunlit), 2 pixels. Pixel 0: element 1's sunlit part unknown (takes its element's
    # temperature). Pixel 1: element 1 unknown and not reported (the mean of the pixel's parts), but it still emits
    t_parts = np.array([[[300.0, 290.0], [310.0, 320.0]], [[280.0, np.nan], [np.nan, np.nan]]])  # (ne, 2, px)
    t_el = np.array([[305.0, 315.0], [285.0, np.nan]])
    eps = np.array([[0.92, 0.95], [0.97, 0.96]])  # (ne, px)
    area = np.array([[[0.5, 0.3], [0.2, 0.4]], [[0.1, 0.2], [0.3, 0.1]]])
    reported = np.array([[True, True], [True, False]])
    emitted, per_element, bb = longwave_arrays(t_parts, t_el, eps, area, reported)
    t = np.array([[[300.0, 290.0], [310.0, 320.0]], [[280.0, 305.0], [285.0, 305.0]]])  # filled
    parts = area * eps[:, None] * SIGMA * t**4
    np.testing.assert_allclose(emitted, parts.sum((0, 1)), rtol=1e-12)
    np.testing.assert_allclose(per_element[:, 0], parts[..., 0].sum(1) / area[..., 0].sum(1), rtol=1e-12)
    assert np.isnan(per_element[1, 1]) and np.isnan(bb[1, 1]) and bb[0, 1] == 0.95


def test_three_d_beats_flat_unmixing(s2_scene):
    city, sen, truth, obs = s2_scene
    t = _truth_da(truth.element_reflectance, city, obs)
    res = eoxr.urban.invert(obs, city, sen, ATM, window=5, max_iter=15)
    flat = obs.urban.unmix(city, sen, ATM, window=5)
    both = np.isfinite(res.reflectance) & np.isfinite(flat.reflectance)
    rmse3 = float(np.sqrt(((res.reflectance - t) ** 2).where(both).mean()))
    rmsef = float(np.sqrt(((flat.reflectance - t) ** 2).where(both).mean()))
    assert rmsef > 3 * rmse3
    assert "urban.unmix_flat" in flat.attrs["history"]


def test_bad_inputs_raise_clear_errors(s2_scene, tir_scene):
    city, sen, truth, obs = s2_scene
    # image extending beyond the city
    shifted = obs.assign_coords(x=obs.x + 50.0)
    with pytest.raises(GridError, match="does not cover"):
        eoxr.urban.invert(shifted, city, sen, ATM)
    # CRS mismatch
    with pytest.raises(CRSError, match="differs from the city CRS"):
        eoxr.urban.invert(obs.rio.write_crs("EPSG:32632"), city, sen, ATM)
    # pixel not a multiple of the city cell
    odd = obs.isel(x=slice(0, 6), y=slice(0, 6))
    odd = odd.assign_coords(x=odd.x.values[0] + np.arange(6) * 9.0 - 0.5, y=odd.y.values[0] - np.arange(6) * 9.0 + 0.5)
    with pytest.raises(GridError, match="whole multiple"):
        eoxr.urban.invert(odd, city, sen, ATM)
    # an element class without any cell
    ds = city.to_dataset()
    names = {i: n for i, n in enumerate(city.names)}
    names[len(names)] = "glass"
    with pytest.raises(NoDataError, match="glass"):
        City.from_dataset(ds, element_names=names)
    # thermal bands without an emissivity prior
    tcity, tsen, _, tobs = tir_scene
    with pytest.raises(MissingVariableError, match="emissivity prior"):
        eoxr.urban.invert(tobs, tcity, tsen, ATM)
    # band names the sensor does not know
    with pytest.raises(MissingVariableError, match="has no band"):
        eoxr.urban.invert(obs.assign_coords(band=["a", "b", "c", "d"]), city, sen, ATM)


def test_city_round_trip_and_synthetic_seeds(tmp_path):
    c1 = synth.make_city(150.0, 2.0, seed=1)
    c2 = synth.make_city(150.0, 2.0, seed=2)
    assert not np.array_equal(c1.dsm, c2.dsm)
    ds = c1.to_dataset()
    ds["dsm"].rio.to_raster(tmp_path / "dsm.tif")
    ds["element"].astype("int16").rio.to_raster(tmp_path / "el.tif")
    back = City.from_rasters(tmp_path / "dsm.tif", tmp_path / "el.tif", dict(enumerate(c1.names)))
    np.testing.assert_array_equal(back.element, c1.element)
    np.testing.assert_allclose(back.dsm, c1.dsm)
    coarse = c1.coarsen(2)
    assert coarse.res == 2 * c1.res and set(coarse.names) <= set(c1.names)


def test_adjacency_correction_undoes_the_environment_term():
    from eoxr.urban.atmosphere import reflective_terms
    from eoxr.urban.inputs import adjacency_correct

    city = synth.make_city(240.0, 2.0, seed=7)
    sen = eoxr.urban.get_sensor("sentinel-2").subset(["B02", "B08"])
    truth = synth.draw_properties(city, sen, 7, GEOM)
    atm = Atmosphere(aot550=0.4)
    plain = synth.observe(city, truth, sen, GEOM, atm, pixel_size=10.0).radiance.values
    adj = synth.observe(city, truth, sen, GEOM, atm, pixel_size=10.0, adjacency_m=150.0).radiance.values
    terms = reflective_terms(atm, sen.reflective(), GEOM)
    fixed = adjacency_correct(adj, terms, 15.0, lazy=False)
    before = np.abs(adj - plain).mean()
    after = np.abs(fixed - plain).mean()
    assert after < 0.5 * before
    lazy = adjacency_correct(dsa.from_array(adj, chunks=(1, 9, 11)), terms, 15.0, lazy=True)
    np.testing.assert_allclose(lazy.compute(), fixed, rtol=1e-12)
    small = adjacency_correct(dsa.from_array(adj, chunks=(1, 9, 11)), terms, 2.0, lazy=True)
    np.testing.assert_allclose(small.compute(), adjacency_correct(adj, terms, 2.0, lazy=False), rtol=1e-12)


def test_a_repeated_eager_adjacency_correction_is_computed_once(monkeypatch):
    from eoxr.urban import inputs
    from eoxr.urban.atmosphere import reflective_terms

    calls = []
    correct = inputs.corrected_for_adjacency
    monkeypatch.setattr(inputs, "corrected_for_adjacency", lambda *a: calls.append(a) or correct(*a))
    y = np.random.default_rng(0).uniform(50.0, 80.0, (2, 12, 14))
    terms = reflective_terms(ATM, eoxr.urban.get_sensor("sentinel-2").subset(["B02", "B08"]).reflective(), GEOM)
    first = inputs.adjacency_correct(y, terms, 3.0, lazy=False)
    first[:] = 0.0  # a copy: the caller's own
    again = inputs.adjacency_correct(y.copy(), terms, 3.0, lazy=False)
    assert len(calls) == 1
    np.testing.assert_array_equal(again, correct(y, terms, 3.0, False))
    y[0, 5, 5] += 1.0
    for moved in ((y, terms, 3.0), (y, terms, 3.5), (y, dict(terms, T_up=terms["T_up"] * 0.9), 3.5)):
        np.testing.assert_array_equal(inputs.adjacency_correct(*moved, lazy=False), correct(*moved, False))
    assert len(calls) == 4


def test_landsat_reflective_and_thermal_together_near_the_truth_and_toa_reflectance_input():
    from eoxr.urban.sensors import band_solar_irradiance

    city = synth.make_city(180.0, 3.0, seed=9)
    sen = eoxr.urban.get_sensor("landsat-8").subset(["B2", "B4", "B5", "B10", "B11"])
    truth = synth.draw_properties(city, sen, 9, GEOM)
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=30.0, noise=0.005, nedt=0.05, seed=9)
    prior = synth.emissivity_prior(sen.thermal())
    res = obs.urban.invert(city, "landsat-8", {"aot550": 0.15}, window=3, emissivity_prior=prior)
    for v in ("reflectance", "temperature", "emissivity", "albedo", "net_shortwave", "emitted_longwave",
              "residual", "thermal_residual", "temperature_parts"):
        assert v in res and res[v].attrs.get("units"), v
    assert list(res.band.values) == ["B2", "B4", "B5"] and list(res.thermal_band.values) == ["B10", "B11"]
    # both kinds of bands near the truth of the pixels (reflectances varying 6 % in space, 0.5 % noise, NEdT
    # 0.05 K): 0.012, 1.1 K and 0.004 here, where the truth's own spread is 0.1 and 6.6 K
    grid = city.grid_for(obs.radiance)
    rmse = lambda a, b: float(np.sqrt(np.nanmean((a - b) ** 2)))  # noqa: E731
    assert rmse(res.reflectance.values, synth.element_truth(city, truth.reflectance, grid)) < 0.02
    t_true = synth.element_truth(city, truth.temperature, grid, city.fields(GEOM)["area"])
    assert rmse(res.temperature.values, t_true) < 1.5
    assert rmse(res.emissivity.values, synth.element_truth(city, truth.emissivity, grid)) < 0.006
    # the same reflective bands given as top-of-atmosphere reflectance give the same answer
    rb = sen.reflective()
    e0 = xr.DataArray([band_solar_irradiance(b) for b in rb], dims="band", coords={"band": [b.name for b in rb]})
    toa = obs.radiance.sel(band=e0.band) * np.pi / (e0 * np.cos(np.radians(GEOM.sun_zenith)))
    ref = toa.assign_attrs(units="1").to_dataset(name="toa_reflectance").assign_attrs(obs.attrs)
    res2 = ref.rio.write_crs(obs.rio.crs).urban.invert(city, "landsat-8", {"aot550": 0.15}, window=3)
    np.testing.assert_allclose(res2.reflectance.values, res.reflectance.values, rtol=1e-6, atol=1e-7, equal_nan=True)


def test_scene_means_weight_by_precision():
    from eoxr.urban.scene import scene_means, scene_sums

    v = np.array([[[300.0, 310.0]], [[np.nan, np.nan]]])  # (2 channels, 1, 2)
    sd = np.array([[[1.0, 2.0]], [[1.0, 1.0]]])
    sums = scene_sums(v, sd)
    # additive over the chunks of an image: a first pass's tasks return only these
    np.testing.assert_allclose(scene_sums(v[..., :1], sd[..., :1]) + scene_sums(v[..., 1:], sd[..., 1:]), sums)
    mean, se = np.split(scene_means(sums, window=3), 2)
    w = np.array([1.0, 0.25])
    assert mean[0] == pytest.approx((w * [300.0, 310.0]).sum() / w.sum())
    assert se[0] == pytest.approx(np.sqrt(9 / w.sum()))  # 3 x 3 overlapping windows make one estimate
    assert np.isnan(mean[1]) and np.isnan(se[1])


def test_scene_means_do_not_count_echoes_of_the_prior_as_evidence():
    from eoxr.urban.scene import scene_means, scene_sums

    # channel 0: 100 windows that barely see the element return its prior 0.2 +- 0.05; channel 1: data halve the
    # spread; window 1 (each pixel its own estimate)
    v = np.stack([np.full((10, 10), 0.2), np.full((10, 10), 0.3)])
    sd = np.stack([np.full((10, 10), 0.05), np.full((10, 10), 0.025)])
    prior = (np.array([0.2, 0.2]), np.array([0.05, 0.05]))
    mean, se = np.split(scene_means(scene_sums(v, sd, prior_std=prior[1]), 1, prior_std=prior[1]), 2)
    np.testing.assert_allclose(mean, [0.2, 0.3])
    # the prior alone for channel 0; the data's precision (1/0.025^2 - 1/0.05^2 per window) for channel 1
    np.testing.assert_allclose(se, [0.05, 1 / np.sqrt(100 * (1 / 0.025**2 - 1 / 0.05**2) + 1 / 0.05**2)])
    naive = np.split(scene_means(scene_sums(v, sd), 1), 2)[1]
    assert naive[0] == pytest.approx(0.005)  # what counting every window as evidence would claim


def test_thermal_scene_pass_lowers_the_temperature_error(tir_scene):
    # noisy data: a single window mixes the sunlit and shaded parts of an element; the scene-level second pass
    # separates them better
    city, sen, truth, _ = tir_scene
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=30.0, nedt=0.3, seed=1)
    prior = synth.emissivity_prior(sen.thermal())
    t_true = synth.element_truth(city, truth.temperature, city.grid_for(obs.radiance), city.fields(GEOM)["area"])
    err = {}
    for std in (None, 1.0):
        res = eoxr.urban.invert(obs, city, sen, ATM, window=5, max_iter=15, nedt=0.3, emissivity_prior=prior,
                                temperature_scene_std=std)
        err[std] = float(np.sqrt(np.nanmean((res.temperature.values - t_true) ** 2)))
    assert err[1.0] < 0.9 * err[None], err


def test_chunk_halos_are_the_neighbours_pixels():
    from eoxr.urban.tiles import stack_run

    rng = np.random.default_rng(0)
    img = rng.normal(size=(2, 11, 13))
    part = rng.normal(size=(3, 11, 13))
    other = rng.normal(size=(2, 11, 13))
    h = 2
    padded = np.pad(np.concatenate([img, part, other]), ((0, 0), (h, h), (h, h)), constant_values=np.nan)

    def centre_and_corners(blk):  # an output per pixel that depends on every pixel of its halo
        win = np.lib.stride_tricks.sliding_window_view(blk, (2 * h + 1, 2 * h + 1), axis=(1, 2))
        return np.nansum(win * np.arange(win[0, 0, 0].size).reshape(win.shape[-2:]), axis=(-2, -1))

    want = centre_and_corners(padded)
    # one part whole, the other in tiles (dicts, as the feature tasks give them): bands of the row chunks, or
    # tiles of a row chunk and a run of column chunks
    rows = ((0, 3), (3, 8), (8, 11))
    bands = [[{"f": other[:, r0:r1]}] for r0, r1 in rows]
    tiles = [[{"f": other[:, r0:r1, c0:c1]} for c0, c1 in ((0, 8), (8, 13))] for r0, r1 in rows]
    img_d = dsa.from_array(img, chunks=(1, (3, 5, 3), (6, 2, 5)))
    for split in ((bands, "f", None), (tiles, "f", np.array([0, 8, 13]))):
        got = stack_run(img_d, [([[part]], None, None), split], centre_and_corners, 5, h, lazy=True)
        assert got.numblocks == (1, 3, 3)
        np.testing.assert_allclose(got.compute(), want, rtol=1e-12)


@pytest.mark.parametrize("chunks, edges", [((32, 32, 32, 32), [0, 64, 128]), ((16, 16), [0, 32]),
                                           ((50, 50, 10), [0, 110]), ((70, 30), [0, 100]), ((64,), [0, 64])])
def test_feature_tiles_span_whole_chunks_at_least_min_wide(chunks, edges):
    from eoxr.urban.tiles import tile_edges

    assert tile_edges(chunks, 64).tolist() == edges


def test_a_pickled_city_leaves_its_facets_behind_and_derives_them_again(s2_scene):
    import pickle

    city = s2_scene[0]
    geom = Geometry(35.0, 150.0, 6.0, 100.0)
    fields = city.fields(geom)
    blob = pickle.dumps(city)
    back = pickle.loads(blob)
    assert "facets" not in back._cache and len(blob) < len(pickle.dumps(city.__dict__))
    for k, v in back.fields(geom).items():
        np.testing.assert_array_equal(v, fields[k])
    for k, v in city.facets.items():
        np.testing.assert_array_equal(back.facets[k], v)


def test_inversion_on_worker_processes_equals_the_eager_one(s2_scene):
    from dask.distributed import Client, LocalCluster

    from eoxr.cluster import worker_environ
    from eoxr.urban.city import City
    from eoxr.urban.shipping import CityRef

    city, sen, truth, obs = s2_scene
    ref = obs.urban.invert(city, sen, ATM, window=5, max_iter=8, budget=False)
    with worker_environ(), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                        dashboard_address=":0") as cl, Client(cl) as client:
        runs = [obs.chunk({"y": 8, "x": 8}).urban.invert(city, sen, ATM, window=5, max_iter=8, budget=False)
                for _ in range(2)]
        # the graphs carry a reference to the city installed on the workers, not the city itself
        refs = set()
        for r in runs:
            for t in dict(r.reflectance.data.__dask_graph__()).values():
                args = [getattr(a, "value", a) for a in getattr(t, "args", ())]
                assert not any(isinstance(a, City) for a in args)
                refs |= {a for a in args if isinstance(a, CityRef)}
        assert len(refs) == 1
        name = refs.pop().name
        assert all(name in p for p in client.run(lambda dask_worker: list(dask_worker.plugins)).values())
        cl.scale(3)  # a worker that joins later gets the city too
        client.wait_for_workers(3)
        assert len([p for p in client.run(lambda dask_worker: list(dask_worker.plugins)).values() if name in p]) == 3
        got = [r.compute() for r in runs]
    for g in got:
        np.testing.assert_allclose(g.reflectance.values, ref.reflectance.values, **TILED)


def test_cities_on_the_workers_follow_their_cache_and_stay_few(s2_scene, monkeypatch):
    from dask.distributed import Client, LocalCluster

    from eoxr.errors import ClusterError
    from eoxr.urban import shipping

    city = s2_scene[0].coarsen(1)  # a copy of its own: its cache changes below
    monkeypatch.setattr(shipping, "MAX_CITIES", 2)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cl, \
            Client(cl) as client:
        def installed():
            return {n for n in client.run(lambda dask_worker: list(dask_worker.plugins)).popitem()[1]
                    if n.startswith("eoxr-city-")}

        first = shipping.city_for_graph(city)
        assert shipping.city_for_graph(city) == first and installed() == {first.name}
        city._cache["probe"] = np.zeros(1)  # a field cached since: the workers' copy is stale, and replaced
        second = shipping.city_for_graph(city)
        assert second != first and installed() == {second.name}
        others = [shipping.city_for_graph(city.coarsen(2)) for _ in range(2)]
        assert installed() == {o.name for o in others}  # the least recently used went
        with pytest.raises(ClusterError, match="not installed on this worker"):
            client.submit(shipping.resolve, second, pure=False).result()
        assert client.submit(lambda r: shipping.resolve(r).names, others[1], pure=False).result() == \
            city.coarsen(2).names


def test_thermal_pixel_anomaly_lowers_the_temperature_error(tir_scene):
    # every surface of a pixel warmer or cooler by the pixel's own anomaly (local weather): the anomaly term
    # follows what one temperature per element part and window cannot
    city, sen, truth, _ = tir_scene
    grid = city.grid_for(tir_scene[3].radiance)
    anomaly = np.random.default_rng(0).normal(0.0, 1.0, (grid.ny, grid.nx))
    field = np.zeros(city.layers.shape[1:])
    f = grid.factor
    field[grid.row0:grid.row0 + grid.ny * f, grid.col0:grid.col0 + grid.nx * f] = np.kron(anomaly, np.ones((f, f)))
    warm = synth.Truth(truth.reflectance, truth.emissivity, truth.temperature + field, truth.element_reflectance,
                       truth.element_emissivity, truth.element_temperature)
    obs = synth.observe(city, warm, sen, GEOM, ATM, pixel_size=30.0, nedt=0.15, seed=1)
    prior = synth.emissivity_prior(sen.thermal())
    t_true = synth.element_truth(city, warm.temperature, grid, city.fields(GEOM)["area"])
    err = {}
    for std in (None, 1.0):
        res = eoxr.urban.invert(obs, city, sen, ATM, window=5, max_iter=15, nedt=0.15, emissivity_prior=prior,
                                thermal_model_error=0.3, temperature_anomaly_std=std)
        err[std] = float(np.sqrt(np.nanmean((res.temperature.values - t_true) ** 2)))
    assert err[1.0] < 0.8 * err[None], err
    assert "temperature_anomaly" in res and res.temperature_anomaly.attrs["units"] == "K"
    assert float(res.temperature_anomaly_std.min()) > 0
    corr = np.corrcoef(res.temperature_anomaly.values.ravel(), anomaly.ravel())[0, 1]
    assert corr > 0.5, corr


def test_an_asynchronous_client_gets_the_city_with_the_graph(s2_scene):
    import asyncio

    from dask.delayed import Delayed
    from dask.distributed import Client, LocalCluster

    from eoxr.urban import shipping

    async def build():
        async with LocalCluster(n_workers=1, processes=False, asynchronous=True, dashboard_address=":0") as cl, \
                Client(cl, asynchronous=True):
            return shipping.city_for_graph(s2_scene[0])

    got = asyncio.run(build())
    assert isinstance(got, Delayed) and got.compute(scheduler="sync") is s2_scene[0]


def test_the_image_bands_are_selected_only_when_some_are_left_out(s2_scene):
    from eoxr.urban.inputs import Image

    sen, obs = s2_scene[1], s2_scene[3]
    img = obs.radiance.chunk({"y": 8, "x": 8})
    image = Image(img, "radiance", sen)
    assert image.bands(sen.reflective()) is img  # no slicing task per chunk in the graph
    some = image.bands(sen.reflective()[1:3])
    assert list(some.band.values) == [b.name for b in sen.reflective()[1:3]]
    np.testing.assert_array_equal(some.values, obs.radiance.values[1:3])


def test_fit_psf_finds_the_width_of_the_image_and_that_width_inverts_better(s2_scene):
    city, sen, truth, _ = s2_scene
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=10.0, psf=1.18 * sen.psf_sigma)
    fit = obs.urban.fit_psf(city, sen, ATM)
    assert abs(fit.attrs["psf_scale"] - 1.18) < 0.01 and fit.attrs["psf_wing_weight"] == 0.0  # no wing fits better
    assert fit.attrs["psf_sigma"] == pytest.approx(fit.attrs["psf_scale"] * sen.psf_sigma)
    assert fit.misfit.attrs["units"] == "1" and fit.psf_scale.attrs["units"] == "1"
    assert float(fit.psf_scale[np.argmin(fit.misfit.values)]) in (1.1, 1.25)  # the scanned widths around 1.18
    lazy = eoxr.urban.fit_psf(obs.chunk({"y": 8, "x": 8}), city, sen, ATM, wings=())
    assert lazy.attrs["psf_scale"] == pytest.approx(fit.attrs["psf_scale"], abs=1e-5)
    want = _truth_da(truth.element_reflectance, city, obs)
    err = {k: float(np.sqrt(((eoxr.urban.invert(obs, city, sen, ATM, psf=p, budget=False).reflectance
                              - want) ** 2).mean())) for k, p in (("nominal", None), ("fit", fit))}
    assert err["fit"] < 0.05 * err["nominal"]


def test_fit_psf_of_a_box_psf_inverts_every_element_within_0003():
    # a city of one reflectance per element seen through the pixel's box alone (no blur): the fit goes down to it
    city = synth.make_city(200.0, 2.0, seed=3)
    sen = eoxr.urban.get_sensor("sentinel-2").subset(S2_BANDS)
    truth = synth.draw_properties(city, sen, 3, GEOM, variability=0.0)
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=10.0, psf=0.0)
    fit = obs.urban.fit_psf(city, sen, ATM)
    assert fit.attrs["psf_sigma"] < 0.05 and fit.attrs["psf_wing_weight"] == 0.0
    res = eoxr.urban.invert(obs, city, sen, ATM, psf=fit, budget=False)
    err = np.abs(res.reflectance - _truth_da(truth.element_reflectance, city, obs))
    assert np.isfinite(err).sum() > 0.3 * err.size and float(err.max()) <= 0.003
    nominal = eoxr.urban.invert(obs, city, sen, ATM, budget=False)  # the nominal Gaussian: far off
    assert float(np.abs(nominal.reflectance - _truth_da(truth.element_reflectance, city, obs)).max()) > 0.1


def test_fit_psf_finds_a_wing_and_the_narrower_core_under_it(s2_scene):
    # a core narrower than nominal and 15 % of the energy in a wing 3 times wider: the wing fits better than any
    # single Gaussian, and the core and wing found invert several times better
    city, sen, truth, _ = s2_scene
    n = sen.psf_sigma
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=10.0, psf=((0.85, 0.9 * n), (0.15, 3.0 * n)))
    fit = obs.urban.fit_psf(city, sen, ATM)
    single = obs.urban.fit_psf(city, sen, ATM, wings=())
    assert abs(fit.attrs["psf_scale"] - 0.9) < 0.05 and abs(fit.attrs["psf_wing_weight"] - 0.15) < 0.03
    assert abs(fit.attrs["psf_wing_sigma"] / n - 3.0) < 0.3
    assert single.attrs["psf_scale"] > 1.0  # a single Gaussian takes the wing for a wider core
    want = _truth_da(truth.element_reflectance, city, obs)
    err = {k: float(np.sqrt(((eoxr.urban.invert(obs, city, sen, ATM, psf=p, budget=False).reflectance
                              - want) ** 2).mean())) for k, p in (("fit", fit), ("single", single))}
    assert err["fit"] < 0.2 * err["single"]


def test_fit_psf_warns_on_the_edge_of_its_scan_and_refuses_bad_scales(s2_scene):
    city, sen, _, obs = s2_scene  # nominal PSF: least misfit at scale 1
    with pytest.warns(EoxrWarning, match="pass wider scales="):
        fit = eoxr.urban.fit_psf(obs, city, sen, ATM, scales=(0.6, 0.7, 0.8), wings=())
    assert fit.attrs["psf_scale"] == pytest.approx(0.8)
    with pytest.raises(ParameterError, match="at least 3 scales >= 0"):
        eoxr.urban.fit_psf(obs, city, sen, ATM, scales=(0.9, 1.1))
    with pytest.raises(ParameterError, match="share of the energy in"):
        eoxr.urban.fit_psf(obs, city, sen, ATM, wings=((1.5, 3.0),))
    with pytest.raises(ParameterError, match="leave it out"):
        eoxr.urban.fit_psf(obs, city, sen, ATM, psf=0.5)
    with pytest.raises(ParameterError, match="result of fit_psf"):
        eoxr.urban.invert(obs, city, sen, ATM, psf=xr.Dataset())


def test_fit_shift_registers_the_image_on_the_city(s2_scene):
    city, sen, truth, obs = s2_scene
    inner = obs.isel(x=slice(1, -1), y=slice(1, -1))
    wrong = inner.assign_coords(x=inner.x + 4.0, y=inner.y - 2.0)  # 2 and 1 city cells off
    fit = wrong.urban.fit_shift(city, sen, ATM, max_shift_px=1.0)
    assert (fit.attrs["shift_x"], fit.attrs["shift_y"]) == (-4.0, 2.0)
    assert fit.shift_x.attrs["units"] == "m" and fit.misfit_x.attrs["units"] == "1"
    assert float(fit.misfit_x.min()) < 1e-6 < float(fit.misfit_x.max())  # noise-free: exact at the right shift
    # a sub-cell misregistration of the simulated sensor: found to the nearest cell
    seen = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=10.0, misregistration=0.3, seed=1)
    fit = eoxr.urban.fit_shift(seen, city, sen, ATM)
    assert abs(fit.attrs["shift_x"] - seen.attrs["misregistration_x_m"]) <= city.res / 2 + 1e-9
    assert abs(fit.attrs["shift_y"] - seen.attrs["misregistration_y_m"]) <= city.res / 2 + 1e-9
    with pytest.raises(ValueError, match="under one city cell"):
        eoxr.urban.fit_shift(obs, city, sen, ATM, max_shift_px=0.1)
    with pytest.raises(NoDataError, match="smaller max_shift_px"):  # 20 px, 9 px kept from each edge
        eoxr.urban.fit_shift(obs, city, sen, ATM, max_shift_px=8.5)


def test_register_moves_the_image_and_clips_it_to_the_city(s2_scene):
    city, sen, truth, obs = s2_scene
    inner = obs.isel(x=slice(1, -1), y=slice(1, -1))
    wrong = inner.assign_coords(x=inner.x + 4.0, y=inner.y - 2.0).chunk({"x": 6})
    fit = wrong.urban.fit_shift(city, sen, ATM, max_shift_px=1.0)
    back = wrong.urban.register(fit)
    assert back.radiance.chunks is not None  # lazy
    np.testing.assert_array_equal(back.x, inner.x)
    np.testing.assert_array_equal(back.y, inner.y)
    np.testing.assert_array_equal(back.radiance, inner.radiance)
    assert (back.attrs["registration_shift_x_m"], back.attrs["registration_shift_y_m"]) == (-4.0, 2.0)
    assert back.rio.crs == city.crs  # the stored geotransform moves with the coordinates
    expected = inner.rio.write_transform(inner.rio.transform(recalc=True)).spatial_ref.attrs["GeoTransform"]
    assert back.spatial_ref.attrs["GeoTransform"] == expected
    # moved 4 m east, the image's last column leaves the city: the inversion refuses it, the clipped one runs
    east = fit.assign_attrs(shift_x=4.0, shift_y=0.0)
    moved = eoxr.urban.register(obs, east)
    with pytest.raises(GridError, match="does not cover"):
        eoxr.urban.invert(moved, city, sen, ATM, budget=False)
    clipped = eoxr.urban.register(obs, east, city)
    assert clipped.sizes == {"band": obs.sizes["band"], "y": obs.sizes["y"], "x": obs.sizes["x"] - 1}
    assert np.isfinite(eoxr.urban.invert(clipped, city, sen, ATM, budget=False).reflectance).any()
    with pytest.raises(ValueError, match="result of fit_shift"):
        eoxr.urban.register(obs, xr.Dataset())
    with pytest.raises(CRSError, match="differs from the city CRS"):
        eoxr.urban.register(obs.rio.write_crs("EPSG:32632"), east, city)
