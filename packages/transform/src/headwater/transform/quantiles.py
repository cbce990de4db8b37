"""A mergeable weighted quantile summary with a certified rank error.

Each summary keeps sorted distinct values with their weight and bounds on their rank
(`rmin` <= weight of values strictly below, `rmax` >= weight of values at or below), as in
Greenwald-Khanna. Merging two summaries keeps every bound valid without adding error; pruning to
`size` entries adds at most 1/(2*size) of the total weight. Summaries are merged by level (two of
level k make one of level k+1, as in a binary counter), so the error after n batches is at most
(1 + log2(n)) / (2 * size); `extract` reports the error it can certify for the answers it gives.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


@dataclasses.dataclass
class Summary:
    """Sorted distinct values, their weights and their rank bounds."""

    values: np.ndarray
    weights: np.ndarray
    rmin: np.ndarray
    rmax: np.ndarray
    total: float
    """Weight of all the data summarized (pruned entries included)."""


def empty_summary() -> Summary:
    """The summary of no data."""
    e = np.zeros(0, np.float64)
    return Summary(e, e.copy(), e.copy(), e.copy(), 0.0)


def summarize(values: np.ndarray, weights: np.ndarray | None = None) -> Summary:
    """The exact summary of a batch of values (NaNs dropped)."""
    values = np.asarray(values, np.float64).ravel()
    if weights is None:  # sort (not argsort) and count: the hot path of bucketize
        uniq, counts = np.unique(values, return_counts=True)
        uniq, counts = uniq[~np.isnan(uniq)], counts[~np.isnan(uniq)]
        if uniq.size == 0:
            return empty_summary()
        cum = np.cumsum(counts, dtype=np.float64)
        return Summary(uniq, counts.astype(np.float64), cum - counts, cum, float(cum[-1]))
    w = np.asarray(weights, np.float64).ravel()
    keep = ~np.isnan(values)
    if not keep.all():
        values, w = values[keep], w[keep]
    if values.size == 0:
        return empty_summary()
    order = np.argsort(values, kind="stable")
    values, w = values[order], w[order]
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    uniq = values[starts]
    wsum = np.add.reduceat(w, starts)
    cum = np.cumsum(wsum)
    return Summary(uniq, wsum, cum - wsum, cum, float(cum[-1]))


def _bounds_from(other: Summary, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower bound of `other`'s weight strictly below, upper bound at or below, each value."""
    n = other.values.size
    if n == 0:
        z = np.zeros(values.size)
        return z, z
    below = np.searchsorted(other.values, values, side="left") - 1  # last index < v
    above = np.searchsorted(other.values, values, side="right")  # first index > v
    lo = np.where(
        below >= 0, other.rmin[np.maximum(below, 0)] + other.weights[np.maximum(below, 0)], 0.0
    )
    top = np.minimum(above, n - 1)
    hi = np.where(above < n, other.rmax[top] - other.weights[top], other.total)
    return lo, hi


def merge(a: Summary, b: Summary) -> Summary:
    """The summary of the union of two summaries' data, with valid rank bounds."""
    if a.values.size == 0:
        return b
    if b.values.size == 0:
        return a
    a_lo, a_hi = _bounds_from(b, a.values)
    b_lo, b_hi = _bounds_from(a, b.values)
    # Equal values: combine the two entries exactly.
    idx = np.searchsorted(b.values, a.values)
    idx_c = np.minimum(idx, b.values.size - 1)
    same_a = (idx < b.values.size) & (b.values[idx_c] == a.values)
    a_w = a.weights.copy()
    a_rmin = a.rmin + a_lo
    a_rmax = a.rmax + a_hi
    matched_b = idx_c[same_a]
    a_w[same_a] += b.weights[matched_b]
    a_rmin[same_a] = a.rmin[same_a] + b.rmin[matched_b]
    a_rmax[same_a] = a.rmax[same_a] + b.rmax[matched_b]
    keep_b = np.ones(b.values.size, bool)
    keep_b[matched_b] = False
    values = np.concatenate((a.values, b.values[keep_b]))
    order = np.argsort(values, kind="stable")
    return Summary(
        values[order],
        np.concatenate((a_w, b.weights[keep_b]))[order],
        np.concatenate((a_rmin, (b.rmin + b_lo)[keep_b]))[order],
        np.concatenate((a_rmax, (b.rmax + b_hi)[keep_b]))[order],
        a.total + b.total,
    )


def prune(s: Summary, size: int) -> Summary:
    """Keep at most size+1 entries, spread evenly by rank; bounds stay valid."""
    if s.values.size <= size + 1:
        return s
    targets = np.linspace(0.0, s.total, size + 1)
    mid = (s.rmin + s.rmax) / 2.0
    pick = np.clip(np.searchsorted(mid, targets), 0, s.values.size - 1)
    pick = np.unique(np.concatenate((pick, [0, s.values.size - 1])))
    return Summary(s.values[pick], s.weights[pick], s.rmin[pick], s.rmax[pick], s.total)


def query(s: Summary, qs: np.ndarray) -> tuple[np.ndarray, float]:
    """Values at fractional ranks `qs`, and the rank error (fraction of weight) certified."""
    qs = np.asarray(qs, np.float64)
    if s.values.size == 0:
        return np.full(qs.shape, np.nan), 0.0
    total = s.total
    r = qs[:, None] * total
    err = np.maximum(
        np.maximum((s.rmax - s.weights)[None, :] - r, r - (s.rmin + s.weights)[None, :]), 0.0
    )
    best = np.argmin(err, axis=1)
    certified = float(err[np.arange(qs.size), best].max()) / total if qs.size else 0.0
    return s.values[best], certified


def summary_size(epsilon: float) -> int:
    """Entries kept per summary so that ~20 merge levels stay within `epsilon`."""
    return max(64, math.ceil(4.0 / epsilon))


class QuantilesCombiner:
    """Accumulate values into levelled summaries; extract quantiles with their certified error.

    The accumulator is a dict level -> Summary (a binary counter of merged batches).
    """

    def __init__(self, qs: list[float], epsilon: float, dedupe: bool) -> None:
        self.qs = np.asarray(qs, np.float64)
        self.epsilon = epsilon
        self.size = summary_size(epsilon)
        self.dedupe = dedupe
        self.last_error = 0.0

    def create_accumulator(self) -> dict[int, Summary]:
        return {}

    def _insert(self, acc: dict[int, Summary], level: int, s: Summary) -> dict[int, Summary]:
        while level in acc:
            s = prune(merge(acc.pop(level), s), self.size)
            level += 1
        acc[level] = s
        return acc

    def add_input(self, acc: dict[int, Summary], inputs: list[np.ndarray]) -> dict[int, Summary]:
        weights = inputs[1] if len(inputs) > 1 else None
        s = summarize(inputs[0], weights)
        if s.values.size == 0:
            return acc
        return self._insert(acc, 0, prune(s, self.size))

    def merge_accumulators(self, accs: list[dict[int, Summary]]) -> dict[int, Summary]:
        out: dict[int, Summary] = {}
        for acc in accs:
            for level, s in sorted(acc.items()):
                out = self._insert(out, level, s)
        return out

    def summary(self, acc: dict[int, Summary]) -> Summary:
        """All levels merged (no pruning) into one summary."""
        total = empty_summary()
        for _, s in sorted(acc.items()):
            total = merge(total, s)
        return total

    def extract_output(self, acc: dict[int, Summary]) -> list[np.ndarray]:
        values, self.last_error = query(self.summary(acc), self.qs)
        if self.dedupe:
            values = np.unique(values[~np.isnan(values)])
        return [values]


class ElementwiseQuantilesCombiner:
    """One quantile summary per column of [N, d] inputs; outputs boundaries [d, len(qs)]."""

    def __init__(self, qs: list[float], epsilon: float, dim: int) -> None:
        self.columns = [QuantilesCombiner(qs, epsilon, dedupe=False) for _ in range(dim)]
        self.epsilon = epsilon
        self.last_error = 0.0

    def create_accumulator(self) -> list[dict[int, Summary]]:
        return [c.create_accumulator() for c in self.columns]

    def add_input(self, acc: list[dict[int, Summary]], inputs: list[np.ndarray]) -> Any:
        x = np.asarray(inputs[0], np.float64).reshape(-1, len(self.columns))
        return [
            c.add_input(a, [x[:, j]])
            for j, (c, a) in enumerate(zip(self.columns, acc, strict=True))
        ]

    def merge_accumulators(self, accs: list[list[dict[int, Summary]]]) -> Any:
        return [c.merge_accumulators([a[j] for a in accs]) for j, c in enumerate(self.columns)]

    def extract_output(self, acc: list[dict[int, Summary]]) -> list[np.ndarray]:
        rows = [c.extract_output(a)[0] for c, a in zip(self.columns, acc, strict=True)]
        self.last_error = max((c.last_error for c in self.columns), default=0.0)
        return [np.stack(rows) if rows else np.zeros((0, 0))]
