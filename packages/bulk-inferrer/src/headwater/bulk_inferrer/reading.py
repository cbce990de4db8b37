"""Serialized tf.Examples read from TFRecord files as they are, beside the columns asked for.

A signature over serialized tf.Examples needs the records, not columns: re-encoding decoded
columns costs about as much as the model call, and the records as read are what TFX's
BulkInferrer feeds and logs. `read_serialized_examples` yields `SerializedBatch`es: the records
(their bytes as in the file) and the columns decoded from them — all of them, only the ones
named (kept columns, raw-feature inputs), or none.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from headwater.io import InputError, resolve_files
from headwater.io.example_codec import decode_framed
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
) -> Iterator[SerializedBatch]:
    """SerializedBatches of the TFRecord file(s) of tf.Example at `pattern` (plain or gzip).

    `pattern` is a file, a glob, a directory or a list of files (read in that order).

    `columns` None decodes every feature (types inferred from the first batch and kept), a list
    only those features (a name absent from the first batch is an InputError naming the file),
    [] none. A corrupt file is an InputError naming the file, record and byte offset.

    Example:
        for batch in read_serialized_examples("examples/*.gz", columns=["trip_id"]):
            ...
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    files = resolve_files(pattern) if isinstance(pattern, str | os.PathLike) else list(pattern)
    wanted = None if columns is None else list(columns)
    return _made_ahead(_serialized_batches(files, wanted, batch_size))


def _serialized_batches(
    files: list[str], wanted: list[str] | None, batch_size: int
) -> Iterator[SerializedBatch]:
    pinned: pa.Schema | None = None
    for path in files:
        for buf, starts, ends, index in iter_record_chunks(path):
            for lo in range(0, len(starts), batch_size):
                s, e = starts[lo : lo + batch_size], ends[lo : lo + batch_size]
                records = np.empty(len(s), dtype=object)
                records[:] = [buf[a:b] for a, b in zip(s.tolist(), e.tolist(), strict=True)]
                if wanted == []:
                    examples = _rows_only(len(s))
                else:
                    batch = decode_framed(buf, s, e, pinned, path=path, record_base=index + lo)
                    if pinned is None:
                        pinned = _pin(batch.schema, wanted, path)
                        batch = batch.select(pinned.names)
                    examples = batch
                yield SerializedBatch(records, examples)


def _made_ahead(batches: Iterator[SerializedBatch]) -> Iterator[SerializedBatch]:
    """`batches`, the next one made on a worker thread while the caller uses this one.

    Slicing the records and decoding columns overlap the model call on the caller's thread
    (TensorFlow releases the GIL); errors come in order, when their batch is reached.
    """
    context = contextvars.copy_context()  # e.g. Beam's FileSystems for URLs (using_beam)

    def step() -> SerializedBatch | None:
        return context.run(next, batches, None)

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="headwater-read") as pool:
            pending = pool.submit(step)
            while (batch := pending.result()) is not None:
                pending = pool.submit(step)
                yield batch
    finally:
        batches.close()  # type: ignore[attr-defined]


def _pin(schema: pa.Schema, wanted: list[str] | None, path: str) -> pa.Schema:
    """The schema kept for every batch: all columns of the first, or the wanted ones."""
    if wanted is None:
        return schema
    missing = [name for name in wanted if schema.get_field_index(name) < 0]
    if missing:
        raise InputError(
            f"features {missing} are not in the examples (features: {schema.names})",
            path=path,
            expected=f"features {wanted}",
        )
    return pa.schema([schema.field(name) for name in wanted])


def _rows_only(num_rows: int) -> pa.RecordBatch:
    """A RecordBatch of `num_rows` rows and no columns."""
    return pa.RecordBatch.from_arrays([pa.nulls(num_rows)], names=["_"]).select([])
