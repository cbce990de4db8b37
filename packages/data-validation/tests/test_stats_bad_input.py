"""Awkward input gives correct statistics or a clear error naming the feature."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

import headwater.data_validation as dv

FNS = statistics_pb2.FeatureNameStatistics


def _features(stats) -> dict:
    return {f.path.step[0]: f for f in stats.datasets[0].features}


def test_all_missing_features_are_counted_missing() -> None:
    batch = pa.record_batch(
        {"nothing": pa.nulls(4), "empty_float": pa.array([None] * 4, pa.float64())}
    )
    features = _features(dv.generate_statistics(batch))
    nothing = features["nothing"]
    assert nothing.type == FNS.STRING
    assert nothing.string_stats.common_stats.num_missing == 4
    assert nothing.string_stats.common_stats.num_non_missing == 0
    empty = features["empty_float"]
    assert empty.type == FNS.FLOAT
    assert empty.num_stats.common_stats.num_missing == 4
    assert not empty.num_stats.histograms


def test_feature_absent_from_some_batches_is_missing_there() -> None:
    first = pa.record_batch({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    second = pa.record_batch({"a": [4, 5]})
    features = _features(dv.generate_statistics([first, second]))
    common = features["b"].string_stats.common_stats
    assert (common.num_non_missing, common.num_missing) == (3, 2)
    assert features["a"].num_stats.common_stats.num_missing == 0


def test_int_and_float_batches_make_a_float_feature(tmp_path: Path) -> None:
    (tmp_path / "ints.csv").write_text("v\n1\n2\n3\n")
    (tmp_path / "floats.csv").write_text("v\n0.5\n1.5\n")
    from headwater.io import read_csv

    batches = [*read_csv(str(tmp_path / "ints.csv")), *read_csv(str(tmp_path / "floats.csv"))]
    assert {b.schema.field("v").type for b in batches} == {pa.int64(), pa.float64()}
    num = _features(dv.generate_statistics(batches))["v"]
    assert num.type == FNS.FLOAT
    assert num.num_stats.mean == pytest.approx(np.mean([1, 2, 3, 0.5, 1.5]))
    assert (num.num_stats.min, num.num_stats.max) == (0.5, 3.0)
    from_files = _features(dv.generate_statistics_from_csv(str(tmp_path)))["v"]
    assert from_files == num


def test_invalid_utf8_in_a_csv_string_column(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_bytes(b"s\nok\n\xff\xfe\nok\n")
    strings = _features(dv.generate_statistics_from_csv(str(tmp_path / "bad.csv")))["s"]
    assert strings.string_stats.invalid_utf8_count == 1
    assert strings.string_stats.common_stats.num_non_missing == 3


def test_nan_and_infinities_are_counted_apart() -> None:
    values = [1.0, np.nan, np.inf, -np.inf, np.inf, 0.0, 2.0, np.nan]
    num = _features(dv.generate_statistics(pa.record_batch({"v": values})))["v"].num_stats
    assert num.common_stats.num_non_missing == 8
    assert (num.min, num.max) == (-math.inf, math.inf)
    assert math.isnan(num.mean)
    assert num.num_zeros == 1
    standard, quantiles = num.histograms
    assert standard.num_nan == quantiles.num_nan == 2
    buckets = [(b.low_value, b.high_value, b.sample_count) for b in standard.buckets]
    assert buckets[0] == (-math.inf, -math.inf, 1.0)
    assert buckets[-1] == (math.inf, math.inf, 2.0)
    assert sum(b[2] for b in buckets[1:-1]) == 3.0
    assert sum(b.sample_count for b in quantiles.buckets) == pytest.approx(6.0)


def test_only_nan_values_give_nan_counts_only() -> None:
    num = _features(dv.generate_statistics(pa.record_batch({"v": [np.nan, np.nan]})))["v"]
    assert [(h.type, h.num_nan, len(h.buckets)) for h in num.num_stats.histograms] == [
        (statistics_pb2.Histogram.STANDARD, 2, 0),
        (statistics_pb2.Histogram.QUANTILES, 2, 0),
    ]


def test_empty_and_very_long_strings() -> None:
    long_value = "é" * 600_000  # 1.2 MB
    values = ["", "", "a", long_value, long_value]
    strings = _features(dv.generate_statistics(pa.record_batch({"s": values})))["s"].string_stats
    assert strings.unique == 3
    assert strings.avg_length == pytest.approx((1 + 2 * 1_200_000) / 5)
    top = [(v.value, v.frequency) for v in strings.top_values]
    assert top == [("__LARGE_BYTES__", 2.0), ("", 2.0), ("a", 1.0)]


def test_invalid_utf8_is_counted_and_shown_as_placeholder() -> None:
    batch = pa.record_batch({"raw": pa.array([b"ok", b"\xff\xfe", b"ok"], pa.binary())})
    strings = _features(dv.generate_statistics(batch))["raw"].string_stats
    assert strings.invalid_utf8_count == 1
    assert [(v.value, v.frequency) for v in strings.top_values] == [
        ("ok", 2.0),
        ("__BYTES_VALUE__", 1.0),
    ]


def test_zero_rows() -> None:
    empty = pa.record_batch({"a": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    stats = dv.generate_statistics(empty)
    assert stats.datasets[0].num_examples == 0
    assert sorted(_features(stats)) == ["a", "s"]
    assert _features(stats)["a"].num_stats.common_stats.num_missing == 0
    nothing = dv.generate_statistics([])
    assert len(nothing.datasets) == 1
    assert nothing.datasets[0].num_examples == 0


def test_string_and_number_clash_names_the_feature() -> None:
    with pytest.raises(dv.StatisticsError, match=r"'zip'.*INT.*STRING"):
        dv.generate_statistics(
            [pa.record_batch({"zip": [12345]}), pa.record_batch({"zip": ["1234A"]})]
        )


def test_bad_weights_name_the_weight_feature() -> None:
    options = dv.StatsOptions(weight_feature="w")
    with pytest.raises(dv.StatisticsError, match="'w' is missing in 1 example"):
        dv.generate_statistics(pa.record_batch({"w": [1.0, None], "a": [1, 2]}), options)
    with pytest.raises(dv.StatisticsError, match="'w' is not in the batch"):
        dv.generate_statistics(pa.record_batch({"a": [1, 2]}), options)
    with pytest.raises(dv.StatisticsError, match="'w' must be numeric"):
        dv.generate_statistics(pa.record_batch({"w": ["x"]}), options)


def test_unsupported_types_name_the_feature() -> None:
    nested = pa.array([[[1]], [[2, 3]]], pa.list_(pa.list_(pa.int64())))
    with pytest.raises(dv.StatisticsError, match="'deep' is a list of lists"):
        dv.generate_statistics(pa.record_batch({"deep": nested}))
    with pytest.raises(dv.StatisticsError, match=r"'when'.*timestamp"):
        dv.generate_statistics(pa.record_batch({"when": pa.array([1, 2], pa.timestamp("s"))}))
