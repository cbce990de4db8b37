"""Shared fixtures: the canary SavedModels (built once per session) and their examples."""

from __future__ import annotations

import os
import sys

import pyarrow as pa
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from canary_models import canary_examples, save_canary_model, save_corrupt_model


@pytest.fixture(scope="session")
def canary_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The canary SavedModel (six signatures, see canary_models)."""
    return save_canary_model(str(tmp_path_factory.mktemp("canary") / "model"))


@pytest.fixture(scope="session")
def corrupt_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SavedModel directory whose saved_model.pb is garbage."""
    return save_corrupt_model(str(tmp_path_factory.mktemp("corrupt") / "model"))


@pytest.fixture(scope="session")
def examples() -> pa.RecordBatch:
    """Eight examples with x1, x2, name."""
    return canary_examples()
