"""The Arrow convention every Headwater library sees, and the casts that bring batches to it.

A univalent feature is a flat primitive column (null = missing); a multivalent feature is a list
column. Value types are int64, float32 / float64, and string (utf8) / binary. Readers pass what
they read through `normalize_batch`, so that, e.g., an int32 Parquet column or a bool pandas
column arrives as int64 and a dictionary-encoded string column as plain strings. What no
tf.Example can hold (two columns of one name, lists of lists, structs, maps) is refused by
`check_columns`, which every reader calls with the file it reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from headwater.io.errors import InputError

__all__ = ["check_columns", "check_names", "normalize_batch", "normalize_schema", "normalize_type"]

_FEATURE_TYPES = (
    "a primitive or a list of primitives (a tf.Example feature); "
    "read the other columns with columns=[...]"
)


def check_names(names: Sequence[str], *, path: str | None = None) -> None:
    """Raise InputError if a column name repeats: a batch (and a tf.Example) keeps only one."""
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise InputError(
            "duplicate column names",
            path=path,
            expected="each column name once",
            found=f"{repeated} repeated in {list(names)}",
        )


def _is_flat(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_flat(t.value_type)
    return not pa.types.is_nested(t)


def _is_feature_type(t: pa.DataType) -> bool:
    """A primitive, or one level of list of primitives (a multivalent feature)."""
    if pa.types.is_map(t):
        return False
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    ):
        return _is_flat(t.value_type)
    return _is_flat(t)


def check_columns(schema: pa.Schema, *, path: str | None = None) -> None:
    """Raise InputError naming `path` and the column if `schema` holds what a tf.Example cannot.

    Names must be distinct; a column must be a primitive or a list of primitives (TFX reads no
    deeper nesting: lists of lists, structs and maps are refused, with the column and its type).
    """
    check_names(schema.names, path=path)
    for f in schema:
        if not _is_feature_type(f.type):
            raise InputError(
                "unsupported nested column type",
                path=path,
                column=f.name,
                expected=_FEATURE_TYPES,
                found=str(f.type),
            )


def _value_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _value_type(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pa.int64()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_floating(t):
        return t
    if pa.types.is_decimal(t):
        return pa.float64()
    if (
        pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return pa.binary()
    if pa.types.is_binary(t):
        return t
    # Strings, and everything without a tf.Example counterpart (dates, times, null) as text.
    return pa.string()


def normalize_type(t: pa.DataType) -> pa.DataType:
    """The convention's type for a column of type `t`."""
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(_value_type(t.value_type))
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.list_(_value_type(t.value_type))
    return _value_type(t)


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with every field brought to the convention's types."""
    return pa.schema([pa.field(f.name, normalize_type(f.type)) for f in schema])


def _cast(column: pa.Array, target: pa.DataType) -> pa.Array:
    if column.type == target:
        return column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), target)
    if pa.types.is_list(target) and not pa.types.is_list(column.type):
        column = column.cast(pa.list_(column.type.value_type))
    if pa.types.is_list(target) and pa.types.is_dictionary(column.type.value_type):
        decoded = column.values.dictionary_decode()
        column = pa.ListArray.from_arrays(column.offsets, decoded, mask=column.is_null())
    if pa.types.is_temporal(column.type):
        return pc.cast(column, pa.string())
    return column.cast(target)


def normalize_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with every column cast to the convention's types (no copy when already there).

    A column no tf.Example can hold raises InputError naming it (see `check_columns`).
    """
    schema = normalize_schema(batch.schema)
    if schema.equals(batch.schema):
        return batch
    check_columns(batch.schema)
    columns = [_cast(col, f.type) for col, f in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
