"""`TransformOutput`: read what an analysis wrote (TFTransformOutput's role and names)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.transform.errors import FeatureSpecError
from headwater.transform.features import DatasetMetadata, feature_spec
from headwater.transform.saved_transform import (
    RAW_METADATA_DIR,
    SIGNATURE,
    TRANSFORM_FN_DIR,
    TRANSFORMED_METADATA_DIR,
)


def _read_schema(directory: str) -> schema_pb2.Schema:
    path = os.path.join(directory, "schema.pbtxt")
    try:
        with open(path) as f:
            return text_format.Parse(f.read(), schema_pb2.Schema())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"no schema at {path}: is this a transform output?") from exc


class TransformOutput:
    """A transform output directory: saved graph, schemas, vocabularies.

    Example:
        tft_output = TransformOutput("/pipeline/Transform/transform_graph/5")
        transformed = tft_output.transform_raw_features({"fare": tf.constant([[3.0]])})
    """

    TRANSFORM_FN_DIR = TRANSFORM_FN_DIR
    TRANSFORMED_METADATA_DIR = TRANSFORMED_METADATA_DIR
    RAW_METADATA_DIR = RAW_METADATA_DIR

    def __init__(self, transform_output_dir: str) -> None:
        self._dir = os.fspath(transform_output_dir)
        if not os.path.isdir(self.transform_savedmodel_dir):
            raise FileNotFoundError(
                f"{self._dir} has no {TRANSFORM_FN_DIR}/ directory: not a transform output"
            )

    @property
    def transform_output_dir(self) -> str:
        return self._dir

    @property
    def transform_savedmodel_dir(self) -> str:
        return os.path.join(self._dir, TRANSFORM_FN_DIR)

    @cached_property
    def raw_schema(self) -> schema_pb2.Schema:
        return _read_schema(os.path.join(self._dir, RAW_METADATA_DIR))

    @cached_property
    def transformed_schema(self) -> schema_pb2.Schema:
        return _read_schema(os.path.join(self._dir, TRANSFORMED_METADATA_DIR))

    @property
    def raw_metadata(self) -> DatasetMetadata:
        """The raw data's DatasetMetadata (`.schema`), as TFT's TFTransformOutput has it."""
        return DatasetMetadata(self.raw_schema)

    @property
    def transformed_metadata(self) -> DatasetMetadata:
        """The transformed data's DatasetMetadata: `tft_output.transformed_metadata.schema`."""
        return DatasetMetadata(self.transformed_schema)

    def raw_feature_spec(self) -> dict[str, Any]:
        """The TF feature spec of the raw data (for tf.io.parse_example)."""
        return feature_spec(self.raw_schema)

    def transformed_feature_spec(self) -> dict[str, Any]:
        """The TF feature spec of the transformed data."""
        return feature_spec(self.transformed_schema)

    def num_buckets_for_transformed_feature(self, name: str) -> int:
        """Number of buckets (int_domain.max + 1) of a vocabulary or bucketized output."""
        for f in self.transformed_schema.feature:
            if f.name == name:
                if not f.HasField("int_domain"):
                    raise ValueError(f"transformed feature {name!r} has no integer domain")
                return int(f.int_domain.max) + 1
        raise KeyError(f"no transformed feature {name!r}")

    def vocabulary_file_by_name(self, vocab_filename: str) -> str:
        """The path of a vocabulary written by the analysis, by its name."""
        asset_map_path = os.path.join(self._dir, TRANSFORMED_METADATA_DIR, "asset_map")
        name = vocab_filename
        if os.path.exists(asset_map_path):
            with open(asset_map_path) as f:
                name = json.load(f).get(vocab_filename, vocab_filename)
        path = os.path.join(self.transform_savedmodel_dir, "assets", name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no vocabulary named {vocab_filename!r} at {path}")
        return path

    def vocabulary_by_name(self, vocab_filename: str) -> list[bytes]:
        """The tokens of a vocabulary, most frequent first."""
        with open(self.vocabulary_file_by_name(vocab_filename), "rb") as f:
            return f.read().splitlines()

    def vocabulary_size_by_name(self, vocab_filename: str) -> int:
        return len(self.vocabulary_by_name(vocab_filename))

    @cached_property
    def _loaded(self) -> Any:
        import tensorflow as tf

        return tf.saved_model.load(self.transform_savedmodel_dir)

    def transform_raw_features(
        self, raw_features: Mapping[str, Any], drop_unused_features: bool = True
    ) -> dict[str, Any]:
        """Apply the saved graph to a dict of raw tensors (eager or inside a tf.function).

        Raw features that are absent are fed as empty batches, and outputs that depend on them
        are left out, so a serving path without the label transforms everything else.
        """
        import tensorflow as tf

        fn = self._loaded.signatures[SIGNATURE]
        spec = self.raw_feature_spec()
        args: dict[str, Any] = {}
        missing = set()
        for name, f in spec.items():
            value = raw_features.get(name)
            if value is None:
                missing.add(name)
            if isinstance(f, tf.io.VarLenFeature):
                if value is None:
                    value = tf.SparseTensor(
                        tf.zeros([0, 2], tf.int64), tf.zeros([0], f.dtype), [0, 1]
                    )
                elif not isinstance(value, tf.SparseTensor):
                    value = tf.sparse.from_dense(tf.convert_to_tensor(value, f.dtype))
                args[f"{name}_indices"] = value.indices
                args[f"{name}_values"] = value.values
                args[f"{name}_dense_shape"] = value.dense_shape
            elif isinstance(f, tf.io.FixedLenFeature):
                if value is None:
                    value = tf.zeros([0, *f.shape], f.dtype)
                args[name] = tf.convert_to_tensor(value, f.dtype)
            else:
                raise FeatureSpecError(f"raw feature {name!r}: ragged inputs need TransformDataset")
        outputs = fn(**args)
        if missing:
            outputs = {k: v for k, v in outputs.items() if k not in self._depends_on(missing)}
        if not drop_unused_features:
            outputs = {**{k: v for k, v in raw_features.items() if k not in outputs}, **outputs}
        return dict(outputs)

    def _depends_on(self, features: set[str]) -> set[str]:
        """Outputs whose value depends on any of the given raw features."""
        import tensorflow as tf

        key = frozenset(features)
        cache: dict[frozenset[str], set[str]] = self.__dict__.setdefault("_dep_cache", {})
        if key in cache:
            return cache[key]
        graph = tf.Graph()
        with graph.as_default():
            sess = tf.compat.v1.Session(graph=graph)
            meta = tf.compat.v1.saved_model.loader.load(
                sess, [tf.saved_model.SERVING], self.transform_savedmodel_dir
            )
            sig = meta.signature_def[SIGNATURE]
            from headwater.transform.graph import closure, parts

            get = tf.compat.v1.saved_model.utils.get_tensor_from_tensor_info
            raw_ops = {p.op.name for n in features for p in parts(get(sig.inputs[n], graph))}
            dependent = set()
            for name, info in sig.outputs.items():
                if closure(parts(get(info, graph))) & raw_ops:
                    dependent.add(name)
            sess.close()
        cache[key] = dependent
        return dependent

    def transform_features_layer(self) -> Any:
        """A Keras layer applying the transform (put it in front of a model for serving)."""
        from headwater.transform.keras_layer import TransformFeaturesLayer

        return TransformFeaturesLayer(self)


TFTransformOutput = TransformOutput
