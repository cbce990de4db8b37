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

import contextlib
import os
import random
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeAlias

import apache_beam as beam
import pyarrow as pa
from apache_beam.coders import coder_impl
from apache_beam.ml.inference import base
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

import headwater.io as hio
from headwater.bulk_inferrer.columns import inference_columns
from headwater.bulk_inferrer.config import ModelSpec
from headwater.bulk_inferrer.inference import InferenceBatch, Inferrer
from headwater.bulk_inferrer.writers import (
    PredictionLogWriter,
    published,
    shard_name,
)
from headwater.io import SerializedBatch, read_serialized_examples
from headwater.io.filesystems import using_beam

__all__ = [
    "BeamModelHandler",
    "ReadSerializedExamples",
    "RunBulkInference",
    "WriteInferenceColumns",
    "WritePredictionLogs",
]

_Batch: TypeAlias = pa.RecordBatch | SerializedBatch


class _BatchCoder(beam.coders.PickleCoder):
    """Beam's PickleCoder for a SerializedBatch or InferenceBatch that crosses a stage (values
    this pipeline made, never a file), with its size estimated from its arrays' bytes.

    Beam samples element sizes for its metrics; with the default coders that pickles whole
    batches (tens of MB each) on every sampled element.
    """

    def _create_impl(self) -> coder_impl.CoderImpl:
        pickled = super()._create_impl()
        return coder_impl.CallbackCoderImpl(pickled.encode, pickled.decode, _batch_nbytes)


def _batch_nbytes(value: Any) -> int:
    """About the bytes of a batch: its records and columns, or its feeds and outputs."""
    if isinstance(value, SerializedBatch):
        return int(value.examples.nbytes) + sum(len(r) for r in value.records[:1]) * len(
            value.records
        )
    if isinstance(value, InferenceBatch):
        arrays = [*value.feeds.values()]
        arrays += [a for outputs in value.outputs.values() for a in outputs.values()]
        return int(value.examples.nbytes) + sum(int(a.nbytes) for a in arrays)
    return 0


beam.coders.registry.register_coder(SerializedBatch, _BatchCoder)
beam.coders.registry.register_coder(InferenceBatch, _BatchCoder)


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
    Batches default to ModelSpec's batch_size, one model call each: Beam's RunInference hands
    on a batch's results only once all of them are made, so a smaller batch lets the writing
    of one overlap the model's next call.

    Example:
        batches = pipeline | ReadSerializedExamples("examples/*.gz", columns=["trip_id"])
    """

    def __init__(
        self,
        pattern: str | os.PathLike[str],
        *,
        columns: Sequence[str] | None = (),
        batch_size: int = ModelSpec.batch_size,
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
                yield from read_serialized_examples(
                    path, columns=columns, batch_size=batch_size, ahead=2
                )

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
        results = batches | "RunInference" >> base.RunInference(self._beam_handler)
        results.element_type = InferenceBatch  # its coder: no pickling to sample sizes
        return results


class _WriteLogParts(beam.DoFn):
    """Writes each bundle's PredictionLogs into gzip part files as they come, one per shard.

    A bundle deals its InferenceBatches round robin over the shards from a random first one;
    when it ends it emits `(shard, part path)` per part: only names cross the shuffle, never
    the records (which the runner would copy several times). The records of a batch are built,
    framed and compressed on a worker thread while the fused stage goes on (the model runs the
    next batch), one batch in flight at most, as the plain path writes.
    """

    def __init__(self, tmp_dir: str, num_shards: int) -> None:
        self._tmp_dir, self._num_shards = tmp_dir, num_shards
        self._parts: dict[int, tuple[str, PredictionLogWriter]] = {}
        self._next = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def setup(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="headwater-log-parts")

    def start_bundle(self) -> None:
        self._parts = {}
        self._next = random.randrange(self._num_shards)
        self._pending = None

    def process(self, result: InferenceBatch) -> None:
        shard = self._next % self._num_shards
        self._next += 1
        part = self._parts.get(shard)
        if part is None:
            os.makedirs(self._tmp_dir, exist_ok=True)
            path = os.path.join(self._tmp_dir, f"part-{shard:05d}-{uuid.uuid4().hex}.gz")
            part = self._parts[shard] = (path, PredictionLogWriter(path))
        self._wait()  # the previous batch's error, if any, fails this bundle here
        assert self._pool is not None  # setup ran
        self._pending = self._pool.submit(part[1].write, result)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        self._wait()
        parts, self._parts = self._parts, {}
        for _, writer in parts.values():
            writer.close()
        for shard, (path, _) in sorted(parts.items()):
            yield GlobalWindows.windowed_value((shard, path))

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def teardown(self) -> None:
        # A failed bundle: close its files; they stay in the temporary directory, which the
        # last step removes (a retried bundle writes new parts).
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for _, writer in self._parts.values():
            with contextlib.suppress(Exception):
                writer.close()
        self._parts = {}


def _assemble_shard(parts: Iterable[str], final: str) -> str:
    """The gzip parts concatenated byte for byte into `final` (a file of several gzip members
    is one gzip stream to every reader, TensorFlow's included), published whole; no part: an
    empty gzip stream."""
    with published(final) as tmp:
        paths = sorted(parts)
        if not paths:
            PredictionLogWriter(tmp).close()
        with open(tmp, "ab") as out:
            for path in paths:
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, out, 8 << 20)
    return final


def _remove_parts(paths: list[str], tmp_dir: str) -> list[str]:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    return sorted(paths)


class WritePredictionLogs(beam.PTransform):
    """InferenceBatches -> gzip TFRecord files of PredictionLogs; yields the paths written.

    Shards are `<file_prefix>-SSSSS-of-NNNNN.gz`. Each bundle writes its records to part files
    in a hidden directory beside the shards; each shard is then assembled from its parts under
    a temporary name and renamed into place when complete (an empty shard is an empty TFRecord
    file), and the parts are removed.
    """

    def __init__(self, file_prefix: str, *, num_shards: int = 1) -> None:
        super().__init__()
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards!r}")
        self._finals = [shard_name(file_prefix, i, num_shards, ".gz") for i in range(num_shards)]

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        finals = self._finals
        directory = os.path.dirname(os.path.abspath(finals[0]))
        tmp_dir = os.path.join(directory, f".headwater-tmp-{uuid.uuid4().hex}")

        def write_shard(item: tuple[int, Mapping[str, Iterable[Any]]]) -> str:
            shard, grouped = item
            return _assemble_shard(grouped["parts"], finals[shard])

        parts = results | "Parts" >> beam.ParDo(
            _WriteLogParts(tmp_dir, len(finals))
        ).with_output_types(tuple[int, str])
        shards = results.pipeline | "Shards" >> beam.Create([(i, None) for i in range(len(finals))])
        grouped = {"parts": parts, "shard": shards} | "Group" >> beam.CoGroupByKey()
        return (
            grouped
            | "Write" >> beam.Map(write_shard)
            | "Written" >> beam.combiners.ToList()
            | "Clean" >> beam.FlatMap(_remove_parts, tmp_dir)
        )


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
