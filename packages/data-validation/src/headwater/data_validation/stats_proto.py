"""Turns partial statistics into tensorflow-metadata `FeatureNameStatistics`, as TFDV fills them.

Numeric features get mean, population std_dev, zeros, min, median, max, an equal-width and a
quantiles histogram (NaN counted in both); string features get unique, top values, average
length and a rank histogram; every feature gets common statistics with a values-per-example
quantiles histogram; weighted variants come with a weight feature.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow_metadata.proto.v0 import path_pb2, statistics_pb2

from headwater.data_validation.feature_stats import (
    BYTES,
    LARGE_PREFIX,
    STRING,
    CommonPartial,
    FeaturePartial,
    NumericPartial,
    StringPartial,
)
from headwater.data_validation.histograms import (
    equal_width_histogram,
    median,
    quantiles_histogram,
)
from headwater.data_validation.options import StatsOptions
from headwater.data_validation.quantiles import QuantileSketch

__all__ = ["NON_UTF8_PLACEHOLDER", "feature_statistics"]

NON_UTF8_PLACEHOLDER = "__BYTES_VALUE__"
LARGE_BYTES_PLACEHOLDER = "__LARGE_BYTES__"


def feature_statistics(
    name: str,
    partial: FeaturePartial,
    *,
    num_examples: int,
    weighted_num_examples: float | None,
    is_bytes: bool,
    options: StatsOptions,
) -> statistics_pb2.FeatureNameStatistics:
    """The `FeatureNameStatistics` of one feature."""
    result = statistics_pb2.FeatureNameStatistics(path=path_pb2.Path(step=[name]))
    feature_type = partial.type if partial.type is not None else STRING
    if is_bytes and feature_type == STRING:
        feature_type = BYTES
    result.type = feature_type
    common = _common(partial.common, num_examples, weighted_num_examples, options)
    if feature_type == BYTES:
        result.bytes_stats.CopyFrom(_bytes(partial.string, common, options))
    elif feature_type == STRING or partial.categorical:
        result.string_stats.CopyFrom(
            _strings(partial.string, common, weighted_num_examples, options)
        )
    else:
        result.num_stats.CopyFrom(
            _numbers(partial.numeric, common, weighted_num_examples is not None, options)
        )
    return result


def _common(
    partial: CommonPartial,
    num_examples: int,
    weighted_num_examples: float | None,
    options: StatsOptions,
) -> statistics_pb2.CommonStatistics:
    result = statistics_pb2.CommonStatistics(
        num_non_missing=partial.num_non_missing,
        num_missing=num_examples - partial.num_non_missing,
        tot_num_values=partial.tot_num_values,
    )
    if partial.num_non_missing:
        result.min_num_values = partial.min_num_values
        result.max_num_values = partial.max_num_values
        result.avg_num_values = partial.tot_num_values / partial.num_non_missing
        values, weights = partial.num_values.points()
        result.num_values_histogram.CopyFrom(
            quantiles_histogram(values, weights, options.num_values_histogram_buckets)
        )
    if weighted_num_examples is not None:
        weighted = result.weighted_common_stats
        weighted.num_non_missing = partial.weighted_num_non_missing
        weighted.num_missing = weighted_num_examples - partial.weighted_num_non_missing
        weighted.tot_num_values = partial.weighted_tot_num_values
        if partial.weighted_num_non_missing:
            weighted.avg_num_values = (
                partial.weighted_tot_num_values / partial.weighted_num_non_missing
            )
    return result


def _sketch_points(
    sketch: QuantileSketch | None, neg_inf: float, pos_inf: float
) -> tuple[np.ndarray, np.ndarray]:
    """Finite sketch points with the (exactly counted) infinities added at either end."""
    if sketch is None:
        values, weights = np.empty(0), np.empty(0)
    else:
        values, weights = sketch.points()
    if neg_inf:
        values = np.concatenate(([-np.inf], values))
        weights = np.concatenate(([neg_inf], weights))
    if pos_inf:
        values = np.concatenate((values, [np.inf]))
        weights = np.concatenate((weights, [pos_inf]))
    return values, weights


def _mean(moments_mean: float, neg_inf: float, pos_inf: float) -> float:
    if neg_inf and pos_inf:
        return math.nan
    if pos_inf:
        return math.inf
    if neg_inf:
        return -math.inf
    return moments_mean


def _numbers(
    partial: NumericPartial | None,
    common: statistics_pb2.CommonStatistics,
    weighted: bool,
    options: StatsOptions,
) -> statistics_pb2.NumericStatistics:
    result = statistics_pb2.NumericStatistics(common_stats=common)
    if partial is None:
        return result
    num_nan = partial.num_nan
    values, weights = _sketch_points(partial.sketch, partial.neg_inf, partial.pos_inf)
    if values.size == 0:
        if num_nan:
            result.histograms.add(type=statistics_pb2.Histogram.STANDARD, num_nan=num_nan)
            result.histograms.add(type=statistics_pb2.Histogram.QUANTILES, num_nan=num_nan)
        return result
    has_inf = bool(partial.neg_inf or partial.pos_inf)
    result.mean = _mean(partial.moments.mean, partial.neg_inf, partial.pos_inf)
    # As TFDV: with infinite values the variance is undefined and std_dev is reported as 0.
    result.std_dev = 0.0 if has_inf else math.sqrt(partial.moments.variance)
    result.num_zeros = partial.num_zeros
    result.min = float(values[0])
    result.max = float(values[-1])
    result.median = median(values, weights)
    result.histograms.append(
        equal_width_histogram(values, weights, options.num_histogram_buckets, num_nan)
    )
    result.histograms.append(
        quantiles_histogram(values, weights, options.num_quantiles_histogram_buckets, num_nan)
    )
    if weighted:
        w_values, w_weights = _sketch_points(
            partial.weighted_sketch, partial.neg_inf_weight, partial.pos_inf_weight
        )
        weighted_stats = result.weighted_numeric_stats
        weighted_stats.mean = _mean(
            partial.weighted_moments.mean, partial.neg_inf_weight, partial.pos_inf_weight
        )
        weighted_stats.std_dev = 0.0 if has_inf else math.sqrt(partial.weighted_moments.variance)
        if w_values.size and w_weights.sum() > 0:
            weighted_stats.median = median(w_values, w_weights)
            weighted_stats.histograms.append(
                equal_width_histogram(w_values, w_weights, options.num_histogram_buckets, num_nan)
            )
            weighted_stats.histograms.append(
                quantiles_histogram(
                    w_values, w_weights, options.num_quantiles_histogram_buckets, num_nan
                )
            )
    return result


def _label(value: object) -> str:
    if isinstance(value, bytes):
        if value.startswith(LARGE_PREFIX):
            return LARGE_BYTES_PLACEHOLDER
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return NON_UTF8_PLACEHOLDER
    return str(value)


def _fill_top(
    target: statistics_pb2.StringStatistics | statistics_pb2.WeightedStringStatistics,
    ranked: list[tuple[object, float]],
    threshold: float,
    options: StatsOptions,
) -> None:
    for rank, (value, frequency) in enumerate(ranked):
        if frequency < threshold:
            break
        label = _label(value)
        if rank < options.num_top_values:
            target.top_values.add(value=label, frequency=frequency)
        if rank < options.num_rank_histogram_buckets:
            target.rank_histogram.buckets.add(
                low_rank=rank, high_rank=rank, label=label, sample_count=frequency
            )


def _strings(
    partial: StringPartial | None,
    common: statistics_pb2.CommonStatistics,
    weighted_num_examples: float | None,
    options: StatsOptions,
) -> statistics_pb2.StringStatistics:
    result = statistics_pb2.StringStatistics(common_stats=common)
    if partial is None or partial.counter is None:
        return result
    if common.tot_num_values:
        result.avg_length = partial.total_bytes / common.tot_num_values
    result.invalid_utf8_count = partial.invalid_utf8
    result.unique = partial.counter.unique()
    k = max(options.num_top_values, options.num_rank_histogram_buckets)
    _fill_top(result, partial.counter.top(k), options.frequency_threshold, options)
    if weighted_num_examples is not None:
        _fill_top(
            result.weighted_string_stats,
            partial.counter.top(k, by_weight=True),
            options.weighted_frequency_threshold,
            options,
        )
    return result


def _bytes(
    partial: StringPartial | None,
    common: statistics_pb2.CommonStatistics,
    options: StatsOptions,
) -> statistics_pb2.BytesStatistics:
    result = statistics_pb2.BytesStatistics(common_stats=common)
    if partial is None or partial.counter is None or not common.tot_num_values:
        return result
    result.unique = partial.counter.unique()
    result.avg_num_bytes = partial.total_bytes / common.tot_num_values
    result.min_num_bytes = partial.min_bytes
    result.max_num_bytes = partial.max_bytes
    result.max_num_bytes_int = partial.max_bytes
    return result
