"""The TFLite target: conversion (raw or select-ops signature, quantization) and LiteRT parity."""

from __future__ import annotations

import json
import os

import pytest
from pusher_models import examples, save_classifier

from headwater.pusher import (
    ConversionError,
    TFLiteOptions,
    Tolerance,
    compare_outputs,
    convert_to_tflite,
    reference_outputs,
    run_tflite,
    verify_tflite,
)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return save_classifier(str(tmp_path_factory.mktemp("classifier") / "model"))


def test_raw_signature_converts_with_builtin_ops_and_matches(saved_model, tmp_path):
    converted = convert_to_tflite(saved_model, str(tmp_path / "out"))
    assert (converted.signature_name, converted.select_tf_ops) == ("serving_raw", False)
    assert sorted(os.listdir(tmp_path / "out")) == ["conversion.json", "model.tflite"]
    details = json.loads((tmp_path / "out" / "conversion.json").read_text())
    assert details["signature_name"] == "serving_raw"
    assert details["inputs"] == {
        "culmen_length_mm": ["float32", [None, 1]],
        "flipper_length_mm": ["float32", [None, 1]],
    }
    parity, _ = verify_tflite(converted, saved_model, examples(), Tolerance())
    assert parity.passed
    assert parity.examples == 16
    assert parity.max_abs_diff < 1e-5


def test_serialized_example_signature_needs_select_ops(saved_model, tmp_path):
    options = TFLiteOptions(signature_name="serving_default")
    converted = convert_to_tflite(saved_model, str(tmp_path / "out"), options)
    assert converted.select_tf_ops
    # Select ops run here because TensorFlow (which carries the Flex delegate) is loaded.
    parity, _ = verify_tflite(converted, saved_model, examples(), Tolerance())
    assert parity.passed
    without = TFLiteOptions(signature_name="serving_default", allow_select_tf_ops=False)
    with pytest.raises(
        ConversionError, match=r"'serving_default' cannot be converted.*ParseExample"
    ):
        convert_to_tflite(saved_model, str(tmp_path / "no"), without)


@pytest.mark.parametrize("quantization", ["float16", "dynamic_range"])
def test_quantized_models_stay_within_their_default_tolerance(saved_model, tmp_path, quantization):
    options = TFLiteOptions(quantization=quantization)
    converted = convert_to_tflite(saved_model, str(tmp_path / "out"), options)
    parity, _ = verify_tflite(converted, saved_model, examples(), options.parity_tolerance)
    assert parity.passed, parity.describe()
    assert converted.details["quantization"] == quantization


def test_parity_beyond_tolerance_reports_the_numbers(saved_model, tmp_path):
    convert_to_tflite(saved_model, str(tmp_path / "out"), TFLiteOptions(quantization="float16"))
    feeds, expected = reference_outputs(saved_model, "serving_raw", examples())
    actual = run_tflite(str(tmp_path / "out" / "model.tflite"), feeds)
    parity = compare_outputs(expected, actual, Tolerance(atol=0.0, rtol=0.0), what="m")
    assert not parity.passed
    assert parity.max_abs_diff > 0
    assert "beyond tolerance atol=0 rtol=0" in parity.describe()
    assert "16 examples" in parity.describe()


def test_unknown_signature_is_a_conversion_error(saved_model, tmp_path):
    with pytest.raises(ConversionError, match=r"no signature 'nope'; signatures are"):
        convert_to_tflite(saved_model, str(tmp_path / "o"), TFLiteOptions(signature_name="nope"))
