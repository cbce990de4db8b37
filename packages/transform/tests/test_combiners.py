"""The analyzers' accumulators against numpy, and their merge laws (no TensorFlow here)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.transform.combiners import (
    MeanVarCombiner,
    MinMaxCombiner,
    SumCombiner,
    VocabularyCombiner,
)
from headwater.transform.quantiles import QuantilesCombiner, merge, query, summarize

floats = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32), min_size=0, max_size=40
)


def _run(combiner, parts, order=None):
    accs = []
    for part in parts:
        accs.append(combiner.add_input(combiner.create_accumulator(), part))
    if order is not None:
        accs = [accs[i] for i in order]
    return combiner.extract_output(combiner.merge_accumulators(accs))


@settings(max_examples=40, deadline=None)
@given(st.lists(floats, min_size=1, max_size=5), st.randoms())
def test_mean_var_merge_order_and_one_pass_agree(chunks, rnd):
    combiner = MeanVarCombiner(True, "float64", [])
    parts = [[np.asarray(c, np.float64)] for c in chunks]
    order = list(range(len(parts)))
    rnd.shuffle(order)
    merged = _run(combiner, parts, order)
    everything = np.concatenate([p[0] for p in parts])
    one_pass = combiner.extract_output(
        combiner.add_input(combiner.create_accumulator(), [everything])
    )
    if everything.size == 0:
        assert np.isnan(merged[0])
        assert np.isnan(one_pass[0])
        return
    np.testing.assert_allclose(merged[0], one_pass[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(merged[0], everything.mean(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(merged[1], everything.var(), rtol=1e-7, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(st.lists(floats, min_size=1, max_size=5), st.randoms())
def test_min_max_sum_merge_order_does_not_matter(chunks, rnd):
    parts = [[np.asarray(c, np.float32)] for c in chunks]
    order = list(range(len(parts)))
    rnd.shuffle(order)
    everything = np.concatenate([p[0] for p in parts]).astype(np.float64)
    lo, hi = _run(MinMaxCombiner(True, "float32", []), parts, order)
    (total,) = _run(SumCombiner(True, "float32", []), parts, order)
    if everything.size:
        assert lo == np.float32(everything.min())
        assert hi == np.float32(everything.max())
    else:
        assert lo == np.inf
        assert hi == -np.inf
    np.testing.assert_allclose(total, everything.sum(), rtol=1e-5, atol=1e-2)


def test_min_max_ignores_nan_and_reduces_per_instance_dim():
    combiner = MinMaxCombiner(False, "float32", [2])
    x = np.array([[1.0, np.nan], [3.0, -2.0], [np.nan, 5.0]], np.float32)
    lo, hi = combiner.extract_output(combiner.add_input(combiner.create_accumulator(), [x]))
    np.testing.assert_array_equal(lo, [1.0, -2.0])
    np.testing.assert_array_equal(hi, [3.0, 5.0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([b"a", b"b", b"c", b"d", b"", b"x\ny"]), max_size=30),
        min_size=1,
        max_size=5,
    ),
    st.randoms(),
)
def test_vocabulary_merge_order_does_not_matter(chunks, rnd):
    combiner = VocabularyCombiner(
        top_k=3, frequency_threshold=2, has_weights=False, filter_tokens=True
    )
    parts = [[np.asarray(c, dtype=object)] for c in chunks]
    order = list(range(len(parts)))
    rnd.shuffle(order)
    tokens, counts = _run(combiner, parts, order)
    flat = [t for c in chunks for t in c]
    expected = sorted(
        ((flat.count(t), t) for t in set(flat) if t and b"\n" not in t and flat.count(t) >= 2),
        reverse=True,
    )[:3]
    assert list(tokens) == [t for _, t in expected]
    assert list(counts) == [c for c, _ in expected]


def test_vocabulary_sums_weights_and_orders_ties_by_token_descending():
    combiner = VocabularyCombiner(None, 0.0, True, True)
    acc = combiner.add_input(
        combiner.create_accumulator(),
        [np.array([b"a", b"b", b"c", b"a"], object), np.array([1.0, 2.0, 0.5, 1.0])],
    )
    tokens, counts = combiner.extract_output(acc)
    assert list(tokens) == [b"b", b"a", b"c"]
    assert list(counts) == [2.0, 2.0, 0.5]


def _true_rank_ok(data: np.ndarray, value: float, q: float, eps: float) -> bool:
    n = data.size
    lo = np.count_nonzero(data < value)
    hi = np.count_nonzero(data <= value)
    return lo <= q * n + eps * n + 1e-9 and hi >= q * n - eps * n - 1e-9


def test_quantiles_are_exact_on_small_data():
    data = np.arange(1, 101, dtype=np.float64)
    combiner = QuantilesCombiner([0.1, 0.5, 0.9], 0.01, dedupe=False)
    (values,) = _run(combiner, [[data[:50]], [data[50:]]])
    np.testing.assert_array_equal(values, np.quantile(data, [0.1, 0.5, 0.9], method="inverted_cdf"))
    assert combiner.last_error == 0.0


def test_quantile_boundaries_stay_within_certified_error_on_large_data():
    rng = np.random.default_rng(7)
    data = np.concatenate([rng.lognormal(0, 2, 150_000), rng.integers(0, 5, 50_000)])
    rng.shuffle(data)
    eps = 0.005
    qs = np.linspace(0.05, 0.95, 19)
    combiner = QuantilesCombiner(list(qs), eps, dedupe=False)
    parts = [[chunk] for chunk in np.array_split(data, 37)]
    (values,) = _run(combiner, parts, order=list(reversed(range(37))))
    assert 0.0 < combiner.last_error <= eps
    for q, v in zip(qs, values, strict=True):
        assert _true_rank_ok(data, v, q, combiner.last_error), (q, v)


@settings(max_examples=30, deadline=None)
@given(st.lists(floats, min_size=1, max_size=6), st.randoms())
def test_quantile_summary_merge_bounds_hold_in_any_order(chunks, rnd):
    summaries = [summarize(np.asarray(c)) for c in chunks]
    rnd.shuffle(summaries)
    merged = summaries[0]
    for s in summaries[1:]:
        merged = merge(merged, s)
    data = np.concatenate([np.asarray(c, np.float64) for c in chunks])
    if data.size == 0:
        return
    values, err = query(merged, np.array([0.25, 0.5, 0.75]))
    assert err == 0.0  # unpruned merges are exact
    np.testing.assert_array_equal(
        values, np.quantile(data, [0.25, 0.5, 0.75], method="inverted_cdf")
    )


def test_mean_var_of_no_data_is_nan():
    combiner = MeanVarCombiner(True, "float32", [])
    mean, var = combiner.extract_output(combiner.create_accumulator())
    assert np.isnan(mean)
    assert np.isnan(var)


@pytest.mark.parametrize("dtype", ["int64", "float32"])
def test_sum_keeps_integer_and_float_types(dtype):
    combiner = SumCombiner(True, dtype, [])
    (total,) = combiner.extract_output(
        combiner.add_input(combiner.create_accumulator(), [np.array([1, 2, 3], dtype)])
    )
    assert total == 6
    assert total.dtype == np.dtype(dtype)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c"]), st.floats(-1e3, 1e3)), max_size=20),
        min_size=1,
        max_size=5,
    ),
    st.randoms(),
)
def test_mean_var_per_key_merge_order_and_one_pass_agree(chunks, rnd):
    from headwater.transform.combiners import MeanVarPerKeyCombiner

    combiner = MeanVarPerKeyCombiner("float64")
    parts = [[np.asarray([k for k, _ in c], object), np.asarray([v for _, v in c])] for c in chunks]
    order = list(range(len(parts)))
    rnd.shuffle(order)
    keys, mean, var = _run(combiner, parts, order)
    pairs = [p for c in chunks for p in c]
    expected_keys = sorted({k for k, _ in pairs})
    assert list(keys) == expected_keys
    for key, m, v in zip(keys, mean, var, strict=True):
        xs = np.asarray([x for k, x in pairs if k == key])
        np.testing.assert_allclose(m, xs.mean(), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(v, xs.var(), rtol=1e-6, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 30), max_size=60), min_size=1, max_size=6),
    st.integers(1, 8),
    st.randoms(),
)
def test_approximate_vocabulary_keeps_heavy_hitters_within_bound(chunks, capacity, rnd):
    from headwater.transform.combiners import ApproximateVocabularyCombiner

    combiner = ApproximateVocabularyCombiner(None, capacity, False, False)
    parts = [[np.asarray(c, np.int64)] for c in chunks]
    order = list(range(len(parts)))
    rnd.shuffle(order)
    tokens, counts = _run(combiner, parts, order)
    flat = [t for c in chunks for t in c]
    bound = len(flat) / (capacity + 1)
    got = dict(zip(tokens.tolist(), counts.tolist(), strict=True))
    assert len(got) <= capacity
    for token in set(flat):
        true = flat.count(token)
        if true > bound:
            assert token in got
        if token in got:
            assert true - bound <= got[token] <= true


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from([b"a", b"b"]), st.floats(-1e3, 1e3) | st.just(float("nan"))),
            max_size=20,
        ),
        min_size=1,
        max_size=5,
    ),
    st.randoms(),
)
def test_min_max_per_key_merge_order_does_not_matter(chunks, rnd):
    from headwater.transform.combiners import MinMaxPerKeyCombiner

    combiner = MinMaxPerKeyCombiner("float64")
    parts = [
        [np.asarray([k for k, _ in c], object), np.asarray([v for _, v in c], np.float64)]
        for c in chunks
    ]
    order = list(range(len(parts)))
    rnd.shuffle(order)
    keys, lo, hi = _run(combiner, parts, order)
    pairs = [(k, v) for c in chunks for k, v in c if not np.isnan(v)]
    expected = sorted({k for k, _ in pairs})
    assert list(keys) == expected
    for key, got_lo, got_hi in zip(keys, lo, hi, strict=True):
        values = [v for k, v in pairs if k == key]
        assert got_lo == min(values)
        assert got_hi == max(values)
