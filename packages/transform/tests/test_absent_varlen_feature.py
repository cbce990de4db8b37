"""A VarLenFeature whose column is absent from a batch is missing in every row, as TFT parses it
(TFX's taxi data has a column that is empty in a whole split)."""

from __future__ import annotations

import pyarrow as pa
import pytest

import headwater.transform as tft
from headwater.transform.errors import FeatureSpecError


def _fn(inputs):
    import tensorflow as tf

    count = tf.sparse.reduce_sum(
        tf.sparse.map_values(tf.ones_like, inputs["tract"]), axis=1, output_is_sparse=False
    )
    return {"x": inputs["x"] * 2.0, "tracts": count}


def test_an_absent_varlen_column_is_empty_and_an_absent_dense_one_is_named(tmp_path) -> None:
    import tensorflow as tf

    spec = {"x": tf.io.FixedLenFeature([], tf.float32), "tract": tf.io.VarLenFeature(tf.float32)}
    with_tract = pa.record_batch({"x": pa.array([1.0], pa.float32()), "tract": [7.0]})
    without = pa.record_batch({"x": pa.array([2.0, 3.0], pa.float32())})
    transformed, _ = tft.analyze_and_transform_dataset(
        [with_tract, without], spec, _fn, str(tmp_path / "out")
    )
    rows = [row for batch in transformed for row in batch.to_pylist()]
    assert rows == [
        {"tracts": 1.0, "x": 2.0},
        {"tracts": 0.0, "x": 4.0},
        {"tracts": 0.0, "x": 6.0},
    ]
    no_x = pa.record_batch({"tract": [1.0]})
    with pytest.raises(FeatureSpecError, match=r"feature 'x' is not a column of the batch"):
        tft.analyze_and_transform_dataset([no_x], spec, _fn, str(tmp_path / "out2"))
