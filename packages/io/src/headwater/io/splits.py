"""Deterministic hash splits, row for row the ones TFX's ExampleGen makes.

TFX hashes each example's bytes with SHA-256 and takes the digest, read as a big-endian integer,
modulo the sum of the splits' hash buckets; the bucket picks the split in the order the splits
are listed ({"train": 2, "eval": 1}: buckets 0-1 train, 2 eval). The bytes are the example
serialized deterministically (features sorted by name), or with a partition feature, that
feature's serialized `tf.train.Feature`. A row here is serialized the way TFX's CsvExampleGen
builds it: every column present, a null as an empty value list of its column's kind, a column
with no type (all nulls) as an empty Feature. So a CSV split here and in TFX 1.16 put the same
rows in the same splits, in any process, runner or batch size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from headwater.io.errors import InputError
from headwater.io.example_wire import encode_columns, encode_features
from headwater.io.feature_columns import FeatureColumn, feature_columns

__all__ = ["assign_splits", "partition_keys", "record_buckets", "split_buckets"]


def _canonical(column: FeatureColumn, column_type: pa.DataType) -> FeatureColumn:
    """`column` as TFX's CsvExampleGen writes it: present in every row."""
    counts = np.maximum(column.counts, 0)
    if pa.types.is_null(column_type):
        return FeatureColumn(column.name, 0, counts, np.empty(0, np.int64))
    return FeatureColumn(column.name, column.kind, counts, column.values)


def partition_keys(batch: pa.RecordBatch, key: str | None = None) -> list[bytes]:
    """The bytes TFX hashes for each row: the deterministic tf.Example, or `key`'s Feature."""
    if key is not None:
        if key not in batch.schema.names:
            raise InputError(
                "split key column is missing", column=key, expected=str(batch.schema.names)
            )
        one = batch.select([key])
        (column,) = feature_columns(one)
        return encode_features(_canonical(column, one.schema.field(0).type), batch.num_rows)
    types = {f.name: f.type for f in batch.schema}
    columns = [_canonical(c, types[c.name]) for c in feature_columns(batch)]
    # Deterministic protobuf serialization orders map entries by the keys' bytes.
    columns.sort(key=lambda c: c.name.encode("utf-8", "surrogateescape"))
    return encode_columns(columns, batch.num_rows)


def record_buckets(records: Sequence[bytes], total: int) -> np.ndarray:
    """TFX's hash bucket in [0, total) of each serialized record: SHA-256 modulo `total`."""
    if total < 1:
        raise ValueError(f"total must be >= 1, got {total!r}")
    sha256 = hashlib.sha256
    return np.fromiter(
        (int.from_bytes(sha256(r).digest(), "big") % total for r in records),
        dtype=np.int64,
        count=len(records),
    )


def split_buckets(batch: pa.RecordBatch, total: int, key: str | None = None) -> np.ndarray:
    """TFX's hash bucket in [0, total) of each row of `batch` (see `partition_keys`)."""
    return record_buckets(partition_keys(batch, key), total)


def assign_splits(
    batch: pa.RecordBatch, ratios: Mapping[str, int], *, key: str | None = None
) -> dict[str, pa.RecordBatch]:
    """Rows of `batch` per split: `ratios` are TFX's hash buckets, in the splits' order."""
    if not ratios or any(int(r) != r or r < 0 for r in ratios.values()) or sum(ratios.values()) < 1:
        raise ValueError(
            f"ratios must be non-negative integers with a positive sum, got {ratios!r}"
        )
    buckets = split_buckets(batch, int(sum(ratios.values())), key)
    out = {}
    low = 0
    for name, ratio in ratios.items():
        high = low + int(ratio)
        mask = (buckets >= low) & (buckets < high)
        out[name] = batch.filter(pa.array(mask))
        low = high
    return out
