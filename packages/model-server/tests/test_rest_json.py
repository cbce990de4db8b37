"""TF Serving's REST JSON ⇄ numpy and the input checks, without a server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from headwater.io.model_seam import SignatureSpec, TensorSpec
from headwater.model_server import ServingError
from headwater.model_server.operations import check_inputs, classify_outputs, regress_outputs
from headwater.model_server.rest_json import (
    decode_body,
    examples_from_json,
    predict_feeds,
    predict_response,
)

TWO_INPUTS = SignatureSpec(
    name="serving_default",
    method_name="tensorflow/serving/predict",
    inputs={
        "x": TensorSpec("x", "float32", (None, 2), "DT_FLOAT"),
        "tag": TensorSpec("tag", "string", (None,), "DT_STRING"),
    },
)
ONE_INPUT = SignatureSpec(
    name="serving_default",
    method_name="tensorflow/serving/predict",
    inputs={"n": TensorSpec("n", "int64", (None,), "DT_INT64")},
)


def test_row_format_stacks_named_inputs_and_decodes_b64() -> None:
    feeds, rows = predict_feeds(
        {"instances": [{"x": [1, 2], "tag": "a"}, {"x": [3, 4], "tag": {"b64": "AP8="}}]},
        TWO_INPUTS,
    )
    assert rows is True
    assert feeds["x"].tolist() == [[1, 2], [3, 4]]
    assert feeds["tag"].tolist() == [b"a", b"\x00\xff"]
    checked = check_inputs(TWO_INPUTS, feeds)
    assert checked["x"].dtype == np.float32


def test_columnar_format_for_one_and_several_inputs() -> None:
    feeds, rows = predict_feeds({"inputs": [5, 6]}, ONE_INPUT)
    assert (rows, feeds["n"].tolist()) == (False, [5, 6])
    feeds, _ = predict_feeds({"inputs": {"x": [[1, 2]], "tag": ["q"]}}, TWO_INPUTS)
    assert feeds["tag"].tolist() == [b"q"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"instances": [1, {"n": 2}]}, "mix objects of named inputs and bare values"),
        ({"instances": []}, "non-empty list"),
        ({"instances": [1], "inputs": [1]}, "only one of 'inputs' or 'instances'"),
        ({"inputs": [1.5]}, "expects integers (int64), got fractional numbers"),
        ({"inputs": [2**63]}, "out of range for int64"),
        ({"inputs": [{"b64": "***"}]}, "expected a rectangular list of numbers, got objects"),
    ],
)
def test_bad_predict_bodies_name_the_problem(body: dict, fragment: str) -> None:
    with pytest.raises(ServingError) as caught:
        check_inputs(ONE_INPUT, predict_feeds(body, ONE_INPUT)[0])
    assert caught.value.code == "INVALID_ARGUMENT"
    assert fragment in caught.value.message


def test_bad_b64_and_ragged_strings_are_invalid() -> None:
    with pytest.raises(ServingError, match="Unable to base64 decode"):
        predict_feeds({"instances": [{"x": [1, 2], "tag": {"b64": "***"}}]}, TWO_INPUTS)
    with pytest.raises(ServingError, match="rectangular"):
        predict_feeds({"inputs": {"x": [[1, 2]], "tag": [["a"], ["b", "c"]]}}, TWO_INPUTS)


def test_decode_body_reports_the_offset() -> None:
    with pytest.raises(ServingError, match=r"JSON Parse error: .* at offset: 11"):
        decode_body(b'{"inputs": }')


def test_responses_in_both_formats() -> None:
    outputs = {
        "scores": np.array([[0.5, 0.25], [1.0, 0.0]], dtype=np.float32),
        "id_bytes": np.array([b"\x00", b"b"], dtype=object),
        "label": np.array([b"cat", b"\xff"], dtype=object),
    }
    assert predict_response(outputs, True) == {
        "predictions": [
            {"scores": [0.5, 0.25], "id_bytes": {"b64": "AA=="}, "label": "cat"},
            {"scores": [1.0, 0.0], "id_bytes": {"b64": "Yg=="}, "label": {"b64": "/w=="}},
        ]
    }
    assert predict_response({"y": np.array([1.5, math.inf])}, False) == {"outputs": [1.5, math.inf]}
    with pytest.raises(ServingError, match="different batch sizes"):
        predict_response({"a": np.zeros(2), "b": np.zeros(3)}, True)


def test_examples_merge_context_and_infer_feature_kinds() -> None:
    from tensorflow.core.example import example_pb2

    (record,) = examples_from_json(
        {
            "context": {"city": "x", "n": 1},
            "examples": [{"n": [2, 3], "f": 1.5, "b": {"b64": "AA=="}}],
        }
    )
    example = example_pb2.Example.FromString(record)
    features = example.features.feature
    assert list(features["city"].bytes_list.value) == [b"x"]
    assert list(features["n"].int64_list.value) == [2, 3]  # the example's own value wins
    assert list(features["f"].float_list.value) == [1.5]
    assert list(features["b"].bytes_list.value) == [b"\x00"]
    with pytest.raises(ServingError, match="one kind per feature"):
        examples_from_json({"examples": [{"n": [1, "a"]}]})


def test_classify_and_regress_outputs() -> None:
    spec = SignatureSpec(name="c", method_name="tensorflow/serving/classify")
    result = classify_outputs(
        spec,
        {"classes": np.array([[b"a", b"b"]], dtype=object), "scores": np.array([[0.75, 0.25]])},
        1,
    )
    assert result.classes == [[(b"a", 0.75), (b"b", 0.25)]]
    assert classify_outputs(spec, {"probs": np.array([[0.5, 0.5]])}, 1).classes == [
        [(b"", 0.5), (b"", 0.5)]
    ]
    assert regress_outputs(spec, {"outputs": np.array([[1.5], [2.0]])}, 2) == [1.5, 2.0]
    with pytest.raises(ServingError, match=r"Expected output tensor of shape \[batch_size\]"):
        regress_outputs(spec, {"outputs": np.zeros((2, 3))}, 2)
