"""Plain (in-memory) statistics: run `StatisticsCombiner` over batches in a loop, no Beam.

`generate_statistics` takes any iterable of RecordBatches (or a Table); the `_from_*` helpers
read files or a DataFrame through headwater.io and stream its batches, so memory does not grow
with the data (docs/data_validation.md, Memory).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from headwater.data_validation._tfdv_aliases import either, required
from headwater.data_validation.combiner import StatisticsCombiner
from headwater.data_validation.options import StatsOptions
from headwater.data_validation.stats_errors import StatisticsError
from headwater.io import read_ahead, read_csv, read_parquet, read_tfrecord, resolve_files

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "generate_statistics",
    "generate_statistics_from_csv",
    "generate_statistics_from_dataframe",
    "generate_statistics_from_parquet",
    "generate_statistics_from_tfrecord",
]

_BATCH_ROWS = 65536

_Batch = TypeVar("_Batch", pa.RecordBatch, pa.Table)


def _threads() -> int:
    """Threads that update a batch's features at once: the cores this process may use, <= 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def generate_statistics(
    batches: Iterable[pa.RecordBatch] | pa.Table | pa.RecordBatch,
    options: StatsOptions | None = None,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of RecordBatches (or one Table / batch), computed in this process.

    Example:
        stats = generate_statistics(read_parquet("data/"), StatsOptions(weight_feature="w"))
    """
    if isinstance(batches, pa.Table):
        batches = _table_batches(batches)
    elif isinstance(batches, pa.RecordBatch):
        batches = [batches]
    return _combined(_coalesce(batches), options)


def _combined(
    batches: Iterable[pa.RecordBatch | pa.Table], options: StatsOptions | None
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of `batches`, a Table counting as one batch (its chunks are not joined)."""
    combiner = StatisticsCombiner(options, threads=_threads())
    accumulator = combiner.create_accumulator()
    for batch in batches:
        if isinstance(batch, pa.Table):
            combiner.add_table(accumulator, batch)
        else:
            combiner.add_input(accumulator, batch)
    return combiner.extract_output(accumulator)


def _table_batches(table: pa.Table) -> list[pa.RecordBatch]:
    """The table cut into batches of _BATCH_ROWS rows (the last one shorter).

    A table already chunked that way (headwater.io's readers cut batches so) is used as it is;
    any other is combined and re-cut, copying it once.
    """
    if table.num_rows:
        batches = table.to_batches()
        if all(b.num_rows == _BATCH_ROWS for b in batches[:-1]) and (
            0 < batches[-1].num_rows <= _BATCH_ROWS
        ):
            return batches
    return table.combine_chunks().to_batches(max_chunksize=_BATCH_ROWS)


def _prefetched(batches: Iterable[_Batch]) -> Iterator[_Batch]:
    """Reads ahead in a thread: Arrow's readers release the GIL, so reading overlaps computing."""
    return read_ahead(batches, depth=3, name="headwater-stats-read")


def _coalesce(batches: Iterable[_Batch]) -> Iterator[_Batch]:
    """Joins runs of small same-schema batches into ~_BATCH_ROWS rows (per-batch work is fixed).

    A run that is full is yielded at once, not when the next batch arrives, so that its
    statistics are computed while the reader parses the next one. Tables (each one batch to
    the statistics) are joined as tables, without copying.
    """
    pending: list[Any] = []
    rows = 0
    for batch in batches:
        if pending and (batch.schema != pending[0].schema or rows + batch.num_rows > _BATCH_ROWS):
            yield _join(pending)
            pending, rows = [], 0
        pending.append(batch)
        rows += batch.num_rows
        if rows >= _BATCH_ROWS:
            yield _join(pending)
            pending, rows = [], 0
    if pending:
        yield _join(pending)


def _join(pending: list[Any]) -> Any:
    if len(pending) == 1:
        return pending[0]
    if isinstance(pending[0], pa.Table):
        return pa.concat_tables(pending)
    return pa.concat_batches(pending)


def _exact_tables(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """`batches` re-cut into tables of exactly `rows` rows (the last one shorter) without
    copying: the rows `read_csv(batch_size=rows)` would join into each batch, unjoined."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(batch.num_rows, rows - count)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def generate_statistics_from_csv(
    pattern: str | None = None,
    options: StatsOptions | None = None,
    *,
    column_names: Sequence[str] | None = None,
    column_types: Mapping[str, pa.DataType] | None = None,
    skip_bad_rows: bool = False,
    batch_size: int = _BATCH_ROWS,
    data_location: str | None = None,
    stats_options: StatsOptions | None = None,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of CSV files (a file, glob or directory), read with headwater.io.

    Each file's column types are inferred on their own (unless `column_types` is given), so a
    column of integers in one file and floats in another becomes one FLOAT feature.
    `data_location` and `stats_options` are TFDV's names for `pattern` and `options`.
    """
    pattern = required("pattern", pattern, "data_location", data_location)
    options = either("options", options, "stats_options", stats_options)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    tables = itertools.chain.from_iterable(
        _exact_tables(
            read_csv(
                path,
                batch_size=None,
                column_names=column_names,
                column_types=column_types,
                skip_bad_rows=skip_bad_rows,
            ),
            batch_size,
        )
        for path in resolve_files(pattern)
    )
    return _combined(_coalesce(_prefetched(tables)), options)


def generate_statistics_from_parquet(
    pattern: str, options: StatsOptions | None = None, *, batch_size: int = _BATCH_ROWS
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of Parquet files (a file, glob or directory)."""
    return generate_statistics(_prefetched(read_parquet(pattern, batch_size=batch_size)), options)


def generate_statistics_from_tfrecord(
    pattern: str | None = None,
    options: StatsOptions | None = None,
    *,
    batch_size: int = _BATCH_ROWS,
    data_location: str | None = None,
    stats_options: StatsOptions | None = None,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of TFRecord files of tf.Example (gzip or not).

    `data_location` and `stats_options` are TFDV's names for `pattern` and `options`.
    """
    pattern = required("pattern", pattern, "data_location", data_location)
    options = either("options", options, "stats_options", stats_options)
    return generate_statistics(_prefetched(read_tfrecord(pattern, batch_size=batch_size)), options)


def generate_statistics_from_dataframe(
    dataframe: pd.DataFrame, options: StatsOptions | None = None
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Statistics of a pandas DataFrame (its index is dropped; column names must be distinct)."""
    names = [str(c) for c in dataframe.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise StatisticsError(
            f"DataFrame columns {repeated} appear more than once in {names}; "
            "expected each feature once"
        )
    try:
        table = pa.Table.from_pandas(dataframe, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise StatisticsError(f"cannot convert the DataFrame to Arrow: {exc}") from exc
    return generate_statistics(table, options)
