"""Small real SavedModels with known weights for the bulk-inferrer tests (and the e2e test).

`save_predict_model`: tf.saved_model.save with `serving_default` (serialized tf.Example ->
probability [n], logits [n, 2], label [n] string), `raw` (x1, x2 float32 -> probability) and
`sqrt` (serialized -> sqrt(x1), NaN for negative x1).
`save_heads_model`: a TF1-style export with `classify` (classes, scores) and `regress`
(outputs) over serialized tf.Examples, as Estimators write them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

W1, W2, B = 1.5, -0.75, 0.1


def logit(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """The models' logit, in float64."""
    return W1 * x1.astype(np.float64) + W2 * x2.astype(np.float64) + B


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _features():
    import tensorflow as tf

    return {
        "x1": tf.io.FixedLenFeature([], tf.float32),
        "x2": tf.io.FixedLenFeature([], tf.float32),
    }


def save_predict_model(path: Path | str) -> None:
    """Predict signatures over serialized tf.Examples and over raw features."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([W1, W2])
            self.b = tf.Variable(B)

        def _logit(self, x1, x2):
            return x1 * self.w[0] + x2 * self.w[1] + self.b

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, examples):
            f = tf.io.parse_example(examples, _features())
            z = self._logit(f["x1"], f["x2"])
            return {
                "probability": tf.sigmoid(z),
                "logits": tf.stack([-z, z], axis=1),
                "label": tf.where(z > 0, tf.constant(b"yes"), tf.constant(b"no")),
            }

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="x1"),
                tf.TensorSpec([None], tf.float32, name="x2"),
            ]
        )
        def raw(self, x1, x2):
            return {"probability": tf.sigmoid(self._logit(x1, x2))}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def sqrt(self, examples):
            return {"root": tf.sqrt(tf.io.parse_example(examples, _features())["x1"])}

    model = Model()
    tf.saved_model.save(
        model,
        str(path),
        signatures={"serving_default": model.serve, "raw": model.raw, "sqrt": model.sqrt},
    )


def save_heads_model(path: Path | str) -> None:
    """A TF1-style multi-head export: classify and regress over serialized tf.Examples."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        examples = v1.placeholder(tf.string, [None], name="tf_example")
        features = tf.io.parse_example(examples, _features())
        w = v1.get_variable("w", initializer=tf.constant([W1, W2], tf.float32))
        b = v1.get_variable("b", initializer=tf.constant(B, tf.float32))
        z = features["x1"] * w[0] + features["x2"] * w[1] + b
        p = tf.sigmoid(z)
        scores = tf.stack([1.0 - p, p], axis=1)
        classes = tf.tile(tf.constant([[b"no", b"yes"]]), [tf.shape(examples)[0], 1])
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(path))
        signatures = v1.saved_model.signature_def_utils
        builder.add_meta_graph_and_variables(
            session,
            ["serve"],
            signature_def_map={
                "classify": signatures.classification_signature_def(examples, classes, scores),
                "regress": signatures.regression_signature_def(examples, tf.reshape(z, [-1, 1])),
            },
        )
        builder.save()
