"""The tf.Example / TFRecord wire codec in plain Python: the fallback when `_wire` is not built.

Same functions, arguments, results and errors as the C extension (`_wire.pyi`), one record at
a time, so about 100x slower (CRC32C far more); `example_wire` uses it only when the extension
cannot be imported (a platform without a wheel and no compiler) or HEADWATER_IO_PURE_PYTHON=1
asks for it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "WireError",
    "crc_instruction",
    "decode",
    "decode_records",
    "encode",
    "frame",
    "masked_crc32c",
    "record_buckets",
    "sha256",
    "sha_ni",
    "span_buckets",
    "unframe",
]

_NONE, _BYTES, _FLOAT, _INT64 = 0, 1, 2, 3
_KIND_NAME = ("no value list", "bytes_list", "float_list", "int64_list")
_KIND_TAG = (0, 0x0A, 0x12, 0x1A)
_MAX_BUCKETS = 1 << 55
_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """A record that is not a valid tf.Example: args are (message, record index in the batch)."""


class _Malformed(Exception):
    """Internal: the bytes being parsed are not a valid protobuf message."""


# ------------------------------------------------------------------------------ CRC32C


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: Any) -> int:
    """TensorFlow's masked CRC32C of data."""
    crc = _crc32c(bytes(data))
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def crc_instruction() -> bool:
    """Whether CRC32C runs on a CPU instruction: never here."""
    return False


def sha_ni() -> bool:
    """Whether SHA-256 runs on the CPU's SHA extensions: never here (hashlib does it)."""
    return False


def sha256(data: Any) -> bytes:
    """SHA-256 digest of data."""
    return hashlib.sha256(bytes(data)).digest()


# ------------------------------------------------------------------------------ TFRecord framing


def unframe(data: Any) -> tuple[bytes, bytes, int, tuple[str, int, int] | None]:
    """(starts, ends, consumed, error) of the complete, CRC-checked TFRecord records in data."""
    buf = bytes(data)
    size, pos = len(buf), 0
    starts: list[int] = []
    ends: list[int] = []
    bad = None
    while size - pos >= 12:
        (length,) = struct.unpack_from("<Q", buf, pos)
        (crc,) = struct.unpack_from("<I", buf, pos + 8)
        if masked_crc32c(buf[pos : pos + 8]) != crc:
            bad = "bad record length CRC (corrupt length field)"
            break
        if size - pos < 16 or length > size - pos - 16:
            break
        a, b = pos + 12, pos + 12 + length
        (crc,) = struct.unpack_from("<I", buf, b)
        if masked_crc32c(buf[a:b]) != crc:
            bad = "bad record data CRC (corrupt record)"
            break
        starts.append(a)
        ends.append(b)
        pos = b + 4
    error = None if bad is None else (bad, len(starts), pos)
    return (
        np.array(starts, dtype=np.int64).tobytes(),
        np.array(ends, dtype=np.int64).tobytes(),
        pos,
        error,
    )


def frame(pieces: Sequence[bytes], k: int) -> bytes:
    """TFRecord-framed records, each the join of k consecutive pieces (bytes)."""
    if k < 1:
        raise ValueError("k must be >= 1")
    pieces = tuple(pieces)
    for r, item in enumerate(pieces):
        if not isinstance(item, bytes):
            raise TypeError(f"record {r} is {type(item).__name__}, not bytes")
    if len(pieces) % k:
        raise ValueError(f"{len(pieces)} pieces are not records of {k} pieces each")
    out = []
    for r in range(0, len(pieces), k):
        data = b"".join(pieces[r : r + k])
        header = struct.pack("<Q", len(data))
        out += [header, struct.pack("<I", masked_crc32c(header)), data]
        out.append(struct.pack("<I", masked_crc32c(data)))
    return b"".join(out)


# ------------------------------------------------------------------------------ protobuf wire


def _varint(value: int) -> bytes:
    value &= _MASK64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift >= 70:
            raise _Malformed
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, pos
        shift += 7


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(tag, start, end, varint value) of each field of buf[pos:end]."""
    while pos < end:
        tag, pos = _read_varint(buf, pos, end)
        wire = tag & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos, end)
            yield tag, pos, pos, value
        elif wire == 2:
            length, pos = _read_varint(buf, pos, end)
            if length > end - pos:
                raise _Malformed
            yield tag, pos, pos + length, 0
            pos += length
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if width > end - pos:
                raise _Malformed
            yield tag, pos, pos + width, 0
            pos += width
        else:
            raise _Malformed


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


# ------------------------------------------------------------------------------ decoding


class _Feat:
    """One feature of a decode call: its kind, counts and values so far."""

    def __init__(self, name: bytes, n: int) -> None:
        self.name = name
        self.kind = _NONE
        self.counts = [-1] * n
        self.values: list[Any] = []
        self.last_record = -1
        self.mark = 0


def _read_list(buf: bytes, kind: int, start: int, end: int, out: list[Any]) -> int:
    count = 0
    for tag, a, b, value in _fields(buf, start, end):
        if tag >> 3 != 1:
            continue
        wire = tag & 7
        if kind == _FLOAT:
            if wire not in (2, 5) or (b - a) % 4:
                raise _Malformed
            out.append(buf[a:b])
            count += (b - a) // 4
        elif kind == _INT64:
            if wire == 0:
                out.append(value)
                count += 1
            elif wire == 2:
                pos = a
                while pos < b:
                    v, pos = _read_varint(buf, pos, b)
                    out.append(v)
                    count += 1
            else:
                raise _Malformed
        else:
            if wire != 2:
                raise _Malformed
            out.append(buf[a:b])
            count += 1
    return count


def _decode_one(
    buf: bytes, r: int, feats: dict[bytes, _Feat], order: list[_Feat], discover: bool, n: int
) -> None:
    stage = "Example message"
    try:
        for tag, a, b, _ in _fields(buf, 0, len(buf)):
            if tag != 0x0A:
                continue
            stage = "Features message"
            for tag2, a2, b2, _ in _fields(buf, a, b):
                if tag2 != 0x0A:
                    continue
                key, vspan = b"", None
                stage = "feature map entry"
                for tag3, a3, b3, _ in _fields(buf, a2, b2):
                    if tag3 == 0x0A:
                        key = buf[a3:b3]
                    elif tag3 == 0x12:
                        vspan = (a3, b3)
                ft = feats.get(key)
                if ft is None:
                    if not discover:
                        stage = "Features message"
                        continue
                    ft = feats[key] = _Feat(key, n)
                    order.append(ft)
                kind, lspan = _NONE, (0, 0)
                if vspan is not None:
                    stage = "Feature message"
                    for tag4, a4, b4, _ in _fields(buf, *vspan):
                        if tag4 in (0x0A, 0x12, 0x1A):
                            kind, lspan = tag4 >> 3, (a4, b4)
                if ft.last_record == r:  # repeated key: the last one wins
                    del ft.values[ft.mark :]
                    ft.counts[r] = -1
                ft.last_record = r
                ft.mark = len(ft.values)
                stage = "Features message"
                if kind == _NONE:
                    continue
                if ft.kind == _NONE:
                    ft.kind = kind
                elif ft.kind != kind:
                    name = ft.name[:100].decode("utf-8", "replace")
                    raise WireError(
                        f"feature {name} is a {_KIND_NAME[kind]} here but a "
                        f"{_KIND_NAME[ft.kind]} in earlier records",
                        r,
                    )
                try:
                    ft.counts[r] = _read_list(buf, kind, *lspan, ft.values)
                except _Malformed:
                    name = ft.name[:100].decode("utf-8", "replace")
                    raise WireError(f"malformed {_KIND_NAME[kind]} of feature {name}", r) from None
            stage = "Example message"
    except _Malformed:
        raise WireError(f"malformed {stage}", r) from None


def _decode_all(
    records: Sequence[bytes], names: Sequence[bytes] | None
) -> list[tuple[bytes, int, bytes, bytes, bytes | None]]:
    n = len(records)
    feats: dict[bytes, _Feat] = {}
    order: list[_Feat] = []
    for name in names or ():
        if name not in feats:
            feats[name] = _Feat(bytes(name), n)
            order.append(feats[name])
    for r, record in enumerate(records):
        _decode_one(record, r, feats, order, names is None, n)
    out: list[tuple[bytes, int, bytes, bytes, bytes | None]] = []
    for ft in order:
        counts = np.array(ft.counts, dtype=np.int64).tobytes()
        offsets: bytes | None = None
        if ft.kind == _BYTES:
            lengths = np.array([len(v) for v in ft.values], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64).tobytes()
            values = b"".join(ft.values)
        elif ft.kind == _FLOAT:
            values = b"".join(ft.values)
        else:
            values = (np.array(ft.values, dtype=np.uint64).view(np.int64)).tobytes()
        out.append((ft.name, ft.kind, counts, values, offsets))
    return out


def _spans(data: Any, starts: Any, ends: Any) -> list[bytes]:
    buf = bytes(data)
    lo = np.frombuffer(bytes(starts), dtype=np.int64)
    hi = np.frombuffer(bytes(ends), dtype=np.int64)
    if len(lo) != len(hi) or any(
        a < 0 or b < a or b > len(buf) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
    ):
        raise ValueError("record spans outside the buffer")
    return [buf[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]


def _records(records: Sequence[bytes]) -> list[bytes]:
    out = []
    for r, item in enumerate(tuple(records)):
        if not isinstance(item, bytes):
            raise TypeError(f"record {r} is {type(item).__name__}, not bytes")
        out.append(item)
    return out


def decode(
    data: Any, starts: Any, ends: Any, names: Sequence[bytes] | None, threads: int = 1
) -> list[tuple[bytes, int, bytes, bytes, bytes | None]]:
    """Columnar buffers of the records data[starts[i]:ends[i]] (threads is ignored)."""
    return _decode_all(_spans(data, starts, ends), names)


def decode_records(
    records: Sequence[bytes], names: Sequence[bytes] | None, threads: int = 1
) -> list[tuple[bytes, int, bytes, bytes, bytes | None]]:
    """Columnar buffers of a sequence of serialized records (threads is ignored)."""
    return _decode_all(_records(records), names)


# ------------------------------------------------------------------------------ encoding


def _column_rows(column: tuple[bytes, int, Any, Any, Any], n: int) -> list[bytes | None]:
    """The serialized Feature of each row of one column (None where it is missing)."""
    _key, kind, counts_buf, values_buf, offsets_buf = column
    counts = np.frombuffer(bytes(counts_buf), dtype=np.int64)
    if len(counts) < n or kind < _NONE or kind > _INT64 or (kind == _BYTES and offsets_buf is None):
        raise ValueError("bad column buffers")
    total = int(counts[:n][counts[:n] > 0].sum())
    raw = bytes(values_buf)
    if kind == _BYTES:
        offsets = np.frombuffer(bytes(offsets_buf), dtype=np.int64)
        ok = (
            len(offsets) >= total + 1
            and offsets[0] == 0
            and offsets[total] <= len(raw)
            and bool(np.all(np.diff(offsets[: total + 1]) >= 0))
        )
    elif kind == _NONE:
        ok = total == 0
    else:
        ok = len(raw) // (4 if kind == _FLOAT else 8) >= total
    if not ok:
        raise ValueError("value buffers shorter than the counts say")
    ints = np.frombuffer(raw[: len(raw) // 8 * 8], dtype=np.int64) if kind == _INT64 else None
    rows: list[bytes | None] = []
    cursor = 0
    for r in range(n):
        count = int(counts[r])
        if count < 0:
            rows.append(None)
            continue
        if kind == _NONE:
            rows.append(b"")
            continue
        if kind == _FLOAT:
            chunk = raw[4 * cursor : 4 * (cursor + count)]
            payload = _field(0x0A, chunk) if count else b""
        elif kind == _INT64:
            assert ints is not None
            packed = b"".join(_varint(int(v)) for v in ints[cursor : cursor + count])
            payload = _field(0x0A, packed) if count else b""
        else:
            offs = offsets[cursor : cursor + count + 1].tolist()
            payload = b"".join(_field(0x0A, raw[offs[k] : offs[k + 1]]) for k in range(count))
        rows.append(_field(_KIND_TAG[kind], payload))
        cursor += count
    return rows


def _frame(record: bytes) -> bytes:
    length = struct.pack("<Q", len(record))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + record
        + struct.pack("<I", masked_crc32c(record))
    )


def encode(
    n: int,
    columns: Sequence[tuple[bytes, int, Any, Any, Any]],
    mode: int,
    total: int = 0,
    threads: int = 1,
) -> list[bytes] | bytes:
    """Serialized Examples (mode 0), TFRecord-framed bytes (1) or first-column Features (2);
    with total > 0, the int64 SHA-256 bucket of each (as one bytes). threads is ignored."""
    if mode not in (0, 1, 2) or (total and mode == 1) or total >= _MAX_BUCKETS or total < 0:
        raise ValueError("bad encode mode or bucket total")
    cols = list(columns)
    rows = [_column_rows(c, n) for c in cols]
    out: list[bytes] = []
    if mode == 2:
        out = [(rows[0][r] or b"") if cols else b"" for r in range(n)]
    else:
        keys = [bytes(c[0]) for c in cols]
        for r in range(n):
            entries = b"".join(
                _field(0x0A, _field(0x0A, key) + _field(0x12, feature))
                for key, col in zip(keys, rows, strict=True)
                if (feature := col[r]) is not None
            )
            out.append(_field(0x0A, entries))
    if total:
        return np.array([_bucket(row, total) for row in out], dtype=np.int64).tobytes()
    if mode == 1:
        return b"".join(_frame(row) for row in out)
    return out


# ------------------------------------------------------------------------------ hash buckets


def _bucket(data: bytes, total: int) -> int:
    return int.from_bytes(hashlib.sha256(data).digest(), "big") % total


def _sort_key(key: bytes) -> tuple[bytes, ...]:
    """protobuf's deterministic map order: bytewise, a key before its own prefixes."""
    return (*(bytes([b]) for b in key), b"\xff\xff")


def _canonical(buf: bytes) -> bytes:
    """The record as protobuf re-serializes the parsed tf.Example (raw bytes if it is not one)."""
    try:
        entries: dict[bytes, bytes] = {}
        has_features = False
        for tag, a, b, _ in _fields(buf, 0, len(buf)):
            if tag != 0x0A:
                return buf
            has_features = True
            for tag2, a2, b2, _ in _fields(buf, a, b):
                if tag2 != 0x0A:
                    return buf
                key, value = b"", b""
                for tag3, a3, b3, _ in _fields(buf, a2, b2):
                    if tag3 == 0x0A:
                        key = buf[a3:b3]
                    elif tag3 == 0x12:
                        value = buf[a3:b3]
                    else:
                        return buf
                entries.pop(key, None)
                entries[key] = value
    except _Malformed:
        return buf
    if not has_features:
        return b""
    body = b"".join(
        _field(0x0A, _field(0x0A, key) + _field(0x12, entries[key]))
        for key in sorted(entries, key=_sort_key)
    )
    return _field(0x0A, body)


def _check_total(total: int) -> None:
    if total < 1 or total >= _MAX_BUCKETS:
        raise ValueError("total must be in [1, 2**55)")


def record_buckets(records: Sequence[bytes], total: int, threads: int = 1) -> bytes:
    """int64 bucket of each bytes record: its SHA-256 modulo total."""
    recs = _records(records)
    _check_total(total)
    return np.array([_bucket(r, total) for r in recs], dtype=np.int64).tobytes()


def span_buckets(
    data: Any, starts: Any, ends: Any, total: int, threads: int = 1, canonical: bool = False
) -> bytes:
    """`record_buckets` of data[starts[i]:ends[i]], of the canonical re-serialization if asked."""
    recs = _spans(data, starts, ends)
    _check_total(total)
    if canonical:
        recs = [_canonical(r) for r in recs]
    return np.array([_bucket(r, total) for r in recs], dtype=np.int64).tobytes()
