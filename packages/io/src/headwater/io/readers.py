"""Parquet, TFRecord and pandas readers: every source as an iterator of RecordBatches.

(CSV lives in `headwater.io.csv_files`.) Every reader resolves its pattern at call time, so a
missing path fails at once, and yields batches of the Arrow convention; an input without rows
yields one empty batch with the right columns when the columns are known.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from headwater.io import filesystems
from headwater.io.batching import rebatch, with_empty_fallback
from headwater.io.convention import check_columns, check_names, normalize_batch, normalize_schema
from headwater.io.errors import InputError, InputNotFoundError
from headwater.io.example_codec import decode_framed
from headwater.io.example_wire import span_buckets
from headwater.io.paths import resolve_files
from headwater.io.splits import check_ratios, split_by_buckets
from headwater.io.tfrecord_files import iter_record_chunks

if TYPE_CHECKING:
    import pandas as pd

_LOG = logging.getLogger(__name__)

__all__ = [
    "read_dataframe",
    "read_parquet",
    "read_parquet_file",
    "read_tfrecord",
    "read_tfrecord_file",
    "read_tfrecord_file_parts",
    "read_tfrecord_parts",
]


def read_parquet_file(
    path: str, *, batch_size: int = 65536, columns: Sequence[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """Batches of one Parquet file; repeated names or nested columns raise InputError."""
    try:
        if filesystems.size(path) == 0:
            raise InputError("empty file", path=path, expected="a Parquet file")
        with contextlib.ExitStack() as stack:
            yield from _parquet_batches(path, stack, batch_size, columns)
    except InputNotFoundError:
        raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"cannot read Parquet ({exc})", path=path, expected="a Parquet file"
        ) from exc


def _parquet_batches(
    path: str, stack: contextlib.ExitStack, batch_size: int, columns: Sequence[str] | None
) -> Iterator[pa.RecordBatch]:
    if filesystems.is_url(path):
        file = pq.ParquetFile(stack.enter_context(filesystems.open_input(path)))
    else:
        file = pq.ParquetFile(path)
    wanted = list(columns) if columns is not None else None
    if wanted is not None:
        check_names(wanted)
    check_columns(
        pa.schema([f for f in file.schema_arrow if wanted is None or f.name in wanted]),
        path=path,
    )
    schema = normalize_schema(file.schema_arrow)
    if wanted is not None:
        missing = [c for c in wanted if c not in schema.names]
        if missing:
            raise InputError(
                "requested columns are missing",
                path=path,
                expected=str(missing),
                found=str(schema.names),
            )
        schema = pa.schema([schema.field(c) for c in wanted])
    any_rows = False
    for batch in file.iter_batches(batch_size=batch_size, columns=wanted):
        any_rows = True
        yield normalize_batch(batch)
    if not any_rows:
        yield pa.RecordBatch.from_pylist([], schema=schema)


def read_parquet(
    pattern: str | os.PathLike[str],
    *,
    batch_size: int = 65536,
    columns: Sequence[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """RecordBatches of the Parquet file(s) at `pattern` (a file, glob or directory)."""
    files = resolve_files(pattern)

    def batches() -> Iterator[pa.RecordBatch]:
        for path in files:
            yield from read_parquet_file(path, batch_size=batch_size, columns=columns)

    return rebatch(batches(), batch_size)


def read_tfrecord_file(
    path: str,
    *,
    schema: pa.Schema | None,
    batch_size: int = 65536,
    schema_inferred: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Batches of one TFRecord file of tf.Examples, decoded to `schema` (or inferred).

    Without `schema`, it is inferred from the first batch and kept for the rest. When the schema
    is inferred (here or, `schema_inferred`, by the caller), a feature outside it is logged as a
    warning rather than ignored silently.
    """
    for batch, _ in _tfrecord_batches(path, schema, batch_size, schema_inferred, None):
        yield batch


def read_tfrecord_file_parts(
    path: str,
    ratios: Mapping[str, int],
    *,
    schema: pa.Schema | None,
    batch_size: int = 65536,
    schema_inferred: bool = False,
) -> Iterator[dict[str, pa.RecordBatch]]:
    """`read_tfrecord_file`, each batch split as TFX's ImportExampleGen splits records.

    TFX parses each record and hashes its deterministic serialization (SHA-256 modulo the buckets
    of `ratios`); so is each record here, from its bytes (not from the decoded columns, which
    lose features that are absent or empty), so the records go where TFX would put them.
    """
    total = check_ratios(ratios)
    for batch, buckets in _tfrecord_batches(path, schema, batch_size, schema_inferred, total):
        assert buckets is not None
        yield split_by_buckets(batch, buckets, ratios)


def _tfrecord_batches(
    path: str,
    schema: pa.Schema | None,
    batch_size: int,
    schema_inferred: bool,
    total: int | None,
) -> Iterator[tuple[pa.RecordBatch, np.ndarray | None]]:
    """Decoded batches of one TFRecord file, with the TFX hash buckets of their raw records."""
    warned: set[str] = set()
    pinned = schema
    inferred = schema_inferred or schema is None
    for buf, starts, ends, index in iter_record_chunks(path):
        for lo in range(0, len(starts), batch_size):
            hi = lo + batch_size
            unknown: list[str] | None = [] if inferred and pinned is not None else None
            batch = decode_framed(
                buf,
                starts[lo:hi],
                ends[lo:hi],
                pinned,
                path=path,
                record_base=index + lo,
                unknown=unknown,
            )
            pinned = batch.schema
            buckets = None
            if total is not None:
                buckets = span_buckets(buf, starts[lo:hi], ends[lo:hi], total, canonical=True)
            yield batch, buckets
            new = sorted(set(unknown or ()) - warned)
            if new:
                warned.update(new)
                _LOG.warning(
                    "%s: features %s first appear after record %d, outside the schema inferred "
                    "from the first batch; they are not read (pass schema= to read them)",
                    path,
                    new,
                    index + lo,
                )


def read_tfrecord(
    pattern: str | os.PathLike[str],
    *,
    schema: pa.Schema | None = None,
    batch_size: int = 65536,
) -> Iterator[pa.RecordBatch]:
    """RecordBatches of TFRecord file(s) of tf.Example at `pattern` (plain or gzip).

    Without `schema`, the columns and their types are inferred from the first batch and kept for
    the rest, so every batch has the same schema.
    """
    files = resolve_files(pattern)
    schemas: list[pa.Schema] = [schema] if schema is not None else []

    def batches() -> Iterator[pa.RecordBatch]:
        pinned = schema
        for path in files:
            for batch in read_tfrecord_file(
                path, schema=pinned, batch_size=batch_size, schema_inferred=schema is None
            ):
                if pinned is None:
                    pinned = batch.schema
                    schemas.append(pinned)
                yield batch

    return with_empty_fallback(rebatch(batches(), batch_size), schemas)


def read_tfrecord_parts(
    pattern: str | os.PathLike[str],
    ratios: Mapping[str, int],
    *,
    schema: pa.Schema | None = None,
    batch_size: int = 65536,
) -> Iterator[dict[str, pa.RecordBatch]]:
    """`read_tfrecord`, split into `ratios`' splits as TFX's ImportExampleGen splits them.

    Yields one {split name: RecordBatch} per batch read; every part has the pinned schema.
    """
    files = resolve_files(pattern)
    check_ratios(ratios)

    def parts() -> Iterator[dict[str, pa.RecordBatch]]:
        pinned = schema
        for path in files:
            for split in read_tfrecord_file_parts(
                path, ratios, schema=pinned, batch_size=batch_size, schema_inferred=schema is None
            ):
                if pinned is None:
                    pinned = next(iter(split.values())).schema
                yield split

    return parts()


def read_dataframe(df: pd.DataFrame, *, batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
    """RecordBatches of a pandas DataFrame (its index is dropped; column names must be distinct)."""
    import pandas as pd  # here, not at module level: importing pandas costs seconds

    if not isinstance(df, pd.DataFrame):
        raise InputError(
            "not a pandas DataFrame", expected="pandas.DataFrame", found=type(df).__name__
        )
    check_names([str(c) for c in df.columns])
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"cannot convert the DataFrame to Arrow ({exc})") from exc
    check_columns(table.schema)
    chunks = table.combine_chunks().to_batches()
    batch = normalize_batch(
        chunks[0] if chunks else pa.RecordBatch.from_pylist([], schema=table.schema)
    )
    if batch.num_rows == 0:
        yield batch
        return
    for start in range(0, batch.num_rows, batch_size):
        yield batch.slice(start, batch_size)
