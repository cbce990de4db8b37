"""The fast paths of the statistics change nothing: features of a large batch updated on
several threads give the same statistics as on one (the first bad column, in column order, is
the error raised), and few distinct floats sorted by counting equal a sort bit for bit."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

import headwater.data_validation as dv
from headwater.data_validation.combiner import StatisticsCombiner


def _stats(batch: pa.RecordBatch, threads: int, options: dv.StatsOptions | None = None):
    combiner = StatisticsCombiner(options, threads=threads)
    accumulator = combiner.create_accumulator()
    for part in (batch.slice(0, 9000), batch.slice(9000)):
        combiner.add_input(accumulator, part)
    return combiner.extract_output(accumulator)


def test_threads_give_the_same_statistics() -> None:
    rng = np.random.default_rng(3)
    n = 12_000
    batch = pa.record_batch(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 10**9, n),
            "c": pa.array(np.char.add("v", rng.integers(0, 300, n).astype(str)).tolist()),
            "l": pa.array([[float(i % 7)] * (i % 3) for i in range(n)]),
            "w": rng.random(n) + 0.5,
        }
    )
    for options in (None, dv.StatsOptions(weight_feature="w")):
        one = _stats(batch, 1, options)
        assert one.datasets[0].num_examples == n
        for threads in (2, 4):
            assert _stats(batch, threads, options) == one


def test_threads_raise_the_first_bad_column_in_order() -> None:
    n = 10_000
    nested = pa.array([[[1]]] * n)  # a list of lists: not supported
    batch = pa.record_batch({"a": np.arange(n), "bad1": nested, "b": np.arange(n), "bad2": nested})
    with pytest.raises(dv.StatisticsError, match="'bad1'"):
        _stats(batch, 4)


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads"):
        StatisticsCombiner(threads=0)


@pytest.mark.parametrize("seed", range(6))
def test_sorting_by_counting_equals_a_sort_bit_for_bit(seed: int) -> None:
    from headwater.data_validation.feature_stats import _sorted_by_counting

    rng = np.random.default_rng(seed)
    n = 20_000
    values = np.round(rng.exponential(3.0, n), 1)
    special = rng.random(n)
    values[special < 0.02] = np.nan
    values[(special > 0.5) & (special < 0.51)] = np.inf
    values[(special > 0.6) & (special < 0.61)] = -np.inf
    values[special > 0.97] = 0.0
    if seed % 2:
        values[special > 0.995] = -0.0  # 0.0 and -0.0 together: sorted by np.sort
    got = _sorted_by_counting(values)
    expected = np.sort(values)
    if seed % 2:
        assert got is None
        return
    assert got is not None
    finite = ~np.isnan(expected)
    assert np.array_equal(np.isnan(got), ~finite)
    assert got[finite].tobytes() == expected[finite].tobytes()
    assert _sorted_by_counting(rng.normal(size=n)) is None  # many distinct values: sorted


@pytest.mark.parametrize("case", ["ids", "steps", "zeros", "negative_zero", "nan_last", "short"])
def test_ascending_values_need_no_sort_bit_for_bit(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwater.data_validation import feature_stats
    from headwater.data_validation.feature_stats import NumericPartial, _ascending

    values = {
        "ids": np.arange(20_000, dtype=np.float64) * 3 - 7,
        "steps": np.repeat(np.linspace(-2.0, 5.0, 400), 50),
        "zeros": np.concatenate([np.full(100, -1.5), np.zeros(300), np.arange(1.0, 101.0)]),
        "negative_zero": np.array([-1.0, -0.0, 0.0, -0.0, 0.0, 2.0]),
        "nan_last": np.array([1.0, 2.0, 3.0, np.nan]),
        "short": np.array([4.0]),
    }[case]
    expected = {"ids": True, "steps": True, "zeros": True}.get(case, False)
    assert _ascending(values) is expected
    taken, sorted_ = NumericPartial(), NumericPartial()
    taken.add(values.copy(), None, is_float=True)
    monkeypatch.setattr(feature_stats, "_ascending", lambda values: False)
    sorted_.add(values.copy(), None, is_float=True)  # np.sort, as without the check
    assert taken.sketch is not None
    assert sorted_.sketch is not None
    for mine, theirs in zip(taken.sketch.points(), sorted_.sketch.points(), strict=True):
        assert mine.tobytes() == theirs.tobytes()
    assert (taken.moments.mean, taken.moments.m2) == (
        sorted_.moments.mean,
        sorted_.moments.m2,
    )
    assert (taken.num_zeros, taken.num_nan) == (
        sorted_.num_zeros,
        sorted_.num_nan,
    )


def test_a_full_batch_is_handed_on_before_the_next_one_is_read() -> None:
    from headwater.data_validation.statistics import _BATCH_ROWS, _coalesce

    read: list[int] = []

    def batches():
        for i in range(3):
            read.append(i)
            yield pa.record_batch({"x": np.arange(_BATCH_ROWS // 2)})

    coalesced = _coalesce(batches())
    first = next(coalesced)
    assert first.num_rows == _BATCH_ROWS
    assert read == [0, 1]  # the third batch is not waited for
    assert [b.num_rows for b in coalesced] == [_BATCH_ROWS // 2]


def _slices(batch: pa.RecordBatch, spec: dict) -> dict[str, list[int]]:
    slicer = dv.get_feature_value_slicer(spec)
    out = {key: rows.column("id").to_pylist() for key, rows in slicer(batch)}
    assert all(ids == sorted(ids) for ids in out.values())
    return out


@pytest.mark.parametrize(
    "spec",
    [
        {"s": None},
        {"i": [1, "2", 7]},
        {"s": ["a", "c", "zz"], "i": None},
        {"d": None, "b": None},
        {"s": None, "missing": None},
        {"b": [b"x", "y"]},
    ],
    ids=str,
)
def test_flat_slices_equal_the_joined_slices(spec: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from headwater.data_validation import slicing

    rng = np.random.default_rng(5)
    n = 3000
    strings = [None if k == 3 else "abcd"[k] for k in rng.integers(0, 4, n)]
    batch = pa.record_batch(
        {
            "id": np.arange(n),
            "s": pa.array(strings, pa.large_string()),
            "i": pa.array([None if k == 0 else int(k) for k in rng.integers(0, 9, n)]),
            "d": pa.array(strings).dictionary_encode(),
            "b": pa.array([None if v is None else v.replace("a", "x").encode() for v in strings]),
        }
    )
    fast = _slices(batch, spec)
    assert None not in fast  # a row missing one of the features is in no slice
    monkeypatch.setattr(slicing, "_is_flat", lambda kind: False)  # the Arrow join path
    assert fast == _slices(batch, spec)
    assert sum(len(rows) for rows in fast.values()) > 0


def test_a_table_added_as_one_batch_equals_its_joined_batch() -> None:
    """`add_table` leaves the chunks unjoined: the statistics equal those of one joined batch."""
    rng = np.random.default_rng(11)
    n = 12_000
    batch = pa.record_batch(
        {
            "x": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
            "k": rng.integers(0, 10**9, n),
            "c": pa.array(np.char.add("v", rng.integers(0, 300, n).astype(str)).tolist()),
            "d": pa.array(rng.integers(0, 5, n).astype(str).tolist()).dictionary_encode(),
            "l": pa.array([[float(i % 7)] * (i % 3) for i in range(n)]),
            "w": rng.random(n) + 0.5,
        }
    )
    cuts = [0, 7, 4096, 4097, 9000, n]
    chunks = [batch.slice(a, b - a) for a, b in itertools.pairwise(cuts)]
    for i in (1, 3):  # chunks whose dictionaries differ
        d = chunks[i].column("d").dictionary_decode().dictionary_encode()
        chunks[i] = chunks[i].set_column(3, "d", d)
    table = pa.Table.from_batches(chunks)
    assert table.column("x").num_chunks == len(chunks)
    for options in (None, dv.StatsOptions(weight_feature="w"), dv.StatsOptions(sample_rate=0.5)):
        for threads in (1, 2):
            combiner = StatisticsCombiner(options, threads=threads)
            joined = combiner.create_accumulator()
            combiner.add_input(joined, table.combine_chunks().to_batches()[0])
            unjoined = combiner.add_table(combiner.create_accumulator(), table)
            assert combiner.extract_output(unjoined) == combiner.extract_output(joined)
