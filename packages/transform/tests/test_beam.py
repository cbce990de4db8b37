"""The Beam transforms give exactly what the plain driver gives (same combiners, same graph)."""

from __future__ import annotations

import os

import apache_beam as beam
import pyarrow as pa
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import headwater.transform as tft

from .conftest import feature_spec, preprocessing_fn


def _rows(batch: pa.RecordBatch) -> list[tuple]:
    return [tuple(sorted((k, repr(v)) for k, v in row.items())) for row in batch.to_pylist()]


def test_beam_analyze_and_transform_equals_plain_path(batches, analyzed, tmp_path):
    table, plain_output = analyzed
    expected = [r for b in table.to_batches() for r in _rows(b)]
    written = str(tmp_path / "written")
    with TestPipeline(runner="FnApiRunner") as p, tft.Context(temp_dir=str(tmp_path / "tmp")):
        raw = p | "Create" >> beam.Create(batches)
        (transformed, metadata), transform_fn = (
            raw,
            feature_spec(),
        ) | tft.AnalyzeAndTransformDataset(preprocessing_fn)
        rows = transformed | beam.FlatMap(_rows)
        assert_that(rows, equal_to(expected))
        _ = transform_fn | tft.WriteTransformFn(written)
    assert set(metadata) == set(table.column_names)
    assert sorted(f.name for f in metadata.schema.feature) == sorted(table.column_names)
    beam_output = tft.TransformOutput(written)
    for name in ("s_vocab", "s_top", "s_weighted", "k_vocab", "tags"):
        assert beam_output.vocabulary_by_name(name) == plain_output.vocabulary_by_name(name)
    assert beam_output.transformed_schema == plain_output.transformed_schema
    assert os.path.exists(os.path.join(written, "transform_fn", "saved_model.pb"))


def test_beam_transform_dataset_applies_a_saved_graph(batches, analyzed):
    table, output = analyzed
    expected = [r for b in table.to_batches() for r in _rows(b)]
    with TestPipeline(runner="FnApiRunner") as p:
        raw = p | beam.Create(batches)
        transformed, spec = ((raw, feature_spec()), output.transform_output_dir) | (
            tft.TransformDataset()
        )
        assert_that(transformed | beam.FlatMap(_rows), equal_to(expected))
    assert spec == output.transformed_feature_spec()
    assert spec.schema == output.transformed_schema == output.transformed_metadata.schema


def test_dataset_metadata_is_a_schema_and_a_feature_spec():
    import tensorflow as tf

    spec = {
        "x": tf.io.FixedLenFeature([], tf.float32),
        "s": tf.io.VarLenFeature(tf.string),
    }
    metadata = tft.DatasetMetadata.from_feature_spec(spec)
    assert metadata == spec
    assert [(f.name, f.type) for f in metadata.schema.feature] == [("s", 1), ("x", 3)]
    again = tft.DatasetMetadata(metadata.schema)
    assert dict(again) == spec
    assert tft.feature_spec(again) == spec
