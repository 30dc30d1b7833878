"""Rain retrieval benchmark: Bayesian database vs U-Net on held-out synthetic GMI swaths, the synthetic GMI
statistics against real ones, transfer to AMSR2 with 1 %, 10 % and 100 % of the labels, speed; GPROF V7 on real
data as context.

- Retrieval: GMI scenes ``1000 * seed + i`` (never a training scene: those are 10000-10059), retrieved by
  the default Bayesian database and the shipped ``rain-unet-gmi`` (both learned from the same training
  scenes) and scored against the 5 km radar-like reference, for all pixels, ocean and land (land includes
  snow-covered land; coasts count in "all" only): IPWG metrics at 0.1 mm h-1, the effective resolution along
  the scan (:func:`eoxr.rain.evaluate.effective_resolution`), the calibration of ``rain_rate_std`` (spread /
  RMS error, share of raining pixels within one spread) and the Brier score of ``rain_probability``.
- Calibration: the per-channel ratio of synthetic to real mean and standard deviation (IPWG GMI over CONUS,
  ``obs_gmi.nc``), histogram overlap and correlation differences, on GMI scenes ``1000 * seed + 100 + i``
  (many short ones: the statistics vary more between scenes, by their climate and share of sea, than within).
- Transfer: the GMI network mapped onto AMSR2 (fraction 0: zero-shot) and fine-tuned with a fraction of the
  labelled patches of AMSR2 scenes ``1000 * seed + 500 + i``, scored on AMSR2 scenes ``1000 * seed + 600 + i``.
- Speed: swath pixels per second of each method on one scene (a second call: the database and the network
  already loaded), on the benchmark's device.
- Context: GPROF V7 on real GMI over CONUS against MRMS (the IPWG baseline file): not a like-for-like score.

``--quick``: 2 GMI test scenes of 64 scans, 24 calibration scenes, transfer from 8 short AMSR2 scenes (30
steps) to 1; ``--smoke`` (the tests' run) evaluates every target on the smallest case: 1 short test scene, a database of 2
short training scenes, 6 calibration scenes, transfer of 4 steps from 2 narrow AMSR2 scenes, all drawn in this process.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np

import eoxr  # noqa: F401  (registers ds.rain)
from eoxr.rain import bayes, calibration, synth, transfer
from eoxr.rain.evaluate import scores
from eoxr.rain.radiometers import GMI
from eoxr.sample import real_data_dir

TARGETS = {
    "mae_ratio_unet_over_bayes": {"method": "unet", "max": 0.8},
    "correlation_gain_over_bayes": {"method": "unet", "min": 0.1},
    "correlation_10pct_over_100pct": {"method": "unet-transfer", "min": 0.9},
    "worst_mean_ratio_error": {"method": "synthetic-gmi", "max": 0.1},
    "worst_std_ratio_error": {"method": "synthetic-gmi", "max": 0.1},
}
SURFACES = {"all": None, "ocean": (0,), "land": (1, 3)}


def _sizes(cfg) -> dict:
    """Scene counts and sizes; ``database``: the Bayesian database's training scenes (None: the default one, built
    and cached on first use; the smoke run draws 2 short ones instead)."""
    if cfg.smoke:
        return {"test": 1, "scans": 32, "calibration": 6, "cal_scans": 8, "pool": 2, "amsr2_test": 1,
                "amsr2_scans": 48, "amsr2_pixels": 64, "steps": 4, "database": (SMOKE_DATABASE, 32),
                "workers": 1}  # a process pool takes longer to start than these few short scenes to draw
    if cfg.quick:
        return {"test": 2, "scans": 64, "calibration": 24, "cal_scans": 16, "pool": 8, "amsr2_test": 1,
                "amsr2_scans": 48, "amsr2_pixels": 128, "steps": 30, "database": None, "workers": 2}
    return {"test": 8, "scans": 128, "calibration": 128, "cal_scans": 16, "pool": 24, "amsr2_test": 4,
            "amsr2_scans": 96, "amsr2_pixels": None, "steps": 300, "database": None, "workers": 2}


SMOKE_DATABASE = synth.TRAINING_SEEDS[:2]


def _database(size):
    if size["database"] is None:
        return bayes.load(None, "gmi")
    seeds, scans = size["database"]
    return bayes.build("gmi", seeds=seeds, scans=scans)


def _masked(ds, out, codes):
    """``out`` and the reference with the pixels of other surface types as NaN."""
    if codes is None:
        return out, ds["rain_rate"]
    keep = ds["surface_type"].isin(list(codes))
    return out.where(keep), ds["rain_rate"].where(keep)


def retrieval(cfg, size) -> list[dict]:
    seeds = [1000 * cfg.seed + i for i in range(size["test"])]
    test = list(synth.scenes(seeds, "gmi", size["scans"], workers=size["workers"]))
    t0 = time.perf_counter()
    db = _database(size)
    build_s = time.perf_counter() - t0
    outs = {"bayes": [ds.rain.retrieve(method="bayes", database=db).load() for ds in test],
            "unet": [ds.rain.retrieve(method="unet", device=cfg.device).load() for ds in test]}
    rows, overall = [], {}
    for method, retrieved in outs.items():
        for surface, codes in SURFACES.items():
            pairs = [_masked(ds, out, codes) for ds, out in zip(test, retrieved)]
            m = scores([p[0] for p in pairs], [p[1] for p in pairs],
                       spacing_km=GMI.pixel_spacing if codes is None else None)
            rows.append({"case": {"scene": "synthetic GMI", "surface": surface, "scenes": len(test),
                                  "scans": size["scans"]}, "method": method, "metrics": m})
            if codes is None:
                overall[method] = m
    rows.append({"case": {"scene": "synthetic GMI", "comparison": "U-Net / Bayesian"}, "method": "unet",
                 "metrics": {"mae_ratio_unet_over_bayes": overall["unet"]["mae_mm_h"] / overall["bayes"]["mae_mm_h"],
                             "correlation_gain_over_bayes": overall["unet"]["correlation"]
                             - overall["bayes"]["correlation"],
                             "database_build_s": build_s, "database_entries": len(db)}})
    return rows + speed(cfg, test[0], db)


def speed(cfg, ds, db) -> list[dict]:
    rows = []
    pixels = ds.sizes["along_track"] * ds.sizes["cross_track"]
    for method in ("bayes", "unet"):
        kw = {"device": cfg.device} if method == "unet" else {"database": db}
        ds.rain.retrieve(method=method, **kw).load()  # warm: database and network loaded, trees built
        t0 = time.perf_counter()
        ds.rain.retrieve(method=method, **kw).load()
        dt = time.perf_counter() - t0
        rows.append({"case": {"scene": "speed", "pixels": pixels, "device": cfg.device if method == "unet" else "cpu"},
                     "method": method, "metrics": {"pixels_per_s": pixels / dt, "seconds": dt}})
    return rows


def calibration_match(cfg, size) -> list[dict]:
    seeds = [1000 * cfg.seed + 100 + i for i in range(size["calibration"])]
    tb = np.concatenate([ds["brightness_temperature"].values.reshape(-1, len(GMI.channels))
                         for ds in synth.scenes(seeds, "gmi", size["cal_scans"], workers=size["workers"])])
    table = calibration.compare(tb, calibration.reference_statistics())  # in EOXR_REAL_DATA
    case = {"scene": "synthetic GMI vs real (IPWG CONUS)", "scenes": len(seeds)}
    rows = [{"case": dict(case, channel=ch), "method": "synthetic-gmi",
             "metrics": {k: float(v) for k, v in row.items()}} for ch, row in table.iterrows()]
    rows.append({"case": dict(case, channel="worst"), "method": "synthetic-gmi", "metrics": {
        "worst_mean_ratio_error": float(np.abs(table["mean_ratio"] - 1).max()),
        "worst_std_ratio_error": float(np.abs(table["std_ratio"] - 1).max()),
        "channels_within_10pct": int(((table["mean_ratio"] - 1).abs().le(0.1)
                                      & (table["std_ratio"] - 1).abs().le(0.1)).sum())}})
    return rows


def transfer_curve(cfg, size) -> list[dict]:
    pool = list(synth.scenes([1000 * cfg.seed + 500 + i for i in range(size["pool"])], "amsr2",
                             size["amsr2_scans"], size["amsr2_pixels"], workers=size["workers"]))
    test = list(synth.scenes([1000 * cfg.seed + 600 + i for i in range(size["amsr2_test"])], "amsr2",
                             size["amsr2_scans"], size["amsr2_pixels"], workers=size["workers"]))
    with tempfile.TemporaryDirectory(prefix="eoxr-rain-bench-") as work:
        curve = transfer.label_curve(pool, test, work, fractions=(0.01, 0.1, 1.0), steps=size["steps"],
                                     seed=cfg.seed, device=cfg.device)
    rows = [{"case": {"scene": "synthetic AMSR2", "label_fraction": r["label_fraction"], "pool_scenes": len(pool)},
             "method": "unet-transfer", "metrics": {k: v for k, v in r.items()
                                                    if k not in ("label_fraction", "checkpoint")}} for r in curve]
    by = {r["label_fraction"]: r for r in curve}
    rows.append({"case": {"scene": "synthetic AMSR2", "comparison": "10 % / 100 % of the labels"},
                 "method": "unet-transfer",
                 "metrics": {"correlation_10pct_over_100pct": by[0.1]["correlation"] / by[1.0]["correlation"]}})
    return rows


def context() -> list[dict]:
    from eoxr.rain.validate import ipwg_baseline

    folder = real_data_dir()
    path = None if folder is None else folder / "ipwg_stats" / "baseline_gprof_v07a_gmi_conus.nc"
    if path is None or not path.is_file():
        return []
    m = ipwg_baseline(path)
    keep = ("bias_percent", "mae_mm_h", "mse_mm2_h2", "correlation", "pod", "far", "hss")
    return [{"case": {"scene": "real GMI over CONUS vs MRMS (context, not like-for-like)"}, "method": "gprof-v7",
             "metrics": {k: m[k] for k in keep if k in m}}]


def run(cfg) -> list[dict]:
    size = _sizes(cfg)
    return retrieval(cfg, size) + calibration_match(cfg, size) + transfer_curve(cfg, size) + context()


if __name__ == "__main__":
    from eoxr.bench import main_for

    main_for("rain", run, TARGETS)
