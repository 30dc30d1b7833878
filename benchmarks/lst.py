"""LST super-resolution benchmark: synthetic truth (x4, x2), real thermal scenes by Wald's protocol; speed.

Synthetic: scenes from :func:`eoxr.lst.synth.scene` (seeds ``1000 * seed + i``, never the training seeds
10000+), observed at 1 km (radiance aggregation), super-resolved to 250 m (x4) and 500 m (x2) and scored
against the truth. Methods: bicubic, tsharp, distrad, sisr, sisr+corr, disr, disr+corr (+corr =
scale-invariance correction, default "shrink" mode; +match = detail energy matched to the extrapolation;
+cons = coarse-consistency constraint only); sisr/disr conserve the observation (radiance residual added
back), -raw rows are the bare networks; the networks average their four mirror images (self-ensemble),
-single is one pass.

Real: one row per scene of :mod:`eoxr.lst.scenes` in the real data folder (the setting ``EOXR_REAL_DATA``,
:func:`eoxr.sample.real_data_dir`; Landsat 100 m Yanco, ECOSTRESS 70 m New York, airborne
3.6 m Lodi, MODIS 1 km tiles h14v09 and h11v05), per factor (x4, and x2 where the scene allows) and method: the
real LST degraded by the factor, super-resolved back and scored on the scene's *test blocks*
(:data:`eoxr.lst.train.HOLDOUT_BLOCK` px squares never trained on), all dates pooled. sisr is the shipped
default, trained on the training blocks of every real scene; sisr-other-scenes (full run only) is trained at run
time on the training blocks of the *other* group of scenes (:data:`CROSS_SCENES`: other sensors, other climates,
other pixel sizes: the scale-invariance hypothesis across scenes); disr is the shipped DISR trained on the
cover-guided airborne scene (:data:`REAL_DISR`), its detail weighed by the guide's cross-validated coarse R2
(MODIS: the band 31/32 emissivity, which explains almost none of the LST); bicubic-cons is bicubic with the
conservation step. Each row gives the RMSE ratio to bicubic, to bicubic-cons and (guided scenes) to TsHARP with
the same guide; the rows "real, mean over scenes" average the ratios to bicubic over the scenes.

Speed: output Mpix/s of each method (``--quick``: those of ``SPEED_QUICK``) on one synthetic scene on cfg.device;
on CUDA the learned methods are timed on the CPU too, in the same run, and the ratio reported
(``eoxr bench lst --device cuda``; the target ``speedup_over_cpu`` is null on a CPU run).

``--quick`` scores x4 on the clearest 192 px window of every real scene (``--smoke``: 128 px, the scenes of ``SMOKE_SCENES``, the
methods of ``SMOKE_METHODS``, one 128 px synthetic scene).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import eoxr  # noqa: F401  (registers ds.lst)
from eoxr.lst import synth
from eoxr.lst.degrade import aggregate
from eoxr.lst.evaluate import score_scene, scores
from eoxr.lst.scenes import SCENES, clearest_window, holdout_blocks, open_scene
from eoxr.lst.superres import superres
from eoxr.lst.train import HOLDOUT_BLOCK, HOLDOUT_SEED, fit_real
from eoxr.ml import registry
from eoxr.sample import real_data_dir

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
# real scenes: label -> keywords of superres (models filled in per scene and factor by _real_methods)
REAL_METHODS = {
    "bicubic": {"method": "bicubic"}, "bicubic-cons": {"method": "bicubic", "conserve_coarse": True},
    "tsharp": {"method": "tsharp"}, "sisr": {"method": "sisr"},
    "sisr-other-scenes": {"method": "sisr"}, "disr": {"method": "disr"},
}
TARGETS = {
    "rmse_x4_synthetic_K": {"method": "disr", "max": 1.0},
    # no worse than bicubic plus conservation, up to the float32 round-off of the on-device chain
    "rmse_real_over_bicubic_cons": {"method": "sisr", "max": 1.001},
    "rmse_real_mean_over_bicubic": {"method": "sisr", "max": 0.9},
    "rmse_real_over_tsharp": {"method": "disr", "max": 0.85},
    "speedup_over_cpu": {"method": "sisr", "min": 10.0, "device": "cuda"},
}
# --smoke: x4 only, and only the methods the targets name or compare with
SMOKE_METHODS = ("bicubic", "bicubic-cons", "tsharp", "sisr", "disr")
# --quick times these only (the variants cost what their base method does)
SPEED_QUICK = ("bicubic", "tsharp", "sisr", "disr")
# --smoke: a satellite scene and the guided airborne one (the DISR target needs a guide)
SMOKE_SCENES = ("yanco", "lodi")
# the real DISR: trained on the airborne scene, guided by fractional vegetation cover (lst-disr-cover-x4)
REAL_DISR = "lst-disr-cover"
# two groups of real scenes: a model trained on one group is scored on the other (sisr-other-scenes)
CROSS_SCENES = (("yanco", "lodi", "h14v09"), ("nyc", "h11v05"))
# training of sisr-other-scenes: as the shipped lst-sisr-x4 (eoxr/lst/train.py)
REAL_TRAINING = {"epochs": 12, "patch": 32, "width": 24, "blocks": 3}


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


def _cross_scene_model(cfg, factor: int, scene: str) -> Path | None:
    """SISR trained on the other group of :data:`CROSS_SCENES` (full run only; kept in OUT/models)."""
    if cfg.quick:
        return None
    others = next(group for group in CROSS_SCENES if scene not in group)
    name = f"lst-sisr-x{factor}-{'-'.join(others)}"
    path = Path(cfg.out) / "models" / f"{name}.ckpt"
    if not path.exists():
        fit_real("sisr", factor, real_data_dir(), path.parent, scenes=list(others), name=name, device=cfg.device, **REAL_TRAINING)
    return path


def _real_methods(cfg, scene, factor: int) -> dict:
    table = {label: dict(kw) for label, kw in REAL_METHODS.items() if not cfg.smoke or label in SMOKE_METHODS}
    if "guide" not in scene:
        table = {k: v for k, v in table.items() if v["method"] not in ("tsharp", "disr")}
    elif f"{REAL_DISR}-x{factor}" in registry.names():
        table["disr"]["model"] = f"{REAL_DISR}-x{factor}"
    else:  # no real guided model for this factor
        table.pop("disr", None)
    cross = _cross_scene_model(cfg, factor, scene.attrs["scene"])
    if cross is None:
        table.pop("sisr-other-scenes", None)
    else:
        table["sisr-other-scenes"]["model"] = cross
    return table


def _ratios(scores: dict) -> dict:
    out = {}
    for label, m in scores.items():
        ratios = {f"rmse_real_over_{ref.replace('-', '_')}": m["rmse_K"] / scores[ref]["rmse_K"]
                  for ref in ("bicubic", "bicubic-cons", "tsharp") if ref in scores}
        out[label] = {**m, **ratios}
    return out


def _detail_bounds(scene, factor: int, test, model, device) -> dict:
    """What the shipped SISR network's detail could give on a scene's test blocks: its full detail (weight 1,
    ``sisr-full-detail``) and the best weight of that detail fitted on the truth itself (``sisr-oracle-weight``:
    an upper bound of the network, which no input-only weighting can exceed)."""
    from eoxr.lst.baselines import BACKPROJECTIONS
    from eoxr.lst.degrade import degrade
    from eoxr.lst.learned import predict_fine, resolve_model

    ckpt = resolve_model(model, "sisr", factor)
    d_all, r_all = [], []
    for t in range(scene.sizes["time"]):
        truth = scene["lst"].isel(time=t)
        ny, nx = truth.sizes["y"] // factor * factor, truth.sizes["x"] // factor * factor
        truth = truth.isel(y=slice(0, ny), x=slice(0, nx))
        coarse = degrade(truth, factor)
        base = superres(coarse, factor, method="bicubic", conserve_coarse=True)["lst"].values
        net = predict_fine(coarse, factor, ckpt, device=device, backprojections=BACKPROJECTIONS).values
        keep = test.isel(y=slice(0, truth.sizes["y"]), x=slice(0, truth.sizes["x"])).values
        ok = keep & np.isfinite(net) & np.isfinite(truth.values)
        d_all.append((net - base)[ok])
        r_all.append((truth.values - base)[ok])
    d, r = np.concatenate(d_all), np.concatenate(r_all)
    w = float(np.clip(np.sum(d * r) / np.sum(d * d), 0.0, 1.0)) if np.any(d) else 0.0
    return {"sisr-full-detail": {"rmse_K": float(np.sqrt(np.mean((r - d) ** 2))), "bias_K": float(np.mean(d - r)),
                                 "n_pixels": int(d.size)},
            "sisr-oracle-weight": {"rmse_K": float(np.sqrt(np.mean((r - w * d) ** 2))),
                                   "bias_K": float(np.mean(w * d - r)), "n_pixels": int(d.size), "weight": w}}


def real(cfg) -> list[dict]:
    rows, means = [], {}
    root = real_data_dir()
    names = [n for n, s in SCENES.items()
             if root is not None and (root / s.folder).exists() and (not cfg.smoke or n in SMOKE_SCENES)]
    for name in names:
        scene = open_scene(name, root)
        test = holdout_blocks(scene["lst"], HOLDOUT_BLOCK, HOLDOUT_SEED)
        if cfg.quick:
            scene, test = clearest_window(scene, test, 128 if cfg.smoke else 192, HOLDOUT_BLOCK)
        for factor in (4,) if cfg.quick else SCENES[name].factors:
            scores = score_scene(scene, factor, _real_methods(cfg, scene, factor), test, cfg.device)
            if not cfg.smoke:
                scores.update(_detail_bounds(scene, factor, test, None, cfg.device))
            result = _ratios(scores)
            case = {"scene": f"real {name} ({SCENES[name].sensor})", "factor": factor,
                    "size_px": int(scene["lst"].sizes["y"] * scene["lst"].sizes["x"])}
            for label, metrics in result.items():
                rows.append({"case": case, "method": label, "metrics": metrics})
                means.setdefault((factor, label), []).append(metrics["rmse_real_over_bicubic"])
    for (factor, label), ratios in means.items():
        rows.append({"case": {"scene": "real, mean over scenes", "factor": factor, "scenes": len(ratios)},
                     "method": label, "metrics": {"rmse_real_mean_over_bicubic": float(np.mean(ratios))}})
    return rows


def _seconds(lst, label, ndvi, device) -> float:
    _run(lst, 4, label, ndvi, device).compute()  # warm: model load, caches
    t0 = time.perf_counter()
    _run(lst, 4, label, ndvi, device).compute()
    return time.perf_counter() - t0


def speed(cfg) -> list[dict]:
    size = 128 if cfg.smoke else 256 if cfg.quick else 512
    truth, obs = synth.observation(cfg.seed, size=size, factor=4)
    lst = obs["lst"].chunk(64)
    ndvi = truth["ndvi"].chunk(256)
    rows = []
    for label in (label for label in _labels(METHODS, cfg) if not cfg.quick or label in SPEED_QUICK):
        dt = _seconds(lst, label, ndvi, cfg.device)
        metrics = {"mpix_per_s": size * size / 1e6 / dt, "seconds": dt}
        if cfg.device == "cuda" and METHODS[label][0] in ("sisr", "disr"):  # the peer, in the same run
            on_cpu = _seconds(lst, label, ndvi, "cpu")
            metrics.update(mpix_per_s_cpu=size * size / 1e6 / on_cpu, speedup_over_cpu=on_cpu / dt)
        rows.append({"case": {"scene": "speed", "factor": 4, "size_px": size, "device": cfg.device},
                     "method": label, "metrics": metrics})
    return rows


def run(cfg) -> list[dict]:
    return synthetic(cfg) + real(cfg) + speed(cfg)


if __name__ == "__main__":
    from eoxr.bench import main_for

    main_for("lst", run, TARGETS)
