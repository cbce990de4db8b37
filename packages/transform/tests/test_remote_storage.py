"""Transform on s3:// URLs end to end: examples read from a bucket, the transform graph and the
transformed examples written to it, and read back with TransformOutput. A real S3-compatible
server (moto's, the root conftest's `s3_bucket` fixture) on 127.0.0.1; expected values from numpy.
"""

from __future__ import annotations

import apache_beam as beam
import fsspec
import numpy as np
import pyarrow as pa
import pytest

import headwater.io as hio
import headwater.transform as tft

pytest.importorskip("boto3")  # Beam's S3 filesystem (apache-beam[aws])


def _preprocessing_fn(inputs):
    return {
        "z": tft.scale_to_z_score(inputs["x"]),
        "s_id": tft.compute_and_apply_vocabulary(inputs["s"], vocab_filename="s_vocab"),
    }


def test_analyze_and_transform_from_and_to_s3(s3_bucket, tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(4)
    x = rng.normal(3.0, 2.0, 300).astype(np.float32)
    s = rng.choice(["b", "a", "c"], 300, p=[0.5, 0.3, 0.2])
    table = pa.table({"x": x, "s": pa.array(s)})
    hio.write_tfrecord(
        table.to_batches(max_chunksize=100), f"s3://{s3_bucket}/raw/data", num_shards=2
    )
    spec = {
        "x": tf.io.FixedLenFeature([], tf.float32),
        "s": tf.io.FixedLenFeature([], tf.string),
    }
    graph = f"s3://{s3_bucket}/transform_graph"
    with beam.Pipeline("DirectRunner") as p, tft.Context(temp_dir=str(tmp_path / "tmp")):
        raw = p | hio.ReadTFRecord(f"s3://{s3_bucket}/raw/data-*")
        (transformed, _), transform_fn = (raw, spec) | tft.AnalyzeAndTransformDataset(
            _preprocessing_fn, output_dir=graph
        )
        _ = transformed | hio.WriteTFRecord(f"s3://{s3_bucket}/transformed/data", num_shards=1)
        _ = transform_fn | tft.WriteTransformFn(f"s3://{s3_bucket}/copy")

    fs = fsspec.filesystem("s3", use_listings_cache=False)
    assert fs.exists(f"{s3_bucket}/transform_graph/transform_fn/saved_model.pb")
    assert fs.exists(f"{s3_bucket}/copy/transform_fn/saved_model.pb")
    assert not [k for k in fs.find(s3_bucket) if ".headwater-tmp-" in k]

    output = tft.TransformOutput(graph)
    assert output.transform_output_dir == graph
    assert output.vocabulary_by_name("s_vocab") == [b"b", b"a", b"c"]  # most frequent first
    rows = pa.Table.from_batches(hio.read_tfrecord(f"s3://{s3_bucket}/transformed/data-*"))
    z = np.sort(np.asarray(rows["z"].to_pylist(), np.float64))
    expected = np.sort((x.astype(np.float64) - x.mean(dtype=np.float64)) / x.std(dtype=np.float64))
    np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-4)
    ids = {"b": 0, "a": 1, "c": 2}
    assert sorted(rows["s_id"].to_pylist()) == sorted(ids[v] for v in s)
    again = tft.TransformOutput(f"s3://{s3_bucket}/copy").transform_raw_features(
        {"x": tf.constant([3.0]), "s": tf.constant(["c"])}
    )
    assert int(again["s_id"].numpy()[0]) == 2
