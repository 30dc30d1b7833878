"""Benchmark of eoxr.ml: patch streaming from a Zarr cube into torch, and halo prediction over a cube.

1. Patches: samples/s of ``ml.patches`` over a Zarr v3 cube (first epoch: decoding; later epochs: served
   from the decoded cache) against slicing the same arrays held in memory, with xbatcher's
   ``BatchGenerator`` over the same cube as the third column. All three hand float32 torch tensors
   ``(batch, channels, 64, 64)`` over in the same shuffled order.
2. Prediction: Mpix/s of ``ml.predict`` (map_overlap with the network's halo, threaded Dask scheduler) over
   a chunked Zarr cube against one torch forward over the whole in-memory array, with the peak resident
   memory each adds.
3. Devices: the same halo prediction over the same Zarr cube on every CPU core (one torch thread per Dask
   thread, as eoxr's workers run) and on one GPU (``device="cuda"``, four chunks per model step), side by
   side in one run: pixels per second, the GPU's speed-up over the cores, and the GPU's busy fraction (NVML's
   utilisation, the share of time a kernel was running, sampled while the GPU predicts). Without a CUDA
   device (or with ``--device cpu``) the GPU row and its targets are null, and the row says why.

Every result records the device it ran on (``--device cuda`` where a GPU is present).
Run: ``python benchmarks/ml.py --quick`` or ``eoxr bench ml --quick`` (``--smoke``: the smallest sizes);
benchmarks/gpu_check.sh runs it on a GPU machine with the CUDA tests.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from eoxr.bench import main_for

TARGETS = {
    "ratio_vs_in_memory": {"method": "eoxr_patches_cached", "min": 0.8},
    "ratio_vs_one_forward": {"method": "eoxr_predict", "min": 0.7},
    # measured where a GPU is lent: null on a CPU-only run
    "speedup_vs_cpu_cores": {"method": "eoxr_predict_gpu", "min": 20.0, "device": "cuda"},
    "gpu_busy_fraction": {"method": "eoxr_predict_gpu", "min": 0.7, "device": "cuda"},
}


class PeakRSS:
    """Samples this process's resident memory every 5 ms; ``peak_mb`` is the rise over the start."""

    def __init__(self):
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def __enter__(self):
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def synthetic_cube(seed: int, nt: int, n: int):
    """Smooth random fields: two inputs and a target that depends on both (changes with the seed)."""
    import xarray as xr
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    a = ndimage.gaussian_filter(rng.normal(size=(nt, n, n)), (0, 4, 4)).astype("float32") * 20 + 290
    b = ndimage.gaussian_filter(rng.normal(size=(n, n)), 8).astype("float32")
    t = (a + 5 * b[None] + rng.normal(0, 0.5, size=(nt, n, n))).astype("float32")
    return xr.Dataset(
        {"a": (("time", "y", "x"), a, {"units": "K"}), "b": (("y", "x"), b, {"units": "1"}),
         "t": (("time", "y", "x"), t, {"units": "K", "long_name": "target"})},
        coords={"time": np.arange(nt), "y": 1e5 - 10.0 * np.arange(n), "x": 10.0 * np.arange(n)},
    )


def _to_torch(x, device):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x)).to(device)


def bench_patches(cfg, root: Path) -> list[dict]:
    import torch
    import xarray as xr
    import xbatcher

    from eoxr import ml

    nt, n, size, stride, batch = ((2, 256, 64, 32, 32) if cfg.smoke else (4, 512, 64, 32, 32) if cfg.quick
                                  else (8, 1024, 64, 32, 32))
    synthetic_cube(cfg.seed, nt, n).chunk({"time": 1, "y": 256, "x": 256}).to_zarr(
        root / "patches.zarr", mode="w", consolidated=False, zarr_format=3)
    cube = xr.open_zarr(root / "patches.zarr", consolidated=False)
    case = {"part": "patches", "cube": f"{nt}x{n}x{n}", "patch": size, "stride": stride, "device": cfg.device}
    results = []

    gen = ml.patches(cube, ["a", "b"], "t", size=size, stride=stride, seed=cfg.seed)
    n_samples = len(gen)

    def epoch_rate(source, epoch):
        t0 = time.perf_counter()
        count = 0
        for x, y in source(epoch):
            xt, yt = _to_torch(x, cfg.device), _to_torch(y, cfg.device)
            count += xt.shape[0]
        if cfg.device == "cuda":
            torch.cuda.synchronize()
        return count / (time.perf_counter() - t0), count

    first, _ = epoch_rate(lambda e: gen.batches(batch, e), 0)
    later = [epoch_rate(lambda e: gen.batches(batch, e), e)[0] for e in (1, 2, 3)]

    # in memory: the same arrays loaded, the same patches sliced in the same order
    a, b, t = cube.a.values, cube.b.values, cube.t.values
    starts = gen.starts

    def memory_batches(epoch):
        order = gen.order(epoch)
        for i in range(0, len(order), batch):
            sel = starts[order[i:i + batch]]
            x = np.stack([np.stack([a[ti, y0:y0 + size, x0:x0 + size], b[y0:y0 + size, x0:x0 + size]])
                          for ti, y0, x0 in sel])
            y = np.stack([t[ti, None, y0:y0 + size, x0:x0 + size] for ti, y0, x0 in sel])
            yield x, y

    memory = [epoch_rate(memory_batches, e)[0] for e in (1, 2, 3)]
    mem_rate = float(np.median(memory))

    # xbatcher alone over the same cube: one batch per y/x window holding every time step
    bgen = xbatcher.BatchGenerator(cube[["a", "b", "t"]], input_dims={"y": size, "x": size},
                                   input_overlap={"y": size - stride, "x": size - stride}, preload_batch=True)
    limit = len(bgen) if not cfg.quick else min(len(bgen), 20 if cfg.smoke else 60)
    order = np.random.default_rng(cfg.seed).permutation(len(bgen))[:limit]

    def xbatcher_batches(epoch):
        for i in order:
            ds = bgen[int(i)]
            x = np.stack([ds.a.values, np.broadcast_to(ds.b.values, ds.a.shape)], axis=1)
            yield x, ds.t.values[:, None]

    xb_rate, _ = epoch_rate(xbatcher_batches, 0)

    results.append({"case": case, "method": "eoxr_patches_first_epoch",
                    "metrics": {"samples_per_s": first, "ratio_vs_in_memory_first_epoch": first / mem_rate,
                                "n_samples": n_samples}})
    results.append({"case": case, "method": "eoxr_patches_cached",
                    "metrics": {"samples_per_s": float(np.median(later)),
                                "ratio_vs_in_memory": float(np.median(later)) / mem_rate, "n_samples": n_samples}})
    results.append({"case": case, "method": "in_memory_slicing", "metrics": {"samples_per_s": mem_rate}})
    results.append({"case": case, "method": "xbatcher_batchgenerator",
                    "metrics": {"samples_per_s": xb_rate, "ratio_vs_in_memory": xb_rate / mem_rate}})
    return results


def _cube_and_checkpoint(cfg, root: Path, name: str, n: int, chunk: int, width: int, depth: int):
    """A one-date cube ``n`` x ``n`` in memory and as Zarr chunks of ``chunk``, and a UNet trained on a corner."""
    import xarray as xr

    from eoxr import ml

    ds = synthetic_cube(cfg.seed + 1, 1, n).isel(time=0, drop=True)
    ds.chunk({"y": chunk, "x": chunk}).to_zarr(root / f"{name}.zarr", mode="w", consolidated=False, zarr_format=3)
    cube = xr.open_zarr(root / f"{name}.zarr", consolidated=False)
    model = ml.nets.build("UNet", in_channels=2, width=width, depth=depth, seed=cfg.seed)
    ckpt = root / f"{name}.ckpt"
    train_gen = ml.patches(ds.isel(y=slice(0, 256), x=slice(0, 256)), ["a", "b"], "t", size=64, seed=cfg.seed)
    ml.train(model, train_gen, epochs=1, checkpoint=ckpt, device=cfg.device, progress=False)
    return ds, cube, ckpt


def bench_predict(cfg, root: Path) -> list[dict]:
    import dask
    import torch

    from eoxr import ml
    from eoxr.ml.train import Normaliser

    n, chunk, width, depth = ((512, 256, 8, 3) if cfg.smoke else (1024, 512, 8, 3) if cfg.quick
                              else (2048, 1024, 16, 3))
    ds, cube, ckpt = _cube_and_checkpoint(cfg, root, "predict", n, chunk, width, depth)
    ck = ml.load_checkpoint(ckpt)
    net = ck.build_model(cfg.device)
    halo = int(np.ceil(ck.config["receptive_field"] / 2))
    case = {"part": "predict", "cube": f"{n}x{n}", "chunk": chunk, "arch": f"UNet(width={width}, depth={depth})",
            "halo_px": halo, "device": cfg.device}
    mpix = n * n / 1e6

    # one torch forward over the whole in-memory array (inputs already in memory, normalised outside the timer)
    x = np.stack([ds.a.values, ds.b.values])
    xn = Normaliser(ck.normalisation, ["a", "b"]).forward(x).astype("float32")[None]
    times, peaks = [], []
    for _ in range(2):
        with PeakRSS() as mem, torch.no_grad():
            t0 = time.perf_counter()
            out = net(_to_torch(xn, cfg.device))
            if cfg.device == "cuda":
                torch.cuda.synchronize()
            ref = out.float().cpu().numpy()[0, 0]
            times.append(time.perf_counter() - t0)
        peaks.append(mem.peak_mb)
    one_rate = mpix / min(times)
    ref = ref * ck.normalisation["t"]["std"][0] + ck.normalisation["t"]["mean"][0]

    times, peaks_p = [], []
    with dask.config.set(scheduler="threads"):
        ml.predict(cube[["a", "b"]].isel(y=slice(0, chunk), x=slice(0, chunk)), ckpt, device=cfg.device).t.compute()
        for _ in range(2):
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                got = ml.predict(cube[["a", "b"]], ckpt, device=cfg.device, tile=chunk).t.compute()
                times.append(time.perf_counter() - t0)
            peaks_p.append(mem.peak_mb)
    pred_rate = mpix / min(times)
    max_diff = float(np.abs(got.values - ref).max())
    return [
        {"case": case, "method": "one_forward_in_memory",
         "metrics": {"mpix_per_s": one_rate, "peak_mem_MB": max(peaks)}},
        {"case": case, "method": "eoxr_predict",
         "metrics": {"mpix_per_s": pred_rate, "ratio_vs_one_forward": pred_rate / one_rate,
                     "peak_mem_MB": max(peaks_p), "max_abs_diff_K": max_diff}},
    ]


class GpuBusy:
    """NVML's utilisation of ``device`` (the share of each sample period in which a kernel ran), sampled every
    ``every`` seconds while the context is open; ``fraction`` is the mean, or None with ``reason``."""

    def __init__(self, device, every: float = 0.05):
        self.device, self.every, self.samples, self.reason = device, every, [], None

    def _sample(self):
        import torch

        return torch.cuda.utilization(self.device) / 100.0  # through nvidia-ml-py

    def __enter__(self):
        try:
            self._sample()
        except (ModuleNotFoundError, RuntimeError, OSError) as exc:  # no nvidia-ml-py, no driver
            self.reason = f"unmeasured: NVML not usable ({type(exc).__name__}: {exc}); pip install nvidia-ml-py"
            return self
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(self.every):
            self.samples.append(self._sample())

    def __exit__(self, *exc):
        if self.reason is None:
            self._stop.set()
            self._thread.join()

    @property
    def fraction(self) -> float | None:
        return float(np.mean(self.samples)) if self.samples else None


def _repeat(fn, min_seconds: float) -> float:
    """Seconds per call of ``fn``, called until ``min_seconds`` have passed (NVML needs a few sample periods)."""
    calls, t0 = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - t0 < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - t0) / calls


def _no_gpu_reason(cfg) -> str | None:
    import torch

    if cfg.device != "cuda":
        return ("unmeasured: no CUDA device (torch.cuda.is_available() is False)" if not torch.cuda.is_available()
                else "unmeasured: --device cpu")
    return None


def bench_devices(cfg, root: Path) -> list[dict]:
    import dask
    import torch

    from eoxr import ml

    n, chunk, width, depth = ((512, 256, 8, 2) if cfg.smoke else (1024, 256, 16, 3) if cfg.quick
                              else (4096, 512, 32, 3))
    ds, cube, ckpt = _cube_and_checkpoint(cfg, root, "devices", n, chunk, width, depth)
    cores = len(os.sched_getaffinity(0))
    mpix = n * n / 1e6
    case = {"part": "devices", "cube": f"{n}x{n}", "chunk": chunk, "arch": f"UNet(width={width}, depth={depth})",
            "cpu_cores": cores}

    corner = {"y": slice(0, 2 * chunk), "x": slice(0, 2 * chunk)}

    def predict(device, where=None, **kw):
        return ml.predict(cube[["a", "b"]].isel(where or {}), ckpt, device=device, tile=chunk, **kw).t.compute()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one torch thread per Dask thread, as eoxr's workers run (OMP_NUM_THREADS=1)
    try:
        with dask.config.set(scheduler="threads", num_workers=cores):
            predict("cpu", corner)  # warm-up: the model loads once
            t0 = time.perf_counter()
            on_cpu = predict("cpu")
            cpu_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    rows = [{"case": dict(case, device="cpu"), "method": "eoxr_predict_cpu_cores",
             "metrics": {"mpix_per_s": mpix / cpu_s}}]

    reason = _no_gpu_reason(cfg)
    gpu = {"mpix_per_s": None, "speedup_vs_cpu_cores": None, "gpu_busy_fraction": None, "max_abs_diff_K": None}
    gpu_case = dict(case, device="cuda")
    if reason is None:
        gpu_case["gpu"] = torch.cuda.get_device_name()
        with dask.config.set(scheduler="threads", num_workers=cores):
            predict("cuda", corner, batch_chunks=4)  # warm-up: model load, CUDA context, cuDNN plans
            on_gpu = predict("cuda", batch_chunks=4)
            with GpuBusy(torch.cuda.current_device()) as busy:
                gpu_s = _repeat(lambda: predict("cuda", batch_chunks=4), min_seconds=3.0)
        gpu.update(mpix_per_s=mpix / gpu_s, speedup_vs_cpu_cores=cpu_s / gpu_s, gpu_busy_fraction=busy.fraction,
                   max_abs_diff_K=float(np.abs(on_gpu.values - on_cpu.values).max()))
        reason = busy.reason
    if reason is not None:
        gpu_case["unmeasured"] = reason
    rows.append({"case": gpu_case, "method": "eoxr_predict_gpu", "metrics": gpu})
    return rows


def run(cfg) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="eoxr-bench-ml-") as tmp:
        root = Path(tmp)
        return bench_patches(cfg, root) + bench_predict(cfg, root) + bench_devices(cfg, root)


#: the targets of part 3 alone
DEVICE_TARGETS = {k: t for k, t in TARGETS.items() if t["method"] == "eoxr_predict_gpu"}


def run_devices(cfg) -> list[dict]:
    """Part 3 alone (CPU cores vs one GPU), for a GPU machine lent for minutes: benchmarks/gpu_check.sh."""
    with tempfile.TemporaryDirectory(prefix="eoxr-bench-ml-") as tmp:
        return bench_devices(cfg, Path(tmp))


if __name__ == "__main__":
    main_for("ml", run, TARGETS)
