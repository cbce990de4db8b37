"""Tiny real SavedModels and examples for the infra validator's tests.

The canary model serves six signatures over the features x1, x2 (float) and name (string):

- serving_default (predict, serialized tf.Examples): score = 2 * x1 + x2 (float32 [None]),
  positive = x1 > 0 (int64 [None]).
- raw (predict, raw features x1, x2 float32 [None]): score.
- classify (classify): classes ["neg", "pos"], scores [-x1, x1].
- regress (regress): outputs = x1 - x2.
- needs_age (predict, serialized): parses a required feature `age` the examples lack, so the
  server rejects every request.
- nan (predict, raw x1): score = x1 * NaN.

classify/regress get TF Serving's method names by editing saved_model.pb after saving, as an
Estimator export would have written them.
"""

from __future__ import annotations

import os

import pyarrow as pa

X1 = [0.5, -1.0, 2.0, 3.5, -0.25, 1.0, 0.0, 4.0]
X2 = [1.0, 2.0, -3.0, 0.5, 0.75, -1.5, 2.5, 1.0]


def canary_examples() -> pa.RecordBatch:
    """Eight examples with x1, x2 (float32) and name (string)."""
    return pa.RecordBatch.from_pydict(
        {
            "x1": pa.array(X1, pa.float32()),
            "x2": pa.array(X2, pa.float32()),
            "name": pa.array([f"row{i}" for i in range(len(X1))], pa.string()),
        }
    )


def save_canary_model(path: str) -> str:
    """Save the canary model (see the module doc) at `path`."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    spec = {
        "x1": tf.io.FixedLenFeature([], tf.float32),
        "x2": tf.io.FixedLenFeature([], tf.float32),
    }

    def score(x1, x2):  # type: ignore[no-untyped-def]
        return 2.0 * x1 + x2

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serving_default(examples):  # type: ignore[no-untyped-def]
        f = tf.io.parse_example(examples, spec)
        return {
            "score": score(f["x1"], f["x2"]),
            "positive": tf.cast(f["x1"] > 0, tf.int64),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="x1"),
            tf.TensorSpec([None], tf.float32, name="x2"),
        ]
    )
    def raw(x1, x2):  # type: ignore[no-untyped-def]
        return {"score": score(x1, x2)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):  # type: ignore[no-untyped-def]
        x1 = tf.io.parse_example(inputs, spec)["x1"]
        classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(x1)[0], 1])
        return {"classes": classes, "scores": tf.stack([-x1, x1], axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):  # type: ignore[no-untyped-def]
        f = tf.io.parse_example(inputs, spec)
        return {"outputs": f["x1"] - f["x2"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def needs_age(examples):  # type: ignore[no-untyped-def]
        age = tf.io.parse_example(examples, {"age": tf.io.FixedLenFeature([], tf.int64)})["age"]
        return {"age": age}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x1")])
    def nan(x1):  # type: ignore[no-untyped-def]
        return {"score": x1 * float("nan")}

    signatures = {
        "serving_default": serving_default.get_concrete_function(),
        "raw": raw.get_concrete_function(),
        "classify": classify.get_concrete_function(),
        "regress": regress.get_concrete_function(),
        "needs_age": needs_age.get_concrete_function(),
        "nan": nan.get_concrete_function(),
    }
    tf.saved_model.save(tf.Module(), path, signatures=signatures)
    pb = os.path.join(path, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        saved.ParseFromString(f.read())
    defs = saved.meta_graphs[0].signature_def
    defs["classify"].method_name = "tensorflow/serving/classify"
    defs["regress"].method_name = "tensorflow/serving/regress"
    with open(pb, "wb") as f:
        f.write(saved.SerializeToString())
    return path


def save_corrupt_model(path: str) -> str:
    """A complete-looking SavedModel directory whose files are garbage."""
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    for name in (
        "saved_model.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
    ):
        with open(os.path.join(path, name), "wb") as f:
            f.write(b"\x08\x01this is not a SavedModel protocol buffer\xff\xfe")
    return path
