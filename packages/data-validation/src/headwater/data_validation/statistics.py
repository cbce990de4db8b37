"""Plain (in-memory) statistics: run `StatisticsCombiner` over batches in a loop, no Beam.

`generate_statistics` takes any iterable of RecordBatches (or a Table); the `_from_*` helpers
read files or a DataFrame through headwater.io and stream its batches, so memory does not grow
with the data (docs/data_validation.md, Memory).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from queue import Empty, Queue
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from tensorflow_metadata.proto.v0 import statistics_pb2

from headwater.data_validation._tfdv_aliases import either, required
from headwater.data_validation.combiner import StatisticsCombiner
from headwater.data_validation.options import StatsOptions
from headwater.data_validation.stats_errors import StatisticsError
from headwater.io import read_csv, read_parquet, read_tfrecord, resolve_files

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
    combiner = StatisticsCombiner(options, threads=_threads())
    if isinstance(batches, pa.Table):
        batches = _table_batches(batches)
    elif isinstance(batches, pa.RecordBatch):
        batches = [batches]
    accumulator = combiner.create_accumulator()
    for batch in _coalesce(batches):
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


def _prefetched(batches: Iterable[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Reads ahead in a thread: Arrow's readers release the GIL, so reading overlaps computing."""
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                queue.put(("batch", batch))
            queue.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put(("error", exc))

    worker = threading.Thread(target=produce, name="headwater-stats-read", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(Empty):
                queue.get(timeout=0.05)
        worker.join()


def _coalesce(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Joins runs of small same-schema batches into ~_BATCH_ROWS rows (per-batch work is fixed).

    A run that is full is yielded at once, not when the next batch arrives, so that its
    statistics are computed while the reader parses the next one.
    """
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if pending and (batch.schema != pending[0].schema or rows + batch.num_rows > _BATCH_ROWS):
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
            pending, rows = [], 0
        pending.append(batch)
        rows += batch.num_rows
        if rows >= _BATCH_ROWS:
            yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


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
    batches = itertools.chain.from_iterable(
        read_csv(
            path,
            batch_size=batch_size,
            column_names=column_names,
            column_types=column_types,
            skip_bad_rows=skip_bad_rows,
        )
        for path in resolve_files(pattern)
    )
    return generate_statistics(_prefetched(batches), options)


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
