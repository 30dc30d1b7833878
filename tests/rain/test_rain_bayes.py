"""Bayesian retrieval: exact in the noise-free limit, sharper with more channels, surface bins, TPW, database files."""
import numpy as np
import pytest

from eoxr.errors import NoDataError, ParameterError
from eoxr.rain import bayes


def _pixels(ds):
    tb = ds["brightness_temperature"].values.reshape(-1, 13).copy()  # the session's swath stays as drawn
    return tb, ds["surface_type"].values.ravel(), ds["rain_rate"].values.ravel()


def test_exact_for_an_observation_in_the_database_without_noise(database):
    wet = np.flatnonzero(database.rain > 1.0)[:50]
    out = bayes.posterior(database.tb[wet], database.surface[wet], None, database, database.channels, error=1e-3)
    np.testing.assert_allclose(out[:, 0], database.rain[wet], rtol=1e-9)
    np.testing.assert_allclose(out[:, 1], 0.0, atol=1e-9)
    np.testing.assert_array_equal(out[:, 2], 1.0)


def test_posterior_std_shrinks_with_more_channels(database, swath):
    """Each channel adds information: the posterior variance, averaged over the observations, falls (k covers
    the whole database, so the posterior is not truncated to a few neighbours)."""
    tb, surface, rain = _pixels(swath)
    names = database.channels
    sub = bayes.Database(database.tb[::8], database.rain[::8], database.surface[::8], database.tpw[::8],
                         database.weight[::8], names, "gmi")
    variance = []
    for subset in (["89V"], ["89V", "36.64V", "18.7V"], names):
        cols = [names.index(c) for c in subset]
        out = bayes.posterior(tb[:, cols], surface, None, sub, subset, k=len(sub))
        variance.append(np.mean(out[:, 1] ** 2))
    assert variance[0] > variance[1] > variance[2], variance


def test_posterior_is_a_distribution(database, swath):
    tb, surface, rain = _pixels(swath)
    tb[:5] = np.nan
    out = bayes.posterior(tb, surface, None, database, database.channels)
    assert np.isnan(out[:5]).all() and np.isfinite(out[5:]).all()
    assert (out[5:, 0] >= 0).all() and (out[5:, 1] >= 0).all()
    assert ((out[5:, 2] >= 0) & (out[5:, 2] <= 1)).all()
    assert np.corrcoef(out[5:, 0], rain[5:])[0, 1] > 0.5  # the retrieval follows the reference


def _twin_database(by: str, n: int = 200):
    """Entries with the same brightness temperatures, told apart only ``by`` their surface type or TPW."""
    rng = np.random.default_rng(0)
    tb = np.tile(250.0 + rng.normal(0, 0.01, (n, 1)), (1, 13))
    half = np.repeat([0, 1], n // 2)
    surface = (half if by == "surface" else np.ones(n)).astype(np.int8)
    rain = np.where(half == 0, 5.0, 0.0) if by == "surface" else np.where(half == 0, 1.0, 9.0)
    tpw = np.where(half == 0, 10.0, 50.0) if by == "tpw" else np.full(n, 30.0)
    return bayes.Database(tb=tb, rain=rain, surface=surface, tpw=tpw, weight=np.ones(n),
                          channels=bayes.get("gmi").channel_names, sensor="gmi")


def test_entries_are_binned_by_surface_type():
    db = _twin_database("surface")
    obs = np.full((2, 13), 250.0)
    out = bayes.posterior(obs, np.array([0, 1]), None, db, db.channels)
    np.testing.assert_allclose(out[:, 0], [5.0, 0.0])


def test_precipitable_water_weights_entries_of_its_regime():
    db = _twin_database("tpw")
    obs = np.full((2, 13), 250.0)
    with_tpw = bayes.posterior(obs, np.array([1, 1]), np.array([10.0, 50.0]), db, db.channels)
    without = bayes.posterior(obs, np.array([1, 1]), None, db, db.channels)
    np.testing.assert_allclose(with_tpw[:, 0], [1.0, 9.0], atol=1e-6)
    np.testing.assert_allclose(without[:, 0], 5.0, atol=0.5)


def test_database_file_round_trip_and_cache(database, tmp_path):
    path = database.save(tmp_path / "db.npz")
    first = bayes.load(path)
    assert bayes.load(path) is first  # read once per process
    np.testing.assert_allclose(first.tb, database.tb, rtol=1e-6)
    assert first.channels == database.channels and first.sensor == "gmi" and len(first) == len(database)
    with pytest.raises(NoDataError, match="no rain database"):
        bayes.load(tmp_path / "missing.npz")


def test_unknown_channels_and_bad_thinning(database):
    with pytest.raises(ParameterError, match="no channels"):
        database.select(["37V"])
    with pytest.raises(ParameterError, match="dry_fraction"):
        bayes.build(seeds=[1], dry_fraction=0.0)
