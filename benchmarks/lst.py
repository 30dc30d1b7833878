"""LST super-resolution benchmark: synthetic truth (x4, x2) and real MODIS by Wald's protocol; speed.

Synthetic: scenes from :func:`eoxr.lst.synth.scene` (seeds ``1000 * seed + i``, never the training seeds
10000+), observed at 1 km (radiance aggregation), super-resolved to 250 m (x4) and 500 m (x2) and scored
against the truth. Real: MOD11A1 daytime LST tiles of the real data folder
(the setting ``EOXR_REAL_DATA``, :func:`eoxr.sample.real_data_dir`), clear 64 x 64 km windows, the
real 1 km degraded to 4 km and super-resolved back (guide: 1 km band 31/32 emissivity). Speed: output
Mpix/s of each method on one synthetic scene, on cfg.device.

Methods: bicubic, tsharp, distrad, sisr, sisr+corr, disr, disr+corr (+corr = scale-invariance correction,
default "shrink" mode; +match = detail energy matched to the extrapolation; +cons = coarse-consistency
constraint only); sisr/disr conserve the observation (radiance residual added back), sisr-raw/disr-raw are
the bare networks, bicubic-cons is bicubic with the same conservation step (what the networks add beyond it);
the networks average their four mirror images (self-ensemble), -single is one pass.
On real data SISR and DISR are trained on the scene itself by Wald's protocol one scale coarser
(:func:`eoxr.lst.learned.fit_scene`: 16 km -> 4 km on the degraded input only, applied 4 km -> 1 km; DISR
guided by the 1 km emissivity, as no NDVI comes with the LST tiles); sisr-synth is the shipped SISR trained
on synthetic scenes. sisr-real is trained on real LST of the *other* tiles (leave-one-tile-out,
:func:`eoxr.lst.learned.fit_fields`: their 1 km day and night LST degraded to 4 km, Wald pairs 4 km -> 1 km;
no pixel of the evaluated tile is seen). The conservation step of sisr/disr/bicubic-cons is iterative
back-projection (:func:`eoxr.lst.baselines.conserve`); tsharp/distrad keep their published flat residual.
``--smoke`` (the tests' run) keeps what the targets need: x4 on one 128 px scene, two real windows with networks
trained for 2 epochs and no sisr-real, the methods of ``SMOKE_METHODS`` only.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

import eoxr  # noqa: F401  (registers ds.lst)
from eoxr.lst import synth
from eoxr.lst.degrade import aggregate, degrade
from eoxr.lst.evaluate import clear_windows, modis_emissivity, scores
from eoxr.lst.learned import fit_fields, fit_scene
from eoxr.lst.superres import superres
from eoxr.sample import real_data_dir

TILES = {"h14v09": "modis_lsttools/MOD11A1.hdf",  # in the real data folder (EOXR_REAL_DATA)
         "h11v05": "modis_amadeus/MOD11A1.A2021227.h11v05.061.2021228105320.hdf"}
# label: (method, options); sisr/disr conserve the observation by default, "-raw" is the bare network
METHODS = {
    "bicubic": ("bicubic", {}), "tsharp": ("tsharp", {}), "distrad": ("distrad", {}),
    "sisr-raw": ("sisr", {"conserve_coarse": False}), "sisr": ("sisr", {}),
    "sisr+corr": ("sisr", {"scale_correction": True}),
    "disr-raw": ("disr", {"conserve_coarse": False}), "disr-single": ("disr", {"ensemble": False}),
    "disr": ("disr", {}), "disr+corr": ("disr", {"scale_correction": True}),
    "disr+match": ("disr", {"scale_correction": "match"}),
    "disr+cons": ("disr", {"scale_correction": "conserve"}),
}
REAL_METHODS = {
    "bicubic": ("bicubic", {}), "bicubic-cons": ("bicubic", {"conserve_coarse": True}),
    "tsharp": ("tsharp", {}), "distrad": ("distrad", {}), "sisr-synth": ("sisr", {}), "sisr-real": ("sisr", {}),
    "sisr-raw": ("sisr", {"conserve_coarse": False}), "sisr-single": ("sisr", {"ensemble": False}),
    "sisr": ("sisr", {}), "sisr+corr": ("sisr", {"scale_correction": True}),
    "sisr+match": ("sisr", {"scale_correction": "match"}),
    "disr-raw": ("disr", {"conserve_coarse": False}), "disr": ("disr", {}),
    "disr+corr": ("disr", {"scale_correction": True}), "disr+match": ("disr", {"scale_correction": "match"}),
}
TARGETS = {
    "rmse_x4_synthetic_K": {"method": "disr", "max": 1.0},
    "rmse_real_over_bicubic": {"method": "sisr", "max": 0.85},
    "rmse_real_over_tsharp": {"method": "disr", "max": 0.8},
}
# --smoke: x4 only, and only the methods the targets name or compare with
SMOKE_METHODS = ("bicubic", "tsharp", "sisr", "disr")


def _labels(table: dict, cfg) -> list[str]:
    return [label for label in table if not cfg.smoke or label in SMOKE_METHODS]


def _run(lst, factor, label, guide, device, model=None, table=METHODS):
    method, options = table[label]
    kw = {"guide": guide} if method in ("tsharp", "distrad", "disr") else {}
    return superres(lst, factor, method=method, device=device, model=model, **kw, **options)["lst"]


def synthetic(cfg) -> list[dict]:
    n, size = (1, 128) if cfg.smoke else (1, 256) if cfg.quick else (3, 512)
    rows = []
    for factor in (4,) if cfg.smoke else (4, 2):
        per: dict[str, list] = {}
        for i in range(n):
            seed = 1000 * cfg.seed + i
            truth, obs = synth.observation(seed, size=size, factor=4)
            lst = obs["lst"]
            target = truth["lst"] if factor == 4 else aggregate(truth["lst"], 2)
            # x2: 1 km -> 500 m; the observation stays the 1 km field
            for label in _labels(METHODS, cfg):
                pred = _run(lst, factor, label, truth["ndvi"], cfg.device).load()
                per.setdefault(label, []).append(scores(pred, target, lst, factor))
        for label, runs in per.items():
            metrics = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "n_pixels"}
            if factor == 4:
                metrics["rmse_x4_synthetic_K"] = metrics["rmse_K"]
            rows.append({"case": {"scene": "synthetic", "factor": factor, "scenes": n, "size_px": size},
                         "method": label, "metrics": metrics})
    return rows


def real(cfg) -> list[dict]:
    import eoxr.io

    import tempfile

    rows = []
    tmp = tempfile.mkdtemp(prefix="eoxr-lst-bench-")
    real_data = real_data_dir()
    products = {tile: eoxr.io.open_product(real_data / path) for tile, path in TILES.items()
                if real_data is not None and (real_data / path).exists()}
    for tile, ds in products.items():
        if cfg.quick and tile != "h14v09":
            continue
        lst1 = ds["lst"].load()
        guide1 = modis_emissivity(ds).load()
        wins = clear_windows(lst1, 64, 0.8, limit=2 if cfg.smoke else 8 if cfg.quick else None)
        lst4_tile = degrade(lst1, 4)
        training = {"seed": cfg.seed, "device": cfg.device, **({"epochs": 2} if cfg.smoke else {})}
        # single-image training on the degraded input only (no 1 km truth seen); seed from cfg
        scene_models = {m: fit_scene(lst4_tile, 4, Path(tmp) / f"{tile}-{m}.ckpt", guide=guide1 if m == "disr" else None,
                                     **training) for m in ("sisr", "disr")}
        # day and night 1 km LST of the other tiles: training data that never saw this tile
        others = [ds_[v].load() for other, ds_ in products.items() if other != tile for v in ("lst", "lst_night")]
        if others and not cfg.smoke:
            scene_models["sisr-real"] = fit_fields(others, 4, Path(tmp) / f"{tile}-sisr-real.ckpt", width=32,
                                                   blocks=4, patch=24, **training)
        diffs: dict[str, list] = {}
        for w in wins:
            truth = lst1.isel(**w)
            guide = guide1.isel(**w)
            coarse = degrade(truth, 4)
            for label in _labels(REAL_METHODS, cfg):
                if label == "sisr-real" and label not in scene_models:
                    continue  # no other tile to train on
                model = scene_models.get(label if label in ("sisr-synth", "sisr-real")
                                         else label.split("-")[0].split("+")[0])
                pred = _run(coarse, 4, label, guide, cfg.device, model=model, table=REAL_METHODS).load()
                d = (pred.values - truth.values).ravel()
                diffs.setdefault(label, []).append(d[np.isfinite(d)])
        rmse = {k: float(np.sqrt(np.mean(np.concatenate(v) ** 2))) for k, v in diffs.items()}
        for label, d in diffs.items():
            d = np.concatenate(d)
            m = {"rmse_K": rmse[label], "bias_K": float(d.mean()), "n_pixels": int(d.size),
                 "rmse_real_over_bicubic": rmse[label] / rmse["bicubic"],
                 "rmse_real_over_tsharp": rmse[label] / rmse["tsharp"]}
            rows.append({"case": {"scene": f"real MOD11A1 {tile}", "factor": 4, "windows": len(wins)},
                         "method": label, "metrics": m})
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


def speed(cfg) -> list[dict]:
    size = 128 if cfg.smoke else 256 if cfg.quick else 512
    truth, obs = synth.observation(cfg.seed, size=size, factor=4)
    lst = obs["lst"].chunk(64)
    ndvi = truth["ndvi"].chunk(256)
    rows = []
    for label in _labels(METHODS, cfg):
        _run(lst, 4, label, ndvi, cfg.device).compute()  # warm: model load, caches
        t0 = time.perf_counter()
        _run(lst, 4, label, ndvi, cfg.device).compute()
        dt = time.perf_counter() - t0
        rows.append({"case": {"scene": "speed", "factor": 4, "size_px": size, "device": cfg.device},
                     "method": label, "metrics": {"mpix_per_s": size * size / 1e6 / dt,
                                                                 "seconds": dt}})
    return rows


def run(cfg) -> list[dict]:
    return synthetic(cfg) + real(cfg) + speed(cfg)


if __name__ == "__main__":
    from eoxr.bench import main_for

    main_for("lst", run, TARGETS)
