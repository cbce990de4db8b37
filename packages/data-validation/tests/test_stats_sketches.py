"""Sketches and the combiner: merge order does not matter, partials equal one pass, bounds hold."""

from __future__ import annotations

import copy

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater.data_validation as dv
from headwater.data_validation.quantiles import QuantileSketch, quantiles_and_cumulative_weights
from headwater.data_validation.top_k import ValueCounter

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

small_floats = st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 1))


def _split(values: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    points = sorted({min(c, values.size) for c in cuts})
    return [part for part in np.split(values, points) if part.size]


def _sketch(parts: list[np.ndarray], epsilon: float = 0.01) -> QuantileSketch:
    sketches = []
    for part in parts:
        sketch = QuantileSketch(epsilon)
        sketch.add(part)
        sketches.append(sketch)
    result = QuantileSketch(epsilon)
    for sketch in sketches:
        result.merge(sketch)
    return result


@SETTINGS
@given(
    values=st.lists(small_floats, min_size=1, max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=6),
    seed=st.integers(0, 1000),
)
def test_exact_sketch_merge_order_and_batching_do_not_matter(values, cuts, seed) -> None:
    data = np.array(values)
    one_pass = _sketch([data]).points()
    parts = _split(data, cuts)
    np.random.default_rng(seed).shuffle(parts)
    merged = _sketch(parts).points()
    np.testing.assert_array_equal(merged[0], one_pass[0])
    np.testing.assert_array_equal(merged[1], one_pass[1])
    expected_values, expected_counts = np.unique(data, return_counts=True)
    np.testing.assert_array_equal(one_pass[0], expected_values)
    np.testing.assert_array_equal(one_pass[1], expected_counts)


adversarial = st.sampled_from(["sorted", "reversed", "clustered", "duplicates", "zigzag"])


def _adversarial(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "sorted":
        return np.arange(n, dtype=float)
    if kind == "reversed":
        return np.arange(n, dtype=float)[::-1].copy()
    if kind == "clustered":
        # A tight cluster with far outliers: value-based binning would fail here.
        values = rng.normal(0, 1e-9, n)
        values[: n // 50] = rng.uniform(-1e12, 1e12, n // 50)
        return values
    if kind == "duplicates":
        values = rng.integers(0, 5, n).astype(float)
        values[::7] = rng.normal(0, 1, values[::7].size)
        return values
    values = np.arange(n, dtype=float)
    return np.where(values % 2 == 0, values, n * 2 - values)


@settings(max_examples=12, deadline=None)
@given(
    kind=adversarial,
    n=st.integers(5000, 60000),
    batch=st.integers(50, 5000),
    seed=st.integers(0, 10_000),
)
def test_compressed_sketch_rank_error_stays_within_epsilon(kind, n, batch, seed) -> None:
    rng = np.random.default_rng(seed)
    epsilon = 0.05  # small capacity (640 points), so compression happens many times
    data = _adversarial(kind, n, rng)
    parts = [data[i : i + batch] for i in range(0, n, batch)]
    rng.shuffle(parts)
    values, weights = _sketch(parts, epsilon).points()
    assert weights.sum() == n
    ordered = np.sort(data)
    boundaries, _ = quantiles_and_cumulative_weights(values, weights, 100)
    for j, boundary in enumerate(boundaries[:-1]):
        target = j / 100 * n
        below = np.searchsorted(ordered, boundary, side="left")
        at_or_below = np.searchsorted(ordered, boundary, side="right")
        # The true rank range of the returned value must come within epsilon * n of the target.
        assert below - epsilon * n <= target <= at_or_below + epsilon * n, (j, boundary)
    assert boundaries[-1] == ordered[-1]


@SETTINGS
@given(
    values=st.lists(st.sampled_from(["a", "b", "c", "dd", "", "é"]), min_size=1, max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=5),
    seed=st.integers(0, 1000),
)
def test_value_counter_merge_order_does_not_matter(values, cuts, seed) -> None:
    data = np.array(values, dtype=object)
    counters = []
    for part in _split(data, cuts):
        counter = ValueCounter()
        counter.add(pa.array(part.tolist(), pa.string()))
        counters.append(counter)
    np.random.default_rng(seed).shuffle(counters)
    merged = ValueCounter()
    for counter in counters:
        merged.merge(counter)
    unique, counts = np.unique(data.astype(str), return_counts=True)
    assert merged.unique() == unique.size
    expected = sorted(zip(counts.tolist(), unique.tolist(), strict=True), reverse=True)
    assert merged.top(10) == [(v, float(c)) for c, v in expected[:10]]


def test_value_counter_beyond_exact_limit_uses_bounded_sketches() -> None:
    rng = np.random.default_rng(5)
    n = 300_000
    heavy = rng.choice(["alpha", "beta", "gamma"], n // 3, p=[0.5, 0.3, 0.2])
    tail = np.array([f"id{i}" for i in range(n - heavy.size)])
    data = np.concatenate([heavy, tail])
    rng.shuffle(data)
    merged = ValueCounter(exact_limit=20_000, capacity=1000)
    for start in range(0, n, 25_000):
        part = ValueCounter(exact_limit=20_000, capacity=1000)
        part.add(pa.array(data[start : start + 25_000].tolist()))
        merged.merge(part)
    assert not merged.is_exact
    assert merged.table is not None
    assert merged.table.num_rows <= 1000
    true_unique = len(set(data.tolist()))
    assert abs(merged.unique() - true_unique) / true_unique < 0.03
    top = merged.top(3)
    assert [v for v, _ in top] == ["alpha", "beta", "gamma"]
    true_alpha = int((data == "alpha").sum())
    assert true_alpha - n / 1001 * 2 <= top[0][1] <= true_alpha


batch_rows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-5, 5)),
        st.one_of(st.none(), st.floats(-100, 100), st.sampled_from([np.nan, np.inf, -np.inf])),
        st.one_of(st.none(), st.sampled_from(["x", "y", "zz", ""])),
    ),
    min_size=0,
    max_size=60,
)


@SETTINGS
@given(rows=batch_rows, cuts=st.lists(st.integers(0, 60), max_size=5), seed=st.integers(0, 99))
def test_combiner_partials_merged_in_any_order_equal_one_pass(rows, cuts, seed) -> None:
    table = pa.table(
        {
            "i": pa.array([r[0] for r in rows], pa.int64()),
            "f": pa.array([r[1] for r in rows], pa.float64()),
            "s": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    combiner = dv.StatisticsCombiner()
    one_pass = combiner.extract_output(combiner.add_input(combiner.create_accumulator(), table))
    points = sorted({min(c, len(rows)) for c in cuts})
    bounds = list(zip([0, *points], [*points, len(rows)], strict=True))
    accumulators = [
        combiner.add_input(combiner.create_accumulator(), table.slice(a, b - a)) for a, b in bounds
    ]
    np.random.default_rng(seed).shuffle(accumulators)
    merged = combiner.extract_output(combiner.merge_accumulators(copy.deepcopy(accumulators)))
    for dataset in (one_pass.datasets[0], merged.datasets[0]):
        for feature in dataset.features:
            if feature.HasField("num_stats"):
                # Float sums round differently when grouped differently; NaN != NaN.
                num = feature.num_stats
                num.mean = -999.0 if np.isnan(num.mean) else round(num.mean, 6)
                num.std_dev = round(num.std_dev, 6)
    assert merged == one_pass


def _rank_error(sorted_values: np.ndarray, weights: np.ndarray, value: float, q: float) -> float:
    """How far (as a fraction of the total weight) `value`'s rank range is from q."""
    cumulative = np.concatenate(([0.0], np.cumsum(weights)))
    below = cumulative[np.searchsorted(sorted_values, value, side="left")]
    at_or_below = cumulative[np.searchsorted(sorted_values, value, side="right")]
    target = q * cumulative[-1]
    if below <= target <= at_or_below:
        return 0.0
    return float(min(abs(below - target), abs(at_or_below - target)) / cumulative[-1])


def test_weighted_quantiles_of_many_distinct_values_stay_within_epsilon() -> None:
    rng = np.random.default_rng(9)
    n = 200_000
    x = rng.lognormal(0.0, 1.0, n)
    w = rng.integers(1, 10, n).astype(float)
    stats = dv.generate_statistics(
        pa.table({"x": x, "w": w}).to_batches(max_chunksize=20_000),
        dv.StatsOptions(weight_feature="w"),
    )
    num = {f.path.step[0]: f for f in stats.datasets[0].features}["x"].num_stats
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    assert _rank_error(xs, np.ones(n), num.median, 0.5) <= 0.01
    assert _rank_error(xs, ws, num.weighted_numeric_stats.median, 0.5) <= 0.01
    for j, bucket in enumerate(num.histograms[1].buckets):
        assert _rank_error(xs, np.ones(n), bucket.low_value, j / 10) <= 0.01
    for j, bucket in enumerate(num.weighted_numeric_stats.histograms[1].buckets):
        assert _rank_error(xs, ws, bucket.low_value, j / 10) <= 0.01
    counts, _ = np.histogram(x, bins=10)
    assert [b.sample_count for b in num.histograms[0].buckets] == pytest.approx(
        counts.tolist(), abs=0.01 * n
    )
