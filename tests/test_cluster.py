"""eoxr.cluster: local sizing, errors with the fix, config, deploy files, and cubes written on real clusters."""
from __future__ import annotations

import ast
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401
import xarray as xr
import yaml

from eoxr import cluster, cube
from eoxr.errors import ClusterError, CubeError

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DASK = Path(sys.executable).with_name("dask")
LOOPBACK = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}  # schedulers listen on loopback only


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scene(seed: int, start: str = "2023-06-01", n_time: int = 4) -> xr.Dataset:
    """Numpy-backed values cut into dask chunks (no test-module functions for workers to import)."""
    rng = np.random.default_rng(seed)
    y = 4_800_000.0 - 30.0 * (np.arange(32) + 0.5)
    x = 500_000.0 + 30.0 * (np.arange(24) + 0.5)
    lst = da.from_array(270 + 40 * rng.random((n_time, 32, 24)), chunks=(1, 16, 12))
    ds = xr.Dataset({"lst": (("time", "y", "x"), lst, {"units": "K", "long_name": "land surface temperature"})},
                    coords={"time": pd.date_range(start, periods=n_time), "y": y, "x": x})
    return ds.rio.write_crs("EPSG:32631")


def deploy_config(name: str) -> dict:
    """A deploy YAML as dotted dask config keys, so dask.config.set merges it as a file in
    ~/.config/dask would be merged (a nested dict would replace whole sections)."""
    def flat(d, prefix=""):
        for key, value in d.items():
            if isinstance(value, dict) and value:
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    return dict(flat(yaml.safe_load((DEPLOY / name).read_text())))


def cube_bytes(path: Path) -> dict[str, bytes]:
    """Every chunk file of a cube; metadata compared through open() since attribute order may vary."""
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file() and p.name != "zarr.json"}


def write_reference(tmp_path: Path) -> Path:
    path = tmp_path / "sync.zarr"
    with dask.config.set(scheduler="synchronous"):
        cube.write(scene(1), path, chunks={"y": 16, "x": 12})
        cube.write(scene(2, start="2023-06-05"), path, mode="a", append_dim="time")
    return path


def write_with_client(client, path: Path) -> None:
    assert cube._distributed_client() is client  # the write below runs on the cluster's workers
    cube.write(scene(1), path, chunks={"y": 16, "x": 12}, progress=True)
    cube.write(scene(2, start="2023-06-05"), path, mode="a", append_dim="time")


def assert_same_cube(a: Path, b: Path) -> None:
    assert cube_bytes(a) == cube_bytes(b)
    left, right = cube.open(a).compute(), cube.open(b).compute()
    # history lines start with the time of the write; the rest must match
    for ds in (left, right):
        ds.attrs["history"] = [line.split(" ", 1)[1] for line in ds.attrs["history"].splitlines()]
    xr.testing.assert_identical(left, right)
    assert right.rio.crs.to_epsg() == 32631


# ------------------------------------------------------------------------------------------------ sizing
def test_local_sizing_follows_the_machine():
    import psutil
    from distributed.deploy.utils import nprocesses_nthreads

    cores = len(os.sched_getaffinity(0))
    sizing = cluster.local_sizing()
    assert (sizing["n_workers"], sizing["threads_per_worker"]) == nprocesses_nthreads(cores)
    assert sizing["memory_limit"] * sizing["n_workers"] <= 0.9 * psutil.virtual_memory().total + 1
    assert cluster.local_sizing(threads_per_worker=1)["n_workers"] == cores
    assert cluster.local_sizing(n_workers=1)["threads_per_worker"] == cores
    threaded = cluster.local_sizing(processes=False)
    assert (threaded["n_workers"], threaded["threads_per_worker"]) == (1, cores)
    with pytest.raises(ClusterError, match=">= 1"):
        cluster.local_sizing(n_workers=0, threads_per_worker=1)


# ------------------------------------------------------------------------------------------------ errors
def test_worker_environment_adds_to_the_configured_one():
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {"GDAL_CACHEMAX": "512", "OMP_NUM_THREADS": 4}}):
        with cluster.worker_environ():
            env = dask.config.get("distributed.nanny.pre-spawn-environ")
    assert env == {"GDAL_CACHEMAX": "512", **cluster.WORKER_ENVIRON}


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ClusterError, match=r"unknown cluster kind 'yarn'.*'local', 'cuda', 'address', 'gateway'"):
        cluster.connect(kind="yarn")


def test_kind_comes_from_dask_config():
    with dask.config.set({"eoxr.cluster.kind": "mesos"}), pytest.raises(ClusterError, match="'mesos'"):
        cluster.connect()


def test_kind_comes_from_environment_variable():
    env = dict(os.environ, DASK_EOXR__CLUSTER__KIND="carrier-pigeon")
    code = ("import eoxr.cluster as c, eoxr.errors as e\n"
            "try:\n    c.connect()\nexcept e.ClusterError as err:\n    print(err)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "unknown cluster kind 'carrier-pigeon'" in out.stdout, out.stderr


def test_unreachable_address_fails_fast_with_the_fix():
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(ClusterError, match=rf"no Dask scheduler answered at {address}.*dask scheduler"):
        cluster.connect(address, timeout="1s")
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("kind, module", [("gateway", "dask_gateway"), ("kubernetes", "dask_kubernetes"),
                                          ("slurm", "dask_jobqueue")])
def test_missing_optional_package_names_the_extra(kind, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ClusterError, match=rf"pip install 'eoxr\[{kind}\]'"):
        cluster.connect(kind)  # a kind name is accepted where an address goes


# ------------------------------------------------------------------------------------------------ deploy
def test_deploy_files_parse_and_say_what_they_configure():
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml")) + [REPO / "environment.yml"]
    parsed = {f.relative_to(REPO).as_posix(): yaml.safe_load(f.read_text()) for f in files}
    assert set(parsed) >= {"deploy/helm/values.yaml", "deploy/kubernetes/daskcluster.yaml",
                           "deploy/hpc/jobqueue.yaml", "deploy/dask/eoxr.yaml", "deploy/docker/environment.yml",
                           "environment.yml"}
    for f in files:  # each starts with a comment on how to use it
        assert f.read_text().startswith("#"), f

    dc = parsed["deploy/kubernetes/daskcluster.yaml"]
    assert dc["apiVersion"] == "kubernetes.dask.org/v1" and dc["kind"] == "DaskCluster"
    assert dc["spec"]["worker"]["spec"]["containers"][0]["args"][:2] == ["dask", "worker"]
    assert dc["spec"]["scheduler"]["spec"]["containers"][0]["args"] == ["dask", "scheduler"]

    gw = parsed["deploy/helm/values.yaml"]["gateway"]
    assert gw["backend"]["image"]["name"] and gw["backend"]["worker"]["memory"]["limit"]
    assert "idle_timeout" in gw["extraConfig"]["eoxr-timeouts"]
    compile(gw["extraConfig"]["eoxr-options"], "eoxr-options", "exec")  # the gateway runs it as Python

    # the dask config template holds exactly the keys eoxr.cluster reads, with the same defaults
    assert parsed["deploy/dask/eoxr.yaml"]["eoxr"]["cluster"].keys() == cluster.DEFAULTS["eoxr"]["cluster"].keys()
    assert parsed["deploy/dask/eoxr.yaml"]["eoxr"]["cluster"]["kind"] == "local"
    # remote workers get the environment local ones get
    assert parsed["deploy/dask/eoxr.yaml"]["distributed"]["nanny"]["pre-spawn-environ"] == cluster.WORKER_ENVIRON

    # the conda environments carry every runtime dependency of pyproject.toml
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    conda_names = {"matplotlib": "matplotlib-base", "torch": "pytorch"}
    wanted = {conda_names.get(n, n) for n in (r.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip()
                                            for r in project["dependencies"])}
    for env_file in ("environment.yml", "deploy/docker/environment.yml"):
        deps = parsed[env_file]["dependencies"]
        names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in deps if isinstance(d, str)}
        missing = wanted - names - {"dask"} if "dask" in names else wanted - names
        assert not missing, (env_file, missing)
        assert {"dask-jobqueue", "dask-gateway", "dask-kubernetes", "distributed"} <= names

    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert dockerfile.startswith("#")
    base = next(line for line in dockerfile.splitlines() if line.startswith("FROM "))
    assert base.split()[1].split(":")[0] in ("pangeo/base-notebook", "pangeo/pangeo-notebook")
    assert base.split(":")[1] not in ("", "latest")  # pinned tag
    assert "deploy/docker/environment.yml" in dockerfile
    env_line = next(line for line in dockerfile.splitlines() if "PRE_SPAWN_ENVIRON" in line)
    assert ast.literal_eval(env_line.split("=", 1)[1].strip("'")) == cluster.WORKER_ENVIRON  # as dask parses it


def test_slurm_job_script_renders_from_the_deploy_config(tmp_path, monkeypatch):
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    monkeypatch.chdir(tmp_path)  # log-directory is relative and created on construction
    with dask.config.set(deploy_config("hpc/jobqueue.yaml")):
        slurm = dask_jobqueue.SLURMCluster(scheduler_options=LOOPBACK)
        try:
            script = slurm.job_script()
        finally:
            slurm.close()
    for expected in ("#SBATCH -J eoxr-worker", "#SBATCH -p normal", "#SBATCH --cpus-per-task=8",
                     "#SBATCH --mem=30G", "#SBATCH -t 01:00:00", "#SBATCH --exclusive=user",
                     "#SBATCH --constraint=cpu", "#SBATCH -e dask-logs/eoxr-worker-%J.err",
                     "conda activate eoxr", "--nworkers 4", "--nthreads 2", "--memory-limit 7.45GiB",
                     "--local-directory $TMPDIR", "--lifetime 55m", "--death-timeout 120"):
        assert expected in script, (expected, script)
    assert (tmp_path / "dask-logs").is_dir()


def test_connect_slurm_builds_the_cluster_from_config(tmp_path, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    monkeypatch.chdir(tmp_path)
    # zero jobs: nothing is submitted, so no SLURM is needed; the scheduler still starts
    with dask.config.set(deploy_config("hpc/jobqueue.yaml")), dask.config.set({"eoxr.cluster.slurm.scale.jobs": 0}):
        client = cluster.connect("slurm", scheduler_options=LOOPBACK)
        try:
            assert type(client.cluster).__name__ == "SLURMCluster"
            assert "#SBATCH -p normal" in client.cluster.job_script()
            assert client.scheduler.address.startswith("tcp://127.0.0.1:")
            assert client.scheduler_info()["workers"] == {}
        finally:
            cluster.close(client)
    assert client.status == "closed" and client.cluster.status.name == "closed"


# ---------------------------------------------------------------------------------- cubes on clusters
def test_local_cluster_writes_the_same_cube_as_the_synchronous_scheduler(tmp_path, capsys, caplog):
    reference = write_reference(tmp_path)
    # A handler of eoxr's own logger: LocalCluster silences the handlers that pytest shares with distributed's logger.
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger("eoxr.cluster")
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="eoxr.cluster"):
            client = cluster.connect(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address="127.0.0.1:0")
    finally:
        logger.removeHandler(handler)
    try:
        assert not capsys.readouterr().out  # the library logs, it does not print
        assert any("dashboard at http" in r.getMessage() for r in records)
        assert len(client.scheduler_info()["workers"]) == 2
        # one BLAS thread per worker, glibc's adaptive malloc thresholds kept (see cluster.WORKER_ENVIRON)
        env = client.run(lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")})
        assert all(e == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"} for e in env.values()), env
        write_with_client(client, tmp_path / "local.zarr")
        before = cube_bytes(tmp_path / "local.zarr")

        def fail_on_last_date(block, block_info=None):  # nested: pickled by value for the workers
            if block_info is not None and block_info[0]["array-location"][0][0] == 5:
                raise RuntimeError("injected failure on a worker")
            return block

        bad = scene(3, start="2023-06-09", n_time=6)
        bad["lst"] = bad["lst"].copy(data=bad["lst"].data.map_blocks(fail_on_last_date, meta=np.array(())))
        with pytest.raises(CubeError, match="injected failure on a worker.*rolled back"):
            cube.write(bad, tmp_path / "local.zarr", mode="a", append_dim="time")
        time.sleep(0.5)
        assert cube_bytes(tmp_path / "local.zarr") == before
    finally:
        cluster.close(client)
    assert_same_cube(reference, tmp_path / "local.zarr")


def test_scheduler_and_worker_processes_write_the_same_cube(tmp_path):
    reference = write_reference(tmp_path)
    scheduler_file = tmp_path / "scheduler.json"
    common = {"cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(free_port()),
                               "--no-dashboard", "--scheduler-file", str(scheduler_file)], **common)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            assert procs[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start in 60 s"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(subprocess.Popen([str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard", "--memory-limit", "1GiB", "--host", "127.0.0.1"],
                                      **common))
        client = cluster.connect(address, timeout="20s")
        try:
            client.wait_for_workers(1, timeout=60)
            write_with_client(client, tmp_path / "remote.zarr")
        finally:
            cluster.close(client)  # leaves the external scheduler running: it is not ours to close
        assert procs[0].poll() is None
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert_same_cube(reference, tmp_path / "remote.zarr")


def test_with_block_closes_the_cluster_it_started_and_only_that_one():
    from distributed import Client, LocalCluster

    with cluster.connect(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as client:
        started = client.cluster
        assert client.submit(sum, [1, 2]).result() == 3 and started.status.name == "running"
    assert client.status == "closed" and started.status.name == "closed"

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as external:
        with cluster.connect(external.scheduler_address, timeout="10s") as client:
            assert client.submit(sum, [3, 4]).result() == 7
        assert client.status == "closed" and external.status.name == "running"  # not ours: left running
        with Client(external.scheduler_address, timeout="10s") as other:
            assert other.submit(sum, [5, 6]).result() == 11


def test_worker_environment_does_not_outlive_the_cluster_start():
    # distributed's nanny writes the worker environment into os.environ, where later clusters would inherit it
    keys = [*cluster.WORKER_ENVIRON, "PYTHONHASHSEED"]
    before = {k: os.environ.get(k) for k in keys}
    client = cluster.connect(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        assert client.run(lambda: os.environ.get("OMP_NUM_THREADS")) == {w: "1" for w in client.scheduler_info()["workers"]}
        assert {k: os.environ.get(k) for k in keys} == before
    finally:
        cluster.close(client)


def test_tune_malloc_spares_page_faults_of_reallocated_arrays():
    # fresh processes, each allocating a task's temporaries: arrays of 0.2-12 MiB, three alive at a time
    script = """
import resource, sys
import numpy as np
from eoxr.cluster import tune_malloc
if sys.argv[1] == "tuned":
    assert tune_malloc()
sizes = (np.random.default_rng(0).uniform(0.2, 12, 200) * 2**17).astype(int)
live = []
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for n in sizes:
    live = live[-2:] + [np.ones(n)]
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / len(sizes))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # glibc's defaults
    faults = {mode: float(subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                                         check=True, env=env).stdout) for mode in ("default", "tuned")}
    # glibc's adaptive thresholds map and fault in many of them afresh (about 1500 pages each)
    assert faults["tuned"] < faults["default"] / 2, faults


# ------------------------------------------------------------------------------------------------ GPUs
def stand_in_dask_cuda(monkeypatch, gpus: int = 2, failure: Exception | None = None) -> dict:
    """dask_cuda as connect("cuda") uses it, on CPU: LocalCUDACluster is a threaded LocalCluster taking dask-cuda's
    keywords, get_n_gpus counts ``gpus`` or raises ``failure`` (as dask-cuda does where NVML finds no driver).
    Returns the keywords the cluster was built with."""
    import types

    from distributed import LocalCluster

    built = {}

    def get_n_gpus():
        if failure is not None:
            raise failure
        return gpus

    class LocalCUDACluster(LocalCluster):
        def __init__(self, n_workers=None, threads_per_worker=1, memory_limit="auto", **kw):
            built.update(kw, n_workers=n_workers, threads_per_worker=threads_per_worker)
            super().__init__(n_workers=n_workers or get_n_gpus(), threads_per_worker=threads_per_worker,
                             memory_limit=memory_limit, processes=False, **kw)

    module, utils = types.ModuleType("dask_cuda"), types.ModuleType("dask_cuda.utils")
    module.LocalCUDACluster, module.utils, utils.get_n_gpus = LocalCUDACluster, utils, get_n_gpus
    monkeypatch.setitem(sys.modules, "dask_cuda", module)
    monkeypatch.setitem(sys.modules, "dask_cuda.utils", utils)
    return built


def test_connect_cuda_without_dask_cuda_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # import fails as if not installed
    with pytest.raises(ClusterError, match=r"pip install dask-cuda.*eoxr\.cluster\.cuda\.pool.*GPU=1"):
        cluster.connect("cuda")


def test_connect_cuda_without_a_gpu_names_the_check(monkeypatch):
    stand_in_dask_cuda(monkeypatch, failure=RuntimeError("NVML Shared Library Not Found"))
    with pytest.raises(ClusterError, match=r"NVML Shared Library Not Found.*nvidia-smi.*CUDA_VISIBLE_DEVICES"):
        cluster.connect("cuda")


def test_connect_cuda_gives_one_worker_per_gpu_declaring_the_resource(monkeypatch):
    built = stand_in_dask_cuda(monkeypatch, gpus=2)
    cores = len(os.sched_getaffinity(0))
    assert dask.config.get("optimization.fuse.active") is None
    client = cluster.connect("cuda", dashboard_address=None)
    try:
        workers = client.scheduler_info()["workers"].values()
        assert len(workers) == 2 and all(w["resources"] == {"GPU": 1} for w in workers)
        assert built["threads_per_worker"] == max(1, cores // 2)  # the cores shared among the GPUs' workers
        assert client.gpu and cluster.gpu_annotations() == {"resources": {"GPU": 1}}
        # low-level fusion would make new tasks without the model steps' annotations
        assert dask.config.get("optimization.fuse.active") is False
    finally:
        cluster.close(client)
    assert dask.config.get("optimization.fuse.active") is None  # as before, once the client is closed
    assert client.cluster.status.name == "closed"


def test_a_gpu_pool_whose_workers_declare_no_gpu_is_refused_with_the_resource_to_declare():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as external:
        with dask.config.set({"eoxr.cluster.cuda.pool": "address", "eoxr.cluster.address": external.scheduler_address}):
            with pytest.raises(ClusterError, match=r"declare no 'GPU' resource.*--resources GPU=1"):
                cluster.connect("cuda")
        assert external.status.name == "running"  # not ours: left running
    assert dask.config.get("optimization.fuse.active") is None
    with dask.config.set({"eoxr.cluster.cuda.pool": "yarn"}), pytest.raises(ClusterError, match="unknown GPU pool"):
        cluster.connect("cuda")


def test_the_documented_worker_environment_declares_the_gpu_resource():
    # dask lowercases the keys it reads from variable names: the resource must be inside the value
    assert dask.config.collect_env(cluster.GPU_WORKER_ENV) == {"distributed": {"worker": {"resources": {"GPU": 1}}}}
    assert dask.config.collect_env({"DASK_DISTRIBUTED__WORKER__RESOURCES__GPU": "1"})["distributed"]["worker"][
        "resources"] != {"GPU": 1}


def test_connect_cuda_slurm_pool_submits_the_gpu_profile(tmp_path, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    monkeypatch.chdir(tmp_path)
    settings = {"eoxr.cluster.cuda.pool": "slurm", "eoxr.cluster.slurm.scale.jobs": 0}  # nothing submitted
    with dask.config.set(deploy_config("hpc/jobqueue.yaml")), dask.config.set(settings):
        client = cluster.connect("cuda", scheduler_options=LOOPBACK)
        try:
            script = client.cluster.job_script()
            assert client.gpu and dask.config.get("optimization.fuse.active") is False
        finally:
            cluster.close(client)
    for expected in ("#SBATCH -J eoxr-gpu-worker", "#SBATCH -p gpu", "#SBATCH --gres=gpu:1", "--resources GPU=1",
                     "--nthreads 8"):
        assert expected in script, (expected, script)
    assert "--nworkers" not in script  # one worker per job and GPU


def test_gpu_profiles_give_workers_a_gpu_and_the_resource(monkeypatch):
    import types

    spec = yaml.safe_load((DEPLOY / "kubernetes" / "daskcluster-gpu.yaml").read_text())
    worker = spec["spec"]["worker"]["spec"]["containers"][0]
    assert worker["args"][:2] == ["dask", "worker"] and "--resources GPU=1" in " ".join(worker["args"])
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert set(cluster.DEFAULTS["eoxr"]["cluster"]["cuda"]) == set(
        yaml.safe_load((DEPLOY / "dask" / "eoxr.yaml").read_text())["eoxr"]["cluster"]["cuda"])

    # the gateway's option handler, run as the gateway runs it
    options_module = types.ModuleType("dask_gateway_server.options")
    options_module.Options = lambda *fields, handler: types.SimpleNamespace(fields=fields, handler=handler)
    for kind in ("Float", "Integer", "String"):
        setattr(options_module, kind, lambda name, default=None, **kw: (name, default))
    monkeypatch.setitem(sys.modules, "dask_gateway_server", types.ModuleType("dask_gateway_server"))
    monkeypatch.setitem(sys.modules, "dask_gateway_server.options", options_module)
    c = types.SimpleNamespace(Backend=types.SimpleNamespace())
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    exec(values["gateway"]["extraConfig"]["eoxr-options"], {"c": c})
    chosen = dict(c.Backend.cluster_options.fields)
    assert chosen["worker_gpus"] == 0  # CPU workers unless asked
    gpu = c.Backend.cluster_options.handler(types.SimpleNamespace(**dict(chosen, worker_gpus=1)))
    assert gpu["worker_extra_container_config"]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert gpu["image"] == chosen["gpu_image"]
    assert dask.config.collect_env(gpu["environment"])["distributed"]["worker"]["resources"] == {"GPU": 1}
    cpu = c.Backend.cluster_options.handler(types.SimpleNamespace(**chosen))
    assert "environment" not in cpu and cpu["image"] == chosen["image"]
