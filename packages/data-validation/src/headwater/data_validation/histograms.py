"""Histogram protos (quantiles, equal-width) and the median from quantile-sketch points.

Layouts follow TFDV: a quantiles histogram has `num_buckets` buckets between the boundaries
at ranks j/num_buckets, each with W/num_buckets weight, where buckets that share boundaries
(repeated values) share their weight evenly; an equal-width histogram spans the finite
minimum to the finite maximum in `num_buckets` equal buckets, with -inf and +inf values in
point buckets of their own at either end.
"""

from __future__ import annotations

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

from headwater.data_validation.quantiles import quantiles_and_cumulative_weights

__all__ = ["equal_width_histogram", "median", "quantiles_histogram"]

Histogram = statistics_pb2.Histogram


def median(values: np.ndarray, weights: np.ndarray) -> float:
    """The smallest value whose cumulative weight exceeds half the total (TFDV's median)."""
    boundaries, _ = quantiles_and_cumulative_weights(values, weights, 2)
    return float(boundaries[1])


def _bucket_weights(boundaries: np.ndarray, cumulative: np.ndarray) -> np.ndarray:
    """Weight per bucket; buckets ending on one value share it, as do leading point buckets."""
    counts = np.diff(cumulative.astype(np.float64))
    high = boundaries[1:]
    low = boundaries[:-1]
    start = 0
    while start < counts.size:
        end = start + 1
        while end < counts.size and high[end] == high[start]:
            end += 1
        if end - start > 1:
            counts[start:end] = counts[start:end].sum() / (end - start)
        start = end
    same_as_first = 1
    while (
        same_as_first < counts.size
        and low[same_as_first] == low[0]
        and high[same_as_first] == high[0]
    ):
        same_as_first += 1
    counts[:same_as_first] += cumulative[0] / same_as_first
    return counts


def quantiles_histogram(
    values: np.ndarray, weights: np.ndarray, num_buckets: int, num_nan: float = 0
) -> statistics_pb2.Histogram:
    """A QUANTILES histogram with `num_buckets` buckets of (about) equal weight."""
    result = Histogram(type=Histogram.QUANTILES)
    if num_nan:
        result.num_nan = int(num_nan)
    if values.size == 0:
        return result
    boundaries, cumulative = quantiles_and_cumulative_weights(values, weights, num_buckets)
    counts = _bucket_weights(boundaries, cumulative)
    for low, high, count in zip(boundaries[:-1], boundaries[1:], counts, strict=True):
        result.buckets.add(low_value=float(low), high_value=float(high), sample_count=float(count))
    return result


def equal_width_histogram(
    values: np.ndarray, weights: np.ndarray, num_buckets: int, num_nan: float = 0
) -> statistics_pb2.Histogram:
    """A STANDARD histogram over [finite min, finite max] plus -inf / +inf point buckets."""
    result = Histogram(type=Histogram.STANDARD)
    if num_nan:
        result.num_nan = int(num_nan)
    if values.size == 0:
        return result
    finite = np.isfinite(values)
    neg_inf = float(weights[values == -np.inf].sum())
    pos_inf = float(weights[values == np.inf].sum())
    if neg_inf:
        result.buckets.add(low_value=-np.inf, high_value=-np.inf, sample_count=neg_inf)
    if finite.any():
        finite_values = values[finite]
        finite_weights = weights[finite]
        low, high = float(finite_values[0]), float(finite_values[-1])
        edges = np.array([low, high]) if low == high else np.linspace(low, high, num_buckets + 1)
        if np.isfinite(edges).all():
            cumulative = np.concatenate(([0.0], np.cumsum(finite_weights)))
            below = cumulative[np.searchsorted(finite_values, edges, side="left")]
            below[-1] = cumulative[-1]
            for i, count in enumerate(np.diff(below)):
                result.buckets.add(
                    low_value=float(edges[i]),
                    high_value=float(edges[i + 1]),
                    sample_count=float(count),
                )
    if pos_inf:
        result.buckets.add(low_value=np.inf, high_value=np.inf, sample_count=pos_inf)
    return result
