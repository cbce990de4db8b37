"""Write inference results: PredictionLog TFRecords as TFX names them, and Parquet columns.

Files are written under hidden temporary names beside their final paths and renamed into place
only when complete; on an error nothing is left under a final name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from isal import isal_zlib

from headwater.bulk_inferrer.columns import inference_columns
from headwater.bulk_inferrer.inference import InferenceBatch
from headwater.bulk_inferrer.prediction_log import prediction_log_framed
from headwater.io.example_wire import frame_records

__all__ = [
    "PREDICTION_LOGS_PREFIX",
    "InferenceOutputs",
    "PredictionLogWriter",
    "shard_name",
    "write_inference_columns",
    "write_inference_outputs",
    "write_prediction_logs",
]

PREDICTION_LOGS_PREFIX = "prediction_logs"
"""TFX's file prefix in an InferenceResult: prediction_logs-00000-of-00001.gz."""
GZIP_LEVEL = 1
"""Level of the PredictionLog files' gzip, written by Intel's ISA-L (`isal`, levels 0-3, as
headwater.io writes TFRecords): standard gzip that TensorFlow reads, several times faster to
write than zlib's level 1 at about the same size."""

_IN_FLIGHT = 2
"""InferenceBatches handed to the writing thread and not yet written, at most."""


def shard_name(file_prefix: str, shard: int, num_shards: int, suffix: str) -> str:
    """`<prefix>-SSSSS-of-NNNNN<suffix>`, the shard naming of TFX and Beam."""
    return f"{file_prefix}-{shard:05d}-of-{num_shards:05d}{suffix}"


@contextmanager
def published(final_path: str) -> Iterator[str]:
    """A temporary path beside `final_path`, renamed onto it on success, removed on error."""
    directory = os.path.dirname(os.path.abspath(final_path))
    os.makedirs(directory, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=".headwater-tmp-", dir=directory)
    try:
        tmp = os.path.join(tmp_dir, os.path.basename(final_path))
        yield tmp
        os.replace(tmp, final_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


class PredictionLogWriter:
    """Appends the PredictionLogs of InferenceBatches to one gzip TFRecord file.

    Records are framed (length, data, masked CRC32Cs) in C and compressed with ISA-L, both
    without the GIL, so writing overlaps the model's next batch on another thread.
    """

    def __init__(self, path: str) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._deflater = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
        self.num_records = 0

    def write(self, result: InferenceBatch) -> None:
        """Append one record per example of `result`."""
        self.write_framed(prediction_log_framed(result), result.num_rows)

    def write_records(self, records: Sequence[bytes]) -> None:
        """Append serialized PredictionLogs."""
        self.write_framed(frame_records(records), len(records))

    def write_framed(self, framed: bytes, num_records: int) -> None:
        """Append `num_records` records already TFRecord-framed (`prediction_log_framed`)."""
        self._file.write(self._deflater.compress(framed))
        self.num_records += num_records

    def close(self) -> None:
        """Flush and close the file."""
        if self._file.closed:
            return
        try:
            self._file.write(self._deflater.flush())
        finally:
            self._file.close()


@dataclass
class InferenceOutputs:
    """What `write_inference_outputs` wrote: file paths and the number of examples."""

    prediction_logs: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    num_rows: int = 0


def write_inference_outputs(
    results: Iterable[InferenceBatch],
    *,
    prediction_logs: str | None = None,
    columns: str | None = None,
    keep_columns: Sequence[str] = (),
) -> InferenceOutputs:
    """One pass over `results` writing PredictionLogs and/or Parquet columns; the paths.

    `prediction_logs` is the gzip TFRecord file to write (TFX names them
    `prediction_logs-00000-of-00001.gz`, see `shard_name`), `columns` the Parquet file (or CSV,
    by a `.csv` suffix; list values joined by spaces) of `keep_columns` of the examples beside
    one column per output. Each appears only complete.
    """

    outputs = InferenceOutputs()
    log_path, columns_path = prediction_logs, columns
    with _maybe_published(log_path) as log_tmp, _maybe_published(columns_path) as columns_tmp:
        logs = PredictionLogWriter(log_tmp) if log_tmp else None
        table: list[Any] = []
        as_csv = columns_tmp is not None and columns_tmp.endswith(".csv")

        def consume(result: InferenceBatch) -> None:
            if logs is not None:
                logs.write(result)
            if columns_tmp is not None:
                batch = inference_columns(result, keep_columns)
                if as_csv:
                    batch = _csv_ready(batch)
                if not table:
                    table.append(_table_writer(columns_tmp, batch.schema, as_csv))
                table[0].write_batch(batch)

        try:
            # Records are built and written on a worker thread while the model runs the next
            # batch on this one (TensorFlow releases the GIL); at most _IN_FLIGHT batches wait
            # there, so a slow write of one batch does not stop the model at once.
            with ThreadPoolExecutor(1, thread_name_prefix="headwater-inference-out") as pool:
                pending: deque[Future[None]] = deque()
                for result in results:
                    outputs.num_rows += result.num_rows
                    if len(pending) == _IN_FLIGHT:
                        pending.popleft().result()
                    pending.append(pool.submit(consume, result))
                while pending:
                    pending.popleft().result()
            if columns_tmp is not None and not table:
                table.append(_table_writer(columns_tmp, pa.schema([]), as_csv))
        finally:
            if logs is not None:
                logs.close()
            for writer in table:
                writer.close()
    outputs.prediction_logs = [log_path] if log_path else []
    outputs.columns = [columns_path] if columns_path else []
    return outputs


def write_prediction_logs(results: Iterable[InferenceBatch], path: str) -> InferenceOutputs:
    """The PredictionLogs of `results` into the gzip TFRecord file `path` (WritePredictionLogs's
    plain twin)."""
    return write_inference_outputs(results, prediction_logs=path)


def write_inference_columns(
    results: Iterable[InferenceBatch], path: str, keep_columns: Sequence[str] = ()
) -> InferenceOutputs:
    """`keep_columns` beside the outputs into the Parquet file `path` (WriteInferenceColumns's
    plain twin)."""
    return write_inference_outputs(results, columns=path, keep_columns=keep_columns)


def _table_writer(path: str, schema: pa.Schema, as_csv: bool) -> Any:
    """A Parquet or CSV writer of `schema` at `path`."""
    if as_csv:
        import pyarrow.csv as pacsv

        return pacsv.CSVWriter(path, schema)
    import pyarrow.parquet as pq

    return pq.ParquetWriter(path, schema)


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """List columns as their values joined by spaces (CSV has no lists), vectorized."""
    import pyarrow.compute as pc

    arrays = []
    for column in batch.columns:
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            as_text = column.cast(pa.list_(pa.string()))
            column = pc.binary_join(as_text, " ")
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


@contextmanager
def _maybe_published(path: str | None) -> Iterator[str | None]:
    if path is None:
        yield None
        return
    with published(path) as tmp:
        yield tmp
