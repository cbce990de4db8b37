"""A FixedLenFeature with a default is rejected up front, as TFT does (a schema cannot keep it)."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pytest

import headwater.transform as tft
from headwater.transform.errors import FeatureSpecError

MESSAGE = (
    "feature 'company' had default_value 'unknown', but FixedLenFeature must have "
    "default_value=None (a schema cannot keep a default); make it a VarLenFeature and fill "
    "missing values in preprocessing_fn, e.g. tft.sparse_tensor_to_dense_with_shape(x, "
    "[None, 1], default)"
)


def _identity(inputs):
    return {"company": inputs["company"]}


@pytest.fixture(scope="module")
def spec():
    import tensorflow as tf

    return {"company": tf.io.FixedLenFeature([], tf.string, default_value="unknown")}


def test_in_memory_analysis_rejects_the_default(spec, tmp_path):
    batch = pa.record_batch({"company": ["a", None]})
    with pytest.raises(FeatureSpecError) as info:
        tft.analyze_and_transform_dataset([batch], spec, _identity, str(tmp_path / "out"))
    assert str(info.value) == MESSAGE
    assert isinstance(info.value, ValueError)  # TFT raises ValueError
    assert not (tmp_path / "out").exists()


def test_beam_analysis_and_metadata_reject_the_default(spec, tmp_path):
    with pytest.raises(FeatureSpecError, match="'company' had default_value 'unknown'"):
        tft.DatasetMetadata.from_feature_spec(spec)
    p = beam.Pipeline(runner="FnApiRunner")
    batches = p | beam.Create([pa.record_batch({"company": ["a"]})])
    with pytest.raises(FeatureSpecError) as info:
        _ = (batches, spec) | tft.AnalyzeAndTransformDataset(_identity, str(tmp_path / "out"))
    assert str(info.value) == MESSAGE
