"""Beam sources and sinks: PBegin → PCollection[RecordBatch] readers, RecordBatch writers.

Each transform runs the same per-file function as its plain twin in `headwater.io`, so both paths
give the same batches. Readers resolve their files and pin the schema when the pipeline is built
(so every file decodes to the same columns), then read one file per element (`beam.Create`
already spreads several files over the workers).
Sinks deal batches to shards, group by shard and write each shard atomically.
Paths may be URLs (`s3://`, `gs://`, ...): every file these transforms list, read or write goes
through Beam's `FileSystems` (`headwater.io.filesystems.using_beam`), with the pipeline's options.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

import pandas as pd
import pyarrow as pa

from headwater.io.extras import missing_extra

try:
    import apache_beam as beam
except ModuleNotFoundError as _exc:
    raise missing_extra(
        _exc, "apache_beam", "headwater-io[beam]", "headwater.io's Beam sources and sinks"
    ) from _exc

from headwater.io import filesystems
from headwater.io.batching import rebatch
from headwater.io.csv_files import csv_schema, read_csv_file
from headwater.io.errors import SkippedRows
from headwater.io.paths import resolve_files
from headwater.io.readers import (
    read_dataframe,
    read_parquet_file,
    read_tfrecord_file,
    read_tfrecord_file_parts,
)
from headwater.io.splits import check_ratios
from headwater.io.writers import (
    publishing,
    shard_paths,
    tfrecord_suffix,
    write_parquet_shard,
    write_tfrecord_shard,
)

__all__ = [
    "ReadCsv",
    "ReadDataFrame",
    "ReadParquet",
    "ReadTFRecord",
    "ReadTFRecordParts",
    "RecordBatchCoder",
    "WriteParquet",
    "WriteTFRecord",
]

_NAMESPACE = "headwater.io"
T = TypeVar("T")


def _with_beam_files(items: Iterator[T]) -> Iterator[T]:
    """`items`, produced with URLs going through Beam's FileSystems."""
    with filesystems.using_beam():
        yield from items


def _files(pattern: str | os.PathLike[str]) -> list[str]:
    """The files of `pattern`, listed by Beam's FileSystems when it is a URL."""
    with filesystems.using_beam():
        return resolve_files(pattern)


class RecordBatchCoder(beam.coders.Coder):
    """Arrow IPC coder for RecordBatches whose size estimate is `nbytes`, not a pickling.

    Beam samples element sizes for its metrics; with the default pickle coder that pickles whole
    batches and cost more than reading the CSV itself.
    """

    def encode(self, value: pa.RecordBatch) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, value.schema) as writer:
            writer.write_batch(value)
        return bytes(sink.getvalue())

    def decode(self, encoded: bytes) -> pa.RecordBatch:
        return pa.ipc.open_stream(encoded).read_next_batch()

    def estimate_size(self, value: pa.RecordBatch) -> int:
        return int(value.nbytes)

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self) -> type:
        return pa.RecordBatch


beam.coders.registry.register_coder(pa.RecordBatch, RecordBatchCoder)


class _ReadCsvFile(beam.DoFn):
    def __init__(self, column_names, column_types, skip_bad_rows, batch_size):
        self._args = (column_names, column_types, skip_bad_rows, batch_size)
        self._rows = beam.metrics.Metrics.counter(_NAMESPACE, "csv_rows")
        self._skipped = beam.metrics.Metrics.counter(_NAMESPACE, "csv_rows_skipped")

    def process(self, path: str) -> Iterator[pa.RecordBatch]:
        column_names, column_types, skip_bad_rows, batch_size = self._args
        skipped = SkippedRows()
        batches = read_csv_file(
            path,
            column_names=column_names,
            column_types=column_types,
            skip_bad_rows=skip_bad_rows,
            skipped=skipped,
        )
        for batch in _with_beam_files(rebatch(batches, batch_size)):
            self._rows.inc(batch.num_rows)
            yield batch
        self._skipped.inc(len(skipped))


class ReadCsv(beam.PTransform):
    """CSV files → PCollection of RecordBatches; same arguments and result as `read_csv`.

    Example:
        batches = pipeline | "ReadCsv" >> ReadCsv("data/*.csv")
    """

    def __init__(
        self,
        pattern: str | os.PathLike[str],
        *,
        batch_size: int = 65536,
        column_names: Sequence[str] | None = None,
        column_types: Mapping[str, pa.DataType] | None = None,
        skip_bad_rows: bool = False,
    ) -> None:
        super().__init__()
        self._files = _files(pattern)
        self._batch_size = batch_size
        self._column_names = column_names
        self._skip = skip_bad_rows
        self._types = dict(column_types) if column_types is not None else None
        if self._types is None:
            # Pin the types of the first file's first block for every file, like read_csv.
            with filesystems.using_beam():
                schema = csv_schema(self._files[0], column_names=column_names)
            self._types = {f.name: f.type for f in schema}

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "ReadFiles"
            >> beam.ParDo(
                _ReadCsvFile(self._column_names, self._types, self._skip, self._batch_size)
            ).with_output_types(pa.RecordBatch)
        )


class ReadParquet(beam.PTransform):
    """Parquet files → PCollection of RecordBatches; same as `read_parquet`."""

    def __init__(
        self,
        pattern: str | os.PathLike[str],
        *,
        batch_size: int = 65536,
        columns: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self._files = _files(pattern)
        self._batch_size = batch_size
        self._columns = list(columns) if columns is not None else None

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        batch_size, columns = self._batch_size, self._columns
        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "ReadFiles"
            >> beam.FlatMap(
                lambda p: _with_beam_files(
                    read_parquet_file(p, batch_size=batch_size, columns=columns)
                )
            ).with_output_types(pa.RecordBatch)
        )


class ReadTFRecord(beam.PTransform):
    """TFRecord files of tf.Example → PCollection of RecordBatches; same as `read_tfrecord`."""

    def __init__(
        self,
        pattern: str | os.PathLike[str],
        *,
        schema: pa.Schema | None = None,
        batch_size: int = 65536,
    ) -> None:
        super().__init__()
        self._files = _files(pattern)
        self._batch_size = batch_size
        self._inferred = schema is None
        if schema is None:
            # Pin the schema inferred from the first batch, like read_tfrecord.
            schema = _first_schema(self._files, batch_size)
        self._schema = schema

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        schema, batch_size, inferred = self._schema, self._batch_size, self._inferred
        return (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "ReadFiles"
            >> beam.FlatMap(
                lambda p: _with_beam_files(
                    read_tfrecord_file(
                        p, schema=schema, batch_size=batch_size, schema_inferred=inferred
                    )
                )
            ).with_output_types(pa.RecordBatch)
        )


class _TFRecordParts(beam.DoFn):
    def __init__(self, ratios: Mapping[str, int], schema: pa.Schema, batch_size: int) -> None:
        self._args = (dict(ratios), schema, batch_size)

    def process(self, path: str) -> Iterator[beam.pvalue.TaggedOutput]:
        ratios, schema, batch_size = self._args
        for parts in _with_beam_files(
            read_tfrecord_file_parts(
                path, ratios, schema=schema, batch_size=batch_size, schema_inferred=True
            )
        ):
            for name, part in parts.items():
                if part.num_rows:
                    yield beam.pvalue.TaggedOutput(name, part)


class ReadTFRecordParts(beam.PTransform):
    """TFRecord files → one PCollection of RecordBatches per split, split as TFX's ImportExampleGen.

    Same as `read_tfrecord_parts`: each record goes to the split TFX would send it to. The result
    is indexed by split name: `parts = p | ReadTFRecordParts(path, {"train": 2, "eval": 1})`,
    then `parts["train"]`.
    """

    def __init__(
        self,
        pattern: str | os.PathLike[str],
        ratios: Mapping[str, int],
        *,
        schema: pa.Schema | None = None,
        batch_size: int = 65536,
    ) -> None:
        super().__init__()
        check_ratios(ratios)
        self._files = _files(pattern)
        self._ratios = dict(ratios)
        self._batch_size = batch_size
        self._schema = schema if schema is not None else _first_schema(self._files, batch_size)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        parts = (
            pbegin
            | "Files" >> beam.Create(self._files)
            | "ReadAndSplit"
            >> beam.ParDo(_TFRecordParts(self._ratios, self._schema, self._batch_size))
            .with_output_types(pa.RecordBatch)
            .with_outputs(*self._ratios)
        )
        for name in self._ratios:
            # Tagged outputs get no type from the ParDo: without it Beam would pickle whole
            # batches to sample their sizes instead of using RecordBatchCoder.
            parts[name].element_type = pa.RecordBatch
        return parts


def _first_schema(files: list[str], batch_size: int) -> pa.Schema:
    with filesystems.using_beam():
        for path in files:
            for batch in read_tfrecord_file(path, schema=None, batch_size=batch_size):
                return batch.schema
    return pa.schema([])


class ReadDataFrame(beam.PTransform):
    """A pandas DataFrame → PCollection of RecordBatches; same as `read_dataframe`."""

    def __init__(self, df: pd.DataFrame, *, batch_size: int = 65536) -> None:
        super().__init__()
        self._batches = list(read_dataframe(df, batch_size=batch_size))

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return pbegin | "Batches" >> beam.Create(self._batches, reshuffle=False).with_output_types(
            pa.RecordBatch
        )


class _DealToShards(beam.DoFn):
    """Keys batches by shard, round robin (the plain writers deal them the same way)."""

    def __init__(self, num_shards: int) -> None:
        self._num_shards = num_shards
        self._next = 0

    def process(self, batch: pa.RecordBatch) -> Iterator[tuple[int, pa.RecordBatch]]:
        shard = self._next % self._num_shards
        self._next += 1
        yield shard, batch


def _write_sink(
    batches: beam.PCollection,
    finals: list[str],
    write: Callable[[list[pa.RecordBatch], str, pa.Schema | None], None],
    label: str,
    *,
    empty_needs_schema: bool,
) -> beam.PCollection:
    """Deal batches to shards, group them by shard, write each shard atomically; the paths.

    With `empty_needs_schema` (Parquet), a shard that gets no batch is written with the columns
    of some other batch; TFRecord files have no columns, so they skip that side input.
    """
    num_shards = len(finals)

    def write_one(
        item: tuple[int, Mapping[str, Iterable[pa.RecordBatch]]], schemas: list[pa.Schema]
    ) -> str:
        shard, grouped = item
        shard_batches = list(grouped["batches"])
        with filesystems.using_beam(), publishing([finals[shard]]) as (tmp,):
            write(shard_batches, tmp, schemas[0] if schemas else None)
        return finals[shard]

    keyed = batches | f"{label}Deal" >> beam.ParDo(_DealToShards(num_shards)).with_output_types(
        tuple[int, pa.RecordBatch]
    )
    shards = batches.pipeline | f"{label}Shards" >> beam.Create(
        [(i, None) for i in range(num_shards)]
    )
    grouped = {"batches": keyed, "shard": shards} | f"{label}Group" >> beam.CoGroupByKey()
    if not empty_needs_schema:
        return grouped | f"{label}Write" >> beam.Map(write_one, [])
    schema = (
        batches
        | f"{label}Schemas" >> beam.Map(lambda b: b.schema)
        | f"{label}OneSchema" >> beam.combiners.Sample.FixedSizeGlobally(1)
    )
    return grouped | f"{label}Write" >> beam.Map(write_one, beam.pvalue.AsSingleton(schema))


class WriteParquet(beam.PTransform):
    """PCollection of RecordBatches → sharded Parquet files; yields the paths written."""

    def __init__(self, file_prefix: str, *, num_shards: int = 1) -> None:
        super().__init__()
        self._finals = shard_paths(file_prefix, num_shards, ".parquet")

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return _write_sink(
            batches, self._finals, write_parquet_shard, "Parquet", empty_needs_schema=True
        )


class WriteTFRecord(beam.PTransform):
    """PCollection of RecordBatches → sharded TFRecord files of tf.Example; yields the paths."""

    def __init__(
        self, file_prefix: str, *, num_shards: int = 1, compression: str | None = "gzip"
    ) -> None:
        super().__init__()
        self._finals = shard_paths(file_prefix, num_shards, tfrecord_suffix(compression))
        self._compression = compression

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        compression = self._compression
        return _write_sink(
            batches,
            self._finals,
            lambda b, p, _: write_tfrecord_shard(b, p, compression),
            "TFRecord",
            empty_needs_schema=False,
        )
