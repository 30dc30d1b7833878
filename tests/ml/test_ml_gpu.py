"""GPU-resident prediction: model steps alone take a cluster's GPU resource, chunks batched per model step give the
same result, the device pipeline, and (where CUDA is present) the same numbers on the GPU as on the CPU."""
import collections

import numpy as np
import pytest
import xarray as xr

torch = pytest.importorskip("torch")
distributed = pytest.importorskip("distributed")

from dask.utils import key_split  # noqa: E402
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

from eoxr import cluster, ml  # noqa: E402
from eoxr.errors import ParameterError  # noqa: E402
from eoxr.ml.device import device_lock, staged  # noqa: E402
from eoxr.ml.predict import cached_model  # noqa: E402

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: torch.cuda.is_available() is "
                          "False on this machine (run benchmarks/gpu_check.sh on a GPU machine)")


def scene(seed, ny=96, nx=128, nt=None):
    rng = np.random.default_rng(seed)
    shape, dims = ((ny, nx), ("y", "x")) if nt is None else ((nt, ny, nx), ("time", "y", "x"))
    a = rng.normal(300, 4, size=shape).astype("float32")
    b = rng.uniform(0, 1, size=shape).astype("float32")
    return xr.Dataset({"a": (dims, a, {"units": "K"}), "b": (dims, b, {"units": "1"}),
                       "t": (dims, a + 5 * b, {"units": "K", "long_name": "surface temperature"})},
                      coords={"y": 5e6 - 30.0 * np.arange(ny), "x": 4e5 + 30.0 * np.arange(nx)})


def trained(folder, arch, **kwargs):
    path = folder / f"{arch}.ckpt"
    model = ml.nets.build(arch, in_channels=2, seed=0, **kwargs)
    ml.train(model, ml.patches(scene(0), ["a", "b"], "t", size=32), epochs=1, checkpoint=path, progress=False)
    return path


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("gpu"), "UNet", width=4, depth=2)


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("gpu"), "ConvVAE", width=4, depth=2, latent_channels=2)


def model_steps(arr) -> int:
    return sum(len(layer) for name, layer in arr.__dask_graph__().layers.items()
               if key_split(name) == "predict_block")


# ------------------------------------------------------------------------------------------ batching
@pytest.mark.parametrize("nt, chunks, batch_chunks, steps", [
    (None, {"y": 32, "x": 32}, 4, 3),  # 3 x 4 chunks: a step per row of four
    (3, {"time": 1, "y": 48, "x": 64}, 4, 4),  # 3 x 2 x 2 chunks: a step per place, its three times together
])
def test_batched_chunks_equal_one_chunk_per_step(unet, vae, nt, chunks, batch_chunks, steps):
    ds = scene(1, nt=nt)[["a", "b"]].chunk(chunks)
    for path in (unet, vae):
        one = ml.predict(ds, path, tile=32, n_samples=3)
        batched = ml.predict(ds, path, tile=32, n_samples=3, batch_chunks=batch_chunks)
        assert batched.t.chunks == one.t.chunks  # the caller's chunks either way
        n_one, n_batched = model_steps(one.t.data), model_steps(batched.t.data)
        assert n_batched * batch_chunks >= n_one > n_batched  # fewer, larger model steps
        assert n_batched == steps
        a, b = one.compute(scheduler="synchronous"), batched.compute(scheduler="synchronous")
        np.testing.assert_allclose(b.t.values, a.t.values, rtol=0, atol=1e-4)
        if "t_std" in a:  # the VAE's noise belongs to the pixel, not to the step that computes it
            np.testing.assert_allclose(b.t_std.values, a.t_std.values, rtol=0, atol=1e-5)


def batch_sizes(path, ds, **kwargs) -> list[int]:
    """Tiles per forward pass of a synchronous prediction."""
    model, _ = cached_model(path, "cpu")
    sizes = []
    hook = model.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    try:
        ml.predict(ds, path, device="cpu", **kwargs).t.compute(scheduler="synchronous")
    finally:
        hook.remove()
    return sizes


def test_a_device_batch_holds_tiles_of_several_chunks(unet):
    times = scene(2, nt=4)[["a", "b"]].chunk({"time": 1})  # four chunks, each one tile
    assert batch_sizes(unet, times, tile=128) == [1, 1, 1, 1]
    assert batch_sizes(unet, times, tile=128, batch_chunks=4) == [4]
    # in space, tiles of one shape share a batch: those of the array's edges have less halo than the inner ones
    grid = scene(2)[["a", "b"]].chunk({"y": 32, "x": 32})  # 3 x 4 chunks of one 32-pixel tile each
    assert batch_sizes(unet, grid, tile=32) == [1] * 12
    batched = batch_sizes(unet, grid, tile=32, batch_chunks=4)
    assert sum(batched) == 12 and max(batched) == 2 and len(batched) == 6


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_batch_arguments_are_checked(unet, bad):
    ds = scene(3)[["a", "b"]]
    with pytest.raises(ParameterError, match="batch_chunks must be an integer >= 1"):
        ml.predict(ds, unet, batch_chunks=bad)
    with pytest.raises(ParameterError, match="batch_size must be an integer >= 1"):
        ml.predict(ds, unet, batch_size=bad)


# ----------------------------------------------------------------------------------------- the pipeline
def test_staged_batches_arrive_in_order_and_whole():
    rng = np.random.default_rng(4)
    batches = [(i, [[rng.normal(size=(2, 5, 7)).astype("float32") for _ in range(3)]]) for i in range(4)]
    got = list(staged(iter(batches), "cpu"))
    assert [tag for tag, _ in got] == [0, 1, 2, 3]
    for (_, [arrays]), (_, [tensor]) in zip(batches, got):
        np.testing.assert_array_equal(tensor.numpy(), np.stack(arrays))


def test_device_lock_serialises_gpu_steps_only():
    assert device_lock("cuda:0") is device_lock("cuda:0")  # one lock per GPU, shared by the threads
    assert device_lock("cuda:0") is not device_lock("cuda:1")
    with device_lock("cpu"), device_lock("cpu"):  # the CPU is not held: threads run their steps side by side
        pass


# ------------------------------------------------------------------------------ GPU resource on a cluster
class RestrictionLog(SchedulerPlugin):
    """The resource restrictions of every task the scheduler sends to a worker, by key prefix."""

    def __init__(self, scheduler):
        self.scheduler, self.seen = scheduler, collections.defaultdict(set)

    def transition(self, key, start, finish, *args, **kwargs):
        if finish == "processing":
            ts = self.scheduler.tasks[key]
            self.seen[key_split(key)].add(tuple(sorted((ts.resource_restrictions or {}).items())))


def test_model_steps_run_only_on_gpu_workers_and_reads_anywhere(unet, tmp_path):
    scene(5)[["a", "b"]].chunk({"y": 32, "x": 32}).to_zarr(tmp_path / "cube.zarr", zarr_format=3, consolidated=False)
    cube = xr.open_zarr(tmp_path / "cube.zarr", consolidated=False)
    plain = ml.predict(cube, unet).t.compute(scheduler="threads")  # no cluster: nothing annotated
    workers = {"gpu": {"cls": distributed.Worker, "options": {"nthreads": 1, "resources": {cluster.GPU: 1}}},
               "cpu": {"cls": distributed.Worker, "options": {"nthreads": 2}}}
    scheduler = {"cls": distributed.Scheduler, "options": {"dashboard_address": ":0"}}
    with distributed.SpecCluster(workers=workers, scheduler=scheduler) as spec:
        log = RestrictionLog(spec.scheduler)
        spec.scheduler.add_plugin(log)
        with cluster.connect(spec.scheduler_address) as client:
            names = {w["name"]: address for address, w in client.scheduler_info()["workers"].items()}
            assert client.gpu and cluster.gpu_workers(client) == [names["gpu"]]
            with distributed.get_task_stream(client) as stream:
                annotated = ml.predict(cube, unet).t.compute()
    ran_on = collections.defaultdict(collections.Counter)
    for record in stream.data:
        ran_on[key_split(record["key"])][record["worker"]] += 1
    assert set(ran_on["predict_block"]) == {names["gpu"]} and sum(ran_on["predict_block"].values()) == 12
    assert ran_on["open_dataset-a"][names["cpu"]] > 0  # reads and decoding are not held to the GPU worker
    assert log.seen.pop("predict_block") == {(("GPU", 1),)}  # the model steps alone ask for the GPU
    assert set().union(*log.seen.values()) == {()}
    np.testing.assert_array_equal(annotated.values, plain.values)


def test_no_gpu_annotation_without_gpu_workers(unet):
    ds = scene(6)[["a", "b"]].chunk({"y": 48, "x": 64})

    def annotations(arr):
        return [layer.annotations for layer in arr.__dask_graph__().layers.values() if layer.annotations]

    assert cluster.gpu_annotations() == {} and annotations(ml.predict(ds, unet).t.data) == []  # no client
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as lc:
        with cluster.connect(lc.scheduler_address) as client:  # a cluster without GPU workers
            assert not client.gpu and cluster.gpu_annotations(client=client) == {}
            assert annotations(ml.predict(ds, unet).t.data) == []
    gpu_client = type("GpuPool", (), {"gpu": True})()  # a GPU pool whose workers are still starting
    assert cluster.gpu_annotations(client=gpu_client) == {"resources": {"GPU": 1}}
    assert cluster.gpu_annotations("cpu", client=gpu_client) == {}


# ------------------------------------------------------------------------------------------------ CUDA
@pytest.mark.cuda
@CUDA
def test_cuda_prediction_equals_cpu_and_keeps_the_model_resident(unet, vae):
    from eoxr.ml.predict import clear_cache

    ds = scene(7, nt=2)[["a", "b"]].chunk({"time": 1, "y": 48, "x": 64})
    clear_cache()
    for path in (unet, vae):
        cpu = ml.predict(ds, path, device="cpu", n_samples=3).compute(scheduler="threads")
        before = ml.load_count(path)
        for batch_chunks in (1, 4):
            gpu = ml.predict(ds, path, device="cuda", n_samples=3, batch_chunks=batch_chunks).compute(scheduler="threads")
            # TF32 convolutions on the GPU: agreement to about 1e-3 of the values
            np.testing.assert_allclose(gpu.t.values, cpu.t.values, rtol=2e-3, atol=2e-2)
        assert ml.load_count(path) - before == 1  # once per process and device, not per chunk
        model, _ = cached_model(path, "cuda")
        assert all(p.device.type == "cuda" for p in model.parameters())


@pytest.mark.cuda
@CUDA
def test_cuda_batches_are_pinned_and_arrive_on_the_device():
    rng = np.random.default_rng(8)
    batches = [(i, [[rng.normal(size=(2, 16, 16)).astype("float32") for _ in range(4)]]) for i in range(3)]
    got = list(staged(iter(batches), "cuda"))
    for (_, [arrays]), (_, [tensor]) in zip(batches, got):
        assert tensor.device.type == "cuda"
        np.testing.assert_array_equal(tensor.cpu().numpy(), np.stack(arrays))


@pytest.mark.cuda
@CUDA
def test_connect_cuda_runs_the_model_steps_on_one_gpu_per_worker(unet):
    pytest.importorskip("dask_cuda", reason="dask-cuda is installed with RAPIDS, not by eoxr (deploy/README.md)")
    import os

    ds = scene(9)[["a", "b"]].chunk({"y": 32, "x": 32})
    ref = ml.predict(ds, unet, device="cpu").t.compute(scheduler="threads")
    with cluster.connect("cuda", dashboard_address=None) as client:
        workers = client.scheduler_info()["workers"].values()
        assert len(workers) == torch.cuda.device_count() and all(w["resources"] == {"GPU": 1} for w in workers)
        first_gpu = client.run(lambda: os.environ["CUDA_VISIBLE_DEVICES"].split(",")[0])
        assert len(set(first_gpu.values())) == len(workers)  # each worker on a GPU of its own
        with distributed.get_task_stream(client) as stream:
            got = ml.predict(ds, unet).t.compute()
    assert {key_split(r["key"]) for r in stream.data} >= {"predict_block"}
    np.testing.assert_allclose(got.values, ref.values, rtol=2e-3, atol=2e-2)
