"""Shared fixtures: tiny real SavedModels (built once per session) and free ports."""

from __future__ import annotations

import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from model_factory import build_versions


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """SavedModel directories for versions 1-5 (see model_factory)."""
    return build_versions(str(tmp_path_factory.mktemp("templates")), [1, 2, 3, 4, 5])


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
