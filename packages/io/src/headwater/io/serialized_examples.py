"""Serialized tf.Examples read from TFRecord files as they are, beside the columns asked for.

A model whose signature takes serialized tf.Examples needs the records, not columns:
re-encoding decoded columns costs about as much as the model call, and the records as read are
what TFX's BulkInferrer feeds and logs and TFMA's evaluator predicts on. `read_serialized_examples`
yields `SerializedBatch`es: the records (their bytes as in the file) and the columns decoded
from them — all of them, only the ones named (kept columns, metric and slice inputs), or none.
bulk-inferrer and model-analysis both read this way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from headwater.io.errors import InputError
from headwater.io.example_codec import decode_framed
from headwater.io.paths import resolve_files
from headwater.io.read_ahead import read_ahead
from headwater.io.tfrecord_files import iter_record_chunks

__all__ = ["SerializedBatch", "read_serialized_examples"]


@dataclass(frozen=True)
class SerializedBatch:
    """Serialized tf.Examples with the columns decoded from them, row for row."""

    records: np.ndarray
    """The records as read (an object array of bytes), one per row."""
    examples: pa.RecordBatch
    """The columns decoded from the records: all, the ones asked for, or none (rows only)."""

    def __post_init__(self) -> None:
        if len(self.records) != self.examples.num_rows:
            raise ValueError(
                f"{len(self.records)} records beside {self.examples.num_rows} decoded rows"
            )

    @property
    def num_rows(self) -> int:
        """Rows in the batch."""
        return len(self.records)

    def slice(self, offset: int, length: int) -> SerializedBatch:
        """Rows [offset, offset + length)."""
        return SerializedBatch(
            self.records[offset : offset + length], self.examples.slice(offset, length)
        )


def read_serialized_examples(
    pattern: str | os.PathLike[str] | Sequence[str],
    *,
    columns: Sequence[str] | None = None,
    batch_size: int = 65536,
    absent: Literal["raise", "omit"] = "raise",
    exact_batches: bool = False,
    ahead: int = 1,
) -> Iterator[SerializedBatch]:
    """SerializedBatches of the TFRecord file(s) of tf.Example at `pattern` (plain or gzip).

    `pattern` is a file, a glob, a directory or a list of files (read in that order).

    `columns` None decodes every feature, a list only those features, [] none; the columns'
    types are inferred from the first batch and kept for the rest. A name in `columns` that no
    record of the first batch has is an InputError naming the file (`absent="raise"`), or left
    out of every batch (`absent="omit"`, for optional inputs).

    Batches have at most `batch_size` rows and never span a read chunk or a file, so records
    and columns are never copied; with `exact_batches`, every batch but the last has exactly
    `batch_size` rows, cut across chunks and files as `read_tfrecord` cuts them.

    With `ahead` >= 1, that many batches are made ahead on a worker thread while the caller uses
    this one (`read_ahead`); 0 makes them on the caller's thread. A corrupt file is an
    InputError naming the file, record and byte offset, raised when its batch is reached.

    Example:
        for batch in read_serialized_examples("examples/*.gz", columns=["trip_id"]):
            model(batch.records), batch.examples["trip_id"]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if absent not in ("raise", "omit"):
        raise ValueError(f"absent must be 'raise' or 'omit', got {absent!r}")
    if ahead < 0:
        raise ValueError(f"ahead must be >= 0, got {ahead!r}")
    files = resolve_files(pattern) if isinstance(pattern, str | os.PathLike) else list(pattern)
    wanted = None if columns is None else list(columns)
    batches = _serialized_batches(files, wanted, batch_size, absent)
    if exact_batches:
        batches = _exact(batches, batch_size)
    return read_ahead(batches, depth=ahead, name="headwater-io-serialized") if ahead else batches


def _serialized_batches(
    files: list[str], wanted: list[str] | None, batch_size: int, absent: str
) -> Iterator[SerializedBatch]:
    pinned: pa.Schema | None = None
    for path in files:
        for buf, starts, ends, index in iter_record_chunks(path):
            for lo in range(0, len(starts), batch_size):
                s, e = starts[lo : lo + batch_size], ends[lo : lo + batch_size]
                records = np.empty(len(s), dtype=object)
                records[:] = [buf[a:b] for a, b in zip(s.tolist(), e.tolist(), strict=True)]
                base = index + lo
                if wanted == []:
                    examples = _rows_only(len(s))
                elif pinned is None:
                    examples = decode_framed(
                        buf, s, e, None, names=wanted, path=path, record_base=base
                    )
                    if wanted is not None and absent == "raise":
                        _check_present(examples.schema, wanted, (buf, s, e, path, base))
                    pinned = examples.schema
                else:
                    examples = decode_framed(buf, s, e, pinned, path=path, record_base=base)
                yield SerializedBatch(records, examples)


def _check_present(
    schema: pa.Schema, wanted: list[str], where: tuple[bytes, np.ndarray, np.ndarray, str, int]
) -> None:
    """InputError naming the file and every feature it has when a wanted one is absent."""
    missing = [name for name in wanted if schema.get_field_index(name) < 0]
    if not missing:
        return
    buf, s, e, path, base = where
    every = decode_framed(buf, s, e, None, path=path, record_base=base).schema.names
    raise InputError(
        f"features {missing} are not in the examples (features: {every})",
        path=path,
        expected=f"features {wanted}",
    )


def _exact(batches: Iterator[SerializedBatch], batch_size: int) -> Iterator[SerializedBatch]:
    """`batches` re-cut so that every batch but the last has exactly `batch_size` rows."""
    pending: list[SerializedBatch] = []
    pending_rows = 0
    for batch in batches:
        while batch.num_rows:
            take = min(batch.num_rows, batch_size - pending_rows)
            if take == batch_size:
                yield batch
                break
            pending.append(batch.slice(0, take))
            pending_rows += take
            if pending_rows == batch_size:
                yield _concat(pending)
                pending, pending_rows = [], 0
            batch = batch.slice(take, batch.num_rows - take)
    if pending:
        yield _concat(pending)


def _concat(parts: list[SerializedBatch]) -> SerializedBatch:
    if len(parts) == 1:
        return parts[0]
    return SerializedBatch(
        np.concatenate([p.records for p in parts]),
        pa.concat_batches([p.examples for p in parts]),
    )


def _rows_only(num_rows: int) -> pa.RecordBatch:
    """A RecordBatch of `num_rows` rows and no columns."""
    return pa.RecordBatch.from_arrays([pa.nulls(num_rows)], names=["_"]).select([])
