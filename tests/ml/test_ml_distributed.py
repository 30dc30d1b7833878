"""Prediction on a process-based Dask cluster: same result as synchronous, one model load per worker,
bounded memory for a cube larger than the worker's memory limit."""
import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")
distributed = pytest.importorskip("distributed")

from eoxr import ml  # noqa: E402


def _worker_loads(path):
    from eoxr import ml

    return ml.load_count(path)


def _worker_rss_bytes(field="VmHWM", reset=False):
    """Current (VmRSS) or peak (VmHWM) resident memory of this process; ``reset`` restarts the peak
    (Linux clear_refs), so start-up and model-load spikes are not counted as prediction memory."""
    if reset:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    rng = np.random.default_rng(21)
    a = rng.normal(size=(64, 64)).astype("float32")
    ds = xr.Dataset({"a": (("y", "x"), a), "t": (("y", "x"), 2 * a + 1, {"units": "K"})})
    path = tmp_path_factory.mktemp("dist") / "u.ckpt"
    model = ml.nets.build("UNet", in_channels=1, width=4, depth=2, seed=0)
    ml.train(model, ml.patches(ds, ["a"], "t", size=32), epochs=1, checkpoint=path, progress=False)
    return path


def test_cluster_prediction_equals_synchronous_and_loads_once_per_worker(ckpt):
    rng = np.random.default_rng(22)
    ds = xr.Dataset({"a": (("time", "y", "x"), rng.normal(size=(2, 96, 120)).astype("float32"))},
                    coords={"y": np.arange(96.0), "x": np.arange(120.0)}).chunk({"time": 1, "y": 32, "x": 40})
    sync = ml.predict(ds, ckpt).t.compute(scheduler="synchronous")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0",
                                  memory_limit="2GiB") as cluster, distributed.Client(cluster) as client:
        out = ml.predict(ds, ckpt).t.compute()  # 18 chunks over 2 workers
        loads = client.run(_worker_loads, str(ckpt))
    np.testing.assert_allclose(out.values, sync.values, atol=1e-6)
    assert sorted(loads.values()) == [1, 1]


@pytest.fixture(scope="module")
def light_ckpt(tmp_path_factory):
    """A one-channel, no-pooling UNet: cheap enough to push 80 Mpix through on one CPU thread."""
    rng = np.random.default_rng(23)
    a = rng.normal(size=(64, 64)).astype("float32")
    ds = xr.Dataset({"a": (("y", "x"), a), "t": (("y", "x"), 2 * a + 1, {"units": "K"})})
    path = tmp_path_factory.mktemp("dist") / "light.ckpt"
    model = ml.nets.build("UNet", in_channels=1, width=1, depth=0, norm=None, seed=0)
    ml.train(model, ml.patches(ds, ["a"], "t", size=32), epochs=1, checkpoint=path, progress=False)
    return path


@pytest.mark.slow
def test_cube_larger_than_worker_memory_predicts_with_bounded_memory(light_ckpt):
    import dask.array as da

    ckpt = light_ckpt
    limit = 768 * 2**20
    ny, nx = 10240, 10880  # float64: 850 MiB, more than the worker may hold (torch alone takes ~400 MiB)
    y = da.arange(ny, chunks=1024, dtype="f8")[:, None]
    x = da.arange(nx, chunks=1024, dtype="f8")[None, :]
    cube = xr.Dataset({"a": (("y", "x"), da.sin(y / 50.0) * da.cos(x / 70.0))})
    assert cube.a.nbytes > limit
    out = ml.predict(cube, ckpt, tile=1024, batch_size=1).t
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  memory_limit=limit) as cluster, distributed.Client(cluster) as client:
        corner = out[:512, :512].compute()  # warm-up: imports torch and loads the model on the worker
        base = list(client.run(_worker_rss_bytes, "VmRSS", True).values())[0]
        total = float(out.mean().compute())
        peak = list(client.run(_worker_rss_bytes).values())[0]
    assert np.isfinite(total)
    print(f"worker RSS before {base / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB, limit {limit / 2**20:.0f} MiB, "
          f"cube {cube.a.nbytes / 2**20:.0f} MiB")
    assert peak < limit
    assert peak - base < 0.4 * cube.a.nbytes  # the working set is a few chunks, not the cube
    ref = ml.predict(cube.isel(y=slice(0, 1024), x=slice(0, 1024)).compute(), ckpt).t[:512, :512].compute()
    np.testing.assert_allclose(corner.values, ref.values, atol=1e-5)
