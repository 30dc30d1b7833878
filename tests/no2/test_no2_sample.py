"""The sample's S5P-like scene (eoxr.no2.synth) and the scores of an emission map against its truth
(eoxr.no2.evaluate), which the demo reports."""
import numpy as np
import pytest
from checks import assert_cf

from eoxr.errors import NoDataError, ReadError
from eoxr.no2 import ctm, evaluate, synth


@pytest.fixture(scope="module")
def item(tmp_path_factory):
    (item,) = synth.sample_items(tmp_path_factory.mktemp("no2"), seed=0)
    return item


def test_the_sample_item_holds_the_scene_and_its_truth(item):
    scene = synth.open_scene(item.assets["scene"].get_absolute_href())
    truth = synth.open_scene(item.assets["truth"].get_absolute_href())
    assert set(scene.data_vars) == {"no2_column", "u", "v"} and set(truth.data_vars) == {"emission",
                                                                                         "no2_column_true", "tau"}
    assert_cf(scene, {"no2_column": "mol m-2", "u": "m s-1", "v": "m s-1"})
    assert scene.rio.crs == truth.rio.crs and scene.rio.crs.to_proj4().startswith("+proj=aeqd")
    assert 0.05 < float(scene["no2_column"].isnull().mean()) < 0.2  # the 10 % cloud gaps
    assert 2 * 3600 <= float(truth["tau"]) <= 8 * 3600
    west, south, east, north = item.bbox
    assert 4.9 < west < 5.1 and 51.8 < south < 52.0 and east > west and north > south
    # the file is the simulation of its seed, as drawn again
    again = synth.sample_scene(0)
    np.testing.assert_array_equal(truth["emission"].values, again["emission"].values)


def test_two_seeds_give_two_scenes():
    a, b = synth.sample_scene(0), synth.sample_scene(1)
    assert not np.allclose(a["emission"].values, b["emission"].values)


def test_a_missing_scene_file_is_named(tmp_path):
    with pytest.raises(ReadError, match=r"absent\.nc: no such scene file"):
        synth.open_scene(tmp_path / "absent.nc")


@pytest.fixture(scope="module")
def truth():
    """Two point sources, far apart, on a clean background."""
    grid = ctm.Grid(ny=32, nx=32)
    sources = ctm.Sources(points=[(8, 8, 1.0), (24, 22, 0.5)], background=1e-10)
    return ctm.as_dataset(grid, emission=sources.mean_emission(grid))["emission"]


def test_scores_of_the_truth_itself_and_of_twice_it(truth):
    exact = evaluate.emission_scores(truth, truth)
    assert exact["sources"] == 2 and exact["sources_hidden"] == 0
    assert exact["source_error_median"] == 0 and exact["total_bias_percent"] == 0
    double = evaluate.emission_scores(2 * truth, truth)
    assert double["source_relative_error"] == pytest.approx([1.0, 1.0])
    assert double["total_bias_percent"] == pytest.approx(100.0)
    one_wrong = truth.copy(data=np.where(truth.y > truth.y.median(), 1.5 * truth, truth))  # the northern source
    scores = evaluate.emission_scores(one_wrong, truth)
    assert sorted(scores["source_relative_error"]) == pytest.approx([0.0, 0.5])
    assert scores["source_error_median"] == pytest.approx(0.25) and scores["source_error_p90"] == pytest.approx(0.45)


def test_a_source_under_a_cloud_is_hidden_not_scored(truth):
    cloudy = truth.where(~((abs(truth.x - truth.x[8]) < 12e3) & (abs(truth.y - truth.y[23]) < 12e3)))
    scores = evaluate.emission_scores(cloudy, truth)
    assert scores["sources"] == 1 and scores["sources_hidden"] == 1 and scores["source_error_median"] == 0
    with pytest.raises(NoDataError, match="no source above"):
        evaluate.emission_scores(truth, truth, threshold=1.0)
    with pytest.raises(NoDataError, match="none of the 2 true sources is seen"):
        evaluate.emission_scores(truth * np.nan, truth)
