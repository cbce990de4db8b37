"""Beam sources and sinks: PBegin → PCollection[RecordBatch] readers, RecordBatch writers.

Each transform runs the same per-file function as its plain twin in `headwater.io`, so both paths
give the same batches. Readers resolve their files and pin the schema when the pipeline is built
(so every file decodes to the same columns), then read one file per element (`beam.Create`
already spreads several files over the workers).
Sinks stream each bundle's batches into temporary part files (only their names are grouped by
shard), then assemble each shard from its parts and publish it atomically: no worker holds more
than a batch (or a row group) of the output.
Paths may be URLs (`s3://`, `gs://`, ...): every file these transforms list, read or write goes
through Beam's `FileSystems` (`headwater.io.filesystems.using_beam`), with the pipeline's options.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from isal import isal_zlib

from headwater.io.extras import missing_extra

try:
    import apache_beam as beam
except ModuleNotFoundError as _exc:
    raise missing_extra(
        _exc, "apache_beam", "headwater-io[beam]", "headwater.io's Beam sources and sinks"
    ) from _exc

from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

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
from headwater.io.tfrecord_files import GZIP_LEVEL
from headwater.io.writers import (
    _ParquetShards,
    _TFRecordShards,
    publishing,
    shard_paths,
    tfrecord_suffix,
)

__all__ = [
    "CombineGloballyWithDefault",
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
_COPY_CHUNK = 8 << 20
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


class _KeyWithNone(beam.DoFn):
    def process(self, element: Any) -> Iterator[tuple[None, Any]]:
        yield None, element


def _one_output(_: None, combine_fn: beam.CombineFn, combined: list[tuple[None, Any]]) -> Any:
    if combined:
        return combined[0][1]
    combine_fn.setup()  # an empty input: the combine of no element, as Beam's default
    try:
        return combine_fn.apply([])
    finally:
        combine_fn.teardown()


class CombineGloballyWithDefault(beam.PTransform):
    """`beam.CombineGlobally(combine_fn)` with its default (one output for an empty input too),
    in fewer steps: each step costs Beam a type check, an options view and a DoFn inspection
    when the pipeline is built, and a stage or operation when it runs.

    Beam's own adds, after the keyed combine, an un-keying Map, a `Create([None])` and a Map
    injecting the default; here the `Create([None])` feeds one Map that reads the keyed result
    as a side input and does both. The combine itself is the same `CombinePerKey` (lifted by
    the runners that lift).

    Example:
        stats = batches | "Stats" >> CombineGloballyWithDefault(StatisticsCombineFn(), out_type)
    """

    def __init__(self, combine_fn: beam.CombineFn, output_type: Any = None) -> None:
        super().__init__()
        self._fn = combine_fn
        self._output_type = output_type

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        keyed = pcoll | "KeyWithVoid" >> beam.ParDo(_KeyWithNone()).with_output_types(
            beam.typehints.KV[None, pcoll.element_type or beam.typehints.Any]
        )
        combined = keyed | "CombinePerKey" >> beam.CombinePerKey(self._fn)
        output = beam.Map(_one_output, self._fn, beam.pvalue.AsList(combined))
        if self._output_type is not None:
            output = output.with_output_types(self._output_type)
        # A Create, not a bare Impulse: runners that translate transform by transform (Beam's
        # DaskRunner) know Create and would drop an Impulse.
        once = pcoll.pipeline | "Once" >> beam.Create([None], reshuffle=False)
        return once | "Output" >> output


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


_PartWriter = _ParquetShards | _TFRecordShards


class _WriteParts(beam.DoFn):
    """Streams each bundle's batches into temporary part files, one per shard the bundle feeds.

    A bundle deals its batches round robin over the shards, from a random first shard (so that
    many one-batch bundles do not all land in shard 0), and writes each shard's batches to its
    own part file as they come: no row is held beyond the batch being written. When the bundle
    ends it emits `(shard, part path)` for each part: only those names cross the shuffle.
    """

    def __init__(
        self,
        tmp_dir: str,
        num_shards: int,
        suffix: str,
        open_part: Callable[[str], _PartWriter],
    ) -> None:
        self._tmp_dir = tmp_dir
        self._num_shards = num_shards
        self._suffix = suffix
        self._open_part = open_part
        self._parts: dict[int, tuple[str, _PartWriter]] = {}
        self._next = 0

    def start_bundle(self) -> None:
        self._parts = {}
        self._next = random.randrange(self._num_shards)

    def process(self, batch: pa.RecordBatch) -> None:
        shard = self._next % self._num_shards
        self._next += 1
        with filesystems.using_beam():
            part = self._parts.get(shard)
            if part is None:
                name = f"part-{shard:05d}-{uuid.uuid4().hex}{self._suffix}"
                path = filesystems.join(self._tmp_dir, name)
                if not filesystems.is_url(path):
                    os.makedirs(self._tmp_dir, exist_ok=True)
                part = self._parts[shard] = (path, self._open_part(path))
            part[1].write(0, batch)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        parts, self._parts = self._parts, {}
        with filesystems.using_beam():
            for _, writer in parts.values():
                writer.close(True)
        for shard, (path, _) in sorted(parts.items()):
            yield GlobalWindows.windowed_value((shard, path))

    def teardown(self) -> None:
        # A failed bundle: close its files (the parts stay under the temporary directory,
        # which the pipeline's last step removes; a retried bundle writes new parts).
        for _, writer in self._parts.values():
            with contextlib.suppress(Exception):
                writer.close(False)
        self._parts = {}


def _assemble_tfrecord(parts: list[str], out: str, compression: str | None) -> None:
    """Concatenate TFRecord part files byte for byte into `out`.

    TFRecord framing concatenates, and so does gzip (a file of several gzip members is one gzip
    stream to every reader, TensorFlow's included); a shard with no part gets an empty stream.
    """
    with filesystems.open_output(out) as f:
        if not parts and compression == "gzip":
            deflater = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
            f.write(deflater.flush())
        for part in parts:
            with filesystems.open_input(part) as src:
                shutil.copyfileobj(src, f, _COPY_CHUNK)


def _assemble_parquet(parts: list[str], out: str, schema: pa.Schema | None) -> None:
    """Copy the row groups of the Parquet part files, one at a time, into `out`.

    A shard with no part gets an empty file with the columns `schema` (some batch's).
    """
    shards = _ParquetShards([out], schema)
    complete = False
    try:
        for part in parts:
            with filesystems.open_input(part) as src:
                reader = pq.ParquetFile(src)
                for i in range(reader.num_row_groups):
                    for batch in reader.read_row_group(i).to_batches():
                        shards.write(0, batch)
        complete = True
    finally:
        shards.close(complete)


def _remove_parts(paths: list[str], tmp_dir: str) -> list[str]:
    """Remove the temporary directory of the parts (every attempt's); `paths`, sorted."""
    with filesystems.using_beam():
        filesystems.remove_tree(tmp_dir)
    return sorted(paths)


def _write_sink(
    batches: beam.PCollection,
    finals: list[str],
    open_part: Callable[[str], _PartWriter],
    assemble: Callable[[list[str], str, pa.Schema | None], None],
    label: str,
    *,
    empty_needs_schema: bool,
) -> beam.PCollection:
    """Write batches to per-bundle part files, then assemble each shard and publish it; the paths.

    Memory is bounded: a worker holds the batch it writes (and, assembling, one row group or
    copy buffer), never a shard. Parts live in a hidden directory next to the shards
    (`filesystems.TEMP_PREFIX`), removed at the end; each shard appears whole or not at all.
    With `empty_needs_schema` (Parquet), a shard that gets no batch is written with the columns
    of some batch; TFRecord files have no columns, so they skip that side input.
    """
    num_shards = len(finals)
    suffix = finals[0][len(finals[0].rsplit("-of-", 1)[0]) + len("-of-00000") :]
    directory = finals[0].rsplit("/", 1)[0] if filesystems.is_url(finals[0]) else None
    if directory is None:
        directory = os.path.dirname(os.path.abspath(finals[0]))
    tmp_dir = filesystems.join(directory, f"{filesystems.TEMP_PREFIX}{uuid.uuid4().hex}")

    def write_one(item: tuple[int, Iterable[str | None]], schemas: list[pa.Schema]) -> str:
        shard, grouped = item
        parts = sorted(path for path in grouped if path is not None)
        with filesystems.using_beam(), publishing([finals[shard]]) as (tmp,):
            assemble(parts, tmp, schemas[0] if schemas else None)
        return finals[shard]

    # Few steps, each one Beam must type, check and run: a Flatten and a GroupByKey group the
    # parts by shard (a CoGroupByKey adds a tagging Map per input and a Map after), the shard
    # list is created without a Reshuffle (a few ints), and the paths are gathered under one
    # key (a ToList is a global combine, with a default-value side input besides).
    parts = batches | f"{label}Parts" >> beam.ParDo(
        _WriteParts(tmp_dir, num_shards, suffix, open_part)
    ).with_output_types(tuple[int, str])
    shards = batches.pipeline | f"{label}Shards" >> beam.Create(
        [(i, None) for i in range(num_shards)], reshuffle=False
    )
    grouped = (
        (parts, shards)
        | f"{label}PartsAndShards" >> beam.Flatten()
        | f"{label}Group" >> beam.GroupByKey()
    )
    if not empty_needs_schema:
        written = grouped | f"{label}Write" >> beam.Map(write_one, [])
    else:
        schema = (
            batches
            | f"{label}Schemas" >> beam.Map(lambda b: b.schema)
            | f"{label}OneSchema" >> beam.combiners.Sample.FixedSizeGlobally(1)
        )
        written = grouped | f"{label}Write" >> beam.Map(write_one, beam.pvalue.AsSingleton(schema))
    return (
        written
        | f"{label}Keyed" >> beam.Map(lambda path: (None, path))
        | f"{label}Written" >> beam.GroupByKey()
        | f"{label}Clean" >> beam.FlatMap(lambda item: _remove_parts(list(item[1]), tmp_dir))
    )


class WriteParquet(beam.PTransform):
    """PCollection of RecordBatches → sharded Parquet files; yields the paths written."""

    def __init__(self, file_prefix: str, *, num_shards: int = 1) -> None:
        super().__init__()
        self._finals = shard_paths(file_prefix, num_shards, ".parquet")

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return _write_sink(
            batches,
            self._finals,
            lambda path: _ParquetShards([path], None),
            _assemble_parquet,
            "Parquet",
            empty_needs_schema=True,
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
            lambda path: _TFRecordShards([path], compression),
            lambda parts, out, _: _assemble_tfrecord(parts, out, compression),
            "TFRecord",
            empty_needs_schema=False,
        )
