"""Deterministic hash splits: rows to named splits by ratio, identical across processes and runs.

Each row gets a 64-bit fingerprint of its values (or of one `key` column): splitmix64 mixing over
the values' bytes, vectorized with numpy, never Python's salted `hash()`. The fingerprint modulo
the sum of the ratios picks the split, like TFX's hash buckets: ratios {"train": 2, "eval": 1}
send buckets 0-1 to train and 2 to eval.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from headwater.io.convention import normalize_type
from headwater.io.errors import InputError

__all__ = ["assign_splits", "fingerprint_rows"]

_NULL = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, elementwise on uint64 (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _bytes_hash(array: pa.Array) -> np.ndarray:
    array = array.cast(pa.large_binary())
    _, off_buf, data_buf = array.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    raw = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    data = np.concatenate([raw, np.zeros(8, np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(data, 8)
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    h = _mix(lengths.astype(np.uint64))
    active = np.nonzero(lengths > 0)[0]
    k = 0
    while len(active):
        remaining = lengths[active] - 8 * k
        word = windows[starts[active] + 8 * k].copy().view("<u8").ravel()
        short = remaining < 8
        if short.any():
            bits = (remaining[short] * 8).astype(np.uint64)
            word[short] &= (np.uint64(1) << bits) - np.uint64(1)
        h[active] = _mix(h[active] ^ word)
        active = active[remaining > 8]
        k += 1
    return h


def _values_hash(array: pa.Array) -> np.ndarray:
    t = normalize_type(array.type)
    if pa.types.is_string(t) or pa.types.is_binary(t):
        return _bytes_hash(array.cast(t))
    if pa.types.is_integer(t):
        ints = np.asarray(array.cast(pa.int64()).fill_null(0), dtype=np.int64)
        return _mix(ints.view(np.uint64))
    if pa.types.is_floating(t):
        floats = np.asarray(array.cast(pa.float64()).fill_null(0.0), dtype=np.float64) + 0.0
        floats = np.where(np.isnan(floats), np.nan, floats)
        return _mix(_mix(floats.view(np.uint64)))
    raise InputError("column type cannot be hashed", expected="the Arrow convention", found=str(t))


def _column_hash(column: pa.Array) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_null(column.type):
        return np.full(len(column), _NULL, dtype=np.uint64)
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        offsets = np.asarray(column.offsets, dtype=np.int64)
        values = column.values[offsets[0] : offsets[-1]]
        counts = np.diff(offsets)
        position = np.arange(len(values), dtype=np.int64) - np.repeat(
            offsets[:-1] - offsets[0], counts
        )
        contrib = _mix(_values_hash(values) ^ _mix(position.astype(np.uint64)))
        sums = np.zeros(len(column), dtype=np.uint64)
        rows = np.repeat(np.arange(len(column)), counts)
        np.add.at(sums, rows, contrib)
        h = _mix(sums ^ _mix(counts.astype(np.uint64)))
    else:
        h = _values_hash(column)
    valid = np.asarray(column.is_valid()).astype(bool)
    return np.where(valid, h, _NULL)


def fingerprint_rows(batch: pa.RecordBatch, key: str | None = None) -> np.ndarray:
    """A stable uint64 fingerprint per row: of every value, or of column `key` alone."""
    if key is not None:
        if key not in batch.schema.names:
            raise InputError(
                "split key column is missing", column=key, expected=str(batch.schema.names)
            )
        return _column_hash(batch.column(key))
    h = np.zeros(batch.num_rows, dtype=np.uint64)
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        name_hash = _bytes_hash(pa.array([name]))[0]
        h = _mix(h * np.uint64(0x100000001B3) ^ _column_hash(column) ^ name_hash)
    return h


def assign_splits(
    batch: pa.RecordBatch, ratios: Mapping[str, int], *, key: str | None = None
) -> dict[str, pa.RecordBatch]:
    """Rows of `batch` per split, chosen by fingerprint bucket in proportion to `ratios`."""
    if not ratios or any(int(r) != r or r < 0 for r in ratios.values()) or sum(ratios.values()) < 1:
        raise ValueError(
            f"ratios must be non-negative integers with a positive sum, got {ratios!r}"
        )
    total = np.uint64(sum(ratios.values()))
    buckets = fingerprint_rows(batch, key) % total
    out = {}
    low = 0
    for name, ratio in ratios.items():
        high = low + int(ratio)
        mask = (buckets >= low) & (buckets < high)
        out[name] = batch.filter(pa.array(mask))
        low = high
    return out
