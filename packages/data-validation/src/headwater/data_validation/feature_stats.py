"""Partial statistics of one feature: updated from whole Arrow columns, merged, picklable.

A column is a flat primitive array (null: missing) or a list array (null: missing, an empty
list: present with no values). Numbers are summarised as float64 (moments, min/max, zeros,
NaN and infinity counts, a quantile sketch of the finite values); strings by byte length,
UTF-8 validity and a `ValueCounter`. Per-example value counts feed the common statistics.
An INT feature that meets FLOAT values becomes FLOAT; any other type clash is an error
naming the feature.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import statistics_pb2

from headwater.data_validation._arrow_numpy import from_numpy, to_numpy
from headwater.data_validation.quantiles import QuantileSketch
from headwater.data_validation.stats_errors import StatisticsError
from headwater.data_validation.top_k import ValueCounter, hash_values

__all__ = ["FeaturePartial", "Moments", "update_feature"]

FeatureType = statistics_pb2.FeatureNameStatistics.Type
INT = statistics_pb2.FeatureNameStatistics.INT
FLOAT = statistics_pb2.FeatureNameStatistics.FLOAT
STRING = statistics_pb2.FeatureNameStatistics.STRING
BYTES = statistics_pb2.FeatureNameStatistics.BYTES


@dataclass(slots=True)
class Moments:
    """Weight (or count), mean and sum of squared deviations; merged with Chan's formula."""

    weight: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Adds finite values, optionally weighted."""
        if values.size == 0:
            return
        if weights is None:
            mean = float(values.mean())
            deviations = values - mean
            np.square(deviations, out=deviations)
            self._combine(float(values.size), mean, float(deviations.sum()))
            return
        total = float(weights.sum())
        if total <= 0:
            return
        mean = float((weights * values).sum() / total)
        deviations = values - mean
        np.square(deviations, out=deviations)
        m2 = float((weights * deviations).sum())
        self._combine(total, mean, m2)

    def merge(self, other: Moments) -> None:
        """Folds `other` in."""
        self._combine(other.weight, other.mean, other.m2)

    def _combine(self, weight: float, mean: float, m2: float) -> None:
        if weight <= 0:
            return
        total = self.weight + weight
        delta = mean - self.mean
        self.mean += delta * weight / total
        self.m2 += m2 + delta * delta * self.weight * weight / total
        self.weight = total

    @property
    def variance(self) -> float:
        """Population variance (TFDV's std_dev is its square root)."""
        return max(0.0, self.m2 / self.weight) if self.weight > 0 else 0.0


def _sorted_by_counting(values: np.ndarray) -> np.ndarray | None:
    """`np.sort(values)` for float64 values with few distinct ones, else None (sort them).

    Counting the distinct values with Arrow's hash table and repeating them in order is a few
    times faster than a sort and gives the same array bit for bit: equal floats share their
    bits, except 0.0 and -0.0 (then None) and NaN payloads (NaN are only counted).
    """
    n = int(values.size)
    if n < _COUNTING_MIN_VALUES:
        return None
    if np.unique(values[:_COUNTING_SAMPLE]).size > _COUNTING_SAMPLE * 3 // 4:
        return None
    values = np.ascontiguousarray(values, dtype=np.float64)
    counted = pc.value_counts(pa.Array.from_buffers(pa.float64(), n, [None, pa.py_buffer(values)]))
    distinct = to_numpy(counted.field("values"))
    if distinct.size > n // 8:
        return None
    zeros = distinct == 0
    if zeros.any() and np.signbit(distinct[zeros]).any():
        return None
    order = np.argsort(distinct)
    return np.repeat(distinct[order], to_numpy(counted.field("counts"))[order])


def _ascending(values: np.ndarray) -> bool:
    """Whether `values` (float64) is already what `np.sort(values)` returns, bit for bit.

    Ascending values (an id column, a timestamp) need no sort; NaN compare false, so an array
    holding one is not ascending. Equal floats share their bits except 0.0 and -0.0, which a
    sort may reorder: an ascending array with a negative zero is sorted anyway.
    """
    if values.size < 2 or not bool(np.all(values[1:] >= values[:-1])):
        return False
    if values[0] > 0.0 or values[-1] < 0.0:
        return True
    return not bool(np.signbit(values[values == 0.0]).any())


_COUNTING_MIN_VALUES = 8192
_COUNTING_SAMPLE = 1024


@dataclass(slots=True)
class CommonPartial:
    """Presence and values-per-example of a feature."""

    num_non_missing: int = 0
    min_num_values: int = sys.maxsize
    max_num_values: int = 0
    tot_num_values: int = 0
    weighted_num_non_missing: float = 0.0
    weighted_tot_num_values: float = 0.0
    num_values: QuantileSketch = field(default_factory=QuantileSketch)

    def merge(self, other: CommonPartial) -> None:
        """Folds `other` in."""
        self.num_non_missing += other.num_non_missing
        self.min_num_values = min(self.min_num_values, other.min_num_values)
        self.max_num_values = max(self.max_num_values, other.max_num_values)
        self.tot_num_values += other.tot_num_values
        self.weighted_num_non_missing += other.weighted_num_non_missing
        self.weighted_tot_num_values += other.weighted_tot_num_values
        self.num_values.merge(other.num_values)


@dataclass(slots=True)
class NumericPartial:
    """Moments, extremes, special values and quantile sketches of numeric values."""

    epsilon: float = 0.01
    weighted: bool = False
    num_nan: int = 0
    num_zeros: int = 0
    finite_min: float = np.inf
    finite_max: float = -np.inf
    neg_inf: int = 0
    pos_inf: int = 0
    neg_inf_weight: float = 0.0
    pos_inf_weight: float = 0.0
    moments: Moments = field(default_factory=Moments)
    weighted_moments: Moments = field(default_factory=Moments)
    sketch: QuantileSketch | None = None
    weighted_sketch: QuantileSketch | None = None

    def __post_init__(self) -> None:
        self.sketch = QuantileSketch(self.epsilon)
        if self.weighted:
            self.weighted_sketch = QuantileSketch(self.epsilon)

    def add(self, values: np.ndarray, weights: np.ndarray | None, is_float: bool) -> None:
        """Adds float64 values (missing ones already dropped) with optional weights.

        One sort serves everything: NaN sort last and infinities at the ends, so their counts,
        the zeros, min and max are binary searches, and the sketch takes the sorted values.
        """
        n = int(values.size)
        if n == 0:
            return
        if weights is None:
            ordered = values if _ascending(values) else _sorted_by_counting(values)
            if ordered is None:
                ordered = np.sort(values)
            ordered_weights = None
        else:
            order = np.argsort(values, kind="stable")
            ordered = values[order]
            ordered_weights = weights[order]
        low, high = 0, n
        if is_float:
            if np.isnan(ordered[-1]):
                high = int(np.searchsorted(ordered, np.nan, side="left"))
                self.num_nan += n - high
            if high and ordered[0] == -np.inf:
                low = int(np.searchsorted(ordered[:high], -np.inf, side="right"))
            if high > low and ordered[high - 1] == np.inf:
                top = int(np.searchsorted(ordered[:high], np.inf, side="left"))
                self.pos_inf += high - top
                if ordered_weights is not None:
                    self.pos_inf_weight += float(ordered_weights[top:high].sum())
                high = top
            self.neg_inf += low
            if ordered_weights is not None and low:
                self.neg_inf_weight += float(ordered_weights[:low].sum())
        finite = ordered[low:high]
        if finite.size == 0:
            return
        self.num_zeros += int(
            np.searchsorted(finite, 0.0, side="right") - np.searchsorted(finite, 0.0, side="left")
        )
        self.finite_min = min(self.finite_min, float(finite[0]))
        self.finite_max = max(self.finite_max, float(finite[-1]))
        self.moments.add(finite)
        assert self.sketch is not None
        self.sketch.add_sorted(finite)
        if ordered_weights is not None and self.weighted_sketch is not None:
            finite_weights = ordered_weights[low:high]
            self.weighted_moments.add(finite, finite_weights)
            self.weighted_sketch.add_sorted(finite, finite_weights)

    def add_integers(self, values: np.ndarray) -> bool:
        """Adds unweighted int64 values by counting them (no sort) if their range is small.

        Returns False, adding nothing, when the range is too wide for counting to pay off.
        """
        n = int(values.size)
        if n == 0:
            return True
        low, high = int(values.min()), int(values.max())
        if high - low > max(n // 4, 1 << 12):
            return False
        counts = np.bincount(values - low if low else values, minlength=1)
        present = np.flatnonzero(counts)
        distinct = (present + low).astype(np.float64)
        weights = counts[present].astype(np.float64)
        if low <= 0 <= high:
            self.num_zeros += int(counts[-low])
        self.finite_min = min(self.finite_min, float(low))
        self.finite_max = max(self.finite_max, float(high))
        mean = float((distinct * weights).sum() / n)
        m2 = float((weights * np.square(distinct - mean)).sum())
        self.moments._combine(float(n), mean, m2)
        assert self.sketch is not None
        self.sketch.add_counts(distinct, weights, n)
        return True

    def merge(self, other: NumericPartial) -> None:
        """Folds `other` in."""
        self.num_nan += other.num_nan
        self.num_zeros += other.num_zeros
        self.finite_min = min(self.finite_min, other.finite_min)
        self.finite_max = max(self.finite_max, other.finite_max)
        self.neg_inf += other.neg_inf
        self.pos_inf += other.pos_inf
        self.neg_inf_weight += other.neg_inf_weight
        self.pos_inf_weight += other.pos_inf_weight
        self.moments.merge(other.moments)
        self.weighted_moments.merge(other.weighted_moments)
        assert self.sketch is not None
        assert other.sketch is not None
        self.sketch.merge(other.sketch)
        if self.weighted_sketch is not None and other.weighted_sketch is not None:
            self.weighted_sketch.merge(other.weighted_sketch)


@dataclass(slots=True)
class StringPartial:
    """Byte lengths, UTF-8 validity and value counts of string (or categorical) values."""

    exact_limit: int = 1 << 17
    total_bytes: int = 0
    min_bytes: int = sys.maxsize
    max_bytes: int = 0
    invalid_utf8: int = 0
    counter: ValueCounter | None = None

    def __post_init__(self) -> None:
        self.counter = ValueCounter(exact_limit=self.exact_limit)

    def merge(self, other: StringPartial) -> None:
        """Folds `other` in."""
        self.total_bytes += other.total_bytes
        self.min_bytes = min(self.min_bytes, other.min_bytes)
        self.max_bytes = max(self.max_bytes, other.max_bytes)
        self.invalid_utf8 += other.invalid_utf8
        assert self.counter is not None
        assert other.counter is not None
        self.counter.merge(other.counter)


@dataclass(slots=True)
class FeaturePartial:
    """Everything known so far about one feature."""

    type: int | None = None
    categorical: bool = False
    common: CommonPartial = field(default_factory=CommonPartial)
    numeric: NumericPartial | None = None
    string: StringPartial | None = None

    def merge(self, name: str, other: FeaturePartial) -> None:
        """Folds `other` in; INT and FLOAT make FLOAT, other clashes are errors."""
        self.type = _merged_type(name, self.type, other.type)
        self.categorical = self.categorical or other.categorical
        self.common.merge(other.common)
        if other.numeric is not None:
            if self.numeric is None:
                self.numeric = other.numeric
            else:
                self.numeric.merge(other.numeric)
        if other.string is not None:
            if self.string is None:
                self.string = other.string
            else:
                self.string.merge(other.string)


def _merged_type(name: str, left: int | None, right: int | None) -> int | None:
    if left is None or left == right:
        return right if left is None else left
    if right is None:
        return left
    if {left, right} == {INT, FLOAT}:
        return FLOAT
    raise StatisticsError(
        f"feature {name!r} has values of two types: {FeatureType.Name(left)} in some "
        f"batches and {FeatureType.Name(right)} in others; give it one type (for example "
        "with a schema or column_types when reading)"
    )


def _arrow_type(name: str, value_type: pa.DataType) -> int | None:
    if pa.types.is_null(value_type):
        return None
    if pa.types.is_integer(value_type) or pa.types.is_boolean(value_type):
        return INT
    if pa.types.is_floating(value_type) or pa.types.is_decimal(value_type):
        return FLOAT
    if (
        pa.types.is_string(value_type)
        or pa.types.is_large_string(value_type)
        or pa.types.is_binary(value_type)
        or pa.types.is_large_binary(value_type)
        or pa.types.is_string_view(value_type)
        or pa.types.is_binary_view(value_type)
    ):
        return STRING
    raise StatisticsError(
        f"feature {name!r} has Arrow type {value_type}; statistics support integers, "
        "floats, strings and bytes, flat or in one level of lists"
    )


def _is_list(t: pa.DataType) -> bool:
    return (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def _joined(column: pa.ChunkedArray) -> pa.Array:
    """The chunks of `column` as one array (dictionary chunks decoded first)."""
    if pa.types.is_dictionary(column.type):
        column = pa.chunked_array(
            [chunk.dictionary_decode() for chunk in column.chunks], column.type.value_type
        )
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks()


def _decode(array: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        return array.dictionary_decode()
    return array


def update_feature(
    partial: FeaturePartial,
    name: str,
    array: pa.Array | pa.ChunkedArray,
    weights: np.ndarray | None,
    *,
    forced_type: int | None,
    categorical: bool,
    epsilon: float,
    exact_limit: int,
) -> None:
    """Folds one column of a batch into `partial`.

    `weights` holds one weight per row; `forced_type` is the schema's type (None: infer).
    A chunked column (of a table added as one batch) is joined here first.
    """
    if isinstance(array, pa.ChunkedArray):
        array = _joined(array)
    array = _decode(array)
    num_rows = len(array)
    if _is_list(array.type):
        values = _decode(pc.list_flatten(array))
        if _is_list(values.type):
            raise StatisticsError(
                f"feature {name!r} is a list of lists ({array.type}); statistics support "
                "one level of lists"
            )
        lengths_array = pc.list_value_length(array)
        present = num_rows - array.null_count
        lengths = to_numpy(lengths_array.drop_null()).astype(np.int64)
        value_weights = None
        if weights is not None:
            parents = to_numpy(pc.list_parent_indices(array))
            value_weights = weights[parents]
            row_weights = weights[to_numpy(array.is_valid())]
        if values.null_count:
            if value_weights is not None:
                value_weights = value_weights[to_numpy(values.is_valid())]
            values = values.drop_null()
    else:
        present = num_rows - array.null_count
        lengths = None
        values = array
        value_weights = weights
        if weights is not None:
            row_weights = weights
        if array.null_count:
            values = array.drop_null()
            if weights is not None:
                value_weights = weights[to_numpy(array.is_valid())]
                row_weights = value_weights

    inferred = _arrow_type(name, values.type)
    value_type = inferred
    if forced_type is not None and inferred is not None:
        if (forced_type == STRING) != (inferred == STRING):
            raise StatisticsError(
                f"feature {name!r}: the schema says {FeatureType.Name(forced_type)} but the "
                f"data holds {values.type} values"
            )
        value_type = forced_type
    elif forced_type is not None:
        value_type = forced_type
    partial.type = _merged_type(name, partial.type, value_type)
    partial.categorical = partial.categorical or categorical

    common = partial.common
    if present:
        common.num_non_missing += present
        if lengths is None:
            common.min_num_values = min(common.min_num_values, 1)
            common.max_num_values = max(common.max_num_values, 1)
            common.tot_num_values += present
            common.num_values.add_counts(np.array([1.0]), np.array([float(present)]), present)
        else:
            common.min_num_values = min(common.min_num_values, int(lengths.min()))
            common.max_num_values = max(common.max_num_values, int(lengths.max()))
            common.tot_num_values += int(lengths.sum())
            counts = np.bincount(lengths)
            distinct = np.flatnonzero(counts)
            common.num_values.add_counts(
                distinct.astype(np.float64), counts[distinct].astype(np.float64), present
            )
        if weights is not None:
            common.weighted_num_non_missing += float(row_weights.sum())
            if lengths is None:
                common.weighted_tot_num_values += float(row_weights.sum())
            else:
                common.weighted_tot_num_values += float((lengths * row_weights).sum())

    if inferred is None or len(values) == 0:
        return
    if inferred == STRING or categorical:
        if partial.string is None:
            partial.string = StringPartial(exact_limit=exact_limit)
        _update_strings(partial.string, name, values, value_weights, inferred == STRING)
    else:
        if partial.numeric is None:
            partial.numeric = NumericPartial(epsilon=epsilon, weighted=weights is not None)
        numbers = to_numpy(values)
        if (
            value_weights is None
            and inferred == INT
            and numbers.dtype.kind in "iu"
            and partial.numeric.add_integers(numbers.astype(np.int64, copy=False))
        ):
            return
        if numbers.dtype != np.float64:
            numbers = numbers.astype(np.float64)
        partial.numeric.add(numbers, value_weights, inferred == FLOAT)


def _update_strings(
    partial: StringPartial,
    name: str,
    values: pa.Array,
    weights: np.ndarray | None,
    is_string: bool,
) -> None:
    if is_string:
        if pa.types.is_string_view(values.type) or pa.types.is_binary_view(values.type):
            values = values.cast(pa.binary())
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            as_bytes = values.cast(
                pa.large_binary() if pa.types.is_large_string(values.type) else pa.binary()
            )
        else:
            as_bytes = values
            try:
                values.cast(
                    pa.large_string() if pa.types.is_large_binary(values.type) else pa.string()
                )
            except pa.ArrowInvalid:
                partial.invalid_utf8 += sum(1 for v in values.to_pylist() if not _is_utf8(v))
        if pa.types.is_large_binary(as_bytes.type):
            as_bytes = as_bytes.cast(pa.binary())
        lengths = pc.binary_length(as_bytes)
        counted = _shorten_large(as_bytes, lengths)
    else:
        if pa.types.is_floating(values.type):
            counted = values.cast(pa.float64())
        else:
            counted = values.cast(pa.int64())
        lengths = pc.binary_length(counted.cast(pa.string()))
    min_max = pc.min_max(lengths)
    partial.total_bytes += int(pc.sum(lengths).as_py() or 0)
    partial.min_bytes = min(partial.min_bytes, int(min_max["min"].as_py()))
    partial.max_bytes = max(partial.max_bytes, int(min_max["max"].as_py()))
    assert partial.counter is not None
    try:
        partial.counter.add(counted, weights)
    except pa.ArrowException as exc:
        raise StatisticsError(f"feature {name!r}: cannot count values: {exc}") from exc


LARGE_STRING_BYTES = 1024
"""Values longer than this are counted by a hash (TFDV shows them as '__LARGE_BYTES__')."""
LARGE_PREFIX = b"\xff__LARGE_BYTES__"


def _shorten_large(values: pa.Array, lengths: pa.Array) -> pa.Array:
    """Replaces values over LARGE_STRING_BYTES by a prefix and their 64-bit hash."""
    large = to_numpy(lengths) > LARGE_STRING_BYTES
    if not large.any():
        return values
    mask = from_numpy(large)
    hashes = hash_values(values.filter(mask)).astype("<u8")
    width = len(LARGE_PREFIX) + 8
    data = np.empty((hashes.size, width), dtype=np.uint8)
    data[:, : len(LARGE_PREFIX)] = np.frombuffer(LARGE_PREFIX, dtype=np.uint8)
    data[:, len(LARGE_PREFIX) :] = hashes.view(np.uint8).reshape(-1, 8)
    offsets = np.arange(hashes.size + 1, dtype=np.int32) * width
    surrogates = pa.Array.from_buffers(
        pa.binary(), int(hashes.size), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return pc.replace_with_mask(values, mask, surrogates)


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
