"""Bad preprocessing_fns and bad data fail early with errors naming the function and feature."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest

import headwater.transform as tft
from headwater.transform.errors import FeatureSpecError, PreprocessingFnError


@pytest.fixture(scope="module")
def spec():
    import tensorflow as tf

    return {"x": tf.io.FixedLenFeature([], tf.float32), "s": tf.io.FixedLenFeature([], tf.string)}


@pytest.fixture(scope="module")
def small_batch():
    return pa.record_batch({"x": pa.array([1.0, 2.0], pa.float32()), "s": ["a", "b"]})


def returns_numbers(inputs):
    return {"x": 3.0}


def reads_missing(inputs):
    return {"y": inputs["no_such_feature"]}


def raises(inputs):
    raise RuntimeError("boom")


def returns_scalar(inputs):
    return {"m": tft.mean(inputs["x"])}


def returns_list(inputs):
    return [inputs["x"]]


@pytest.mark.parametrize(
    ("fn", "needles"),
    [
        (returns_numbers, ["returns_numbers", "'x'", "float"]),
        (reads_missing, ["reads_missing", "'no_such_feature'", "not in the raw schema"]),
        (raises, ["raises", "RuntimeError", "boom"]),
        (returns_scalar, ["returns_scalar", "'m'", "batch dimension"]),
        (returns_list, ["returns_list", "dict"]),
    ],
)
def test_bad_preprocessing_fn_fails_before_beam_runs(fn, needles, spec, small_batch, tmp_path):
    ran = []

    def record(batch):
        ran.append(batch)
        return batch

    p = beam.Pipeline(runner="FnApiRunner")
    batches = p | beam.Create([small_batch]) | beam.Map(record)
    transform = tft.AnalyzeAndTransformDataset(fn, str(tmp_path / "out"))
    with pytest.raises(PreprocessingFnError) as info:
        _ = (batches, spec) | transform
    for needle in needles:
        assert needle in str(info.value)
    assert not ran  # the pipeline was never run
    with pytest.raises(PreprocessingFnError):
        tft.analyze_dataset([small_batch], spec, fn, str(tmp_path / "plain"))


def test_missing_feature_is_also_a_key_error(spec, small_batch, tmp_path):
    with pytest.raises(KeyError):
        tft.analyze_dataset([small_batch], spec, reads_missing, str(tmp_path / "out"))


def test_analyzer_outside_preprocessing_fn_is_explained():
    import tensorflow as tf

    with pytest.raises(tft.AnalyzerError, match="inside a preprocessing_fn"):
        tft.mean(tf.constant([1.0]))


def _identity(inputs):
    return {"x": inputs["x"] * 1.0}


def test_bad_data_names_feature_and_row(spec, tmp_path):
    nulls = pa.record_batch({"x": pa.array([1.0, None], pa.float32()), "s": ["a", "b"]})
    with pytest.raises(FeatureSpecError, match=r"'x'.*row 1"):
        tft.analyze_and_transform_dataset([nulls], spec, _identity, str(tmp_path / "a"))
    wrong_type = pa.record_batch({"x": ["1.0", "2.0"], "s": ["a", "b"]})
    with pytest.raises(FeatureSpecError, match=r"'x'.*expected float32.*string"):
        tft.analyze_and_transform_dataset([wrong_type], spec, _identity, str(tmp_path / "b"))
    no_column = pa.record_batch({"s": ["a", "b"]})
    with pytest.raises(FeatureSpecError, match=r"'x' is not a column"):
        tft.analyze_and_transform_dataset([no_column], spec, _identity, str(tmp_path / "c"))


def test_constant_feature_scales_without_dividing_by_zero(tmp_path):
    import tensorflow as tf

    spec = {"x": tf.io.FixedLenFeature([], tf.float32)}
    batch = pa.record_batch({"x": pa.array([2.0, 2.0, 2.0], pa.float32())})

    def fn(inputs):
        return {"z": tft.scale_to_z_score(inputs["x"]), "u": tft.scale_to_0_1(inputs["x"])}

    (out,), _ = tft.analyze_and_transform_dataset([batch], spec, fn, str(tmp_path / "o"))
    np.testing.assert_array_equal(out.column("z").to_numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(out.column("u").to_numpy(), 1 / (1 + np.exp(-2.0)), rtol=1e-6)


def test_empty_dataset_and_dictionary_strings(spec, tmp_path):
    def fn(inputs):
        return {
            "b": tft.bucketize(inputs["x"], 3),
            "s": tft.compute_and_apply_vocabulary(inputs["s"], num_oov_buckets=1),
        }

    empty = tft.analyze_dataset([], spec, fn, str(tmp_path / "empty"))
    batch = pa.record_batch(
        {"x": pa.array([1.0, 2.0], pa.float32()), "s": pa.array(["a", "b"]).dictionary_encode()}
    )
    (out,) = tft.transform_dataset([batch], empty)
    assert out.column("b").to_pylist() == [0, 0]  # no boundaries: one bucket
    assert out.column("s").to_pylist() == [1, 1]  # everything is out of vocabulary
    (out,), _ = tft.analyze_and_transform_dataset([batch], spec, fn, str(tmp_path / "dict"))
    assert out.column("s").to_pylist() == [1, 0]  # tie: 'b' before 'a', as TFT orders
