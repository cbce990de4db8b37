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
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq

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


def write_parquet_shard(
    batches: Iterable[pa.RecordBatch], path: str, schema: pa.Schema | None
) -> None:
    """Write `batches` into one Parquet file at `path` (empty file of `schema` if none)."""
    writer = None
    try:
        for batch in batches:
            batch = normalize_batch(batch)
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_batch(batch)
        if writer is None:
            writer = pq.ParquetWriter(path, schema if schema is not None else pa.schema([]))
    finally:
        if writer is not None:
            writer.close()


def write_tfrecord_shard(
    batches: Iterable[pa.RecordBatch], path: str, compression: str | None
) -> None:
    """Write the tf.Examples of `batches` into one TFRecord file at `path`."""
    deflater = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compression == "gzip" else None
    with open(path, "wb") as f:
        for batch in batches:
            data = encode_framed(feature_columns(batch), batch.num_rows)
            f.write(deflater.compress(data) if deflater else data)
        if deflater:
            f.write(deflater.flush())


def _round_robin(
    batches: Iterable[pa.RecordBatch], num_shards: int
) -> tuple[list[list[pa.RecordBatch]], pa.Schema | None]:
    shards: list[list[pa.RecordBatch]] = [[] for _ in range(num_shards)]
    schema = None
    for i, batch in enumerate(batches):
        schema = schema or batch.schema
        shards[i % num_shards].append(batch)
    return shards, schema


def write_parquet(
    batches: Iterable[pa.RecordBatch], file_prefix: str, *, num_shards: int = 1
) -> list[str]:
    """Write `batches` to `num_shards` Parquet files (batches dealt round robin); their paths."""
    finals = shard_paths(file_prefix, num_shards, ".parquet")
    with publishing(finals) as tmps:
        if num_shards == 1:
            write_parquet_shard(batches, tmps[0], None)
        else:
            shards, schema = _round_robin(batches, num_shards)
            for shard, tmp in zip(shards, tmps, strict=True):
                write_parquet_shard(shard, tmp, schema)
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
        if num_shards == 1:
            write_tfrecord_shard(batches, tmps[0], compression)
        else:
            shards, _ = _round_robin(batches, num_shards)
            for shard, tmp in zip(shards, tmps, strict=True):
                write_tfrecord_shard(shard, tmp, compression)
    return finals
