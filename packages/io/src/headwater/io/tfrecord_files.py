"""TFRecord framing: records in and out of (optionally gzip-compressed) TFRecord files.

A record is `uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)`,
little-endian, with TensorFlow's CRC mask. Gzip is detected from the file's magic bytes. Every
CRC is checked (in C, `example_wire.unframe`); a corrupt or truncated file raises `InputError`
naming the file, the record index and the byte offset (in the uncompressed stream).
"""

from __future__ import annotations

import struct
from collections.abc import Generator, Iterator
from typing import cast

import numpy as np
from isal import isal_zlib

from headwater.io.errors import InputError
from headwater.io.example_wire import unframe
from headwater.io.filesystems import open_input
from headwater.io.read_ahead import read_ahead

__all__ = ["GZIP_LEVEL", "iter_record_chunks"]

_CHUNK = 16 << 20
_GZ_CHUNK = 4 << 20
"""Compressed bytes inflated at a time: taxi tf.Examples inflate about 7x, so chunks of ~30 MB,
about one 65,536-row batch (a 16 MB read would inflate to ~110 MB, and the prefetch holds a few
chunks)."""
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERROR = cast("type[Exception]", isal_zlib.error)  # isal's stub types it as an instance
GZIP_LEVEL = 1
"""Compression level of the gzip TFRecord files written, with Intel's ISA-L (`isal`, levels 0-3):
standard gzip that TensorFlow reads, about 4x faster to write and 2x faster to read than zlib
(zlib level 1 on taxi tf.Examples: same size; TensorFlow's default, zlib 6, only 16% smaller)."""


def _raw_chunks(path: str) -> Generator[bytes, None, None]:
    """The uncompressed bytes of `path`, chunk by chunk."""
    with open_input(path) as f:
        first = f.read(_GZ_CHUNK)
        if not first.startswith(_GZIP_MAGIC):
            while first:
                yield first
                first = f.read(_CHUNK)
            return
        inflater = isal_zlib.decompressobj(wbits=31)
        consumed = 0
        chunk = first
        while True:
            try:
                out = inflater.decompress(chunk)
            except _GZIP_ERROR as exc:
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
                rest = inflater.unused_data + f.read(_GZ_CHUNK)
                if not rest:
                    return
                # Concatenated gzip members, as `cat a.gz b.gz` makes.
                consumed -= len(inflater.unused_data)
                inflater = isal_zlib.decompressobj(wbits=31)
                chunk = rest
                continue
            chunk = f.read(_GZ_CHUNK)
            if not chunk:
                raise InputError(
                    "truncated gzip stream",
                    path=path,
                    byte_offset=consumed,
                    expected="the end of the gzip stream",
                    found="end of file",
                )


def iter_record_chunks(path: str) -> Iterator[tuple[bytes, np.ndarray, np.ndarray, int]]:
    """(buffer, record starts, record ends, index of its first record) per chunk of `path`.

    The file is read and gunzipped up to three chunks ahead on another thread (`read_ahead`).
    """
    carry = b""
    carry_offset = 0  # offset of carry[0] in the uncompressed stream
    index = 0
    with read_ahead(_raw_chunks(path), depth=3, name="headwater-io-prefetch") as chunks:
        for raw in chunks:
            buf = carry + raw if carry else raw
            starts, ends, consumed, error = unframe(buf)
            if error is not None:
                message, record, offset = error
                raise InputError(
                    message,
                    path=path,
                    row=index + record,
                    byte_offset=carry_offset + offset,
                    expected="TFRecord framing with matching masked CRC32Cs",
                )
            if len(starts):
                yield buf, starts, ends, index
                index += len(starts)
            carry = buf[consumed:]
            carry_offset += consumed
    if carry:
        if len(carry) < 12:
            expected, found = "a 12-byte record header", f"{len(carry)} bytes"
        else:
            (length,) = struct.unpack_from("<Q", carry)
            expected = f"{length} data bytes and a 4-byte CRC"
            found = f"{len(carry) - 12} bytes before the end of the file"
        raise InputError(
            "truncated record",
            path=path,
            row=index,
            byte_offset=carry_offset,
            expected=expected,
            found=found,
        )
