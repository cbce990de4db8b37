"""Lift of each categorical feature value for each label value, as TFDV's LiftStatsGenerator.

lift(x, y) = P(label = y | feature = x) / P(label = y), counted over examples that have a
label (an example counts once per distinct value it holds). The result goes where TFDV puts
it: `cross_features` (path_x = the feature, path_y = the label) with one lift series per label
value, values sorted by lift (then value), and a `Lift (Y=<y>)` rank histogram in the
feature's custom statistics. Counts are exact and mergeable (Arrow group-bys); a feature with
more than `exact_limit` distinct values is left out, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import path_pb2, statistics_pb2

from headwater.data_validation.stats_errors import StatisticsError

__all__ = ["LiftGenerator"]

_ROW = "__row__"


@dataclass(slots=True)
class LiftAccumulator:
    """Example counts per label value, per feature value, and per (feature, label) pair."""

    examples: int = 0
    y_counts: pa.Table | None = None
    x_counts: dict[str, pa.Table] = field(default_factory=dict)
    xy_counts: dict[str, pa.Table] = field(default_factory=dict)
    too_many: set[str] = field(default_factory=set)


def _values_by_row(column: pa.Array) -> pa.Table:
    """Distinct (row, value) pairs of a flat or list column, nulls dropped."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        values = pc.list_flatten(column)
        rows = pc.list_parent_indices(column).cast(pa.int64())
    else:
        values = column
        rows = pa.array(np.arange(len(column), dtype=np.int64))
    if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
        values = values.cast(pa.string() if pa.types.is_large_string(values.type) else pa.binary())
    valid = values.is_valid()
    table = pa.table({_ROW: rows.filter(valid), "value": values.filter(valid)})
    return table.group_by([_ROW, "value"], use_threads=False).aggregate([])


def _count(table: pa.Table, keys: list[str]) -> pa.Table:
    counted = table.group_by(keys, use_threads=False).aggregate([([], "count_all")])
    return counted.select([*keys, "count_all"]).rename_columns([*keys, "count"])


def _add_counts(left: pa.Table | None, right: pa.Table, keys: list[str]) -> pa.Table:
    if left is None:
        return right
    merged = pa.concat_tables([left, right.cast(left.schema)])
    summed = merged.group_by(keys, use_threads=False).aggregate([("count", "sum")])
    return summed.select([*keys, "count_sum"]).rename_columns([*keys, "count"])


def _display(value: object) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "__BYTES_VALUE__"
    return str(value)


class LiftGenerator:
    """Lift of categorical features against the label `label`; a `StatsGenerator`."""

    name = "LiftGenerator"

    def __init__(self, label: str, categorical_numbers: Iterable[str], exact_limit: int) -> None:
        self._label = label
        self._categorical_numbers = set(categorical_numbers)
        self._exact_limit = exact_limit

    def _is_categorical(self, name: str, column: pa.Array) -> bool:
        """String features, and numeric ones the schema calls categorical."""
        if name == self._label:
            return False
        if name in self._categorical_numbers:
            return True
        value_type = column.type
        if pa.types.is_dictionary(value_type):
            value_type = value_type.value_type
        if pa.types.is_list(value_type) or pa.types.is_large_list(value_type):
            value_type = value_type.value_type
        return (
            pa.types.is_string(value_type)
            or pa.types.is_large_string(value_type)
            or pa.types.is_binary(value_type)
            or pa.types.is_large_binary(value_type)
        )

    def create_accumulator(self) -> LiftAccumulator:
        """Nothing counted yet."""
        return LiftAccumulator()

    def add_input(self, accumulator: LiftAccumulator, batch: pa.RecordBatch) -> LiftAccumulator:
        """Counts one batch."""
        if self._label not in batch.schema.names or batch.num_rows == 0:
            return accumulator
        labels = _values_by_row(batch.column(self._label))
        if pa.types.is_floating(labels.schema.field("value").type):
            raise StatisticsError(
                f"label feature {self._label!r} holds floats; lift needs a categorical label "
                "(integers or strings)"
            )
        labels = labels.rename_columns([_ROW, "y"])
        labelled_rows = pc.unique(labels.column(_ROW))
        accumulator.examples += len(labelled_rows)
        accumulator.y_counts = _add_counts(accumulator.y_counts, _count(labels, ["y"]), ["y"])
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name in accumulator.too_many or not self._is_categorical(name, column):
                continue
            values = _values_by_row(column).rename_columns([_ROW, "x"])
            values = values.filter(pc.is_in(values.column(_ROW), value_set=labelled_rows))
            x_counts = _add_counts(accumulator.x_counts.get(name), _count(values, ["x"]), ["x"])
            if x_counts.num_rows > self._exact_limit:
                accumulator.too_many.add(name)
                accumulator.x_counts.pop(name, None)
                accumulator.xy_counts.pop(name, None)
                continue
            accumulator.x_counts[name] = x_counts
            pairs = _count(values.join(labels, _ROW), ["x", "y"])
            accumulator.xy_counts[name] = _add_counts(
                accumulator.xy_counts.get(name), pairs, ["x", "y"]
            )
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[LiftAccumulator]) -> LiftAccumulator:
        """Sums the counts."""
        result = LiftAccumulator()
        for accumulator in accumulators:
            result.examples += accumulator.examples
            result.too_many |= accumulator.too_many
            if accumulator.y_counts is not None:
                result.y_counts = _add_counts(result.y_counts, accumulator.y_counts, ["y"])
            for name, table in accumulator.x_counts.items():
                result.x_counts[name] = _add_counts(result.x_counts.get(name), table, ["x"])
            for name, table in accumulator.xy_counts.items():
                result.xy_counts[name] = _add_counts(result.xy_counts.get(name), table, ["x", "y"])
        for name in result.too_many:
            result.x_counts.pop(name, None)
            result.xy_counts.pop(name, None)
        return result

    def extract_output(
        self, accumulator: LiftAccumulator
    ) -> statistics_pb2.DatasetFeatureStatistics:
        """Cross-feature lift series and `Lift (Y=...)` custom statistics per feature."""
        result = statistics_pb2.DatasetFeatureStatistics()
        if accumulator.y_counts is None or not accumulator.examples:
            return result
        y_counts = dict(
            zip(
                accumulator.y_counts.column("y").to_pylist(),
                accumulator.y_counts.column("count").to_pylist(),
                strict=True,
            )
        )
        total = accumulator.examples
        for name in sorted(accumulator.x_counts):
            x_counts = dict(
                zip(
                    accumulator.x_counts[name].column("x").to_pylist(),
                    accumulator.x_counts[name].column("count").to_pylist(),
                    strict=True,
                )
            )
            pairs = accumulator.xy_counts[name]
            xy = {
                (x, y): count
                for x, y, count in zip(
                    pairs.column("x").to_pylist(),
                    pairs.column("y").to_pylist(),
                    pairs.column("count").to_pylist(),
                    strict=True,
                )
            }
            cross = result.cross_features.add(
                path_x=path_pb2.Path(step=[name]), path_y=path_pb2.Path(step=[self._label])
            )
            feature = result.features.add(path=path_pb2.Path(step=[name]))
            for y in sorted(y_counts, key=lambda v: (str(type(v)), v)):
                series = cross.categorical_cross_stats.lift.lift_series.add(y_count=y_counts[y])
                if isinstance(y, int):
                    series.y_int = y
                else:
                    series.y_string = _display(y)
                histogram = feature.custom_stats.add(name=f"Lift (Y={_display(y)})").rank_histogram
                rate = y_counts[y] / total
                lifts = sorted(
                    (
                        (xy.get((x, y), 0) / x_count / rate, x)
                        for x, x_count in x_counts.items()
                        if x_count
                    ),
                    key=lambda pair: (-pair[0], _display(pair[1])),
                )
                for lift, x in lifts:
                    value = series.lift_values.add(
                        lift=lift, x_count=x_counts[x], x_and_y_count=xy.get((x, y), 0)
                    )
                    if isinstance(x, int):
                        value.x_int = x
                    else:
                        value.x_string = _display(x)
                    histogram.buckets.add(label=_display(x), sample_count=lift)
        return result
