"""Reference tf.Example wire encoder and parser, one record at a time in plain Python.

Slow but simple: the fast vectorized codec is checked against it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from headwater.io.feature_columns import BYTES, FLOAT, INT64, FeatureColumn

__all__ = ["decode_python", "encode_python"]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def encode_python(columns: list[FeatureColumn], num_rows: int) -> list[bytes]:
    """Serialized tf.Example per row."""
    starts = [np.concatenate([[0], np.cumsum(np.maximum(c.counts, 0))]) for c in columns]
    records = []
    for i in range(num_rows):
        entries = b""
        for col, start in zip(columns, starts, strict=True):
            count = int(col.counts[i])
            if count < 0:
                continue
            lo, hi = int(start[i]), int(start[i + 1])
            if col.kind == BYTES:
                assert isinstance(col.values, tuple)
                offsets, data = col.values
                payload = b"".join(
                    _field(0x0A, data[offsets[j] : offsets[j + 1]].tobytes()) for j in range(lo, hi)
                )
                feature = _field(0x0A, payload)
            elif col.kind == FLOAT:
                assert isinstance(col.values, np.ndarray)
                raw = col.values[lo:hi].astype("<f4").tobytes()
                feature = _field(0x12, _field(0x0A, raw) if raw else b"")
            else:
                assert isinstance(col.values, np.ndarray)
                raw = b"".join(_varint(int(v)) for v in col.values[lo:hi])
                feature = _field(0x1A, _field(0x0A, raw) if raw else b"")
            entry = _field(0x0A, col.name.encode()) + _field(0x12, feature)
            entries += _field(0x0A, entry)
        records.append(_field(0x0A, entries))
    return records


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & ((1 << 64) - 1), pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf: bytes, pos: int, end: int):
    """(field number, wire type, value or (start, end)) of each field in buf[pos:end]."""
    while pos < end:
        tag, pos = _read_varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos, end)
            yield number, wire, value
        elif wire == 2:
            length, pos = _read_varint(buf, pos, end)
            if pos + length > end:
                raise ValueError("length-delimited field runs past its message")
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire == 5:
            if pos + 4 > end:
                raise ValueError("truncated fixed32")
            yield number, wire, (pos, pos + 4)
            pos += 4
        elif wire == 1:
            if pos + 8 > end:
                raise ValueError("truncated fixed64")
            yield number, wire, (pos, pos + 8)
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _parse_list(buf: bytes, kind: int, start: int, end: int) -> list:
    values: list = []
    for number, wire, value in _fields(buf, start, end):
        if number != 1:
            continue
        if kind == BYTES and wire == 2:
            values.append(buf[value[0] : value[1]])
        elif kind == FLOAT and wire == 2:
            values.extend(
                struct.unpack(f"<{(value[1] - value[0]) // 4}f", buf[value[0] : value[1]])
            )
        elif kind == FLOAT and wire == 5:
            values.append(struct.unpack("<f", buf[value[0] : value[1]])[0])
        elif kind == INT64 and wire == 2:
            pos, stop = value
            while pos < stop:
                v, pos = _read_varint(buf, pos, stop)
                values.append(v - (1 << 64) if v >= 1 << 63 else v)
        elif kind == INT64 and wire == 0:
            values.append(value - (1 << 64) if value >= 1 << 63 else value)
        else:
            raise ValueError(f"wire type {wire} is wrong for a value list")
    return values


def parse_record(buf: bytes) -> dict[str, tuple[int, list]]:
    """{feature name: (kind, values)} of one serialized tf.Example; kind 0 = no value list."""
    out: dict[str, tuple[int, list]] = {}
    for number, wire, span in _fields(buf, 0, len(buf)):
        if number != 1 or wire != 2:
            continue
        for n2, w2, entry in _fields(buf, *span):
            if n2 != 1 or w2 != 2:
                continue
            key = b""
            kind, values = 0, []  # type: ignore[var-annotated]
            for n3, w3, part in _fields(buf, *entry):
                if n3 == 1 and w3 == 2:
                    key = buf[part[0] : part[1]]
                elif n3 == 2 and w3 == 2:
                    kind, values = 0, []
                    for n4, w4, lst in _fields(buf, *part):
                        if n4 in (BYTES, FLOAT, INT64) and w4 == 2:
                            kind, values = n4, _parse_list(buf, n4, *lst)
            out[key.decode("utf-8", "surrogateescape")] = (kind, values)
    return out


def decode_python(records: Sequence[bytes], names: list[str] | None) -> list[FeatureColumn]:
    """Columnar features of `records` (only `names` when given, else all in first-seen order)."""
    parsed = [parse_record(bytes(r)) for r in records]
    if names is None:
        seen: dict[str, None] = {}
        for p in parsed:
            seen.update(dict.fromkeys(p))
        names = list(seen)
    n = len(parsed)
    out = []
    for name in names:
        kinds = {p[name][0] for p in parsed if name in p and p[name][0]}
        if len(kinds) > 1:
            raise ValueError(f"feature {name!r} has several value list types: {sorted(kinds)}")
        kind = kinds.pop() if kinds else 0
        counts = np.full(n, -1, dtype=np.int64)
        flat: list = []
        for i, p in enumerate(parsed):
            if name in p and p[name][0]:
                counts[i] = len(p[name][1])
                flat.extend(p[name][1])
        values: np.ndarray | tuple[np.ndarray, np.ndarray]
        if kind == BYTES:
            lengths = np.array([len(v) for v in flat], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            values = (offsets, np.frombuffer(b"".join(flat), dtype=np.uint8))
        elif kind == FLOAT:
            values = np.array(flat, dtype=np.float32)
        else:
            values = np.array(flat, dtype=np.int64)
        out.append(FeatureColumn(name, kind, counts, values))
    return out
