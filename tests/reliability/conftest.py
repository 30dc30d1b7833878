"""Real processes that write cubes (cubeproc.py), killed or raced at known points; an S3-compatible server
(moto) on loopback for cubes on object storage."""
from __future__ import annotations

import logging
import uuid

import pytest

from writers import Writer


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
