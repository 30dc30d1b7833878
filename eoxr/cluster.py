"""Dask clusters for eoxr: a local cluster sized to the machine by default, or an existing scheduler,
Dask Gateway, Kubernetes (dask-kubernetes operator) or SLURM (dask-jobqueue), chosen by argument or config.

Configuration goes through dask's config system under ``eoxr.cluster``: a YAML file such as
``~/.config/dask/eoxr.yaml`` (see deploy/dask/eoxr.yaml) or environment variables read when dask is
imported, e.g. ``DASK_EOXR__CLUSTER__KIND=slurm`` or ``DASK_EOXR__CLUSTER__ADDRESS=tcp://host:8786``.

    >>> client = eoxr.cluster.connect()                          # LocalCluster, workers x threads from the cores
    >>> client = eoxr.cluster.connect("tcp://10.0.0.5:8786")      # an existing scheduler
    >>> client = eoxr.cluster.connect(kind="slurm")              # jobqueue.slurm config, eoxr.cluster.slurm.scale
    >>> client = eoxr.cluster.connect("cuda")                    # one worker per GPU (dask-cuda), or a GPU pool
    >>> eoxr.cluster.close(client)                               # closes the client and the cluster it started
    >>> with eoxr.cluster.connect() as client:                    # the same on leaving the block
    ...     ...

GPU workers declare the Dask resource ``GPU`` (:data:`GPU`): ``connect("cuda")`` starts dask-cuda's
LocalCUDACluster (one worker per visible GPU, the machine's cores shared among them as threads) or, with
``eoxr.cluster.cuda.pool`` set, a Gateway, Kubernetes or SLURM pool from the GPU profiles in deploy/. Only the
model steps of :func:`eoxr.ml.predict` ask for a GPU (:func:`gpu_annotations`); reading and decoding run on
the other threads, on any worker.

Reaching a scheduler takes at most ``eoxr.cluster.timeout`` (10 s): an address where something else answers
(the dashboard's web server, a worker) or nothing does fails with a :class:`~eoxr.errors.ClusterError` that
says so. Messages go to the ``eoxr.cluster`` logger.
"""
from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from typing import Any

import dask.config
from distributed import Client

from .errors import ClusterError, redact

logger = logging.getLogger(__name__)

KINDS = ("local", "cuda", "address", "gateway", "kubernetes", "slurm")
#: where connect("cuda") finds GPUs: dask-cuda on this machine, or a pool of workers declaring :data:`GPU`
GPU_POOLS = ("local", "address", "gateway", "kubernetes", "slurm")
#: the Dask worker resource of a GPU: a GPU worker declares ``GPU=1`` (``dask worker --resources GPU=1``, or
#: :data:`GPU_WORKER_ENV` in its environment), a model step asks for one
GPU = "GPU"
#: the environment that makes a worker declare one GPU. dask lowercases the keys it reads from variable names
#: (DASK_DISTRIBUTED__WORKER__RESOURCES__GPU would declare "gpu"), not those inside a value
GPU_WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__RESOURCES": '{"GPU": 1}'}
#: dask config while a GPU cluster's client is open: low-level task fusion merges tasks into new ones without
#: their annotations, and a model step would lose its GPU resource (it could then run on a CPU-only worker)
KEEP_ANNOTATIONS = {"optimization.fuse.active": False}

DEFAULTS: dict[str, Any] = {
    "eoxr": {
        "cluster": {
            "kind": "local",  # one of KINDS
            "address": None,  # scheduler address for kind "address"
            "timeout": "10s",  # how long to try reaching a scheduler
            "local": {"dashboard-address": ":8787", "memory-fraction": 0.9},
            "gateway": {"address": None, "options": {}, "scale": None, "adapt": {"minimum": 1, "maximum": 8}},
            "kubernetes": {
                "spec": None,  # path to a DaskCluster manifest (deploy/kubernetes/daskcluster.yaml) or a dict
                "name": "eoxr",
                "namespace": None,
                "image": None,
                "n-workers": 2,
                "resources": {},
                "adapt": None,
            },
            "slurm": {"scale": {"jobs": 1}, "adapt": None},
            "cuda": {
                "pool": "local",  # one of GPU_POOLS
                "threads-per-worker": None,  # local: CPU threads per GPU worker (default: cores / GPUs)
                "gateway-options": {"worker_gpus": 1},  # options of the GPU profile (deploy/helm/values.yaml)
                "kubernetes-spec": None,  # a DaskCluster of GPU workers (deploy/kubernetes/daskcluster-gpu.yaml)
                "slurm-config": "slurm-gpu",  # the jobqueue section of GPU jobs (deploy/hpc/jobqueue.yaml)
            },
        }
    }
}
# Defaults only fill keys that YAML files and DASK_EOXR__* environment variables left unset.
dask.config.update_defaults(DEFAULTS)

_EXTRAS = {"gateway": "dask_gateway", "kubernetes": "dask_kubernetes", "slurm": "dask_jobqueue"}

# Environment of worker processes: one BLAS/OpenMP thread each (Dask runs the tasks in parallel), and glibc's
# adaptive malloc thresholds kept (None unsets the variable). Dask's default sets MALLOC_TRIM_THRESHOLD_, which
# also freezes the mmap threshold, so every temporary array above 128 kB is mapped and unmapped afresh: the
# urban forward model's horizon marches then ran 5-6x slower in a worker process than in the client. Fixed, larger
# thresholds (:data:`BATCH_MALLOC`) are faster still, but the freed heap they keep counts against the worker's
# memory limit, which Dask does not release: a worker predicting a cube larger than its memory paused for good.
WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1,
                  "MALLOC_TRIM_THRESHOLD_": None}
# glibc malloc thresholds of a batch process (the ``eoxr`` command): arrays up to 16 MiB come from the heap and
# up to 64 MiB of freed heap is kept for the next step. With the adaptive thresholds the urban inversion's window
# stacks of a few MiB are mapped and faulted in again at every chunk (about 2400 page faults per 16 x 16 pixel
# chunk: 28 ms against 19.5 ms).
BATCH_MALLOC = {"mmap_threshold": 16 * 2**20, "trim_threshold": 64 * 2**20}


def tune_malloc() -> bool:
    """Give the running process :data:`BATCH_MALLOC`, as the ``eoxr`` command does for itself: faster numpy work
    for a process whose memory no Dask nanny limits. glibc only; returns whether they were set."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, BATCH_MALLOC["mmap_threshold"])
                and mallopt(m_trim_threshold, BATCH_MALLOC["trim_threshold"]))


@contextmanager
def worker_environ():
    """Context in which worker processes started here get :data:`WORKER_ENVIRON` on top of the configured
    ``distributed.nanny.pre-spawn-environ`` (for LocalCluster). distributed's nanny writes that environment into
    this process's ``os.environ`` before spawning a worker, where it would outlive the context and override the
    configuration of every later cluster: the variables are restored on exit."""
    configured = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    environ = {**configured, **WORKER_ENVIRON}
    saved = {k: os.environ.get(k) for k in [*environ, "PYTHONHASHSEED"]}  # the nanny also sets the hash seed
    # A variable to unset must leave this process's environment too: workers inherit it, and an earlier plain
    # LocalCluster's nanny may have written Dask's default MALLOC_TRIM_THRESHOLD_ here.
    for k in [k for k, v in environ.items() if v is None]:
        os.environ.pop(k, None)
    try:
        for k in [k for k, v in environ.items() if v is None]:
            os.environ.pop(k, None)  # None unsets: a value this process holds would reach the workers
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _config(key: str, default: Any = None) -> Any:
    return dask.config.get(f"eoxr.cluster.{key}", default=default)


def local_sizing(
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: int | str | None = None,
    processes: bool = True,
) -> dict[str, Any]:
    """Workers, threads and memory per worker for a LocalCluster on this machine.

    Cores from the CPU affinity mask (os.cpu_count where unavailable), split into workers x threads as
    distributed does (``nprocesses_nthreads``: one thread per worker up to 4 cores, then ~sqrt(cores) workers);
    a threaded cluster (``processes=False``) is one worker with every core. Memory per worker (bytes) is
    ``eoxr.cluster.local.memory-fraction`` (0.9) of the total memory divided among the workers, leaving the
    rest to the client and the operating system.
    """
    import psutil
    from distributed.deploy.utils import nprocesses_nthreads

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if n_workers is None and threads_per_worker is None:
        n_workers, threads_per_worker = nprocesses_nthreads(cores) if processes else (1, cores)
    elif n_workers is None:
        n_workers = max(1, cores // threads_per_worker)
    elif threads_per_worker is None:
        threads_per_worker = max(1, cores // n_workers)
    if n_workers < 1 or threads_per_worker < 1:
        raise ClusterError(f"n_workers={n_workers} and threads_per_worker={threads_per_worker} must be >= 1.")
    if memory_limit is None:
        fraction = float(_config("local.memory-fraction", 0.9))
        memory_limit = int(fraction * psutil.virtual_memory().total / n_workers)
    return {"n_workers": int(n_workers), "threads_per_worker": int(threads_per_worker),
            "memory_limit": memory_limit, "processes": processes}


def connect(
    address: str | None = None,
    *,
    kind: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: int | str | None = None,
    processes: bool = True,
    **kw,
):
    """Start or reach a Dask cluster and return a ``distributed.Client`` bound to it.

    ``address`` is a scheduler address (``"tcp://host:8786"``) or one of ``"local"``, ``"cuda"``,
    ``"gateway"``, ``"kubernetes"``, ``"slurm"``; ``kind`` says the same explicitly. With neither, ``eoxr.cluster.kind``
    from dask config decides (default ``"local"``). ``n_workers``, ``threads_per_worker``, ``memory_limit``
    and ``processes`` size a local cluster (see :func:`local_sizing`); for SLURM, Kubernetes and Gateway
    ``n_workers`` is the number of jobs/workers to scale to. Other keywords go to the cluster class.

    ``"cuda"`` gives GPU workers, each declaring the resource :data:`GPU`: from ``eoxr.cluster.cuda.pool``
    (default ``"local"``: dask-cuda's LocalCUDACluster, one worker per visible GPU with ``threads_per_worker``
    CPU threads, by default the cores divided among the GPUs), or the GPU profile of a Gateway, Kubernetes or
    SLURM pool, or the scheduler at ``eoxr.cluster.address``. While a client with GPU workers is open,
    :data:`KEEP_ANNOTATIONS` holds, so that only model steps take a GPU (:func:`gpu_annotations`).

    Raises :class:`~eoxr.errors.ClusterError` for an unknown kind, an unreachable scheduler, a missing
    optional package (naming the pip extra to install), or GPU workers that cannot be had (naming what to
    install or which resource to declare).
    """
    if address in KINDS:
        kind, address = kind or address, None
    if kind is None:
        kind = "address" if address else str(_config("kind", "local"))
    if kind not in KINDS:
        raise ClusterError(f"unknown cluster kind {kind!r}: use one of {KINDS}, or pass a scheduler address "
                           "like 'tcp://host:8786'. Set the default with DASK_EOXR__CLUSTER__KIND or "
                           "eoxr.cluster.kind in ~/.config/dask/eoxr.yaml.")
    if kind == "local":
        client = _local(n_workers, threads_per_worker, memory_limit, processes, **kw)
    elif kind == "cuda":
        client = _cuda(n_workers, threads_per_worker, memory_limit, **kw)
    elif kind == "address":
        client = _address(address or _config("address"), **kw)
    elif kind == "gateway":
        client = _gateway(n_workers, **kw)
    elif kind == "kubernetes":
        client = _kubernetes(n_workers, **kw)
    else:
        client = _slurm(n_workers, **kw)
    if kind == "address" and gpu_workers(client):
        client.hold_gpu_config()
    logger.info("Dask %s cluster, dashboard at %s", kind, redact(client.dashboard_link))
    return client


class ClusterClient(Client):
    """A ``distributed.Client`` that closes the cluster eoxr started for it when it closes, also on leaving a
    ``with`` block. A client of a scheduler given by address owns no cluster: closing it leaves the scheduler
    and its workers running for their other clients.

    ``gpu`` is True for a client of GPU workers (:func:`connect` with ``"cuda"``, or a scheduler whose workers
    declare :data:`GPU`): model steps then ask for a GPU, also before an adaptive pool has started its workers,
    and :data:`KEEP_ANNOTATIONS` holds until the client closes."""

    def __init__(self, *args, owns_cluster: bool = False, **kwargs):
        self._owns_cluster = owns_cluster
        self.gpu = False
        self._gpu_config = None
        super().__init__(*args, **kwargs)

    def hold_gpu_config(self) -> None:
        """Mark this client as one of GPU workers and hold :data:`KEEP_ANNOTATIONS` until it closes."""
        self.gpu = True
        if self._gpu_config is None:
            self._gpu_config = dask.config.set(KEEP_ANNOTATIONS)

    def close(self, *args, **kwargs):
        # getattr: distributed also calls close() from __del__ of a client whose __init__ failed
        open_ = getattr(self, "status", "closed") not in ("closed", "newly-created")
        cluster = getattr(self, "cluster", None) if self._owns_cluster and open_ else None
        result = super().close(*args, **kwargs)
        if getattr(self, "_gpu_config", None) is not None:
            self._gpu_config.__exit__(None, None, None)
            self._gpu_config = None
        if cluster is not None and not self._is_finalizing():
            cluster.close()
        return result


def close(client) -> None:
    """Close ``client`` and, when it started its cluster (local, gateway, kubernetes, slurm), the cluster."""
    cluster = None if isinstance(client, ClusterClient) else getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


# ------------------------------------------------------------------------------------------------- GPUs
def _current_client(client=None):
    if client is not None:
        return client
    try:
        current = Client.current()
    except ValueError:  # no client: the threaded or synchronous scheduler
        return None
    return current if current.status == "running" else None


def gpu_workers(client=None) -> list[str]:
    """Addresses of the workers of ``client`` (default: the current client) that declare the resource
    :data:`GPU`; empty without a client."""
    client = _current_client(client)
    if client is None:
        return []
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return sorted(a for a, w in workers.items() if (w.get("resources") or {}).get(GPU, 0) > 0)


def gpu_annotations(device: str = "auto", client=None) -> dict:
    """Dask annotations for a task that runs a model on ``device``: ``{"resources": {"GPU": 1}}`` where the
    cluster of ``client`` (default: the current client) has GPU workers (or is a GPU pool from
    ``connect("cuda")`` whose workers are still starting), else none: on the threaded scheduler, with
    ``device="cpu"``, or on a cluster without GPU workers, where the task would wait for one forever.

    Put them around the model step alone (``with dask.annotate(**gpu_annotations(device)): ...``), so that
    reading and decoding stay on any worker's CPU threads.
    """
    if str(device) == "cpu":
        return {}
    client = _current_client(client)
    if client is None or not (getattr(client, "gpu", False) or gpu_workers(client)):
        return {}
    return {"resources": {GPU: 1}}


def _no_gpu_workers(pool: str) -> str:
    (name, value), = GPU_WORKER_ENV.items()
    return (f"the workers of the {pool} cluster declare no {GPU!r} resource, so no task would run on a GPU: start "
            f"GPU workers with `dask worker <scheduler> --resources {GPU}=1` (or {name}='{value}' in their "
            "environment; the GPU profiles in deploy/ do so), or call eoxr.cluster.connect() for a CPU cluster.")


def _cuda(n_workers, threads_per_worker, memory_limit, **kw):
    pool = str(_config("cuda.pool", "local"))
    if pool not in GPU_POOLS:
        raise ClusterError(f"unknown GPU pool {pool!r} in eoxr.cluster.cuda.pool: use one of {GPU_POOLS} "
                           "(DASK_EOXR__CLUSTER__CUDA__POOL).")
    if pool == "local":
        client = _local_cuda(n_workers, threads_per_worker, memory_limit, **kw)
    elif pool == "address":
        client = _address(_config("address"), **kw)
    elif pool == "gateway":
        client = _gateway(n_workers, **{**(_config("cuda.gateway-options") or {}), **kw})
    elif pool == "kubernetes":
        spec = _config("cuda.kubernetes-spec")
        if spec is None and "custom_cluster_spec" not in kw:
            raise ClusterError("a Kubernetes GPU pool needs a DaskCluster of GPU workers: set "
                               "eoxr.cluster.cuda.kubernetes-spec to deploy/kubernetes/daskcluster-gpu.yaml (or "
                               "your own spec whose workers request nvidia.com/gpu and declare --resources GPU=1).")
        client = _kubernetes(n_workers, **({"custom_cluster_spec": os.path.expanduser(spec)} if spec else {}), **kw)
    else:
        client = _slurm(n_workers, **{"config_name": _config("cuda.slurm-config", "slurm-gpu"), **kw})
    if client.scheduler_info(n_workers=-1)["workers"] and not gpu_workers(client):
        close(client)
        raise ClusterError(_no_gpu_workers(pool))
    client.hold_gpu_config()
    return client


def _local_cuda(n_workers, threads_per_worker, memory_limit, **kw):
    """dask-cuda's LocalCUDACluster: one worker process per visible GPU, each declaring ``GPU=1``, with the
    machine's cores shared among them as threads for reading and decoding."""
    import importlib

    try:
        dask_cuda = importlib.import_module("dask_cuda")
    except ImportError as exc:
        raise ClusterError(
            "connect('cuda') starts one worker per GPU with dask-cuda, which is not installed: `pip install "
            "dask-cuda` (or `conda install -c rapidsai -c conda-forge dask-cuda`, the release made for your dask). "
            f"For GPU workers elsewhere, set eoxr.cluster.cuda.pool to one of {GPU_POOLS[1:]} with workers that "
            f"declare the resource {GPU}=1 (deploy/README.md, GPU profiles).") from exc
    threads = threads_per_worker or _config("cuda.threads-per-worker")
    kw.setdefault("dashboard_address", _config("local.dashboard-address", ":8787"))
    try:
        if not threads:
            n_gpus = n_workers or importlib.import_module("dask_cuda.utils").get_n_gpus()
            threads = max(1, local_sizing(1)["threads_per_worker"] // max(1, n_gpus))
        with worker_environ():
            cluster = dask_cuda.LocalCUDACluster(n_workers=n_workers, threads_per_worker=int(threads),
                                                 memory_limit=memory_limit or "auto", resources={GPU: 1}, **kw)
    except Exception as exc:  # noqa: BLE001 - no driver (NVML), no GPU visible, a bad CUDA_VISIBLE_DEVICES
        raise ClusterError(
            f"dask-cuda could not start GPU workers ({type(exc).__name__}: {exc}); check that `nvidia-smi` lists "
            "the GPUs and that CUDA_VISIBLE_DEVICES names them, or call eoxr.cluster.connect() for a CPU "
            "cluster.") from exc
    return ClusterClient(cluster, owns_cluster=True)


# ---------------------------------------------------------------------------------------------- kinds
def _local(n_workers, threads_per_worker, memory_limit, processes, **kw):
    from distributed import LocalCluster

    sizing = local_sizing(n_workers, threads_per_worker, memory_limit, processes)
    kw.setdefault("dashboard_address", _config("local.dashboard-address", ":8787"))
    try:
        with worker_environ():
            cluster = LocalCluster(**sizing, **kw)
    except Exception as exc:  # noqa: BLE001 - port in use, bad memory string, spawn failure
        raise ClusterError(f"could not start a local Dask cluster with {sizing} ({type(exc).__name__}: {exc}); "
                           "try fewer workers, dashboard_address=':0', or processes=False.") from exc
    return ClusterClient(cluster, owns_cluster=True)


def _address(address, timeout=None, **kw):
    from dask.utils import parse_timedelta

    if not address:
        raise ClusterError("kind 'address' needs a scheduler address: connect('tcp://host:8786') or set "
                           "eoxr.cluster.address (DASK_EOXR__CLUSTER__ADDRESS).")
    timeout = timeout or _config("timeout", "10s")
    seconds = parse_timedelta(timeout, default="seconds")
    _check_address(address)
    _probe_scheduler(address, seconds, kw.get("security"))
    try:
        return ClusterClient(address, timeout=timeout, **kw)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(_no_scheduler(address, timeout, exc)) from exc


def _no_scheduler(address, timeout, exc) -> str:
    return (f"no Dask scheduler answered at {address} within {timeout} ({exc}). Start one (`dask scheduler` on "
            f"that host, then `dask worker {address}`), check the address and firewall, or call "
            "eoxr.cluster.connect() for a local cluster.")


def _check_address(address: str) -> None:
    """Refuse what is not a scheduler address before trying to reach it."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address, strict=False)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except ValueError as exc:
        raise ClusterError(f"{address!r} is neither a cluster kind {KINDS} nor a scheduler address ({exc}); "
                           "pass one such as 'tcp://10.0.0.5:8786' (the scheduler's port, 8786 by default), or a "
                           "kind.") from None


def _probe_scheduler(address: str, seconds: float, security=None) -> None:
    """Ask ``address`` who it is within ``seconds``: distributed waits without end on a server that accepts the
    connection and never speaks its protocol (the dashboard's web server, on 8787)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout

    from distributed.core import rpc

    async def identity():
        args = security.get_connection_args("client") if security is not None else {}
        async with rpc(address, timeout=seconds, connection_args=args) as scheduler:
            return await scheduler.identity()

    async def bounded():
        return await asyncio.wait_for(identity(), seconds)

    with ThreadPoolExecutor(1) as pool:  # its own event loop: the caller may run one (a notebook)
        try:
            who = pool.submit(asyncio.run, bounded()).result(timeout=seconds + 5)
        except (OSError, TimeoutError, FutureTimeout, asyncio.TimeoutError) as exc:
            failure = ClusterError(_not_a_scheduler(address, seconds) or _no_scheduler(address, f"{seconds:g} s", exc))
        else:
            failure = None
    if failure is not None:
        raise failure
    kind = who.get("type") if isinstance(who, dict) else None
    if kind != "Scheduler":
        raise ClusterError(f"{address} is a Dask {kind or 'server'}, not a scheduler: connect to the scheduler's "
                           "address (it is in the worker's log line 'Registered to: tcp://...').")


def _not_a_scheduler(address: str, seconds: float) -> str | None:
    """The fix when ``address`` answers HTTP (a dashboard, a proxy), or None."""
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address, strict=False)
    if scheme not in ("tcp", "tls"):
        return None
    host, port = parse_host_port(location)
    try:
        with socket.create_connection((host, port), timeout=min(seconds, 5)) as conn:
            conn.settimeout(min(seconds, 5))
            conn.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            answer = conn.recv(16)
    except OSError:
        return None
    if not answer.startswith(b"HTTP/"):
        return None
    return (f"{address} answers HTTP: it is a web server (the Dask dashboard listens on 8787), not a Dask "
            f"scheduler. Connect to the scheduler's port instead, e.g. connect('{scheme}://{host}:8786') (the "
            "scheduler prints it as 'Scheduler at: tcp://...'); open the dashboard in a browser.")


def _require(kind: str):
    import importlib

    try:
        return importlib.import_module(_EXTRAS[kind])
    except ImportError as exc:
        raise ClusterError(f"kind {kind!r} needs the package {_EXTRAS[kind].replace('_', '-')}: "
                           f"pip install 'eoxr[{kind}]'.") from exc


def _scale(cluster, n_workers, section: str) -> None:
    """Fixed size from n_workers or eoxr.cluster.<section>.scale, else adaptive from .adapt."""
    adapt = _config(f"{section}.adapt")
    scale = _config(f"{section}.scale")
    if n_workers is not None:
        cluster.scale(n_workers)
    elif isinstance(scale, dict):
        cluster.scale(**{k.replace("-", "_"): v for k, v in scale.items()})
    elif scale is not None:
        cluster.scale(int(scale))
    elif adapt:
        cluster.adapt(**{k.replace("-", "_"): v for k, v in adapt.items()})


def _gateway(n_workers, **kw):
    dask_gateway = _require("gateway")
    address = _config("gateway.address")
    gateway = dask_gateway.Gateway(address) if address else dask_gateway.Gateway()
    options = dict(_config("gateway.options", {}) or {}, **kw)
    try:
        cluster = gateway.new_cluster(**options)
    except Exception as exc:  # noqa: BLE001 - auth, unknown option, unreachable gateway
        raise ClusterError(f"Dask Gateway at {address or 'the configured gateway.address'} refused a cluster "
                           f"with options {options} ({type(exc).__name__}: {exc}); check the address and "
                           "gateway.auth config, and the options the gateway offers "
                           "(Gateway().cluster_options()).") from exc
    _scale(cluster, n_workers, "gateway")
    return ClusterClient(cluster, owns_cluster=True)


def _kubernetes(n_workers, **kw):
    _require("kubernetes")
    from dask_kubernetes.operator import KubeCluster

    spec = _config("kubernetes.spec")
    if spec is not None and "custom_cluster_spec" not in kw:
        kw["custom_cluster_spec"] = os.path.expanduser(spec) if isinstance(spec, str) else spec
    elif "custom_cluster_spec" not in kw:
        for key in ("name", "namespace", "image", "n-workers", "resources"):
            value = _config(f"kubernetes.{key}")
            if value not in (None, {}):
                kw.setdefault(key.replace("-", "_"), value)
    try:
        cluster = KubeCluster(**kw)
    except Exception as exc:  # noqa: BLE001 - no kubeconfig, operator not installed, bad spec
        raise ClusterError(f"could not create a DaskCluster on Kubernetes ({type(exc).__name__}: {exc}); check "
                           "kubectl access, that the dask-kubernetes operator is installed in the cluster, and "
                           "the spec (deploy/kubernetes/daskcluster.yaml).") from exc
    _scale(cluster, n_workers, "kubernetes")
    return ClusterClient(cluster, owns_cluster=True)


def _slurm(n_workers, **kw):
    dask_jobqueue = _require("slurm")

    # SLURMCluster reads cores, memory, walltime, queue... from the jobqueue.slurm dask config
    # (deploy/hpc/jobqueue.yaml); keywords here override it.
    try:
        cluster = dask_jobqueue.SLURMCluster(**kw)
    except Exception as exc:  # noqa: BLE001 - missing cores/memory, bad interface
        raise ClusterError(f"could not set up a SLURM cluster ({type(exc).__name__}: {exc}); set cores, memory "
                           "and walltime in the jobqueue.slurm dask config (see deploy/hpc/jobqueue.yaml) or "
                           "pass them as keywords.") from exc
    try:
        _scale(cluster, n_workers, "slurm")
    except Exception as exc:  # noqa: BLE001 - sbatch missing or rejected the job
        cluster.close()
        raise ClusterError(f"submitting SLURM worker jobs failed ({type(exc).__name__}: {exc}); run this on a "
                           "login node where `sbatch` works, and check queue/account in jobqueue.slurm.") from exc
    return ClusterClient(cluster, owns_cluster=True)
