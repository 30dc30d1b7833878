"""Bayesian database retrieval of surface rain rate (as LATMOS's BRAIN and NASA's GPROF).

Given observed brightness temperatures y, the posterior of the rain rate R over an a-priori database of
(Tb_i, R_i) pairs that the forward model made from synthetic scenes is approximated by weighting each entry
by its likelihood (Kummerow, Olson & Giglio 1996, IEEE TGRS 34(5), 1213-1232, doi:10.1109/36.536538;
Kummerow et al. 2015, JTECH 32(12), doi:10.1175/JTECH-D-15-0039.1)::

    w_i = p_i exp(-0.5 (y - Tb_i)' S^-1 (y - Tb_i)),     E[R | y] = sum w_i R_i / sum w_i,
    std[R | y] = sqrt(sum w_i (R_i - E[R | y])^2 / sum w_i),   P(R >= 0.1 | y) = sum w_i [R_i >= 0.1] / sum w_i

S is the error covariance (default diagonal: each channel's NEdT and a model error, added in quadrature),
p_i the entry's prior weight (dry pixels are thinned when the database is built and weighted back up).
Entries are binned by surface type (ocean, land, coast, snow), as GPROF's; when the total precipitable
water is given it enters as one more observed quantity with its own error (``tpw_error``, kg m-2), which
weights down entries of other moisture regimes.

Candidates come from a k-d tree (:class:`scipy.spatial.cKDTree`) in the space whitened by S (where the
weight's exponent is a squared Euclidean distance), on its 6 leading principal components (approximate
search, ``eps=1``); their weights are then computed with every channel. The ``k`` candidates carry all but a
small part of the weight, so a swath of 10^5 pixels runs in seconds instead of 10^5 x N likelihoods. The
trees are built once per database, surface type and channel set, and kept with the database; a database
file is read once per process (worker).

The model error (8 K) was chosen on synthetic scenes 7000-7002 against a database of scenes 10000-10029:
from 2 to 14 K the correlation rises (0.69 to 0.75) and the spread of the posterior grows toward the error
(ratio 0.26 to 0.60), with the mean absolute error flat (0.18 mm h-1) and the Heidke skill falling slowly.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import NoDataError, ParameterError
from .radiometers import Radiometer, get

RAIN_THRESHOLD = 0.1  # mm h-1
MODEL_ERROR = 8.0  # K: forward-model and representativeness error of each channel, added to its NEdT
SEARCH_COMPONENTS = 6  # principal components the candidate search runs in
TPW_ERROR = 3.0  # kg m-2
DATABASE_VERSION = "1"
_CACHE: dict[tuple, "Database"] = {}
_LOCK = threading.Lock()


@dataclass
class Database:
    """An a-priori database: ``tb`` (n, channels) K, ``rain`` (n,) mm h-1, ``surface`` (n,) codes of
    :data:`eoxr.rain.synth.SURFACE_TYPES`, ``tpw`` (n,) kg m-2, ``weight`` (n,) prior weights, for the
    channels ``channels`` of ``sensor``."""

    tb: np.ndarray
    rain: np.ndarray
    surface: np.ndarray
    tpw: np.ndarray
    weight: np.ndarray
    channels: list[str]
    sensor: str
    description: str = ""
    _trees: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.rain)

    def save(self, path: str | Path) -> Path:
        """Write the database as a compressed ``.npz`` (atomically: a temporary file renamed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npz")
        np.savez_compressed(tmp, tb=self.tb.astype(np.float32), rain=self.rain.astype(np.float32),
                            surface=self.surface.astype(np.int8), tpw=self.tpw.astype(np.float32),
                            weight=self.weight.astype(np.float32), channels=np.array(self.channels),
                            sensor=np.array(self.sensor), description=np.array(self.description),
                            version=np.array(DATABASE_VERSION))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Database":
        with np.load(Path(path)) as f:
            return cls(tb=f["tb"].astype(np.float64), rain=f["rain"].astype(np.float64), surface=f["surface"],
                       tpw=f["tpw"].astype(np.float64), weight=f["weight"].astype(np.float64),
                       channels=[str(c) for c in f["channels"]], sensor=str(f["sensor"]),
                       description=str(f["description"]))

    def select(self, channels: list[str]) -> np.ndarray:
        """Column indices of ``channels`` in the database (:class:`ParameterError` for unknown ones)."""
        missing = [c for c in channels if c not in self.channels]
        if missing:
            raise ParameterError(f"the {self.sensor} database has no channels {missing}; it has {self.channels}")
        return np.array([self.channels.index(c) for c in channels])

    def tree(self, surface: int, columns: tuple, scale: np.ndarray, with_tpw: bool) -> "Index":
        """The :class:`Index` of the entries of ``surface`` in the space of ``columns`` whitened by ``scale``
        (the TPW as one more coordinate when ``with_tpw``); all entries when the surface type has fewer than
        100. Built once and kept."""
        key = (surface, columns, tuple(np.round(scale, 9)), with_tpw)
        with _LOCK:
            hit = self._trees.get(key)
            if hit is None:
                idx = np.flatnonzero(self.surface == surface)
                if idx.size < 100:
                    idx = np.arange(len(self))
                x = self.tb[np.ix_(idx, list(columns))] / scale[: len(columns)]
                if with_tpw:
                    x = np.column_stack([x, self.tpw[idx] / scale[-1]])
                hit = self._trees[key] = Index.build(x, idx)
        return hit


@dataclass
class Index:
    """Candidate search over whitened database entries ``x`` (rows of the entries ``entries``): a k-d tree
    on their leading principal components, which hold most of the variance of the correlated channels; the
    weights are then computed in the full space."""

    x: np.ndarray
    entries: np.ndarray
    centre: np.ndarray
    axes: np.ndarray
    tree: object

    @classmethod
    def build(cls, x: np.ndarray, entries: np.ndarray, components: int = SEARCH_COMPONENTS) -> "Index":
        from scipy.spatial import cKDTree

        centre = x.mean(axis=0)
        sample = x[:: max(1, len(x) // 20_000)] - centre
        axes = np.linalg.svd(sample, full_matrices=False)[2][:components].T
        return cls(x, entries, centre, axes, cKDTree((x - centre) @ axes))

    def candidates(self, x: np.ndarray, k: int, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Squared whitened distances ``(n, k)`` of the ``k`` candidates of each row of ``x``, and their
        database rows."""
        k = min(k, len(self.entries))
        _, near = self.tree.query((x - self.centre) @ self.axes, k=k, eps=1.0, workers=workers)
        near = near.reshape(len(x), k)
        d2 = ((self.x[near] - x[:, None, :]) ** 2).sum(axis=-1)
        return d2, self.entries[near]


def default_path(sensor: str | Radiometer = "gmi") -> Path:
    """Where the shipped-recipe database of ``sensor`` is cached: ``$EOXR_CACHE_DIR/rain`` (default
    ``~/.cache/eoxr/rain``)."""
    root = Path(os.environ.get("EOXR_CACHE_DIR", Path.home() / ".cache" / "eoxr"))
    return root / "rain" / f"bayes-{get(sensor).name}-v{DATABASE_VERSION}.npz"


def build(sensor: str | Radiometer = "gmi", seeds=None, scans: int | None = None, dry_fraction: float = 0.2,
          seed: int = 0, workers: int = 1) -> Database:
    """A database from the synthetic scenes ``seeds`` of :func:`eoxr.rain.synth.scene` (``scans`` each;
    default: the scenes the shipped U-Net learned from, :data:`eoxr.rain.synth.TRAINING_SEEDS`), drawn in
    ``workers`` processes; see :func:`from_scenes`."""
    from .synth import TRAINING_SCANS, TRAINING_SEEDS, scenes

    seeds = list(TRAINING_SEEDS if seeds is None else seeds)
    scans = TRAINING_SCANS if scans is None else scans
    db = from_scenes(scenes(seeds, sensor, scans, workers=workers), dry_fraction, seed)
    db.description = f"synthetic scenes {min(seeds)}-{max(seeds)} ({len(seeds)}), {scans} scans, " + db.description
    return db


def from_scenes(swaths, dry_fraction: float = 0.2, seed: int = 0) -> Database:
    """A database from swaths with a reference ``rain_rate`` (:func:`eoxr.rain.synth.scene`), all of one sensor.

    Every raining pixel (reference >= 0.01 mm h-1) is kept; dry pixels are thinned to ``dry_fraction`` and
    weighted by its inverse, so the prior probability of rain stays that of the scenes.
    """
    if not 0.0 < dry_fraction <= 1.0:
        raise ParameterError(f"dry_fraction is the share of dry pixels kept, in (0, 1], not {dry_fraction}")
    rng = np.random.default_rng(seed)
    parts, sensor = [], None
    for ds in swaths:
        sensor = get(ds.attrs["sensor"])
        tb = ds["brightness_temperature"].transpose(..., "channel").values.reshape(-1, len(sensor.channels))
        rain = ds["rain_rate"].values.ravel()
        keep = (rain >= 0.01) | (rng.uniform(size=rain.size) < dry_fraction)
        weight = np.where(rain >= 0.01, 1.0, 1.0 / dry_fraction)
        parts.append((tb[keep], rain[keep], ds["surface_type"].values.ravel()[keep],
                      ds["total_precipitable_water"].values.ravel()[keep], weight[keep]))
    if sensor is None:
        raise NoDataError("no swath to build a database from: pass at least one scene")
    tb, rain, surface, tpw, weight = (np.concatenate(p) for p in zip(*parts))
    return Database(tb=tb.astype(np.float64), rain=rain.astype(np.float64), surface=surface.astype(np.int8),
                    tpw=tpw.astype(np.float64), weight=weight, channels=sensor.channel_names, sensor=sensor.name,
                    description=f"dry pixels thinned to {dry_fraction:g}")


def load(database=None, sensor: str | Radiometer = "gmi") -> Database:
    """The database ``database`` (a :class:`Database`, a path, or None for the default of ``sensor``, built
    and cached on first use), read once per process and file version."""
    if isinstance(database, Database):
        return database
    path = default_path(sensor) if database is None else Path(database)
    if not path.is_file():
        if database is not None:
            raise NoDataError(f"no rain database at {path}; build one with eoxr.rain.bayes.build(...).save(path) "
                              "or pass database=None for the default")
        build(sensor, workers=2).save(path)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    with _LOCK:
        if key not in _CACHE:
            for old in [k for k in _CACHE if k[0] == key[0]]:
                del _CACHE[old]  # a rebuilt file replaces its older version
            _CACHE[key] = Database.load(path)
        return _CACHE[key]


def error_std(db: Database, columns: np.ndarray, model_error: float = MODEL_ERROR) -> np.ndarray:
    """Per-channel error standard deviation (K): the NEdT of the database's sensor and ``model_error``."""
    return np.sqrt(get(db.sensor).nedt[columns] ** 2 + model_error**2)


def posterior(tb: np.ndarray, surface: np.ndarray, tpw: np.ndarray | None, db: Database, channels: list[str],
              k: int = 64, model_error: float = MODEL_ERROR, tpw_error: float = TPW_ERROR, error=None,
              workers: int = 1) -> np.ndarray:
    """Posterior mean, standard deviation (mm h-1) and probability of rain (>= 0.1 mm h-1) of each pixel.

    ``tb`` (n, len(channels)) K in the order of ``channels``; ``surface`` (n,) surface codes; ``tpw`` (n,)
    kg m-2 or None. ``error``: each channel's error standard deviation (K), by default its NEdT and
    ``model_error`` in quadrature. Returns (n, 3); pixels with a non-finite brightness temperature are NaN.
    """
    columns = db.select(channels)
    sigma = error_std(db, columns, model_error) if error is None else np.broadcast_to(
        np.asarray(error, dtype=np.float64), (len(columns),))
    scale = np.append(sigma, tpw_error)
    out = np.full((len(tb), 3), np.nan)
    ok = np.isfinite(tb).all(axis=1) & (np.isfinite(tpw) if tpw is not None else True)
    for code in np.unique(surface[ok]):
        rows = np.flatnonzero(ok & (surface == code))
        index = db.tree(int(code), tuple(columns), scale, tpw is not None)
        x = tb[rows] / sigma
        if tpw is not None:
            x = np.column_stack([x, tpw[rows] / tpw_error])
        d2, entries = index.candidates(x, k, workers)
        # relative to the nearest entry: the normalised weights are the same, and nothing underflows
        w = np.exp(-0.5 * (d2 - d2.min(axis=1, keepdims=True))) * db.weight[entries]
        r = db.rain[entries]
        total = w.sum(axis=1)
        mean = (w * r).sum(axis=1) / total
        out[rows, 0] = mean
        out[rows, 1] = np.sqrt(np.maximum((w * (r - mean[:, None]) ** 2).sum(axis=1) / total, 0.0))
        out[rows, 2] = (w * (r >= RAIN_THRESHOLD)).sum(axis=1) / total
    return out
