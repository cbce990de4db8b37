"""The compiled tf.Example / TFRecord wire codec (`_wire.c`) behind a numpy interface.

One C call per batch parses or writes every record, so no Python object is made per value:
`decode_buffer` (record spans of one buffer) and `decode_list` (a sequence of records) turn
serialized records into `FeatureColumn`s on a thread per core, `encode_columns` turns
`FeatureColumn`s into serialized records (or TFRecord-framed bytes), `unframe` finds and checks
the records of a TFRecord buffer.

Without the extension (no wheel for the platform and no compiler when installing from source),
or with HEADWATER_IO_PURE_PYTHON=1, the same calls run on `_wire_py`, a plain-Python codec that
gives identical results about 100x slower; a warning is logged once when that happens.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from headwater.io.feature_columns import BYTES, FeatureColumn

__all__ = [
    "COMPILED",
    "WireError",
    "decode_buffer",
    "decode_list",
    "decode_threads",
    "encode_buckets",
    "encode_columns",
    "encode_features",
    "frame_records",
    "masked_crc32c",
    "record_buckets",
    "span_buckets",
    "unframe",
]

_log = logging.getLogger(__name__)


def _load_codec() -> tuple[ModuleType, bool]:
    """(the codec module, whether it is the compiled one): the C extension unless unavailable."""
    if os.environ.get("HEADWATER_IO_PURE_PYTHON", "") not in ("", "0"):
        from headwater.io import _wire_py

        _log.warning(
            "headwater.io: HEADWATER_IO_PURE_PYTHON is set; the tf.Example / TFRecord codec runs "
            "in plain Python (about 100x slower than the compiled extension)"
        )
        return _wire_py, False
    try:
        from headwater.io import _wire  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        from headwater.io import _wire_py

        _log.warning(
            "headwater.io: the compiled codec headwater.io._wire is not available (%s); "
            "tf.Example / TFRecord encoding and decoding run in plain Python, about 100x slower. "
            "Install a headwater-io wheel for this platform, or build from source with a C "
            "compiler, to get it.",
            exc,
        )
        return _wire_py, False
    return _wire, True


_wire, COMPILED = _load_codec()
"""The codec in use; COMPILED is False when the plain-Python fallback runs."""

WireError = _wire.WireError
"""A record that is not a valid tf.Example: args are (message, record index in the batch)."""


def decode_threads() -> int:
    """Threads a decode or hash call may use: the cores this process may run on (at most 16)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


def decode_buffer(
    data: bytes | np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    names: list[str] | None,
    threads: int | None = None,
) -> list[FeatureColumn]:
    """Columnar features of the records data[starts[i]:ends[i]].

    With `names`, only those features, in that order; without, every feature in first-seen order.
    The records are decoded on `threads` threads (default: one per core) without the GIL.
    """
    raw = _wire.decode(
        data,
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        _wanted(names),
        decode_threads() if threads is None else threads,
    )
    return _columns(raw)


def decode_list(
    records: Sequence[bytes], names: list[str] | None, threads: int | None = None
) -> list[FeatureColumn]:
    """`decode_buffer` for a sequence of serialized records (no copy into one buffer)."""
    raw = _wire.decode_records(
        records, _wanted(names), decode_threads() if threads is None else threads
    )
    return _columns(raw)


def _wanted(names: list[str] | None) -> list[bytes] | None:
    return None if names is None else [n.encode("utf-8", "surrogateescape") for n in names]


def _columns(raw: list[tuple[bytes, int, bytes, bytes, bytes | None]]) -> list[FeatureColumn]:
    out = []
    for name, kind, counts, values, offsets in raw:
        column_values: np.ndarray | tuple[np.ndarray, np.ndarray]
        if kind == BYTES:
            assert offsets is not None
            column_values = (
                np.frombuffer(offsets, dtype=np.int64),
                np.frombuffer(values, dtype=np.uint8),
            )
        elif kind == 2:
            column_values = np.frombuffer(values, dtype="<f4")
        else:
            column_values = np.frombuffer(values, dtype="<i8")
        out.append(
            FeatureColumn(
                name.decode("utf-8", "surrogateescape"),
                kind,
                np.frombuffer(counts, dtype=np.int64),
                column_values,
            )
        )
    return out


def _wire_columns(
    columns: list[FeatureColumn],
) -> list[tuple[bytes, int, np.ndarray, np.ndarray, np.ndarray | None]]:
    prepared: list[tuple[bytes, int, np.ndarray, np.ndarray, np.ndarray | None]] = []
    for col in columns:
        counts = np.ascontiguousarray(col.counts, dtype=np.int64)
        if col.kind == BYTES:
            assert isinstance(col.values, tuple)
            offsets, data = col.values
            prepared.append(
                (
                    col.name.encode("utf-8", "surrogateescape"),
                    col.kind,
                    counts,
                    np.ascontiguousarray(data, dtype=np.uint8),
                    np.ascontiguousarray(offsets, dtype=np.int64),
                )
            )
        else:
            assert isinstance(col.values, np.ndarray)
            dtype = "<f4" if col.kind == 2 else "<i8"
            values = np.ascontiguousarray(col.values, dtype=dtype)
            prepared.append(
                (col.name.encode("utf-8", "surrogateescape"), col.kind, counts, values, None)
            )
    return prepared


def encode_columns(columns: list[FeatureColumn], num_rows: int) -> list[bytes]:
    """One serialized tf.Example per row."""
    records = _wire.encode(num_rows, _wire_columns(columns), 0)
    assert isinstance(records, list)
    return records


def encode_framed(columns: list[FeatureColumn], num_rows: int) -> bytes:
    """The rows as tf.Examples already framed as TFRecord records (uncompressed)."""
    framed = _wire.encode(num_rows, _wire_columns(columns), 1)
    assert isinstance(framed, bytes)
    return framed


def encode_features(column: FeatureColumn, num_rows: int) -> list[bytes]:
    """One serialized `tf.train.Feature` of `column` per row (b"" where it is missing)."""
    features = _wire.encode(num_rows, _wire_columns([column]), 2)
    assert isinstance(features, list)
    return features


def encode_buckets(
    columns: list[FeatureColumn], num_rows: int, total: int, *, features: bool = False
) -> np.ndarray:
    """TFX's hash bucket of each row: SHA-256 of its serialized Example (or, with `features`,
    of the first column's Feature), as a big-endian integer, modulo `total`, hashed in parallel."""
    mode = 2 if features else 0
    buckets = _wire.encode(num_rows, _wire_columns(columns), mode, total, decode_threads())
    assert isinstance(buckets, bytes)
    return np.frombuffer(buckets, dtype=np.int64)


def record_buckets(records: Sequence[bytes], total: int) -> np.ndarray:
    """TFX's hash bucket of each serialized record: its SHA-256 modulo `total`."""
    return np.frombuffer(_wire.record_buckets(records, total, decode_threads()), dtype=np.int64)


def span_buckets(
    data: bytes, starts: np.ndarray, ends: np.ndarray, total: int, *, canonical: bool = False
) -> np.ndarray:
    """`record_buckets` of the records data[starts[i]:ends[i]] of one buffer.

    With `canonical`, each record is hashed as protobuf re-serializes the parsed tf.Example
    deterministically (feature map sorted by key, a repeated key once), which is what TFX's
    ImportExampleGen hashes; a record that is not a plain tf.Example is hashed as it is.
    """
    raw = _wire.span_buckets(
        data,
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        total,
        decode_threads(),
        canonical,
    )
    return np.frombuffer(raw, dtype=np.int64)


def unframe(data: bytes) -> tuple[np.ndarray, np.ndarray, int, tuple[str, int, int] | None]:
    """(record starts, record ends, bytes consumed, error) of the complete records in `data`.

    error is None or (message, record index, byte offset of the bad record).
    """
    starts, ends, consumed, error = _wire.unframe(data)
    return (
        np.frombuffer(starts, dtype=np.int64),
        np.frombuffer(ends, dtype=np.int64),
        consumed,
        error,
    )


def frame_records(pieces: Sequence[bytes], k: int = 1) -> bytes:
    """TFRecord framing (uncompressed) of records that are each `k` consecutive pieces joined.

    With k > 1 a caller builds records from shared parts (a prefix, a payload, a suffix) without
    joining them first; the pieces must be bytes.
    """
    return _wire.frame(pieces, k)


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC32C of `data`."""
    return _wire.masked_crc32c(data)
