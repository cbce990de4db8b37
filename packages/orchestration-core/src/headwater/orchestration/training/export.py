"""Save a trained Keras model as a serving SavedModel with TFX's signatures.

`serving_default` takes a batch of serialized tf.Example (`examples`), parses the raw
features, applies the transform graph when there is one, and runs the model, so a
request needs only raw data. `serving_raw` takes the same raw features as named tensors
(one per feature, shape `[batch, *shape]`). Both run the same graph, so they agree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.orchestration.training.feature_spec import drop_label, schema_as_feature_spec

logger = logging.getLogger(__name__)

SERVING_DEFAULT = "serving_default"
"""Signature over serialized tf.Example: input `examples`, a string vector."""
SERVING_RAW = "serving_raw"
"""Signature over raw named features, one input per feature."""


def raw_feature_spec(
    model: Any,
    *,
    transform_output: Any = None,
    schema: schema_pb2.Schema | None = None,
    label_key: str | None = None,
) -> dict[str, Any]:
    """Raw features of a request: the transform's raw spec, the schema's, or the inputs."""
    import tensorflow as tf

    if transform_output is not None:
        spec = dict(transform_output.raw_feature_spec())
    elif schema is not None:
        spec = schema_as_feature_spec(schema)
    else:
        spec = {
            t.name: tf.io.FixedLenFeature(list(t.shape[1:]), tf.as_dtype(t.dtype))
            for t in model.inputs
        }
    return drop_label(spec, label_key)


def make_serving_signatures(
    model: Any,
    transform_output: Any = None,
    *,
    schema: schema_pb2.Schema | None = None,
    label_key: str | None = None,
) -> dict[str, Any]:
    """`serving_default` (serialized tf.Example) and `serving_raw` (named raw features)."""
    import tensorflow as tf

    spec = raw_feature_spec(
        model, transform_output=transform_output, schema=schema, label_key=label_key
    )
    transform = None
    if transform_output is not None:
        transform = transform_output.transform_features_layer()
        model.tft_layer = transform  # tracked, so the SavedModel holds the transform graph
    input_dtypes = _input_dtypes(model)

    def predict(features: Mapping[str, Any]) -> Any:
        if transform is not None:
            features = transform(dict(features))
        if input_dtypes is not None:  # the model's inputs only, in the dtypes it declares
            features = {
                name: tf.cast(features[name], dtype) for name, dtype in input_dtypes.items()
            }
        return model(features)

    @tf.function
    def serve_examples(examples: Any) -> Any:
        return predict(tf.io.parse_example(examples, spec))

    signatures = {
        SERVING_DEFAULT: serve_examples.get_concrete_function(
            tf.TensorSpec([None], tf.string, name="examples")
        )
    }
    dense = {name: f for name, f in spec.items() if isinstance(f, tf.io.FixedLenFeature)}
    if len(dense) == len(spec):

        @tf.function
        def serve_raw(features: Any) -> Any:
            return predict(features)

        signatures[SERVING_RAW] = serve_raw.get_concrete_function(
            {name: tf.TensorSpec([None, *f.shape], f.dtype, name=name) for name, f in dense.items()}
        )
    else:
        logger.warning(
            "no %s signature: features %s are variable-length",
            SERVING_RAW,
            sorted(set(spec) - set(dense)),
        )
    return signatures


def export_serving_model(
    model: Any,
    serving_model_dir: str | os.PathLike[str],
    transform_output: Any = None,
    *,
    schema: schema_pb2.Schema | None = None,
    label_key: str | None = None,
) -> str:
    """Save `model` as a SavedModel with both serving signatures; returns the directory."""
    import tensorflow as tf

    path = os.fspath(serving_model_dir)
    signatures = make_serving_signatures(
        model, transform_output, schema=schema, label_key=label_key
    )
    tf.saved_model.save(model, path, signatures=signatures)
    logger.info("saved model with signatures %s to %s", sorted(signatures), path)
    return path


def _input_dtypes(model: Any) -> dict[str, Any] | None:
    """Name → dtype of a functional model's inputs (None for a subclassed model: pass all)."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs:
        return None
    return {t.name: t.dtype for t in inputs}
