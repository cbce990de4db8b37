"""Types of the C extension `_wire.c` (the tf.Example / TFRecord wire codec)."""

from collections.abc import Sequence

import numpy as np

_Buffer = bytes | bytearray | memoryview | np.ndarray

class WireError(ValueError): ...

def decode(
    data: _Buffer,
    starts: _Buffer,
    ends: _Buffer,
    names: Sequence[bytes] | None,
    threads: int = 1,
) -> list[tuple[bytes, int, bytes, bytes, bytes | None]]: ...
def decode_records(
    records: Sequence[bytes], names: Sequence[bytes] | None, threads: int = 1
) -> list[tuple[bytes, int, bytes, bytes, bytes | None]]: ...
def encode(
    n: int,
    columns: Sequence[tuple[bytes, int, _Buffer, _Buffer, _Buffer | None]],
    mode: int,
    total: int = 0,
    threads: int = 1,
) -> list[bytes] | bytes: ...
def unframe(data: _Buffer) -> tuple[bytes, bytes, int, tuple[str, int, int] | None]: ...
def frame(pieces: Sequence[bytes], k: int) -> bytes: ...
def masked_crc32c(data: _Buffer) -> int: ...
def sha256(data: _Buffer) -> bytes: ...
def record_buckets(records: Sequence[bytes], total: int, threads: int = 1) -> bytes: ...
def sha_ni() -> bool: ...
def span_buckets(
    data: _Buffer,
    starts: _Buffer,
    ends: _Buffer,
    total: int,
    threads: int = 1,
    canonical: bool = False,
) -> bytes: ...
def crc_instruction() -> bool: ...
