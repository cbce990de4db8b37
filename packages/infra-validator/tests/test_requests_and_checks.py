"""Canary requests built from examples and signatures, and the checks of their answers, without
a server: one request per example per signature, TF Serving's REST bodies, exact reasons."""

from __future__ import annotations

import base64
import json

import numpy as np
import pyarrow as pa
import pytest

import headwater.io as hio
from headwater.infra_validator import (
    RequestBuildError,
    build_requests,
    check_answer,
    signatures_from_metadata,
    take_examples,
)
from headwater.io import CLASSIFY_METHOD, PREDICT_METHOD, SignatureSpec, TensorSpec

# TF Serving's REST metadata of a model with one predict and one classify signature.
METADATA = {
    "signature_def": {
        "serving_default": {
            "method_name": "tensorflow/serving/predict",
            "inputs": {
                "x1": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}]}},
                "x2": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}]}},
            },
            "outputs": {
                "score": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}]}},
                "probs": {
                    "dtype": "DT_FLOAT",
                    "tensor_shape": {"dim": [{"size": "-1"}, {"size": "3"}]},
                },
            },
        },
        "examples": {
            "method_name": "tensorflow/serving/predict",
            "inputs": {
                "examples": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}}
            },
            "outputs": {"any": {"dtype": "DT_INT64", "tensor_shape": {"unknown_rank": True}}},
        },
        "classify": {
            "method_name": "tensorflow/serving/classify",
            "inputs": {"inputs": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}}},
            "outputs": {},
        },
        "__saved_model_init_op": {"outputs": {}},
    }
}


def rows() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "x1": pa.array([0.5, -1.0, 2.0], pa.float32()),
            "x2": pa.array([1.0, 2.0, -3.0], pa.float32()),
            "name": pa.array(["a", "b", None]),
        }
    )


def test_metadata_becomes_the_seams_signature_specs() -> None:
    signatures = signatures_from_metadata(METADATA)
    assert sorted(signatures) == ["classify", "examples", "serving_default"]
    default = signatures["serving_default"]
    assert default.method_name == PREDICT_METHOD
    assert default.inputs["x1"] == TensorSpec("x1", "float32", (None,), "DT_FLOAT")
    assert default.outputs["probs"] == TensorSpec("probs", "float32", (None, 3), "DT_FLOAT")
    assert signatures["examples"].takes_serialized_examples
    assert signatures["examples"].outputs["any"].shape is None
    assert signatures["classify"].method_name == CLASSIFY_METHOD


def test_one_request_per_example_per_signature_in_tf_servings_formats() -> None:
    signatures = signatures_from_metadata(METADATA)
    batch = rows()
    requests = build_requests(signatures, ["serving_default", "examples", "classify"], batch)
    assert [(r.signature_name, r.kind, r.example_index) for r in requests] == [
        ("serving_default", "predict", 0),
        ("serving_default", "predict", 1),
        ("serving_default", "predict", 2),
        ("examples", "predict", 0),
        ("examples", "predict", 1),
        ("examples", "predict", 2),
        ("classify", "classify", 0),
        ("classify", "classify", 1),
        ("classify", "classify", 2),
    ]
    raw = requests[1]
    assert raw.inputs["x1"].dtype == np.float32
    assert raw.rest_body() == {
        "signature_name": "serving_default",
        "inputs": {"x1": [-1.0], "x2": [2.0]},
    }
    encoded = hio.encode_examples(batch)
    serialized = requests[4]
    assert serialized.inputs["examples"].tolist() == [encoded[1]]
    assert serialized.rest_body()["inputs"]["examples"] == [
        {"b64": base64.b64encode(encoded[1]).decode()}
    ]
    classify = requests[8]
    assert classify.examples == (encoded[2],)
    assert classify.rest_body() == {
        "signature_name": "classify",
        "examples": [{"x1": 2.0, "x2": -3.0}],  # the missing name is left out
    }
    assert json.loads(classify.describe().split(": ", 1)[1]) == classify.rest_body()


def test_requests_that_cannot_be_built_say_why() -> None:
    signatures = signatures_from_metadata(METADATA)
    with pytest.raises(
        RequestBuildError,
        match=r"no signature 'predict' \(its signatures: classify, examples, serving_default\)",
    ):
        build_requests(signatures, ["predict"], rows())
    with pytest.raises(RequestBuildError, match=r"example 0: .*'x2' is not a column"):
        build_requests(signatures, ["serving_default"], rows().drop_columns(["x2"]))
    with pytest.raises(RequestBuildError, match="no examples"):
        take_examples([], 3)


def test_examples_come_from_arrow_tfrecord_and_parquet(tmp_path) -> None:  # type: ignore[no-untyped-def]
    batch = rows()
    hio.write_tfrecord([batch], str(tmp_path / "tfr" / "data"), num_shards=1)
    hio.write_parquet([batch], str(tmp_path / "pq" / "data"), num_shards=1)
    for source in (
        batch,
        pa.Table.from_batches([batch]),
        iter([batch.slice(0, 1), batch.slice(1)]),
    ):
        assert take_examples(source, 2).to_pydict() == batch.slice(0, 2).to_pydict()
    assert take_examples(str(tmp_path / "tfr"), 2).column("x1").to_pylist() == [0.5, -1.0]
    assert take_examples(str(tmp_path / "pq"), 5).num_rows == 3


def predict_request() -> tuple:  # type: ignore[type-arg]
    signature = signatures_from_metadata(METADATA)["serving_default"]
    (request,) = build_requests(
        {"serving_default": signature}, ["serving_default"], rows().slice(0, 1)
    )
    return signature, request


def test_a_right_answer_passes_and_each_wrong_one_is_named() -> None:
    signature, request = predict_request()
    good = {"score": np.array([2.0], np.float32), "probs": np.array([[0.2, 0.3, 0.5]], np.float32)}
    assert check_answer(request, signature, good) is None
    assert check_answer(request, signature, {"score": good["score"]}) == (
        "output 'probs' is missing from the answer (it has ['score'])"
    )
    wrong_dtype = {**good, "score": np.array([2.0], np.float64)}
    assert check_answer(request, signature, wrong_dtype) == (
        "output 'score': dtype float64, the signature declares float32 (DT_FLOAT)"
    )
    wrong_shape = {**good, "probs": np.array([[0.2, 0.8]], np.float32)}
    assert check_answer(request, signature, wrong_shape) == (
        "output 'probs': shape (1, 2), the signature declares (None, 3) for 1 example(s)"
    )
    wrong_batch = {**good, "score": np.array([1.0, 2.0], np.float32)}
    assert "shape (2,)" in str(check_answer(request, signature, wrong_batch))
    with_nan = {**good, "probs": np.array([[0.2, np.nan, np.nan]], np.float32)}
    assert check_answer(request, signature, with_nan) == (
        "output 'probs': NaN in the answer (first at index (0, 1), 2 in all)"
    )


def test_json_answers_are_checked_by_kind() -> None:
    signature, request = predict_request()
    json_like = {"score": np.array([2]), "probs": np.array([[0, 0.5, 0.5]])}  # ints for floats
    assert check_answer(request, signature, json_like, exact_dtypes=False) is None
    strings = {**json_like, "score": np.array(["2.0"], dtype=object)}
    assert check_answer(request, signature, strings, exact_dtypes=False) == (
        "output 'score': values of kind object, the signature declares float32"
    )
    lone = SignatureSpec("s", PREDICT_METHOD, {}, {"y": TensorSpec("y", "float32", (None,))})
    assert check_answer(request, lone, {"": np.array([1.0])}, exact_dtypes=False) is None
