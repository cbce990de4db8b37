"""RecordBatches → sharded Parquet or TFRecord files, published atomically.

Shards are named like TFX's: `<prefix>-00000-of-00002.parquet`, `<prefix>-00000-of-00001.gz`.
Every shard is written into a hidden temporary directory next to the final path and renamed into
place only when all shards are complete; on an error the temporary directory is removed, so no
half-written file ever appears under a final name. A URL prefix (`s3://bucket/out/data`) is
written the same way through `headwater.io.filesystems` (copied into place: object stores have
no rename).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq
from isal import isal_zlib

from headwater.io import filesystems
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


def publishing(final_paths: list[str]) -> contextlib.AbstractContextManager[list[str]]:
    """Temporary paths to write; published onto `final_paths` on success, removed on error.

    Local paths are renamed into place; on object stores (URLs) each file is copied onto its
    final key by the store: see `headwater.io.filesystems.staged`.
    """
    return filesystems.staged(final_paths)


class _ParquetShards:
    """Parquet writers for the shards, opened when their first batch (or the end) comes."""

    def __init__(self, paths: list[str], schema: pa.Schema | None) -> None:
        self._paths = paths
        self._writers: list[pq.ParquetWriter | None] = [None] * len(paths)
        self._handles: list[IO[bytes]] = []
        self.schema = schema

    def write(self, shard: int, batch: pa.RecordBatch) -> None:
        batch = normalize_batch(batch)
        if self.schema is None:
            self.schema = batch.schema
        writer = self._writers[shard]
        if writer is None:
            writer = self._writers[shard] = self._open(shard, batch.schema)
        writer.write_batch(batch)

    def close(self, complete: bool) -> None:
        for shard, writer in enumerate(self._writers):
            if writer is None and complete:
                schema = self.schema if self.schema is not None else pa.schema([])
                writer = self._open(shard, schema)
            if writer is not None:
                writer.close()
        for handle in self._handles:
            handle.close()

    def _open(self, shard: int, schema: pa.Schema) -> pq.ParquetWriter:
        path = self._paths[shard]
        if not filesystems.is_url(path):
            return pq.ParquetWriter(path, schema)
        self._handles.append(filesystems.open_output(path))
        return pq.ParquetWriter(self._handles[-1], schema)


class _TFRecordShards:
    """TFRecord files for the shards, each with its own gzip stream when compressed."""

    def __init__(self, paths: list[str], compression: str | None) -> None:
        self._files = [filesystems.open_output(p) for p in paths]
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
