"""Features in columnar form, between Arrow columns and the tf.Example wire codec.

A `FeatureColumn` holds one feature of a batch as numpy arrays (value counts per record and all
values in order); the wire encoder consumes it and the wire parser produces it, and this module
converts it from and to Arrow columns of the convention in `headwater.io.convention`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from headwater.io.convention import normalize_type
from headwater.io.errors import InputError

__all__ = ["FeatureColumn", "feature_columns", "to_arrow"]

BYTES, FLOAT, INT64 = 1, 2, 3
KIND_NAMES = {0: "no value list", BYTES: "bytes_list", FLOAT: "float_list", INT64: "int64_list"}


@dataclass
class FeatureColumn:
    """One feature of a batch in columnar form: shared by the encoder and the decoder.

    `counts[i]` is the number of values of record i, or -1 when the feature is missing there;
    `values` holds every value in record order: float32 / int64 numpy arrays, or for bytes a
    pair (offsets, data) of an int64 offsets array and a uint8 data array.
    """

    name: str
    kind: int
    counts: np.ndarray
    values: np.ndarray | tuple[np.ndarray, np.ndarray]


# ---------------------------------------------------------------- RecordBatch -> FeatureColumn


def _kind_of(t: pa.DataType, name: str) -> int:
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return INT64
    if pa.types.is_floating(t):
        return FLOAT
    if pa.types.is_string(t) or pa.types.is_binary(t):
        return BYTES
    raise InputError(
        "column type has no tf.Example counterpart",
        column=name,
        expected="int64, float32/float64, string/binary or a list of those",
        found=str(t),
    )


def _bytes_values(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of a string/binary array with nulls already removed."""
    array = array.cast(pa.large_binary())
    _, off_buf, data_buf = array.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    )
    start = int(offsets[0]) if len(offsets) else 0
    end = int(offsets[-1]) if len(offsets) else 0
    return offsets - start, data[start:end]


def feature_columns(batch: pa.RecordBatch) -> list[FeatureColumn]:
    """Columnar form of every column of `batch`, ready to encode."""
    out = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        t = normalize_type(column.type)
        if pa.types.is_dictionary(column.type) or column.type != t:
            column = column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
            column = column.cast(t) if not pa.types.is_null(column.type) else pa.nulls(len(column))
        if pa.types.is_null(column.type):
            counts = np.full(len(column), -1, dtype=np.int64)
            out.append(FeatureColumn(name, FLOAT, counts, np.empty(0, np.float32)))
            continue
        valid = np.asarray(column.is_valid()).astype(bool)
        if pa.types.is_list(column.type):
            kind = _kind_of(column.type.value_type, name)
            offsets = np.asarray(column.offsets)
            counts = np.diff(offsets).astype(np.int64)
            flat = column.values[offsets[0] : offsets[-1]] if len(offsets) else column.values[:0]
            counts[~valid] = -1
            if flat.null_count:
                raise InputError(
                    "list column holds a null value; tf.Example lists cannot",
                    column=name,
                    expected="lists without nulls",
                )
        else:
            kind = _kind_of(column.type, name)
            counts = np.where(valid, 1, -1).astype(np.int64)
            flat = column.drop_null()
        if kind == BYTES:
            values: np.ndarray | tuple[np.ndarray, np.ndarray] = _bytes_values(flat)
        elif kind == FLOAT:
            values = np.asarray(flat.cast(pa.float32()), dtype=np.float32)
        else:
            values = np.asarray(flat.cast(pa.int64()), dtype=np.int64)
        out.append(FeatureColumn(name, kind, counts, values))
    return out


# ---------------------------------------------------------------- FeatureColumn -> Arrow column


def _bytes_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    n = len(offsets) - 1
    if len(data) < 2**31 - 1:
        return pa.Array.from_buffers(
            pa.binary(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
        )
    large = pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)]
    )
    return large.cast(pa.binary())


def _values_array(col: FeatureColumn) -> pa.Array:
    if col.kind == BYTES:
        assert isinstance(col.values, tuple)
        return _bytes_array(*col.values)
    assert isinstance(col.values, np.ndarray)
    if col.kind == FLOAT:
        return pa.array(col.values.astype(np.float32, copy=False), type=pa.float32())
    if col.kind == INT64:
        return pa.array(col.values.astype(np.int64, copy=False), type=pa.int64())
    return pa.array([], type=pa.string())


def _flat_from(col: FeatureColumn, values: pa.Array) -> pa.Array:
    """Flat column of length len(counts) from one value per present record."""
    valid = col.counts == 1
    n = len(col.counts)
    if valid.all():
        return values
    positions = np.cumsum(valid) - 1
    positions[~valid] = 0
    if len(values) == 0:
        return pa.nulls(n, values.type)
    return _with_nulls(values.take(pa.array(positions)), valid)


def _with_nulls(array: pa.Array, valid: np.ndarray) -> pa.Array:
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    buffers = array.buffers()
    return pa.Array.from_buffers(array.type, len(array), [bitmap, *buffers[1:]], offset=0)


def to_arrow(
    col: FeatureColumn, target: pa.DataType | None, *, record_base: int = 0, path: str | None = None
) -> pa.Array:
    """The Arrow column for `col`: of type `target`, or inferred when `target` is None."""
    present = col.counts[col.counts >= 0]
    if target is None:
        if col.kind == 0:
            return pa.nulls(len(col.counts), pa.string())
        values = _values_array(col)
        if col.kind == BYTES:
            with contextlib.suppress(pa.ArrowInvalid):
                values = values.cast(pa.string())
        univalent = bool(np.all(present == 1)) and len(present) > 0
        target = values.type if univalent else pa.list_(values.type)
    else:
        values = _values_array(col)
    is_list = pa.types.is_list(target)
    value_type = target.value_type if is_list else target
    if col.kind == 0:
        values = pa.array([], type=value_type)
    elif _kind_of(value_type, col.name) != col.kind:
        bad = int(np.argmax(col.counts >= 0))
        raise InputError(
            "feature has the wrong value list type",
            path=path,
            row=record_base + bad,
            column=col.name,
            expected=f"{KIND_NAMES[_kind_of(value_type, col.name)]} (for {target})",
            found=KIND_NAMES[col.kind],
        )
    if values.type != value_type:
        try:
            values = values.cast(value_type)
        except pa.ArrowInvalid as exc:
            raise InputError(
                "bytes values are not valid UTF-8",
                path=path,
                column=col.name,
                expected=str(value_type),
                found="invalid UTF-8 bytes",
            ) from exc
    if is_list:
        counts = np.maximum(col.counts, 0)
        offsets = np.zeros(len(counts) + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        mask = pa.array(col.counts < 0)
        return pa.ListArray.from_arrays(pa.array(offsets), values, type=target, mask=mask)
    if len(present) and present.max() > 1:
        bad = int(np.argmax(col.counts > 1))
        raise InputError(
            "feature has several values but its column is univalent",
            path=path,
            row=record_base + bad,
            column=col.name,
            expected=f"at most one value ({target})",
            found=f"{int(col.counts[bad])} values",
        )
    return _flat_from(col, values)
