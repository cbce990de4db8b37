"""`TransformOutput`: read what an analysis wrote (TFTransformOutput's role and names)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.io import filesystems
from headwater.transform.features import DatasetMetadata, feature_spec
from headwater.transform.saved_transform import (
    RAW_METADATA_DIR,
    TRANSFORM_FN_DIR,
    TRANSFORMED_METADATA_DIR,
)

if TYPE_CHECKING:
    from headwater.transform.saved_transform import TransformFunction


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
        self.analyzed_function: TransformFunction | None = None
        """The transform_fn as the analysis that returned this output traced it, or None:
        `transform_dataset` calls it instead of loading the SavedModel (internal)."""
        self._source = os.fspath(transform_output_dir)
        self._dir = self._source
        if filesystems.is_url(self._source):
            # A URL (s3://, gs://, ...): read from a local copy, removed with this object.
            self._dir = tempfile.mkdtemp(prefix="headwater-transform-output-")
            weakref.finalize(self, shutil.rmtree, self._dir, True)
            filesystems.download_tree(self._source, self._dir)
        if not os.path.isdir(self.transform_savedmodel_dir):
            raise FileNotFoundError(
                f"{self._dir} has no {TRANSFORM_FN_DIR}/ directory: not a transform output"
            )

    @property
    def transform_output_dir(self) -> str:
        """The directory or URL this output was read from."""
        return self._source

    @property
    def transform_savedmodel_dir(self) -> str:
        return os.path.join(self._dir, TRANSFORM_FN_DIR)

    @cached_property
    def raw_schema(self) -> schema_pb2.Schema:
        """The raw schema from metadata/; TFT's WriteTransformFn writes none, so for its
        output the schema is read off transform_fn's input signature."""
        directory = os.path.join(self._dir, RAW_METADATA_DIR)
        if not os.path.exists(os.path.join(directory, "schema.pbtxt")) and os.path.exists(
            os.path.join(self.transform_savedmodel_dir, "saved_model.pb")
        ):
            from headwater.transform.features import schema_from_spec
            from headwater.transform.saved_transform import spec_from_signature

            return schema_from_spec(spec_from_signature(self._function.input_specs), {})
        return _read_schema(directory)

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
    def _function(self) -> Any:
        from headwater.transform.saved_transform import TransformFunction

        return TransformFunction(self.transform_savedmodel_dir)

    @property
    def _loaded(self) -> Any:
        """The loaded SavedModel (tracked by a Keras layer so that its tables and assets save)."""
        return self._function.loaded

    def transform_raw_features(
        self, raw_features: Mapping[str, Any], drop_unused_features: bool = True
    ) -> dict[str, Any]:
        """Apply the saved graph to a dict of raw tensors (eager or inside a tf.function).

        Raw features that are absent are fed as empty values, and outputs that depend on them
        are left out, so a serving path without the label transforms everything else.
        """
        from headwater.transform.saved_transform import as_input

        fn = self._function
        args = {
            name: as_input(value, fn.input_specs[name])
            for name, value in raw_features.items()
            if name in fn.input_specs
        }
        outputs = fn(args)
        if not drop_unused_features:
            outputs = {**{k: v for k, v in raw_features.items() if k not in outputs}, **outputs}
        return dict(outputs)

    def transform_features_layer(self) -> Any:
        """A Keras layer applying the transform (put it in front of a model for serving)."""
        from headwater.transform.keras_layer import TransformFeaturesLayer

        return TransformFeaturesLayer(self)


TFTransformOutput = TransformOutput
