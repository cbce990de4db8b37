"""Tiny real SavedModels for the model server's tests, one directory per version.

Every version serves the same four signatures; its outputs carry the version number so a test
can tell which version answered:

- serving_default (predict): x float32 [None, 2] -> y = x0 + x1 + 100 * version (float32 [None]),
  version (int64 [None]).
- double (predict): a int64 [None] -> b = 2 * a; name string [None] -> name_bytes (echo).
- classify (classify): serialized tf.Examples with x float [2] -> classes ["neg", "pos"],
  scores = x.
- regress (regress): serialized tf.Examples with x float [2] -> outputs = x0 - x1 + version.

classify/regress get TF Serving's method names by editing saved_model.pb after saving, the way
an Estimator export would have written them.
"""

from __future__ import annotations

import os
import shutil


def build_versions(root: str, versions: list[int]) -> dict[int, str]:
    """Save one SavedModel per version under root/template-<v>; returns version -> path."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    offset = tf.Variable(0.0, dtype=tf.float32)
    module = tf.Module()
    module.offset = offset
    spec = {"x": tf.io.FixedLenFeature([2], tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def predict(x):
        version = tf.cast(tf.round(offset / 100.0), tf.int64)
        return {
            "y": tf.reduce_sum(x, axis=1) + offset,
            "version": tf.fill(tf.shape(x)[:1], version),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int64, name="a"),
            tf.TensorSpec([None], tf.string, name="name"),
        ]
    )
    def double(a, name):
        return {"b": a * 2, "name_bytes": name}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        x = tf.io.parse_example(inputs, spec)["x"]
        classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(x)[0], 1])
        return {"classes": classes, "scores": x}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):
        x = tf.io.parse_example(inputs, spec)["x"]
        return {"outputs": x[:, 0] - x[:, 1] + offset / 100.0}

    signatures = {
        "serving_default": predict.get_concrete_function(),
        "double": double.get_concrete_function(),
        "classify": classify.get_concrete_function(),
        "regress": regress.get_concrete_function(),
    }
    paths = {}
    for version in versions:
        offset.assign(100.0 * version)
        path = os.path.join(root, f"template-{version}")
        tf.saved_model.save(module, path, signatures=signatures)
        pb = os.path.join(path, "saved_model.pb")
        saved = saved_model_pb2.SavedModel()
        with open(pb, "rb") as f:
            saved.ParseFromString(f.read())
        defs = saved.meta_graphs[0].signature_def
        defs["classify"].method_name = "tensorflow/serving/classify"
        defs["regress"].method_name = "tensorflow/serving/regress"
        with open(pb, "wb") as f:
            f.write(saved.SerializeToString())
        paths[version] = path
    return paths


def push(template: str, base_path: str, version: int) -> str:
    """Copy a template into base_path/<version> atomically (hidden copy, then rename)."""
    os.makedirs(base_path, exist_ok=True)
    final = os.path.join(base_path, str(version))
    staging = os.path.join(base_path, f".{version}.staging")
    shutil.copytree(template, staging)
    os.rename(staging, final)
    return final
