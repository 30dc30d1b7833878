"""Linear probe: perfect on separable classes, chance on shuffled labels, parcel-wise held out, lazy map."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from eoxr.errors import MissingVariableError, ParameterError
from eoxr.pivot import classify as cl

N_CLASSES = 4
NAMES = "water forest grassland wheat"


def toy(seed=0, size=64, parcel=4, noise=0.05):
    """Parcels of ``parcel`` x ``parcel`` pixels, each of a class whose NDVI season differs, plus noise."""
    rng = np.random.default_rng(seed)
    n = size // parcel
    parcel_ids = np.arange(n * n).reshape(n, n).repeat(parcel, 0).repeat(parcel, 1)
    parcel_class = rng.integers(0, N_CLASSES, n * n)
    classes = parcel_class[parcel_ids]
    time = pd.date_range("2021-01-01", periods=120, freq="1D")
    doy = np.arange(120)[:, None, None]
    peak = np.array([0, 30, 60, 90])[classes]
    amp = np.array([0.0, 0.6, 0.4, 0.7])[classes]
    ndvi = 0.1 + amp * np.exp(-((doy - peak) / 15.0) ** 2) + noise * rng.standard_normal((120, size, size))
    coords = {"y": 1000.0 - 10 * np.arange(size), "x": 500.0 + 10 * np.arange(size)}
    pivot = xr.Dataset({"ndvi": (("time", "y", "x"), ndvi), "ndvi_std": (("time", "y", "x"), np.ones_like(ndvi))},
                       coords={"time": time, **coords}).rio.write_crs("EPSG:32633")
    flags = {"flag_values": list(range(N_CLASSES)), "flag_meanings": NAMES}
    labels = xr.Dataset({"land_cover": xr.DataArray(classes, dims=("y", "x"), coords=coords, attrs=flags),
                         "parcel": (("y", "x"), parcel_ids)})
    return pivot, labels


def test_separable_classes_are_classified_perfectly():
    pivot, labels = toy()
    out = cl.classify(pivot, labels, seed=1)
    assert float(out.overall_accuracy) == 1.0
    assert float(out.miou) == 1.0
    cm = out.confusion_matrix
    assert cm.dims == ("true_class", "predicted_class")
    assert list(cm.true_class.values) == NAMES.split()
    assert int(cm.sum()) == int(out.held_out.sum())
    assert np.count_nonzero(cm.values - np.diag(np.diag(cm.values))) == 0
    np.testing.assert_array_equal(out.land_cover.values, labels.land_cover.values)
    assert out.land_cover.attrs["flag_meanings"] == NAMES
    assert out.rio.crs.to_epsg() == 32633
    assert out.overall_accuracy.attrs["units"] == "1"


def test_shuffled_labels_score_near_chance():
    pivot, labels = toy()
    rng = np.random.default_rng(5)
    n_parcels = int(labels.parcel.max()) + 1
    shuffled = rng.integers(0, N_CLASSES, n_parcels)[labels.parcel.values]  # labels unrelated to the surface
    labels["land_cover"] = labels.land_cover.copy(data=shuffled)
    oa = float(cl.classify(pivot, labels, seed=1).overall_accuracy)
    assert oa < 0.45, oa  # chance is 0.25; 77 held-out parcels give a spread of about 0.05


def test_held_out_parcels_are_whole_and_unseen():
    _, labels = toy()
    parcels = labels.parcel.values
    held = cl.split_parcels(parcels, np.ones_like(parcels, bool), 0.3, seed=2)
    for pid in np.unique(parcels):
        inside = held[parcels == pid]
        assert inside.all() or not inside.any()
    n = len(np.unique(parcels))
    assert len(np.unique(parcels[held])) == round(0.3 * n)


def test_scores_of_a_known_confusion_matrix():
    matrix = np.array([[8, 2], [0, 10]])
    oa, miou, iou = cl.scores(matrix)
    assert oa == pytest.approx(18 / 20)
    np.testing.assert_allclose(iou, [8 / 10, 10 / 12])
    assert miou == pytest.approx((0.8 + 10 / 12) / 2)


def test_uncertainties_are_not_features_and_monthly_means_are():
    pivot, _ = toy()
    feats = cl.pixel_features(pivot)
    assert feats.sizes["feature"] == 4  # ndvi over four months, ndvi_std left out
    np.testing.assert_allclose(feats.isel(feature=1).values, pivot.ndvi.sel(time="2021-02").mean("time").values)


def test_map_stays_lazy_on_dask_input():
    pivot, labels = toy()
    out = cl.classify(pivot.chunk({"y": 32, "x": 32}), labels)
    assert out.land_cover.chunks is not None
    np.testing.assert_array_equal(out.land_cover.values, cl.classify(pivot, labels).land_cover.values)


def test_bad_input_names_the_fix():
    pivot, labels = toy()
    with pytest.raises(ParameterError, match="model='linear'"):
        cl.classify(pivot, labels, model="forest")
    with pytest.raises(MissingVariableError, match="parcels="):
        cl.classify(pivot, labels.land_cover)
    with pytest.raises(MissingVariableError, match="embedding"):
        cl.classify(pivot, labels, features=["embedding"])
