"""Fixtures of the pusher's tests: moto's S3 server on loopback, a fresh bucket per test."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from headwater.pusher import Destination

sys.path.insert(0, str(Path(__file__).parent))  # pusher_models, shared by the test modules


def s3_options(endpoint: str) -> dict:
    """fsspec/s3fs options for the test server: fake keys, quick failure when unreachable."""
    return {
        "key": "testing",
        "secret": "testing",
        "endpoint_url": endpoint,
        "client_kwargs": {"region_name": "eu-west-1"},
        "config_kwargs": {"connect_timeout": 2, "retries": {"max_attempts": 1}},
        "skip_instance_cache": True,
    }


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free loopback port, in its own process for the session."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert proc.poll() is None, "moto server exited"
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("moto server did not start within 60 s")
    yield endpoint
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def bucket(s3_server):
    """A fresh bucket; returns (Destination factory, s3fs filesystem)."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options(s3_server))
    name = f"models-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)

    def destination(prefix: str = "penguin") -> Destination:
        return Destination(url=f"s3://{name}/{prefix}", storage_options=s3_options(s3_server))

    return destination, fs, name
