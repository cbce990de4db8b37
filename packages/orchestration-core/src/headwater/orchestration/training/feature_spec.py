"""Parsing specs (`tf.io.FixedLenFeature` / `VarLenFeature`) from a schema, as TFX derives them.

A schema feature with a `shape` parses to a dense tensor of that shape per example; a
feature without one parses to a `tf.SparseTensor` (TFX's rule). Without a schema the spec
is inferred from the data: a feature with exactly one value in every sampled example is
dense `[1]`, any other is sparse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.io import InputError

_DISABLED_STAGES = frozenset(
    {
        schema_pb2.LifecycleStage.DEPRECATED,
        schema_pb2.LifecycleStage.DISABLED,
        schema_pb2.LifecycleStage.PLANNED,
        schema_pb2.LifecycleStage.ALPHA,
        schema_pb2.LifecycleStage.DEBUG_ONLY,
    }
)


def load_schema(path: str | os.PathLike[str]) -> schema_pb2.Schema:
    """Read a `schema.pbtxt` (a file, or a Schema artifact directory holding one)."""
    from google.protobuf import text_format

    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "schema.pbtxt")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"schema file {path!r} does not exist") from exc
    try:
        return text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as exc:
        raise InputError(f"{path}: not a text-format tensorflow_metadata Schema: {exc}") from exc


def schema_as_feature_spec(schema: schema_pb2.Schema) -> dict[str, Any]:
    """`tf.io.parse_example` spec of `schema`: dense where a shape is set, sparse elsewhere."""
    import tensorflow as tf

    dtypes = {
        schema_pb2.FeatureType.INT: tf.int64,
        schema_pb2.FeatureType.FLOAT: tf.float32,
        schema_pb2.FeatureType.BYTES: tf.string,
    }
    spec: dict[str, Any] = {}
    for feature in schema.feature:
        if feature.lifecycle_stage in _DISABLED_STAGES or feature.deprecated:
            continue
        if feature.type not in dtypes:
            raise InputError(
                f"schema feature {feature.name!r}: type {feature.type} cannot be parsed "
                "(expected INT, FLOAT or BYTES)"
            )
        dtype = dtypes[feature.type]
        if feature.HasField("shape"):
            spec[feature.name] = tf.io.FixedLenFeature([d.size for d in feature.shape.dim], dtype)
        else:
            spec[feature.name] = tf.io.VarLenFeature(dtype)
    return spec


def arrow_type_as_dtype(field: pa.Field) -> Any:
    """The tf.Example dtype (int64, float32 or string) that holds values of an Arrow field."""
    import tensorflow as tf

    value_type = field.type
    while pa.types.is_list(value_type) or pa.types.is_large_list(value_type):
        value_type = value_type.value_type
    if pa.types.is_integer(value_type) or pa.types.is_boolean(value_type):
        return tf.int64
    if pa.types.is_floating(value_type):
        return tf.float32
    if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
        return tf.string
    if pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type):
        return tf.string
    raise InputError(
        f"column {field.name!r}: Arrow type {field.type} has no tf.Example equivalent "
        "(expected integers, floats, strings or lists of them)"
    )


def infer_feature_spec(batches: Sequence[pa.RecordBatch]) -> dict[str, Any]:
    """Spec inferred from sample batches: one value in every row → dense `[1]`, else sparse."""
    import tensorflow as tf

    if not batches:
        raise InputError("cannot infer a feature spec from no examples; pass a schema")
    spec: dict[str, Any] = {}
    for field in batches[0].schema:
        dtype = arrow_type_as_dtype(field)
        univalent = all(_is_univalent(b.column(field.name)) for b in batches)
        spec[field.name] = (
            tf.io.FixedLenFeature([1], dtype) if univalent else tf.io.VarLenFeature(dtype)
        )
    return spec


def _is_univalent(column: pa.Array) -> bool:
    """True when every row holds exactly one value (no nulls, no lists of other lengths)."""
    import pyarrow.compute as pc

    if column.null_count:
        return False
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = pc.list_value_length(column)
        return bool(pc.all(pc.equal(lengths, 1)).as_py())
    return True


def drop_label(spec: Mapping[str, Any], label_key: str | None) -> dict[str, Any]:
    """A copy of `spec` without the label feature (what a serving request carries)."""
    return {name: feature for name, feature in spec.items() if name != label_key}
