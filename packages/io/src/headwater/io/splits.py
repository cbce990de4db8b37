"""Deterministic hash splits, row for row the ones TFX's ExampleGen makes.

TFX hashes each example's bytes with SHA-256 and takes the digest, read as a big-endian integer,
modulo the sum of the splits' hash buckets; the bucket picks the split in the order the splits
are listed ({"train": 2, "eval": 1}: buckets 0-1 train, 2 eval). The bytes are the example
serialized deterministically (features sorted by name as protobuf's Python runtime sorts them),
or with a partition feature, that feature's serialized `tf.train.Feature`. A row here is
serialized the way TFX's CsvExampleGen builds it: every column present, a null as an empty value
list of its column's kind, a column with no type (all nulls) as an empty Feature. So a CSV split
here and in TFX 1.16 put the same rows in the same splits, in any process, runner or batch size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from headwater.io import example_wire
from headwater.io.errors import InputError
from headwater.io.example_wire import encode_buckets, encode_columns, encode_features
from headwater.io.feature_columns import FeatureColumn, feature_columns

__all__ = [
    "assign_splits",
    "check_ratios",
    "partition_keys",
    "record_buckets",
    "split_buckets",
    "split_by_buckets",
]


def _canonical(column: FeatureColumn, column_type: pa.DataType) -> FeatureColumn:
    """`column` as TFX's CsvExampleGen writes it: present in every row."""
    counts = np.maximum(column.counts, 0)
    if pa.types.is_null(column_type):
        return FeatureColumn(column.name, 0, counts, np.empty(0, np.int64))
    return FeatureColumn(column.name, column.kind, counts, column.values)


def _key_columns(batch: pa.RecordBatch, key: str | None) -> list[FeatureColumn]:
    """The columns TFX serializes for each row: all, sorted by name, or `key` alone."""
    if key is not None:
        if key not in batch.schema.names:
            raise InputError(
                "split key column is missing", column=key, expected=str(batch.schema.names)
            )
        batch = batch.select([key])
    types = {f.name: f.type for f in batch.schema}
    columns = [_canonical(c, types[c.name]) for c in feature_columns(batch)]
    columns.sort(key=lambda c: map_key_order(c.name))
    return columns


def map_key_order(name: str) -> list[int]:
    """Sort key giving the order protobuf's Python runtime (upb) writes map keys deterministically.

    Bytewise, except that a key comes before its own prefixes ("ab" before "a", "" last): the
    bytes followed by a sentinel above every byte value.
    """
    return [*name.encode("utf-8", "surrogateescape"), 256]


def partition_keys(batch: pa.RecordBatch, key: str | None = None) -> list[bytes]:
    """The bytes TFX hashes for each row: the deterministic tf.Example, or `key`'s Feature."""
    columns = _key_columns(batch, key)
    if key is not None:
        return encode_features(columns[0], batch.num_rows)
    return encode_columns(columns, batch.num_rows)


def _check_total(total: int) -> None:
    if not 1 <= total < 2**55:
        raise ValueError(f"the number of hash buckets must be in [1, 2**55), got {total!r}")


def record_buckets(records: Sequence[bytes], total: int) -> np.ndarray:
    """TFX's hash bucket in [0, total) of each serialized record: SHA-256 modulo `total`."""
    _check_total(total)
    return example_wire.record_buckets(records, total)


def split_buckets(batch: pa.RecordBatch, total: int, key: str | None = None) -> np.ndarray:
    """TFX's hash bucket in [0, total) of each row of `batch` (see `partition_keys`).

    Serializes and hashes row by row in C, without making the bytes of `partition_keys`.
    """
    _check_total(total)
    columns = _key_columns(batch, key)
    return encode_buckets(columns, batch.num_rows, total, features=key is not None)


def check_ratios(ratios: Mapping[str, int]) -> int:
    """The number of hash buckets of `ratios` (split name -> buckets); ValueError if invalid."""
    if not ratios or any(int(r) != r or r < 0 for r in ratios.values()) or sum(ratios.values()) < 1:
        raise ValueError(
            f"ratios must be non-negative integers with a positive sum, got {ratios!r}"
        )
    total = int(sum(ratios.values()))
    _check_total(total)
    return total


def split_by_buckets(
    batch: pa.RecordBatch, buckets: np.ndarray, ratios: Mapping[str, int]
) -> dict[str, pa.RecordBatch]:
    """Rows of `batch` per split: bucket b goes to the split whose range of buckets holds b."""
    out = {}
    low = 0
    for name, ratio in ratios.items():
        high = low + int(ratio)
        mask = (buckets >= low) & (buckets < high)
        out[name] = batch.filter(pa.array(mask))
        low = high
    return out


def assign_splits(
    batch: pa.RecordBatch, ratios: Mapping[str, int], *, key: str | None = None
) -> dict[str, pa.RecordBatch]:
    """Rows of `batch` per split: `ratios` are TFX's hash buckets, in the splits' order."""
    total = check_ratios(ratios)
    return split_by_buckets(batch, split_buckets(batch, total, key), ratios)
