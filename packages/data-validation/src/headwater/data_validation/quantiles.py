"""Mergeable weighted quantile sketch with a stated rank error; exact while small.

A summary is a sorted array of distinct values with their total weights. A summary with at
most `capacity` distinct values is exact. A larger one is compressed to about `capacity`
points: a point is kept where the cumulative weight crosses a multiple of W / capacity, so
one compression moves less than W / capacity of weight past any value (W: the weight that
summary holds). Summaries are kept in levels by how many raw values they hold (level 0: at
most `capacity`, level l: up to capacity * 2**l) and only summaries of one level are merged,
so every compression lifts the values it touches at least one level. A value therefore goes
through at most log2(n / capacity) + 2 compressions, and with capacity = ceil(32 / epsilon)
the rank error of any quantile stays below epsilon * W for up to 2**40 values.

Within the exact regime (at most `capacity` distinct values overall) the result does not
depend on batching or merge order at all; beyond it, it is deterministic for the same batches
and within the bound for any batching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["QuantileSketch", "quantiles_and_cumulative_weights"]


@dataclass(slots=True)
class _Summary:
    """Sorted distinct values, their weights, and how many raw values they stand for."""

    values: np.ndarray
    weights: np.ndarray
    count: int


def _aggregate_sorted(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums the weights of equal neighbours in sorted `values`."""
    if values.size <= 1:
        return values, weights
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    if starts.size == values.size:
        return values, weights
    return values[starts], np.add.reduceat(weights, starts)


def _level(count: int, capacity: int) -> int:
    """Level of a summary holding `count` raw values."""
    if count <= capacity:
        return 0
    return math.floor(math.log2(count / capacity)) + 1


def _compress(summary: _Summary, capacity: int) -> _Summary:
    """Keeps the points where the cumulative weight crosses a multiple of W / capacity."""
    if summary.values.size <= capacity:
        return summary
    cumulative = np.cumsum(summary.weights)
    total = cumulative[-1]
    if total <= 0:
        keep = np.linspace(0, summary.values.size - 1, capacity).astype(np.int64)
        keep = np.unique(keep)
    else:
        step = np.floor(cumulative * (capacity / total))
        crossing = np.concatenate(([True], step[1:] != step[:-1]))
        crossing[-1] = True
        keep = np.flatnonzero(crossing)
    kept_cumulative = cumulative[keep]
    weights = np.diff(kept_cumulative, prepend=0.0)
    return _Summary(summary.values[keep], weights, summary.count)


@dataclass(slots=True)
class QuantileSketch:
    """Weighted quantiles of a stream of numbers, mergeable, with rank error below epsilon."""

    epsilon: float = 0.01
    levels: dict[int, _Summary] = field(default_factory=dict)

    @property
    def capacity(self) -> int:
        """Points a compressed summary keeps; summaries up to this size are exact."""
        return math.ceil(32 / self.epsilon)

    def add(self, values: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Adds raw values (NaN already removed), each with weight 1 unless given."""
        if values.size == 0:
            return
        values = np.asarray(values, dtype=np.float64)
        if weights is None:
            self.add_sorted(np.sort(values))
            return
        order = np.argsort(values, kind="stable")
        self.add_sorted(values[order], np.asarray(weights, dtype=np.float64)[order])

    def add_sorted(self, values: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Adds ascending raw values (NaN removed), each with weight 1 unless given."""
        n = int(values.size)
        if n == 0:
            return
        capacity = self.capacity
        if weights is not None:
            sorted_values, sorted_weights = _aggregate_sorted(values, weights)
            self._insert(_compress(_Summary(sorted_values, sorted_weights, n), capacity))
            return
        boundary = values[1:] != values[:-1]
        if int(np.count_nonzero(boundary)) < capacity:
            starts = np.flatnonzero(np.concatenate(([True], boundary)))
            counts = np.diff(np.append(starts, n)).astype(np.float64)
            self._insert(_Summary(values[starts], counts, n))
            return
        # Unit weights: the cumulative weight crosses a multiple of n / capacity on a grid.
        ends = (np.arange(1, capacity + 1, dtype=np.int64) * n) // capacity - 1
        keep = np.unique(np.concatenate(([0], ends)))
        weights_kept = np.diff(keep + 1, prepend=0).astype(np.float64)
        kept_values, kept_weights = _aggregate_sorted(values[keep], weights_kept)
        self._insert(_Summary(kept_values, kept_weights, n))

    def add_counts(self, values: np.ndarray, weights: np.ndarray, count: int) -> None:
        """Adds pre-aggregated distinct values with their total weights (`count` raw values)."""
        if values.size == 0:
            return
        if values.size == 1 or bool(np.all(values[1:] > values[:-1])):
            summary = _Summary(
                np.asarray(values, np.float64), np.asarray(weights, np.float64), count
            )
            self._insert(_compress(summary, self.capacity))
            return
        order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
        sorted_values, sorted_weights = _aggregate_sorted(
            np.asarray(values, dtype=np.float64)[order], np.asarray(weights, np.float64)[order]
        )
        self._insert(_compress(_Summary(sorted_values, sorted_weights, count), self.capacity))

    def merge(self, other: QuantileSketch) -> None:
        """Folds `other` into this sketch (`other` is left unchanged)."""
        for summary in other.levels.values():
            self._insert(summary)

    def _insert(self, summary: _Summary) -> None:
        level = _level(summary.count, self.capacity)
        while level in self.levels:
            summary = _merge_two(self.levels.pop(level), summary, self.capacity)
            level = _level(summary.count, self.capacity)
        self.levels[level] = summary

    @property
    def count(self) -> int:
        """Raw values added."""
        return sum(s.count for s in self.levels.values())

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """All levels as one sorted (values, weights) pair, without further compression."""
        if not self.levels:
            return np.empty(0), np.empty(0)
        summaries = [self.levels[k] for k in sorted(self.levels)]
        values = np.concatenate([s.values for s in summaries])
        weights = np.concatenate([s.weights for s in summaries])
        order = np.argsort(values, kind="stable")
        return _aggregate_sorted(values[order], weights[order])


def _merge_two(left: _Summary, right: _Summary, capacity: int) -> _Summary:
    values = np.concatenate([left.values, right.values])
    weights = np.concatenate([left.weights, right.weights])
    order = np.argsort(values, kind="stable")
    merged_values, merged_weights = _aggregate_sorted(values[order], weights[order])
    return _compress(_Summary(merged_values, merged_weights, left.count + right.count), capacity)


def quantiles_and_cumulative_weights(
    values: np.ndarray, weights: np.ndarray, num_buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket boundaries at ranks j/num_buckets and the weight at or below each, as TFDV does.

    Boundary j < num_buckets is the smallest value whose cumulative weight exceeds
    j * W / num_buckets; the last boundary is the maximum.
    """
    cumulative = np.cumsum(weights)
    total = cumulative[-1]
    targets = np.arange(num_buckets) * (total / num_buckets)
    index = np.minimum(np.searchsorted(cumulative, targets, side="right"), values.size - 1)
    index = np.append(index, values.size - 1)
    return values[index], cumulative[index]
