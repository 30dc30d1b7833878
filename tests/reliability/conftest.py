"""Real processes that write cubes (cubeproc.py), killed or raced at known points; an S3-compatible server
(moto) on loopback for cubes on object storage."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("cubeproc.py")
WAIT_S = 60.0


class Writer:
    """One cube writer process (see cubeproc.py)."""

    def __init__(self, task: dict):
        self.task = task
        self.proc = subprocess.Popen([sys.executable, str(WORKER), json.dumps(task)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def result(self, timeout: float = WAIT_S) -> dict:
        out, err = self.proc.communicate(timeout=timeout)
        lines = out.strip().splitlines()
        assert lines, f"the writer printed nothing; stderr:\n{err}"
        return json.loads(lines[-1])

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=WAIT_S)  # reaped: its pid is gone, as after any kill

    @property
    def pid(self) -> int:
        return self.proc.pid


def wait_for(path: Path, writer: Writer | None = None, timeout: float = WAIT_S) -> None:
    """Wait until ``path`` exists (a writer's signal); fail early if the writer exits instead."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if writer is not None and writer.proc.poll() is not None:
            raise AssertionError(f"the writer exited before {path.name}: {writer.proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {path.name} after {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def start_writer():
    writers: list[Writer] = []

    def start(**task) -> Writer:
        writer = Writer(task)
        writers.append(writer)
        return writer

    yield start
    for writer in writers:
        if writer.proc.poll() is None:
            writer.kill()


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 (a free port), for the session: ``storage_options`` reaching it."""
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield {"key": "testing", "secret": "testing",
           "client_kwargs": {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"}}
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket: ``(url prefix, storage_options)``."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_server)
    bucket = f"cubes-{uuid.uuid4().hex[:12]}"
    fs.call_s3("create_bucket", Bucket=bucket)  # us-east-1: no location constraint
    yield f"s3://{bucket}", s3_server
