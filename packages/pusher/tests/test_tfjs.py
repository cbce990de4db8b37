"""The TF.js target: converter in its own locked environment, graph model run in Node.

The first run creates the environment and node_modules under $XDG_CACHE_HOME/headwater
(minutes); later runs reuse them. Without the package registries the tests skip, saying so.
"""

from __future__ import annotations

import json
import os

import pytest
from pusher_models import examples, save_classifier

from headwater.pusher import (
    ConversionError,
    Tolerance,
    ToolingError,
    convert_to_tfjs,
    converter_python,
    node_verifier,
    verify_tfjs,
)

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def tooling():
    try:
        return converter_python(), node_verifier()
    except ToolingError as exc:
        pytest.skip(f"TF.js tooling cannot be installed here (registry unreachable?): {exc}")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return save_classifier(str(tmp_path_factory.mktemp("classifier") / "model"))


def test_converted_graph_model_matches_the_saved_model_in_node(tooling, saved_model, tmp_path):
    converted = convert_to_tfjs(saved_model, str(tmp_path / "web"))
    assert converted.signature_name == "serving_raw"
    assert "model.json" in os.listdir(tmp_path / "web")
    details = json.loads((tmp_path / "web" / "conversion.json").read_text())
    assert details["format"] == "tfjs_graph_model"
    parity, _ = verify_tfjs(converted, saved_model, examples(), Tolerance())
    assert parity.passed, parity.describe()
    assert parity.examples == 16
    assert parity.max_abs_diff < 1e-5


def test_serialized_example_signature_cannot_be_converted(tooling, saved_model, tmp_path):
    with pytest.raises(
        ConversionError,
        match=r"'serving_default' cannot be converted to "
        r"TensorFlow.js: .*Unsupported Ops.*ParseExample",
    ):
        convert_to_tfjs(saved_model, str(tmp_path / "web"), signature_name="serving_default")
