"""eoxr.cluster.connect to addresses where no scheduler answers: a dashboard's web server, a server that never
answers, a worker, nonsense. Each ends within its timeout with a ClusterError that names the fix."""
from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from servers import silent_server

from eoxr import cluster
from eoxr.errors import ClusterError

TIMEOUT_S = 2


def _connect_fails(address: str) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(ClusterError) as err:
        cluster.connect(address, timeout=f"{TIMEOUT_S}s")
    return str(err.value), time.monotonic() - start


@pytest.fixture(scope="module")
def local_cluster():
    """A real scheduler with one in-process worker and its web server (the dashboard port)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                      dashboard_address="127.0.0.1:0", host="127.0.0.1") as running:
        yield running


def test_dashboard_port_is_named_as_a_web_server(local_cluster):
    port = urlparse(local_cluster.dashboard_link).port
    message, took = _connect_fails(f"tcp://127.0.0.1:{port}")
    assert took < 10 * TIMEOUT_S, took
    assert "answers HTTP" in message and "not a Dask scheduler" in message and "8786" in message


def test_worker_address_is_named_as_a_worker(local_cluster):
    worker = next(iter(local_cluster.scheduler_info["workers"]))
    message, took = _connect_fails(worker)
    assert took < 10 * TIMEOUT_S, took
    assert f"{worker} is a Dask Worker, not a scheduler" in message


def test_silent_server_fails_within_the_timeout():
    with silent_server() as url:
        address = url.replace("http://", "tcp://")
        message, took = _connect_fails(address)
    assert took < 10 * TIMEOUT_S, took
    assert f"no Dask scheduler answered at {address}" in message and "dask scheduler" in message


@pytest.mark.parametrize("address", ["nonsense-address", "tcp://host-without-port", "tcp://[::1"])
def test_nonsense_address_names_kinds_and_form(address):
    message, took = _connect_fails(address)
    assert took < 1, took
    assert repr(address) in message and "'tcp://10.0.0.5:8786'" in message and "'local'" in message
