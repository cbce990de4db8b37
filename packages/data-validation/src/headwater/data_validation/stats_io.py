"""Load and write `DatasetFeatureStatisticsList` as binary or text protos (TFDV's names).

Writes are atomic (a temporary file renamed into place), so a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0.statistics_pb2 import DatasetFeatureStatisticsList as Stats

from headwater.data_validation._proto_kind import (
    has_unknown_fields,
    looks_like,
    stats_without_names,
)
from headwater.data_validation.stats_errors import StatisticsError
from headwater.io import filesystems, write_atomic

_EXPECTED = "expected a DatasetFeatureStatisticsList (a FeatureStats.pb)"

__all__ = [
    "load_statistics",
    "load_stats_binary",
    "load_stats_text",
    "write_stats_binary",
    "write_stats_text",
]


def _write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    write_atomic(path, data)


def write_stats_binary(stats: Stats, path: str | os.PathLike[str]) -> None:
    """Writes a serialized statistics list (TFX's `FeatureStats.pb` format)."""
    _write_atomic(path, stats.SerializeToString(deterministic=True))


def write_stats_text(stats: Stats, path: str | os.PathLike[str]) -> None:
    """Writes a statistics list as a text proto."""
    _write_atomic(path, text_format.MessageToString(stats).encode("utf-8"))


def _check_stats(stats: Stats, path: str | os.PathLike[str], data: bytes) -> Stats:
    """`stats`, unless it parsed but is not statistics (a Schema parses as empty datasets)."""
    nameless = stats_without_names(stats)
    if not nameless and not has_unknown_fields(stats):
        return stats
    kind = looks_like(data)
    if kind.startswith("a schema"):
        raise StatisticsError(f"{path}: not statistics, it looks like {kind}; {_EXPECTED}")
    if nameless:
        raise StatisticsError(
            f"{path}: not valid statistics: {nameless} feature(s) without a name or path; "
            f"{_EXPECTED}"
        )
    return stats


def _read(path: str | os.PathLike[str]) -> bytes:
    """The bytes of `path`, a local path or a URL (`s3://...`, see headwater.io.filesystems)."""
    return filesystems.read_bytes(path) if filesystems.is_url(path) else Path(path).read_bytes()


def load_stats_binary(path: str | os.PathLike[str]) -> Stats:
    """Reads a serialized statistics list (a Schema or other proto given instead is refused)."""
    data = _read(path)
    stats = Stats()
    try:
        stats.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError or RuntimeWarning subclasses
        raise StatisticsError(
            f"{path}: not a binary DatasetFeatureStatisticsList, it looks like "
            f"{looks_like(data)} ({exc})"
        ) from exc
    return _check_stats(stats, path, data)


def load_stats_text(path: str | os.PathLike[str]) -> Stats:
    """Reads a text-proto statistics list."""
    text = _read(path).decode("utf-8")
    try:
        stats = text_format.Parse(text, Stats())
    except text_format.ParseError as exc:
        raise StatisticsError(
            f"{path}: not a text DatasetFeatureStatisticsList, it looks like "
            f"{looks_like(text.encode('utf-8'))} ({exc})"
        ) from exc
    return _check_stats(stats, path, text.encode("utf-8"))


def load_statistics(path: str | os.PathLike[str]) -> Stats:
    """Reads a statistics list written in either format (a `Split-*` dir: its FeatureStats.pb).

    A file that parses as statistics but is not (a Schema does: as empty datasets named after
    its features) raises StatisticsError naming the file and what it looks like.
    """
    if filesystems.is_url(path):
        url = os.fspath(path)
        inside = filesystems.join(url, "FeatureStats.pb")
        source_url = inside if filesystems.exists(inside) else url
        return _parse_either(source_url, filesystems.read_bytes(source_url))
    source = Path(path)
    if source.is_dir():
        if not (source / "FeatureStats.pb").is_file():
            found = sorted(os.listdir(source))[:5]
            raise StatisticsError(
                f"{source}: directory holds no FeatureStats.pb (a statistics split holds one), "
                f"found {found}"
            )
        source = source / "FeatureStats.pb"
    return _parse_either(source, source.read_bytes())


def _parse_either(source: str | os.PathLike[str], data: bytes) -> Stats:
    """`data` of `source` as a binary or else a text statistics list."""
    stats = Stats()
    try:
        stats.ParseFromString(data)
        if stats.datasets or not data:
            return _check_stats(stats, source, data)
    except StatisticsError:
        raise
    except Exception:
        pass
    try:
        return _check_stats(text_format.Parse(data.decode("utf-8"), Stats()), source, data)
    except (UnicodeDecodeError, text_format.ParseError) as exc:
        raise StatisticsError(
            f"{source}: neither a binary nor a text DatasetFeatureStatisticsList, "
            f"it looks like {looks_like(data)}"
        ) from exc
