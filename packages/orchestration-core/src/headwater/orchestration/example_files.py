"""Examples files in TFX's layout: `Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz` or Parquet.

Reading and writing go through headwater.io; this module only names, shards and finds files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

FORMAT_TF_EXAMPLE = "FORMAT_TF_EXAMPLE"
FORMAT_PARQUET = "FORMAT_PARQUET"
PAYLOAD_FORMATS = (FORMAT_TF_EXAMPLE, FORMAT_PARQUET)

_PREFIX = {FORMAT_TF_EXAMPLE: "data_tfrecord", FORMAT_PARQUET: "data_parquet"}
_SUFFIX = {FORMAT_TF_EXAMPLE: ".gz", FORMAT_PARQUET: ".parquet"}


def check_payload_format(payload_format: str) -> str:
    """`payload_format` if known, else ValueError listing the known ones."""
    if payload_format not in PAYLOAD_FORMATS:
        raise ValueError(f"payload_format must be one of {PAYLOAD_FORMATS}, got {payload_format!r}")
    return payload_format


def data_files(directory: str) -> list[str]:
    """Regular, non-hidden files of `directory`, sorted; [] if it does not exist."""
    if not os.path.isdir(directory):
        return []
    return sorted(
        os.path.join(directory, name)
        for name in os.listdir(directory)
        if not name.startswith((".", "_")) and os.path.isfile(os.path.join(directory, name))
    )


def read_example_files(
    files: Iterable[str], *, batch_size: int = 65536, schema: pa.Schema | None = None
) -> Iterator[pa.RecordBatch]:
    """RecordBatches of every file in turn: Parquet by extension, else TFRecord of tf.Example."""
    import headwater.io as hio

    for path in files:
        if path.endswith(".parquet"):
            columns = list(schema.names) if schema is not None else None
            yield from hio.read_parquet(path, batch_size=batch_size, columns=columns)
        else:
            yield from hio.read_tfrecord(path, schema=schema, batch_size=batch_size)


class ShardedExampleWriter:
    """Streams batches into shards of about `rows_per_shard` rows, named as TFX names them.

    Memory stays bounded by a few shards; `close()` renames the shards to
    `<prefix>-SSSSS-of-NNNNN<suffix>` once their count is known.
    """

    def __init__(
        self, directory: str, payload_format: str, *, rows_per_shard: int = 250_000
    ) -> None:
        self._dir = directory
        self._format = check_payload_format(payload_format)
        self._rows_per_shard = rows_per_shard
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._shards: list[Future[list[str]]] = []
        self.num_rows = 0
        os.makedirs(directory, exist_ok=True)

    def add(self, batch: pa.RecordBatch) -> None:
        """Buffer `batch`; write a shard once enough rows are buffered."""
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.num_rows += batch.num_rows
        if self._pending_rows >= self._rows_per_shard:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        # Backpressure: at most two shards of this writer in memory waiting to be written.
        in_flight = [shard for shard in self._shards if not shard.done()]
        while len(in_flight) >= 2:
            in_flight.pop(0).result()
        prefix = os.path.join(self._dir, f".shard{len(self._shards):05d}")
        # Encoding and gzip of a shard run on a worker thread (zlib releases the GIL), so
        # shards of several splits compress in parallel while reading goes on.
        self._shards.append(_executor().submit(_write_shard, self._pending, prefix, self._format))
        self._pending = []
        self._pending_rows = 0

    def abort(self) -> None:
        """Wait for shards being written (their directory is about to be removed)."""
        for shard in self._shards:
            shard.exception()
        self._shards = []
        self._pending = []

    def close(self) -> list[str]:
        """Write what is buffered and give the shards their final names; returns them."""
        self._flush()
        written = [path for shard in self._shards for path in shard.result()]
        total = len(written)
        prefix, suffix = _PREFIX[self._format], _SUFFIX[self._format]
        final = []
        for i, path in enumerate(written):
            target = os.path.join(self._dir, f"{prefix}-{i:05d}-of-{total:05d}{suffix}")
            os.replace(path, target)
            final.append(target)
        return final


def _write_shard(batches: list[pa.RecordBatch], prefix: str, payload_format: str) -> list[str]:
    import headwater.io as hio

    if payload_format == FORMAT_PARQUET:
        return hio.write_parquet(batches, prefix, num_shards=1)
    return hio.write_tfrecord(batches, prefix, num_shards=1, compression="gzip")


_EXECUTOR: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="headwater-shards"
        )
    return _EXECUTOR
