"""Load and write `DatasetFeatureStatisticsList` as binary or text protos (TFDV's names).

Writes are atomic (a temporary file renamed into place), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0.statistics_pb2 import DatasetFeatureStatisticsList as Stats

from headwater.data_validation.stats_errors import StatisticsError

__all__ = [
    "load_statistics",
    "load_stats_binary",
    "load_stats_text",
    "write_stats_binary",
    "write_stats_text",
]


def _write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_stats_binary(stats: Stats, path: str | os.PathLike[str]) -> None:
    """Writes a serialized statistics list (TFX's `FeatureStats.pb` format)."""
    _write_atomic(path, stats.SerializeToString(deterministic=True))


def write_stats_text(stats: Stats, path: str | os.PathLike[str]) -> None:
    """Writes a statistics list as a text proto."""
    _write_atomic(path, text_format.MessageToString(stats).encode("utf-8"))


def load_stats_binary(path: str | os.PathLike[str]) -> Stats:
    """Reads a serialized statistics list."""
    data = Path(path).read_bytes()
    stats = Stats()
    try:
        stats.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError or RuntimeWarning subclasses
        raise StatisticsError(f"{path}: not a binary DatasetFeatureStatisticsList ({exc})") from exc
    return stats


def load_stats_text(path: str | os.PathLike[str]) -> Stats:
    """Reads a text-proto statistics list."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return text_format.Parse(text, Stats())
    except text_format.ParseError as exc:
        raise StatisticsError(f"{path}: not a text DatasetFeatureStatisticsList ({exc})") from exc


def load_statistics(path: str | os.PathLike[str]) -> Stats:
    """Reads a statistics list written in either format (a `Split-*` dir: its FeatureStats.pb)."""
    source = Path(path)
    if source.is_dir():
        source = source / "FeatureStats.pb"
    data = source.read_bytes()
    stats = Stats()
    try:
        stats.ParseFromString(data)
        if stats.datasets or not data:
            return stats
    except Exception:
        pass
    try:
        return text_format.Parse(data.decode("utf-8"), Stats())
    except (UnicodeDecodeError, text_format.ParseError) as exc:
        raise StatisticsError(
            f"{source}: neither a binary nor a text DatasetFeatureStatisticsList"
        ) from exc
