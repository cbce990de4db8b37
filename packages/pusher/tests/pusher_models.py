"""A small Keras classifier saved with the Trainer's two signatures, and examples for it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

FEATURES = ("culmen_length_mm", "flipper_length_mm")


def save_classifier(path: str) -> str:
    """Save a seeded 2-feature, 3-class softmax model with serving_default and serving_raw."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(7)
    inputs = {k: keras.Input(shape=(1,), name=k, dtype="float32") for k in FEATURES}
    x = keras.layers.Concatenate()(list(inputs.values()))
    x = keras.layers.Dense(8, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    spec = {k: tf.io.FixedLenFeature([1], tf.float32) for k in FEATURES}

    @tf.function
    def serve_examples(examples):
        return {"output_0": model(tf.io.parse_example(examples, spec))}

    @tf.function
    def serve_raw(features):
        return {"output_0": model(features)}

    signatures = {
        "serving_default": serve_examples.get_concrete_function(
            tf.TensorSpec([None], tf.string, name="examples")
        ),
        "serving_raw": serve_raw.get_concrete_function(
            {k: tf.TensorSpec([None, 1], tf.float32, name=k) for k in FEATURES}
        ),
    }
    tf.saved_model.save(model, path, signatures=signatures)
    return path


def examples(rows: int = 16) -> pa.RecordBatch:
    """Deterministic feature values in the penguins' ranges."""
    rng = np.random.default_rng(3)
    return pa.record_batch(
        {
            "culmen_length_mm": rng.uniform(0.3, 0.6, rows).astype(np.float32),
            "flipper_length_mm": rng.uniform(0.2, 0.9, rows).astype(np.float32),
        }
    )
