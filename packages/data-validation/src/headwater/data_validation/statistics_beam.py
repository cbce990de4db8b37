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

import headwater.io.beam_io  # noqa: F401  (registers RecordBatchCoder for pa.RecordBatch)
from headwater.data_validation.combiner import StatisticsCombiner
from headwater.data_validation.options import StatsOptions

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


class GenerateStatistics(beam.PTransform):
    """Per-feature statistics of a PCollection of RecordBatches, in one pass.

    Example:
        stats = batches | "Stats" >> GenerateStatistics(StatsOptions(sample_rate=0.1))
    """

    def __init__(self, options: StatsOptions | None = None) -> None:
        super().__init__()
        self._options = options or StatsOptions()

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        """Wires the combine step."""
        if batches.element_type is None or batches.element_type == typehints.Any:
            # Untyped input (a FlatMap reading files): declare what it holds so Beam moves and
            # sizes it with RecordBatchCoder instead of pickling it.
            batches.element_type = pa.RecordBatch
        return batches | "CombineStatistics" >> beam.CombineGlobally(
            StatisticsCombineFn(self._options)
        ).with_input_types(pa.RecordBatch).with_output_types(
            statistics_pb2.DatasetFeatureStatisticsList
        )
