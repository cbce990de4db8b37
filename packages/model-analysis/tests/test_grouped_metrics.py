"""The grouped metric path (all of a slicing spec's slices in one call) against the plain loop
of `add_input` per slice; and the JSON writer's fast path for finite float lists."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import headwater.model_analysis as ma
from headwater.model_analysis.evaluate import PreparedBatch, SlicedMetricsCombiner
from headwater.model_analysis.metric import Metric, MetricInputs
from headwater.model_analysis.metrics_binary import grouped_bincounts
from headwater.model_analysis.results import _clean

# Threshold metrics take a different summation order grouped (bincount) than per slice
# (einsum): equal for integer weights, within rounding otherwise. The histograms are
# bit-identical for any weights.
_EXACT = (ma.AUC(num_thresholds=50), ma.CalibrationPlot(num_buckets=20), ma.ExampleCount())
_THRESHOLDS = (
    ma.BinaryAccuracy(),
    ma.Precision(thresholds=(0.2, 0.5, 0.8)),
    ma.Recall(thresholds=tuple(np.linspace(0.05, 0.95, 20))),  # > 16: the loop path
)


def _problem(seed: int, n: int, groups: int, integer_weights: bool):
    rng = np.random.default_rng(seed)
    groups = min(groups, n)  # slices are never empty
    sizes = 1 + rng.multinomial(n - groups, np.ones(groups) / groups)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    y = rng.integers(0, 2, n).astype(np.float64)
    p = rng.random(n).astype(np.float32).astype(np.float64)
    p[rng.random(n) < 0.05] = 1.0  # the top bucket's edge
    w = rng.integers(1, 4, n).astype(np.float64) if integer_weights else rng.uniform(0.1, 3.0, n)
    return MetricInputs(y, p, w), bounds


def _per_slice(metric: Metric, inputs: MetricInputs, bounds: np.ndarray) -> list:
    out = []
    for lo, hi in itertools.pairwise(bounds):
        rows = np.arange(lo, hi)
        out.append(metric.add_input(metric.create_accumulator(), inputs.take(rows)))
    return out


def _grouped(metric: Metric, inputs: MetricInputs, bounds: np.ndarray) -> list:
    accs = [metric.create_accumulator() for _ in range(len(bounds) - 1)]
    return metric.add_grouped_inputs(accs, inputs, bounds)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    groups=st.integers(1, 12),
    integer_weights=st.booleans(),
)
def test_grouped_metrics_equal_the_per_slice_loop(seed, n, groups, integer_weights):
    inputs, bounds = _problem(seed, n, groups, integer_weights)
    for metric in _EXACT:
        grouped, looped = _grouped(metric, inputs, bounds), _per_slice(metric, inputs, bounds)
        for a, b in zip(grouped, looped, strict=True):
            assert np.array_equal(a, b), metric
    for metric in _THRESHOLDS:
        grouped, looped = _grouped(metric, inputs, bounds), _per_slice(metric, inputs, bounds)
        for a, b in zip(grouped, looped, strict=True):
            if integer_weights:
                assert np.array_equal(a, b), metric
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_grouped_bincounts_in_rounds_equal_one_bincount_per_slice(monkeypatch):
    import headwater.model_analysis.metrics_binary as mb

    monkeypatch.setattr(mb, "_GROUPED_CELLS", 7)  # 2 slices of 3 buckets per round, 1 last
    rng = np.random.default_rng(3)
    bounds = np.array([0, 4, 4, 9, 15, 16], dtype=np.int64)  # one empty slice
    buckets = rng.integers(0, 3, 16)
    w = rng.uniform(0.0, 2.0, 16)
    (out,) = grouped_bincounts(bounds, buckets, (w,), 3)
    for i in range(5):
        lo, hi = bounds[i], bounds[i + 1]
        assert np.array_equal(out[i], np.bincount(buckets[lo:hi], weights=w[lo:hi], minlength=3))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_combiner_grouped_equals_slice_by_slice(seed, n):
    """Overall, a single-valued feature, a multivalent one (a row in several slices) and a
    cross: every slice's accumulators match the slice-by-slice fold exactly."""
    rng = np.random.default_rng(seed)
    tags = [[f"t{k}" for k in rng.choice(4, rng.integers(0, 3), replace=False)] for _ in range(n)]
    kind = rng.choice(["a", "b", "c", None], n).tolist()
    slice_columns = pa.RecordBatch.from_pydict(
        {"kind": kind, "hour": rng.integers(0, 5, n), "tags": tags}
    )
    config = ma.EvalConfig(
        model_specs=(ma.ModelSpec(label_key="y"),),
        slicing_specs=(
            ma.SlicingSpec(),
            ma.SlicingSpec(feature_keys=("kind",)),
            ma.SlicingSpec(feature_keys=("tags",)),
            ma.SlicingSpec(feature_keys=("kind", "hour")),
        ),
        metrics_specs=(
            ma.MetricsSpec(
                metrics=tuple(
                    ma.MetricConfig(class_name=c)
                    for c in ("ExampleCount", "AUC", "Precision", "CalibrationPlot", "MeanLabel")
                )
            ),
        ),
    )
    batch = PreparedBatch(
        slice_columns,
        rng.integers(0, 2, n).astype(np.float64),
        rng.integers(1, 3, n).astype(np.float64),
        {"": rng.random(n)},
    )
    combiner = SlicedMetricsCombiner(config)
    grouped = combiner.add_input(combiner.create_accumulator(), batch)
    looped = combiner._add_input_by_slice(combiner.create_accumulator(), batch)
    assert grouped.keys() == looped.keys()
    for key, (count, weight, accs, _) in grouped.items():
        assert (count, weight) == tuple(looped[key][:2])
        for a, b in zip(accs[""], looped[key][2][""], strict=True):
            assert np.array_equal(a, b), key
    # repr: NaN (an AUC without negatives) equals itself there
    assert repr(combiner.extract_output(grouped)) == repr(combiner.extract_output(looped))


_JSONABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**400, -(10**400)])  # beyond float: sum or isfinite overflows
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


def _slow_clean(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _slow_clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_slow_clean(x) for x in v]
    return v


@settings(max_examples=60, deadline=None)
@given(value=_JSONABLE)
def test_clean_writes_the_same_json_as_an_element_by_element_walk(value):
    expected = json.dumps(_slow_clean(value), allow_nan=False)
    assert json.dumps(_clean(value), allow_nan=False) == expected
