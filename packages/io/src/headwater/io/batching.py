"""Batch plumbing shared by the readers: exact batch sizes and the iterator readers return."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from headwater.io.errors import SkippedRows

__all__ = ["Batches", "rebatch", "with_empty_fallback"]


def rebatch(batches: Iterable[pa.RecordBatch], batch_size: int) -> Iterator[pa.RecordBatch]:
    """`batches` re-cut so that every batch but the last has exactly `batch_size` rows.

    Empty batches are dropped, except that if no batch has rows the first empty one is yielded,
    so that the columns are still known downstream.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    any_rows = False
    first_empty = None
    for batch in batches:
        if batch.num_rows == 0 and first_empty is None:
            first_empty = batch
        any_rows = any_rows or batch.num_rows > 0
        while batch.num_rows:
            take = min(batch.num_rows, batch_size - pending_rows)
            if take == batch_size:
                yield batch.slice(0, take)
            else:
                pending.append(batch.slice(0, take))
                pending_rows += take
                if pending_rows == batch_size:
                    yield pa.concat_batches(pending)
                    pending, pending_rows = [], 0
            batch = batch.slice(take)
    if pending:
        yield pa.concat_batches(pending) if len(pending) > 1 else pending[0]
    if not any_rows and first_empty is not None:
        yield first_empty


class Batches(Iterator[pa.RecordBatch]):
    """The RecordBatches a reader yields, plus `skipped`: every bad row it skipped, and where."""

    def __init__(self, batches: Iterator[pa.RecordBatch], skipped: SkippedRows) -> None:
        self._batches = batches
        self.skipped = skipped

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> pa.RecordBatch:
        return next(self._batches)


def with_empty_fallback(
    batches: Iterable[pa.RecordBatch], schema_of_empty: list[pa.Schema]
) -> Iterator[pa.RecordBatch]:
    """`batches`, or one empty batch of `schema_of_empty[0]` if there were none (right columns)."""
    any_batch = False
    for batch in batches:
        any_batch = True
        yield batch
    if not any_batch and schema_of_empty:
        yield pa.RecordBatch.from_pylist([], schema=schema_of_empty[0])
