"""Bulk inference on Beam: Beam's own RunInference over the model-running seam.

`BeamModelHandler` adapts any `headwater.io.ModelHandler` (the SavedModel one, or a user's) to
Beam's `apache_beam.ml.inference.base.ModelHandler`, so the model is loaded once per worker and
shared as Beam shares models. Elements are Arrow RecordBatches (already thousands of rows, so
Beam hands them over one at a time); each becomes an `InferenceBatch` from the same `Inferrer`
the plain path uses.

Example:
    results = batches | RunBulkInference(SavedModelHandler(path), ModelSpec())
    _ = results | WritePredictionLogs(os.path.join(out, "prediction_logs"))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.ml.inference import base

import headwater.io as hio
from headwater.bulk_inferrer.columns import inference_columns
from headwater.bulk_inferrer.config import ModelSpec
from headwater.bulk_inferrer.inference import InferenceBatch, Inferrer
from headwater.bulk_inferrer.prediction_log import prediction_log_framed
from headwater.bulk_inferrer.reading import SerializedBatch, read_serialized_examples
from headwater.bulk_inferrer.writers import (
    PredictionLogWriter,
    published,
    shard_name,
)
from headwater.io.filesystems import using_beam

__all__ = [
    "BeamModelHandler",
    "ReadSerializedExamples",
    "RunBulkInference",
    "WriteInferenceColumns",
    "WritePredictionLogs",
]

_Batch = pa.RecordBatch | SerializedBatch


class BeamModelHandler(base.ModelHandler[_Batch, InferenceBatch, Inferrer]):
    """Beam's ModelHandler over a Headwater ModelHandler: RecordBatch or SerializedBatch in,
    InferenceBatch out."""

    def __init__(self, model_handler: hio.ModelHandler, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self._handler = model_handler
        self._spec = spec or ModelSpec()

    def load_model(self) -> Inferrer:
        """Load the model once per worker and check the spec's signatures against it."""
        return Inferrer(self._handler.load_model(), self._spec)

    def run_inference(
        self,
        batch: Sequence[_Batch],
        model: Inferrer,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[InferenceBatch]:
        """InferenceBatches of at most spec.batch_size rows for every RecordBatch."""
        return [result for records in batch for result in model.infer_chunks(records)]

    def get_num_bytes(self, batch: Sequence[_Batch]) -> int:
        """Arrow bytes of the batches (Beam's throughput metrics)."""
        return sum(
            records.nbytes if isinstance(records, pa.RecordBatch) else records.examples.nbytes
            for records in batch
        )

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        """RecordBatches are batches already: hand them over one at a time."""
        return {"min_batch_size": 1, "max_batch_size": 1}

    def get_metrics_namespace(self) -> str:
        """Namespace of Beam's inference metrics."""
        return "HeadwaterBulkInferrer"


class ReadSerializedExamples(beam.PTransform):
    """TFRecord files of tf.Example -> SerializedBatches, as `read_serialized_examples` reads them.

    A serialized-tf.Example signature is fed the records as read; `columns` are the features
    decoded beside them ([]: none, None: all, pinned per file). See `Inferrer.columns_to_decode`.

    Example:
        batches = pipeline | ReadSerializedExamples("examples/*.gz", columns=["trip_id"])
    """

    def __init__(
        self,
        pattern: str | os.PathLike[str],
        *,
        columns: Sequence[str] | None = (),
        batch_size: int = 65536,
    ) -> None:
        super().__init__()
        with using_beam():
            self._files = hio.resolve_files(pattern)
        self._columns = None if columns is None else list(columns)
        self._batch_size = batch_size

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        columns, batch_size = self._columns, self._batch_size

        def read(path: str) -> Iterator[SerializedBatch]:
            with using_beam():
                yield from read_serialized_examples(path, columns=columns, batch_size=batch_size)

        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "ReadFiles" >> beam.FlatMap(read).with_output_types(SerializedBatch)
        )


class RunBulkInference(beam.PTransform):
    """PCollection of RecordBatches or SerializedBatches -> PCollection of InferenceBatches, via
    Beam's RunInference.

    Example:
        results = batches | RunBulkInference(SavedModelHandler("model/"), ModelSpec())
    """

    def __init__(self, model_handler: hio.ModelHandler, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self._beam_handler = BeamModelHandler(model_handler, spec)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "RunInference" >> base.RunInference(self._beam_handler)


class _DealToShards(beam.DoFn):
    """Key each element by a shard number, round robin."""

    def __init__(self, num_shards: int) -> None:
        self._num_shards = num_shards
        self._next = 0

    def process(self, element: Any) -> Iterator[tuple[int, Any]]:
        shard = self._next % self._num_shards
        self._next += 1
        yield shard, element


class WritePredictionLogs(beam.PTransform):
    """InferenceBatches -> gzip TFRecord files of PredictionLogs; yields the paths written.

    Shards are `<file_prefix>-SSSSS-of-NNNNN.gz`, each written under a temporary name and
    renamed into place when complete (an empty shard is an empty TFRecord file).
    """

    def __init__(self, file_prefix: str, *, num_shards: int = 1) -> None:
        super().__init__()
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards!r}")
        self._finals = [shard_name(file_prefix, i, num_shards, ".gz") for i in range(num_shards)]

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        finals = self._finals

        def write_shard(item: tuple[int, Mapping[str, Iterable[Any]]]) -> str:
            shard, grouped = item
            with published(finals[shard]) as tmp:
                writer = PredictionLogWriter(tmp)
                try:
                    for framed, num_records in grouped["records"]:
                        writer.write_framed(framed, num_records)
                finally:
                    writer.close()
            return finals[shard]

        # One framed buffer per batch crosses the shuffle, not one bytes object per example.
        records = results | "Records" >> beam.Map(_framed_logs)
        keyed = records | "Deal" >> beam.ParDo(_DealToShards(len(finals)))
        shards = results.pipeline | "Shards" >> beam.Create([(i, None) for i in range(len(finals))])
        grouped = {"records": keyed, "shard": shards} | "Group" >> beam.CoGroupByKey()
        return grouped | "Write" >> beam.Map(write_shard)


def _framed_logs(result: InferenceBatch) -> tuple[bytes, int]:
    """(the batch's PredictionLogs TFRecord-framed, their number)."""
    return prediction_log_framed(result), result.num_rows


class WriteInferenceColumns(beam.PTransform):
    """InferenceBatches -> Parquet files of `keep_columns` beside the outputs; yields the paths."""

    def __init__(
        self, file_prefix: str, keep_columns: Sequence[str] = (), *, num_shards: int = 1
    ) -> None:
        super().__init__()
        self._prefix, self._keep, self._num_shards = file_prefix, tuple(keep_columns), num_shards

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        keep = self._keep
        columns = results | "Columns" >> beam.Map(
            lambda result: inference_columns(result, keep)
        ).with_output_types(pa.RecordBatch)
        return columns | "Parquet" >> hio.WriteParquet(self._prefix, num_shards=self._num_shards)
