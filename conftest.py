"""Settings shared by every package's tests.

`tools/check` (and so CI) sets HYPOTHESIS_PROFILE=ci: the same examples on every run, so a
landing is never decided by a lucky draw. A plain `pytest` explores new examples each run.
Also the fixtures of a real S3-compatible server on loopback (`s3_server`, `s3_bucket`).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# moto's S3 server, shared by the tests of io, data-validation, model-analysis, pusher and the
# cross-package tests (each package's test group lists moto[server] where it uses them).


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free loopback port, in its own process for the session: its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"moto server exited ({proc.returncode}); moto[server] installed?")
                if time.monotonic() > deadline:
                    pytest.fail("moto server did not start within 60 s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on `s3_server`, and AWS_* variables that point every S3 client at it (fsspec's
    s3fs, boto3, Beam's S3 filesystem) with fake keys: the bucket's name."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    name = f"test-{uuid.uuid4().hex[:12]}"
    # moto's server takes unsigned requests: creating the bucket needs no S3 client.
    request = urllib.request.Request(f"{s3_server}/{name}", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status
    return name
