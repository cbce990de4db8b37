"""Fixtures of the pusher's tests: a fresh bucket per test on moto's S3 server.

The server itself (`s3_server`, on 127.0.0.1, one per session) is the root conftest's, shared
with the tests of io, data-validation and model-analysis.
"""

from __future__ import annotations

import sys
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
