"""TFRecord framing: records in and out of (optionally gzip-compressed) TFRecord files.

A record is `uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)`,
little-endian, with TensorFlow's CRC mask. Gzip is detected from the file's magic bytes. Every
CRC is checked; a corrupt or truncated file raises `InputError` naming the file, the record index
and the byte offset (in the uncompressed stream).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator

import google_crc32c

from headwater.io.errors import InputError

__all__ = ["frame_records", "iter_record_chunks", "masked_crc32c"]

_CHUNK = 16 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
GZIP_LEVEL = 6


def masked_crc32c(data: bytes | memoryview) -> int:
    """TensorFlow's masked CRC32C of `data`."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_records(records: Iterable[bytes]) -> bytes:
    """The TFRecord bytes (uncompressed) of `records`."""
    parts = []
    for data in records:
        header = _U64.pack(len(data))
        parts.append(header)
        parts.append(_U32.pack(masked_crc32c(header)))
        parts.append(data)
        parts.append(_U32.pack(masked_crc32c(data)))
    return b"".join(parts)


def _raw_chunks(path: str) -> Iterator[bytes]:
    """The uncompressed bytes of `path`, chunk by chunk."""
    with open(path, "rb") as f:
        first = f.read(_CHUNK)
        if not first.startswith(_GZIP_MAGIC):
            while first:
                yield first
                first = f.read(_CHUNK)
            return
        inflater = zlib.decompressobj(wbits=31)
        consumed = 0
        chunk = first
        while True:
            try:
                out = inflater.decompress(chunk)
            except zlib.error as exc:
                raise InputError(
                    f"corrupt gzip data ({exc})",
                    path=path,
                    byte_offset=consumed,
                    expected="a valid gzip stream",
                ) from exc
            consumed += len(chunk)
            if out:
                yield out
            if inflater.eof:
                rest = inflater.unused_data + f.read()
                if rest:  # concatenated gzip members
                    inflater = zlib.decompressobj(wbits=31)
                    chunk = rest
                    consumed -= len(rest)
                    continue
                return
            chunk = f.read(_CHUNK)
            if not chunk:
                raise InputError(
                    "truncated gzip stream",
                    path=path,
                    byte_offset=consumed,
                    expected="the end of the gzip stream",
                    found="end of file",
                )


def iter_record_chunks(path: str) -> Iterator[tuple[bytes, list[int], list[int], int]]:
    """(buffer, record starts, record ends, index of the first record) per chunk of `path`."""
    carry = b""
    carry_offset = 0  # uncompressed offset of carry[0]
    index = 0
    for raw in _raw_chunks(path):
        buf = carry + raw if carry else raw
        starts: list[int] = []
        ends: list[int] = []
        pos = 0
        size = len(buf)
        while size - pos >= 12:
            (length,) = _U64.unpack_from(buf, pos)
            (crc,) = _U32.unpack_from(buf, pos + 8)
            if masked_crc32c(buf[pos : pos + 8]) != crc:
                raise InputError(
                    "bad record length CRC (corrupt length field)",
                    path=path,
                    row=index + len(starts),
                    byte_offset=carry_offset + pos,
                    expected=f"masked CRC32C {masked_crc32c(buf[pos : pos + 8]):#010x}",
                    found=f"{crc:#010x}",
                )
            end = pos + 12 + length
            if end + 4 > size:
                break
            starts.append(pos + 12)
            ends.append(end)
            pos = end + 4
        for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
            (crc,) = _U32.unpack_from(buf, b)
            if masked_crc32c(buf[a:b]) != crc:
                raise InputError(
                    "bad record data CRC (corrupt record)",
                    path=path,
                    row=index + k,
                    byte_offset=carry_offset + a - 12,
                    expected="data matching its masked CRC32C",
                    found="a mismatch",
                )
        if starts:
            yield buf, starts, ends, index
            index += len(starts)
        carry = buf[pos:]
        carry_offset += pos
    if carry:
        if len(carry) < 12:
            found = f"{len(carry)} bytes"
            expected = "a 12-byte record header"
        else:
            (length,) = _U64.unpack_from(carry, 0)
            expected = f"{length} data bytes and a 4-byte CRC"
            found = f"{len(carry) - 12} bytes before end of file"
        raise InputError(
            "truncated record",
            path=path,
            row=index,
            byte_offset=carry_offset,
            expected=expected,
            found=found,
        )
