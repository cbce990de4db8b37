"""Features of a large batch updated on several threads give the same statistics as on one,
and the first bad column (in column order) is the error raised."""

from __future__ import annotations

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
