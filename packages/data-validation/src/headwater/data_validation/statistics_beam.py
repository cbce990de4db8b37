"""`GenerateStatistics`: the Beam twin of `generate_statistics`, on the same combiner.

Kept out of the package import (Beam takes seconds to import); `headwater.data_validation`
loads this module the first time `GenerateStatistics` is used.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from headwater.io.extras import missing_extra

try:
    import apache_beam as beam
    from apache_beam import typehints
except ModuleNotFoundError as _exc:
    raise missing_extra(
        _exc, "apache_beam", "headwater-data-validation[beam]", "GenerateStatistics"
    ) from _exc

from headwater.data_validation.combiner import StatisticsCombiner
from headwater.data_validation.options import StatsOptions
from headwater.io.beam_io import (  # also registers RecordBatchCoder for pa.RecordBatch
    CombineGloballyWithDefault,
)

__all__ = ["GenerateStatistics", "StatisticsCombineFn"]

_NAMESPACE = "headwater.data_validation"


class StatisticsCombineFn(beam.CombineFn):
    """`StatisticsCombiner` as a Beam CombineFn (RecordBatches in, one statistics list out)."""

    def __init__(self, options: StatsOptions | None = None) -> None:
        super().__init__()
        self._combiner = StatisticsCombiner(options)
        self._examples = beam.metrics.Metrics.counter(_NAMESPACE, "examples")
        self._batches = beam.metrics.Metrics.counter(_NAMESPACE, "record_batches")

    def create_accumulator(self) -> Any:
        """An empty accumulator."""
        return self._combiner.create_accumulator()

    def add_input(self, accumulator: Any, batch: pa.RecordBatch) -> Any:
        """Folds one RecordBatch in."""
        self._examples.inc(batch.num_rows)
        self._batches.inc()
        return self._combiner.add_input(accumulator, batch)

    def merge_accumulators(self, accumulators: Any) -> Any:
        """Merges partial accumulators from workers."""
        return self._combiner.merge_accumulators(accumulators)

    def compact(self, accumulator: Any) -> Any:
        """The accumulator, already compact."""
        return self._combiner.compact(accumulator)

    def extract_output(self, accumulator: Any) -> statistics_pb2.DatasetFeatureStatisticsList:
        """The statistics list."""
        return self._combiner.extract_output(accumulator)


class _PartialStatistics(StatisticsCombineFn):
    """One input's statistics left as an accumulator, to be merged with other inputs'."""

    def extract_output(self, accumulator: Any) -> Any:
        return self._combiner.compact(accumulator)


class _MergedStatistics(StatisticsCombineFn):
    """Several inputs' accumulators (from `_PartialStatistics`) merged into one statistics list."""

    def add_input(self, accumulator: Any, partial: Any) -> Any:
        return self._combiner.merge_accumulators([accumulator, partial])


class GenerateStatistics(beam.PTransform):
    """Per-feature statistics of a PCollection of RecordBatches, in one pass.

    Applied to a tuple of PCollections (several splits; Beam takes a list as data), it gives
    the statistics of all their rows without a Flatten of the rows: runners that keep a Flatten
    of several inputs in memory (the FnApiRunner) would otherwise hold every row; only one
    small accumulator per input is flattened.

    Example:
        stats = batches | "Stats" >> GenerateStatistics(StatsOptions(sample_rate=0.1))
        both = (train, eval) | "Stats" >> GenerateStatistics()
    """

    def __init__(self, options: StatsOptions | None = None) -> None:
        super().__init__()
        self._options = options or StatsOptions()

    def expand(self, batches: Any) -> beam.PCollection:
        """Wires the combine step (one per input, then a merge, for several inputs)."""
        stats_type = statistics_pb2.DatasetFeatureStatisticsList
        if isinstance(batches, tuple):
            partials = [
                _typed(part)
                | f"PartialStatistics[{i}]"
                >> CombineGloballyWithDefault(_PartialStatistics(self._options))
                for i, part in enumerate(batches)
            ]
            return (
                partials
                | "FlattenPartials" >> beam.Flatten()
                | "MergeStatistics"
                >> CombineGloballyWithDefault(_MergedStatistics(self._options), stats_type)
            )
        return _typed(batches) | "CombineStatistics" >> CombineGloballyWithDefault(
            StatisticsCombineFn(self._options), stats_type
        )


def _typed(batches: beam.PCollection) -> beam.PCollection:
    """`batches`, declared to hold RecordBatches when untyped."""
    if batches.element_type is None or batches.element_type == typehints.Any:
        # Untyped input (a FlatMap reading files): declare what it holds so Beam moves and
        # sizes it with RecordBatchCoder instead of pickling it.
        batches.element_type = pa.RecordBatch
    return batches
