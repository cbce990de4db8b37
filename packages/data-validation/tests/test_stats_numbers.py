"""Statistics checked against an independent numpy / pandas computation on the same data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

import headwater.data_validation as dv

FNS = statistics_pb2.FeatureNameStatistics


def _features(stats: statistics_pb2.DatasetFeatureStatisticsList, index: int = 0) -> dict:
    return {f.path.step[0]: f for f in stats.datasets[index].features}


def _tfdv_quantile(sorted_values: np.ndarray, q: float) -> float:
    """TFDV's boundary: the smallest value whose count at or below exceeds q * n."""
    return float(sorted_values[min(math.floor(q * sorted_values.size), sorted_values.size - 1)])


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 3000  # under the sketch capacity: quantiles are exact
    x = rng.normal(10.0, 3.0, n)
    x[rng.random(n) < 0.1] = np.nan  # missing
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 7, n),
            "s": rng.choice(
                ["apple", "banana", "cherry", "", "kiwi"], n, p=[0.4, 0.3, 0.2, 0.05, 0.05]
            ),
            "w": rng.integers(1, 4, n).astype(float),
        }
    )


@pytest.fixture(scope="module")
def stats(frame: pd.DataFrame) -> statistics_pb2.DatasetFeatureStatisticsList:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return dv.generate_statistics(table.to_batches(max_chunksize=700))


def test_numeric_statistics_match_numpy(frame: pd.DataFrame, stats) -> None:
    x = frame["x"].to_numpy()
    present = x[~np.isnan(x)]
    feature = _features(stats)["x"]
    assert feature.type == FNS.FLOAT
    num = feature.num_stats
    assert num.common_stats.num_non_missing == present.size
    assert num.common_stats.num_missing == x.size - present.size
    assert num.mean == pytest.approx(present.mean(), rel=1e-12)
    assert num.std_dev == pytest.approx(present.std(ddof=0), rel=1e-10)
    assert num.min == present.min()
    assert num.max == present.max()
    assert num.median == _tfdv_quantile(np.sort(present), 0.5)
    assert num.num_zeros == 0
    standard, quantiles = num.histograms
    assert standard.type == statistics_pb2.Histogram.STANDARD
    counts, edges = np.histogram(present, bins=10)
    assert [b.sample_count for b in standard.buckets] == counts.tolist()
    np.testing.assert_allclose([b.low_value for b in standard.buckets], edges[:-1])
    assert quantiles.type == statistics_pb2.Histogram.QUANTILES
    assert len(quantiles.buckets) == 10
    assert sum(b.sample_count for b in quantiles.buckets) == pytest.approx(present.size)
    ordered = np.sort(present)
    expected = [_tfdv_quantile(ordered, j / 10) for j in range(10)] + [ordered[-1]]
    assert [b.low_value for b in quantiles.buckets] == expected[:-1]
    assert quantiles.buckets[-1].high_value == expected[-1]


def test_integer_feature_counts_zeros_and_values(frame: pd.DataFrame, stats) -> None:
    k = frame["k"].to_numpy()
    num = _features(stats)["k"].num_stats
    assert _features(stats)["k"].type == FNS.INT
    assert num.num_zeros == int((k == 0).sum())
    assert num.mean == pytest.approx(k.mean())
    common = num.common_stats
    assert (common.min_num_values, common.max_num_values, common.avg_num_values) == (1, 1, 1.0)
    assert common.tot_num_values == k.size
    assert [b.sample_count for b in common.num_values_histogram.buckets] == [k.size / 10] * 10


def test_string_statistics_match_pandas(frame: pd.DataFrame, stats) -> None:
    s = frame["s"]
    strings = _features(stats)["s"].string_stats
    counts = s.value_counts()
    assert strings.unique == counts.size
    assert [(v.value, v.frequency) for v in strings.top_values] == list(
        zip(counts.index, counts.astype(float), strict=True)
    )
    assert strings.avg_length == pytest.approx(s.str.len().mean())
    buckets = strings.rank_histogram.buckets
    assert [(b.low_rank, b.high_rank, b.label) for b in buckets] == [
        (i, i, v) for i, v in enumerate(counts.index)
    ]


def test_weighted_statistics_match_numpy(frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    stats = dv.generate_statistics(table, dv.StatsOptions(weight_feature="w"))
    dataset = stats.datasets[0]
    w = frame["w"].to_numpy()
    assert dataset.weighted_num_examples == w.sum()
    x = frame["x"].to_numpy()
    mask = ~np.isnan(x)
    features = _features(stats)
    weighted = features["x"].num_stats.weighted_numeric_stats
    mean = np.average(x[mask], weights=w[mask])
    assert weighted.mean == pytest.approx(mean, rel=1e-12)
    assert weighted.std_dev == pytest.approx(
        math.sqrt(np.average((x[mask] - mean) ** 2, weights=w[mask])), rel=1e-10
    )
    common = features["x"].num_stats.common_stats.weighted_common_stats
    assert common.num_non_missing == w[mask].sum()
    assert common.num_missing == w[~mask].sum()
    sums = frame.groupby("s")["w"].sum().sort_values(ascending=False)
    top = features["s"].string_stats.weighted_string_stats.top_values
    assert [(v.value, v.frequency) for v in top] == list(zip(sums.index, sums, strict=True))
    order = np.argsort(x[mask])
    cumulative = np.cumsum(w[mask][order])
    median = x[mask][order][np.searchsorted(cumulative, cumulative[-1] / 2, side="right")]
    assert weighted.median == median


def test_slices_match_pandas_groups(frame: pd.DataFrame) -> None:
    options = dv.StatsOptions(slice_functions=[dv.get_feature_value_slicer({"s": None})])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    stats = dv.generate_statistics(table.to_batches(max_chunksize=1000), options)
    names = [d.name for d in stats.datasets]
    assert names[0] == dv.DEFAULT_SLICE_KEY
    assert sorted(names[1:]) == sorted(f"s_{v}" for v in frame["s"].unique())
    for dataset in stats.datasets[1:]:
        group = frame[frame["s"] == dataset.name[2:]]
        assert dataset.num_examples == len(group)
        x = group["x"].dropna()
        num = {f.path.step[0]: f for f in dataset.features}["x"].num_stats
        assert num.mean == pytest.approx(x.mean(), rel=1e-12)
        assert num.common_stats.num_missing == group["x"].isna().sum()


def test_slicing_on_chosen_int_values_and_two_features() -> None:
    batch = pa.record_batch(
        {"a": [1, 1, 2, 3, None], "b": ["x", "y", "x", "x", "x"], "v": [1.0, 2.0, 3.0, 4.0, 5.0]}
    )
    options = dv.StatsOptions(
        slice_functions=[dv.get_feature_value_slicer({"a": [1, 2], "b": None})]
    )
    stats = dv.generate_statistics(batch, options)
    got = {d.name: d.num_examples for d in stats.datasets}
    assert got == {"All Examples": 5, "a_1_b_x": 1, "a_1_b_y": 1, "a_2_b_x": 1}


def test_list_features_count_values_per_example() -> None:
    batch = pa.record_batch(
        {"tags": pa.array([["a", "b"], [], None, ["a"], ["c", "a", "a"]], pa.list_(pa.string()))}
    )
    feature = _features(dv.generate_statistics(batch))["tags"]
    common = feature.string_stats.common_stats
    assert (common.num_non_missing, common.num_missing) == (4, 1)
    assert (common.min_num_values, common.max_num_values, common.tot_num_values) == (0, 3, 6)
    assert common.avg_num_values == 1.5
    assert feature.string_stats.top_values[0].value == "a"
    assert feature.string_stats.top_values[0].frequency == 4
    assert feature.string_stats.unique == 3


def test_allowlist_and_categorical_schema() -> None:
    batch = pa.record_batch({"code": [3, 3, 5], "other": [1.0, 2.0, 3.0]})
    schema = schema_pb2.Schema()
    feature = schema.feature.add(name="code", type=schema_pb2.INT)
    feature.int_domain.is_categorical = True
    stats = dv.generate_statistics(
        batch, dv.StatsOptions(schema=schema, feature_allowlist=["code"])
    )
    features = _features(stats)
    assert list(features) == ["code"]
    assert features["code"].type == FNS.INT
    strings = features["code"].string_stats
    assert [(v.value, v.frequency) for v in strings.top_values] == [("3", 2.0), ("5", 1.0)]
    assert strings.unique == 2


def test_schema_float_type_overrides_int_column() -> None:
    schema = schema_pb2.Schema()
    schema.feature.add(name="n", type=schema_pb2.FLOAT)
    stats = dv.generate_statistics(pa.record_batch({"n": [1, 2]}), dv.StatsOptions(schema=schema))
    assert _features(stats)["n"].type == FNS.FLOAT


def test_sampling_is_repeatable_and_roughly_the_rate() -> None:
    batch = pa.record_batch({"v": np.arange(20000)})
    options = dv.StatsOptions(sample_rate=0.25, sample_seed=3)
    first = dv.generate_statistics(batch, options)
    assert first == dv.generate_statistics(batch, options)
    assert 4500 < first.datasets[0].num_examples < 5500


class _CountLongStrings:
    """A custom generator: how many values are longer than 5 bytes, as a custom stat."""

    name = "long_strings"

    def create_accumulator(self) -> int:
        return 0

    def add_input(self, accumulator: int, batch: pa.RecordBatch) -> int:
        return accumulator + int(sum(len(v) > 5 for v in batch.column("s").to_pylist() if v))

    def merge_accumulators(self, accumulators) -> int:
        return sum(accumulators)

    def extract_output(self, accumulator: int) -> statistics_pb2.DatasetFeatureStatistics:
        result = statistics_pb2.DatasetFeatureStatistics()
        feature = result.features.add()
        feature.path.step.append("s")
        feature.custom_stats.add(name="long_strings", num=accumulator)
        return result


def test_custom_generator_output_is_merged_into_the_feature() -> None:
    batch = pa.record_batch({"s": ["short", "longer one", "tiny", "enormous"]})
    stats = dv.generate_statistics(
        [batch, batch], dv.StatsOptions(generators=[_CountLongStrings()])
    )
    feature = _features(stats)["s"]
    assert feature.string_stats.unique == 4
    assert [(c.name, c.num) for c in feature.custom_stats] == [("long_strings", 4.0)]


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        dv.StatsOptions(sample_rate=0.0)
    with pytest.raises(ValueError, match="num_top_values"):
        dv.StatsOptions(num_top_values=0)
    with pytest.raises(TypeError, match="generator"):
        dv.StatsOptions(generators=[object()])  # type: ignore[list-item]


def test_dataframe_path_equals_table_path(frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    assert dv.generate_statistics_from_dataframe(frame) == dv.generate_statistics(table)


def test_image_domain_features_get_bytes_statistics() -> None:
    schema = schema_pb2.Schema()
    schema.feature.add(name="img", type=schema_pb2.BYTES).image_domain.SetInParent()
    batch = pa.record_batch(
        {"img": pa.array([b"\x89PNG", b"\xff\xd8\xff\xe0xx", None, b"\x89PNG"])}
    )
    feature = _features(dv.generate_statistics(batch, dv.StatsOptions(schema=schema)))["img"]
    assert feature.type == FNS.BYTES
    stats = feature.bytes_stats
    assert stats.common_stats.num_missing == 1
    assert (stats.unique, stats.min_num_bytes, stats.max_num_bytes) == (2, 4, 6)
    assert stats.avg_num_bytes == pytest.approx(14 / 3)


def test_weighted_list_feature_counts_values_by_example_weight() -> None:
    tags = [["a", "b"], [], None, ["a"], ["c", "a", "a"]]
    weights = [1.0, 2.0, 3.0, 4.0, 0.5]
    batch = pa.record_batch({"tags": pa.array(tags, pa.list_(pa.string())), "w": pa.array(weights)})
    stats = dv.generate_statistics(batch, dv.StatsOptions(weight_feature="w"))
    strings = _features(stats)["tags"].string_stats
    weighted = strings.common_stats.weighted_common_stats
    present = [w for t, w in zip(tags, weights, strict=True) if t is not None]
    assert weighted.num_non_missing == sum(present)
    assert weighted.num_missing == 3.0
    assert weighted.tot_num_values == sum(
        len(t) * w for t, w in zip(tags, weights, strict=True) if t is not None
    )
    top = [(v.value, v.frequency) for v in strings.weighted_string_stats.top_values]
    assert top == [("a", 1.0 + 4.0 + 2 * 0.5), ("b", 1.0)]  # "c" weighs 0.5 < threshold 1
