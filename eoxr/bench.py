"""Benchmark harness: `eoxr bench NAME [--quick | --smoke] [--seed N] [--out DIR] [--device auto|cpu|cuda]`.

Each benchmark is ``benchmarks/NAME.py`` (shipped as ``eoxr.benchmarks.NAME``) defining ``run(cfg) -> list[dict]`` (each dict has ``case``,
``method`` and ``metrics`` whose names carry their unit) and ``TARGETS`` (metric -> {"method", "max"|"min"}).
The harness writes ``OUT/NAME.json`` and ``OUT/NAME.md`` with versions, device and target checks.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import json
import platform
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import ParameterError

_VERSIONED = ["eoxr", "numpy", "xarray", "dask", "zarr", "rasterio", "stackstac", "odc-stac", "torch", "xbatcher", "scipy"]


@dataclass(frozen=True)
class Config:
    """What a benchmark's ``run`` is asked for. ``quick``: a reduced case (minutes); ``smoke``: the smallest case
    that still measures every result row and target (seconds, for the tests; implies ``quick``, so a benchmark
    without a smoke size runs its quick one)."""
    quick: bool
    seed: int
    device: str  # "cpu" or "cuda" (resolved from "auto")
    out: Path
    smoke: bool = False


def resolve_device(name: str) -> str:
    if name not in ("auto", "cpu", "cuda"):
        raise ParameterError(f"--device must be auto, cpu or cuda, not {name!r}")
    if name == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if name == "cuda" and not has_cuda:
        raise ParameterError("--device cuda asked for, but torch sees no CUDA device; use --device cpu")
    return "cuda" if has_cuda else "cpu"


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in _VERSIONED:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _check_targets(results: list[dict], targets: dict, device: str = "cpu") -> dict:
    """Each target's value (the worst of its method's rows) and whether it is met. A value is null where no row
    measured it (a null metric: e.g. a GPU figure on a machine without one); a target that names a ``device``
    other than the run's says so in ``reason``."""
    checked = {}
    for metric, t in targets.items():
        vals = [r["metrics"][metric] for r in results
                if r["method"] == t["method"] and r["metrics"].get(metric) is not None]
        if not vals:
            unmeasured = dict(t, value=None, met=None)
            if t.get("device", device) != device:
                unmeasured["reason"] = f"needs --device {t['device']}; this run used {device}"
            checked[metric] = unmeasured
            continue
        if "max" in t:
            v = max(vals)
            checked[metric] = dict(t, value=v, met=bool(v <= t["max"]))
        else:
            v = min(vals)
            checked[metric] = dict(t, value=v, met=bool(v >= t["min"]))
    return checked


def _fmt(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def to_markdown(report: dict) -> str:
    lines = [f"# benchmark `{report['name']}`", "",
             f"seed {report['seed']}, quick={report['quick']}, smoke={report['smoke']}, device {report['device']}, "
             f"{report['elapsed_s']:.1f} s, `{report['command']}`", ""]
    # One table per kind of result (the same case and metric columns), so wide reports stay readable.
    groups: dict[tuple, list[dict]] = {}
    for r in report["results"]:
        key = (tuple(sorted(r["case"])), tuple(sorted(r["metrics"])))
        groups.setdefault(key, []).append(r)
    for (case_keys, metric_keys), rows in groups.items():
        head = list(case_keys) + ["method"] + list(metric_keys)
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            row = [_fmt(r["case"][k]) for k in case_keys] + [r["method"]]
            row += [_fmt(r["metrics"][k]) for k in metric_keys]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if report["targets"]:
        lines += ["| target | method | goal | measured | met |", "|---|---|---|---|---|"]
        for m, t in report["targets"].items():
            goal = f"<= {t['max']}" if "max" in t else f">= {t['min']}"
            lines.append(f"| {m} | {t['method']} | {goal} | {_fmt(t['value'])} | {t['met']} |")
    lines += ["", "versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()), ""]
    return "\n".join(lines)


def available() -> list[str]:
    """Names of the benchmarks shipped in ``eoxr.benchmarks`` (the checkout's ``benchmarks/``)."""
    folder = resources.files("eoxr.benchmarks")
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".py") and not p.name.startswith("_"))


def load_benchmark(name: str):
    """The module of benchmark ``name`` (``eoxr.benchmarks.NAME``)."""
    if name not in available():
        raise ParameterError(f"no benchmark {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"eoxr.benchmarks.{name}")


def _size_flag(quick: bool, smoke: bool) -> str:
    return " --smoke" if smoke else " --quick" if quick else ""


def run(name: str, run_fn, targets: dict, quick: bool, seed: int, out: str | Path, device: str = "auto",
        smoke: bool = False) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    quick = quick or smoke
    cfg = Config(quick=quick, seed=seed, device=resolve_device(device), out=out, smoke=smoke)
    t0 = time.perf_counter()
    results = run_fn(cfg)
    report = {
        "name": name, "seed": seed, "quick": quick, "smoke": smoke, "device": cfg.device, "versions": versions(),
        "command": f"eoxr bench {name}{_size_flag(quick, smoke)} --seed {seed} --device {device}",
        "elapsed_s": time.perf_counter() - t0, "results": results,
        "targets": _check_targets(results, targets, cfg.device),
    }
    (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=float))
    (out / f"{name}.md").write_text(to_markdown(report))
    return report


def _in_cache(n: int) -> None:
    a = np.full((64, 64), 0.5)  # 32 kB: the core's own caches
    for _ in range(n):
        a = a * 1.0000001 + 1e-9


def _memory_bound(n: int) -> None:
    a = np.ones(8_000_000)  # 64 MB: past the last-level cache, every pass streams through memory
    for _ in range(n):
        np.multiply(a, 1.0000001, out=a)


def process_scaling(turns: int = 5) -> dict:
    """The machine's own speed-up of 2 processes over 1 on independent work, without Dask: a kernel's work done by
    one process, then split over two (best of ``turns`` each, in turn). An in-cache kernel shows what the cores
    allow, a memory-bound one (64 MB arrays) what the memory bandwidth allows: the ceiling of a parallel job
    lies between, by its share of memory traffic."""
    import multiprocessing as mp

    out = {}
    with mp.get_context("spawn").Pool(2) as pool:
        for name, fn, n in (("in_cache", _in_cache, 40_000), ("memory_bound", _memory_bound, 40)):
            pool.map(fn, [1, 1], chunksize=1)  # warm-up: both processes import numpy
            one = two = float("inf")
            for _ in range(turns):
                t = time.perf_counter()
                pool.map(fn, [n], chunksize=1)
                one = min(one, time.perf_counter() - t)
                t = time.perf_counter()
                pool.map(fn, [n // 2, n // 2], chunksize=1)
                two = min(two, time.perf_counter() - t)
            out[f"machine_speedup_2_vs_1_process_{name}"] = one / two
    return out


def parser(prog: str = "eoxr bench") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="reduced case, under two minutes on 2 CPU cores")
    size.add_argument("--smoke", action="store_true", help="smallest case that still checks every target (seconds)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes")
    p.add_argument("--out", default="bench-out", help="folder for NAME.json and NAME.md")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return p


def main_for(name: str, run_fn, targets: dict, argv=None) -> dict:
    """Entry point of ``python benchmarks/NAME.py ...``."""
    args = parser(f"benchmarks/{name}.py").parse_args(argv)
    report = run(name, run_fn, targets, args.quick, args.seed, args.out, args.device, smoke=args.smoke)
    print(to_markdown(report))
    print(f"wrote {Path(args.out) / (name + '.json')} and .md", file=sys.stderr)
    return report
