"""Shared fixtures: tiny real SavedModels, built once per session."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from model_factory import build_versions


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """SavedModel directories for versions 1-5 (see model_factory)."""
    return build_versions(str(tmp_path_factory.mktemp("templates")), [1, 2, 3, 4, 5])
