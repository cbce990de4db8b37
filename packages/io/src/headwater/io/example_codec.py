"""tf.Example codec without TensorFlow: RecordBatch ⇄ serialized `tf.Example` records.

The wire format is written and parsed directly from the message field numbers
(Example.features=1; Features.feature=1, a map<string, Feature>; Feature oneof bytes_list=1,
float_list=2, int64_list=3; each list's value=1, floats and ints packed), so the bytes are what
TensorFlow writes and reads. A null value is an absent feature; an empty list is a feature with an
empty value list. Decoding yields the Arrow convention of `headwater.io.convention`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from headwater.io.errors import InputError
from headwater.io.example_wire import WireError, decode_buffer, decode_list, encode_columns
from headwater.io.feature_columns import FeatureColumn, feature_columns, to_arrow

__all__ = ["decode_examples", "decode_framed", "decode_records", "encode_examples"]


def encode_examples(batch: pa.RecordBatch) -> list[bytes]:
    """One serialized tf.Example per row of `batch` (null = feature absent)."""
    return encode_columns(feature_columns(batch), batch.num_rows)


def decode_examples(records: Sequence[bytes], schema: pa.Schema | None = None) -> pa.RecordBatch:
    """A RecordBatch of serialized tf.Examples: `schema`'s columns, or every feature inferred."""
    return decode_records(records, schema)


def decode_records(
    records: Sequence[bytes],
    schema: pa.Schema | None,
    *,
    path: str | None = None,
    record_base: int = 0,
) -> pa.RecordBatch:
    """`decode_examples`, naming `path` and the record index (from `record_base`) in errors."""
    names = None if schema is None else list(schema.names)
    with _located(path, record_base):
        columns = decode_list(records, names)
    return _to_batch(columns, len(records), schema, path=path, record_base=record_base)


def decode_framed(
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    schema: pa.Schema | None,
    *,
    path: str | None = None,
    record_base: int = 0,
    unknown: list[str] | None = None,
    names: Sequence[str] | None = None,
) -> pa.RecordBatch:
    """Decode the records data[starts[i]:ends[i]] of one buffer.

    With `unknown` (a list), features outside `schema` are named in it instead of ignored.
    With `names` and no `schema`, only those features are decoded (types inferred); a name that
    no record has is left out, as when every feature is inferred.
    """
    if schema is None and names is not None:
        with _located(path, record_base):
            columns = decode_buffer(data, starts, ends, list(names))
        columns = [c for c in columns if bool((c.counts >= 0).any())]
        return _to_batch(columns, len(starts), None, path=path, record_base=record_base)
    names = None if schema is None or unknown is not None else list(schema.names)
    with _located(path, record_base):
        columns = decode_buffer(data, starts, ends, names)
    if schema is not None and unknown is not None:
        unknown.extend(c.name for c in columns if schema.get_field_index(c.name) < 0)
    return _to_batch(columns, len(starts), schema, path=path, record_base=record_base)


@contextlib.contextmanager
def _located(path: str | None, record_base: int) -> Iterator[None]:
    """Turn the codec's WireError into an InputError naming the file and record."""
    try:
        yield
    except WireError as exc:
        message, record = exc.args
        raise InputError(
            f"record is not a valid tf.Example: {message}",
            path=path,
            row=record_base + record,
            expected="a serialized tf.Example",
        ) from exc


def _to_batch(
    columns: list[FeatureColumn],
    num_records: int,
    schema: pa.Schema | None,
    *,
    path: str | None,
    record_base: int,
) -> pa.RecordBatch:
    """The RecordBatch of decoded columns: `schema`'s columns in its order, or all inferred."""
    if schema is not None:
        by_name = {c.name: c for c in columns}
        absent = np.full(num_records, -1, dtype=np.int64)
        columns = [
            by_name.get(f.name) or FeatureColumn(f.name, 0, absent, np.empty(0, np.float32))
            for f in schema
        ]
    arrays = []
    for col in columns:
        target = None if schema is None else schema.field(col.name).type
        arrays.append(to_arrow(col, target, record_base=record_base, path=path))
    if schema is None:
        fields = [pa.field(c.name, a.type) for c, a in zip(columns, arrays, strict=True)]
        out_schema = pa.schema(fields)
    else:
        out_schema = schema
    return pa.RecordBatch.from_arrays(arrays, schema=out_schema)
