"""Land cover from a pivot representation: a linear probe with parcel-wise held-out accuracy.

Each pixel gets one feature vector: every chosen variable of the pivot dataset averaged over each ``period``
(monthly by default) and flattened over its other dimensions (``band``, ``polarization``, ``feature``). A
multinomial logistic regression (softmax of a linear function of the standardised features, L2-penalised,
fitted by L-BFGS) is trained on the pixels of a random part of the labelled parcels and scored on the pixels
of the others, so that no parcel lends pixels to both sides (neighbouring pixels of one parcel are near copies
and would inflate the score). The scores are those of the land-cover literature: overall accuracy (the share of
held-out pixels classified right), the mean over classes of the intersection over union ``TP / (TP + FP + FN)``
(mIoU) and the confusion matrix of held-out pixel counts.

A linear probe measures how linearly separable the classes are in a representation, the standard test of a
learned representation (Alain & Bengio 2016, arXiv:1610.01644; He et al. 2022, doi:10.1109/CVPR52688.2022.01553).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..attrs import cf, georeference, stamp
from ..errors import MissingVariableError, NoDataError, ParameterError

SPACE = ("y", "x")
SKIPPED_SUFFIXES = ("_std",)
SKIPPED = ("days_since_clear",)


def feature_variables(pivot: xr.Dataset) -> list[str]:
    """The variables of ``pivot`` used as features by default: those on ``(y, x)`` except uncertainties and
    ``days_since_clear`` (they describe the sampling, not the surface)."""
    return [str(n) for n, v in pivot.data_vars.items()
            if set(SPACE) <= set(v.dims) and n not in SKIPPED and not str(n).endswith(SKIPPED_SUFFIXES)]


def pixel_features(pivot: xr.Dataset, features: Sequence[str] | None = None, period: str = "1MS") -> xr.DataArray:
    """Per-pixel features ``(feature, y, x)`` (lazy on dask input): each variable's means over ``period``
    (a pandas frequency) along ``time``, flattened over its other dimensions."""
    names = feature_variables(pivot) if features is None else list(features)
    missing = [n for n in names if n not in pivot.data_vars]
    if missing or not names:
        raise MissingVariableError(f"features {missing or names} are not variables of the pivot dataset; it has "
                                   f"{sorted(map(str, pivot.data_vars))}: pass features=[...] among them")
    parts = []
    for name in names:
        var = pivot[name]
        if "time" in var.dims:
            var = var.resample(time=period).mean().rename(time="period")
        other = [d for d in var.dims if d not in SPACE]
        stacked = var.transpose(*other, *SPACE)
        if other:  # through a new name: the variable may have a "feature" dimension (the embedding)
            stacked = stacked.stack(flat=other)
            stacked = stacked.drop_vars([c for c in stacked.coords if c not in SPACE]).rename(flat="feature")
            stacked = stacked.transpose("feature", *SPACE)
        else:
            stacked = stacked.expand_dims("feature")
        stacked = stacked.assign_coords(feature=[f"{name}:{i}" for i in range(stacked.sizes["feature"])])
        parts.append(stacked)
    return xr.concat(parts, dim="feature", coords="minimal", compat="override")


def split_parcels(parcels: np.ndarray, labelled: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean ``(y, x)``: True on the pixels of the held-out parcels (a ``test_fraction`` of the labelled
    parcels, drawn with ``seed``; at least one on each side)."""
    ids = np.unique(parcels[labelled])
    if ids.size < 2:
        raise NoDataError(f"{ids.size} labelled parcel(s): a held-out score needs at least 2; label more parcels")
    rng = np.random.default_rng(seed)
    n_test = min(max(int(round(test_fraction * ids.size)), 1), ids.size - 1)
    held_out = rng.choice(ids, size=n_test, replace=False)
    return np.isin(parcels, held_out) & labelled


def fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-3, max_iter: int = 200) -> dict:
    """Multinomial logistic regression of classes ``y`` (ints 0..n_classes-1) on rows ``x`` ``(n, f)``.

    Features are standardised by their training mean and std; the mean cross-entropy plus ``l2`` times the
    squared weights is minimised by L-BFGS. Returns ``{"mean", "std", "weight" (f, k), "bias" (k,)}``.
    """
    import torch

    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    xt = torch.from_numpy(((x - mean) / std).astype(np.float64))
    yt = torch.from_numpy(y.astype(np.int64))
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ weight + bias, yt) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return {"mean": mean, "std": std, "weight": weight.detach().numpy(), "bias": bias.detach().numpy()}


def predict_logistic(model: dict, x: np.ndarray) -> np.ndarray:
    """Class index (0..k-1) of each row of ``x`` ``(..., f)`` under a model of :func:`fit_logistic`."""
    scores = ((x - model["mean"]) / model["std"]) @ model["weight"] + model["bias"]
    return np.argmax(scores, axis=-1)


def confusion(true: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(true class, predicted class)`` of class indices."""
    return np.bincount(true * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def scores(matrix: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Overall accuracy, mIoU and per-class IoU of a confusion matrix; classes absent from both the truth and
    the prediction are left out of the mean."""
    tp = np.diag(matrix).astype(float)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    iou = np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)
    return float(tp.sum() / matrix.sum()), float(np.nanmean(iou)), iou


def _label_arrays(labels, parcels):
    """``(classes DataArray, parcels DataArray or None)`` from ``labels`` (a DataArray of classes, or a Dataset
    with ``land_cover`` and ``parcel``) and ``parcels``."""
    if isinstance(labels, xr.Dataset):
        if "land_cover" not in labels:
            raise MissingVariableError(f"labels has no 'land_cover' variable (it has {sorted(map(str, labels))}); "
                                       "pass a Dataset with 'land_cover' (and 'parcel') or a DataArray of classes")
        parcels = labels["parcel"] if parcels is None and "parcel" in labels else parcels
        labels = labels["land_cover"]
    if parcels is None:
        raise MissingVariableError("no parcels: pass parcels= (a (y, x) DataArray of parcel ids) or labels as a "
                                   "Dataset with a 'parcel' variable, so the accuracy is scored on held-out parcels")
    return labels, parcels


def _class_table(classes: np.ndarray, attrs: dict) -> tuple[np.ndarray, list[str]]:
    """Class values present among the labelled pixels and their names (from CF ``flag_values``/``flag_meanings``)."""
    values = np.unique(classes)
    flags = np.atleast_1d(attrs.get("flag_values", []))
    meanings = str(attrs.get("flag_meanings", "")).split()
    names = dict(zip(np.asarray(flags).tolist(), meanings)) if len(flags) == len(meanings) else {}
    return values, [names.get(int(v), str(int(v))) for v in values]


def classify(pivot: xr.Dataset, labels, *, model: str = "linear", features: Sequence[str] | None = None,
             parcels: xr.DataArray | None = None, period: str = "1MS", test_fraction: float = 0.3,
             seed: int = 0, l2: float = 1e-3) -> xr.Dataset:
    """Land-cover map of ``pivot`` by a linear probe trained on labelled parcels, scored on held-out parcels.

    Parameters
    ----------
    pivot : xarray.Dataset
        A pivot dataset (``eoxr.pivot.fuse``) or any dataset of variables on ``(..., y, x)``.
    labels : xarray.DataArray or xarray.Dataset
        Land-cover classes on the pivot grid (integers; negative = unlabelled), with CF ``flag_values`` and
        ``flag_meanings``, or a Dataset with ``land_cover`` and ``parcel`` (as ``synth.landscape`` gives).
    model : {"linear"}
        Multinomial logistic regression.
    features : list of str, optional
        Variables to use (e.g. ``["embedding"]`` or ``["reflectance", "ndvi"]``); default: every variable on
        ``(y, x)`` but uncertainties and ``days_since_clear``.
    parcels : xarray.DataArray, optional
        Parcel ids ``(y, x)``; whole parcels go to the training or the held-out side.
    period : str
        Pandas frequency of the temporal means that make the features (default monthly).
    test_fraction, seed : float, int
        Share of the labelled parcels held out, and the seed of their draw.
    l2 : float
        L2 penalty on the standardised weights.

    Returns
    -------
    xarray.Dataset
        ``land_cover`` (y, x) predicted classes (lazy on dask input), ``held_out`` (y, x) the scored pixels,
        ``overall_accuracy`` and ``miou`` (units "1"), ``iou`` per class and ``confusion_matrix``
        (true_class, predicted_class) of held-out pixel counts.

    Examples
    --------
    >>> from eoxr.pivot import synth
    >>> truth = synth.landscape(seed=0, size=64, days=90)
    >>> lc = truth[["ndvi"]].pivot.classify(truth)  # the classes and parcels of the synthetic landscape
    >>> lc["land_cover"].dims, lc["confusion_matrix"].dims
    (('y', 'x'), ('true_class', 'predicted_class'))
    >>> 0 <= float(lc["overall_accuracy"]) <= 1, lc["miou"].attrs["units"]
    (True, '1')
    """
    if model != "linear":
        raise ParameterError(f"model={model!r} is not a known classifier; use model='linear' (a linear probe)")
    if not 0 < test_fraction < 1:
        raise ParameterError(f"test_fraction must be in (0, 1), not {test_fraction}; e.g. 0.3")
    classes, parcels = _label_arrays(labels, parcels)
    feats = pixel_features(pivot, features, period)
    values = feats.values  # the fit needs every labelled pixel: read the features once
    cls = np.asarray(classes.values)
    labelled = (cls >= 0) & np.isfinite(values).all(axis=0)
    if not labelled.any():
        raise NoDataError("no labelled pixel has finite features; check the labels (>= 0) and the pivot variables")
    held_out = split_parcels(np.asarray(parcels.values), labelled, test_fraction, seed)
    train = labelled & ~held_out
    class_values, class_names = _class_table(cls[labelled], classes.attrs)
    index = np.searchsorted(class_values, cls)  # class value -> index into class_values
    rows = values.reshape(values.shape[0], -1).T
    fitted = fit_logistic(rows[train.ravel()], index[train], len(class_values), l2)
    matrix = confusion(index[held_out], predict_logistic(fitted, rows[held_out.ravel()]), len(class_values))
    oa, miou, iou = scores(matrix)
    land_cover = _mapped(feats, fitted, class_values, classes.attrs)
    return _result(land_cover, held_out, feats, matrix, oa, miou, iou, class_names, pivot,
                   model=model, features=[str(f) for f in (features or feature_variables(pivot))], period=period,
                   test_fraction=test_fraction, seed=seed, l2=l2)


def _mapped(feats: xr.DataArray, fitted: dict, class_values: np.ndarray, attrs: dict) -> xr.DataArray:
    """The predicted class of every pixel (lazy on dask features), -1 where a feature is missing."""
    def kernel(x):  # (..., feature): apply_ufunc puts the core dimension last
        out = class_values[predict_logistic(fitted, np.nan_to_num(x))]
        return np.where(np.isfinite(x).all(axis=-1), out, -1)

    if feats.chunks:
        feats = feats.chunk({"feature": -1})
    lc = xr.apply_ufunc(kernel, feats, input_core_dims=[["feature"]], dask="parallelized", output_dtypes=[np.int64])
    flags = {k: attrs[k] for k in ("flag_values", "flag_meanings") if k in attrs}
    return cf(lc, "1", "land cover predicted by a linear probe", **flags)


def _result(land_cover, held_out, feats, matrix, oa, miou, iou, class_names, pivot, **params) -> xr.Dataset:
    """The classification Dataset with its scores, CRS and provenance."""
    grid = {d: feats[d] for d in SPACE if d in feats.coords}
    classes = {"true_class": class_names, "predicted_class": class_names}
    ds = xr.Dataset({
        "land_cover": land_cover,
        "held_out": cf(xr.DataArray(held_out, dims=SPACE, coords=grid), "1", "pixel of a held-out parcel (scored)"),
        "overall_accuracy": cf(xr.DataArray(oa), "1", "overall accuracy on held-out parcels"),
        "miou": cf(xr.DataArray(miou), "1", "mean intersection over union of the classes on held-out parcels"),
        "iou": cf(xr.DataArray(iou, dims="class", coords={"class": class_names}), "1",
                  "intersection over union per class on held-out parcels"),
        "confusion_matrix": cf(xr.DataArray(matrix, dims=("true_class", "predicted_class"), coords=classes), "1",
                               "held-out pixel counts by true and predicted class"),
    })
    return stamp(georeference(ds, like=pivot), "pivot.classify", made_from=[pivot], **params)
