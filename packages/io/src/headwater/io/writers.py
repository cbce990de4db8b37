"""RecordBatches → sharded Parquet or TFRecord files, published atomically.

Shards are named like TFX's: `<prefix>-00000-of-00002.parquet`, `<prefix>-00000-of-00001.gz`.
Every shard is written into a hidden temporary directory next to the final path and renamed into
place only when all shards are complete; on an error the temporary directory is removed, so no
half-written file ever appears under a final name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq
from isal import isal_zlib

from headwater.io.convention import normalize_batch
from headwater.io.example_wire import encode_framed
from headwater.io.feature_columns import feature_columns
from headwater.io.tfrecord_files import GZIP_LEVEL

__all__ = [
    "shard_paths",
    "write_parquet",
    "write_parquet_shard",
    "write_tfrecord",
    "write_tfrecord_shard",
]


def shard_paths(file_prefix: str, num_shards: int, suffix: str) -> list[str]:
    """Final paths of the `num_shards` shards of `file_prefix`."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards!r}")
    prefix = os.fspath(file_prefix)
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}{suffix}" for i in range(num_shards)]


def tfrecord_suffix(compression: str | None) -> str:
    """File suffix for a TFRecord `compression` ("gzip" or None)."""
    if compression not in ("gzip", None):
        raise ValueError(f"compression must be 'gzip' or None, got {compression!r}")
    return ".gz" if compression == "gzip" else ""


@contextmanager
def publishing(final_paths: list[str]) -> Iterator[list[str]]:
    """Temporary paths to write; renamed onto `final_paths` on success, removed on error."""
    directory = os.path.dirname(os.path.abspath(final_paths[0]))
    os.makedirs(directory, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=".headwater-tmp-", dir=directory)
    try:
        tmp_paths = [os.path.join(tmp_dir, os.path.basename(p)) for p in final_paths]
        yield tmp_paths
        for tmp, final in zip(tmp_paths, final_paths, strict=True):
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


class _ParquetShards:
    """Parquet writers for the shards, opened when their first batch (or the end) comes."""

    def __init__(self, paths: list[str], schema: pa.Schema | None) -> None:
        self._paths = paths
        self._writers: list[pq.ParquetWriter | None] = [None] * len(paths)
        self.schema = schema

    def write(self, shard: int, batch: pa.RecordBatch) -> None:
        batch = normalize_batch(batch)
        if self.schema is None:
            self.schema = batch.schema
        writer = self._writers[shard]
        if writer is None:
            writer = self._writers[shard] = pq.ParquetWriter(self._paths[shard], batch.schema)
        writer.write_batch(batch)

    def close(self, complete: bool) -> None:
        for shard, writer in enumerate(self._writers):
            if writer is None and complete:
                schema = self.schema if self.schema is not None else pa.schema([])
                writer = pq.ParquetWriter(self._paths[shard], schema)
            if writer is not None:
                writer.close()


class _TFRecordShards:
    """TFRecord files for the shards, each with its own gzip stream when compressed."""

    def __init__(self, paths: list[str], compression: str | None) -> None:
        self._files = [open(p, "wb") for p in paths]  # noqa: SIM115 - closed in close()
        self._deflaters = [
            isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
            if compression == "gzip"
            else None
            for _ in paths
        ]

    def write(self, shard: int, batch: pa.RecordBatch) -> None:
        data = encode_framed(feature_columns(batch), batch.num_rows)
        deflater = self._deflaters[shard]
        self._files[shard].write(deflater.compress(data) if deflater else data)

    def close(self, complete: bool) -> None:
        for f, deflater in zip(self._files, self._deflaters, strict=True):
            if deflater is not None and complete:
                f.write(deflater.flush())
            f.close()


def _deal(
    batches: Iterable[pa.RecordBatch], shards: _ParquetShards | _TFRecordShards, n: int
) -> None:
    """Write `batches` to the shards round robin (the Beam sinks deal them the same way)."""
    complete = False
    try:
        for i, batch in enumerate(batches):
            shards.write(i % n, batch)
        complete = True
    finally:
        shards.close(complete)


def write_parquet_shard(
    batches: Iterable[pa.RecordBatch], path: str, schema: pa.Schema | None
) -> None:
    """Write `batches` into one Parquet file at `path` (empty file of `schema` if none)."""
    _deal(batches, _ParquetShards([path], schema), 1)


def write_tfrecord_shard(
    batches: Iterable[pa.RecordBatch], path: str, compression: str | None
) -> None:
    """Write the tf.Examples of `batches` into one TFRecord file at `path`."""
    _deal(batches, _TFRecordShards([path], compression), 1)


def write_parquet(
    batches: Iterable[pa.RecordBatch], file_prefix: str, *, num_shards: int = 1
) -> list[str]:
    """Write `batches` to `num_shards` Parquet files (batches dealt round robin); their paths."""
    finals = shard_paths(file_prefix, num_shards, ".parquet")
    with publishing(finals) as tmps:
        _deal(batches, _ParquetShards(tmps, None), num_shards)
    return finals


def write_tfrecord(
    batches: Iterable[pa.RecordBatch],
    file_prefix: str,
    *,
    num_shards: int = 1,
    compression: str | None = "gzip",
) -> list[str]:
    """Write `batches` as tf.Examples to `num_shards` TFRecord files; their paths."""
    finals = shard_paths(file_prefix, num_shards, tfrecord_suffix(compression))
    with publishing(finals) as tmps:
        _deal(batches, _TFRecordShards(tmps, compression), num_shards)
    return finals
