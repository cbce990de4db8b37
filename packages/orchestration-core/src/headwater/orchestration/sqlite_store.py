"""SQLite ML Metadata files opened for reading: checked to be stores, never changed.

ML Metadata creates its tables in whatever SQLite file it is given, even in read-only mode
(where it fails with "attempt to write a readonly database"). Reading commands (`headwater
pipeline list`, `run list`, `artifacts`) therefore check first, with Python's own sqlite3 in
read-only mode, that the file holds ML Metadata's tables, then open it read-only. A store in a
directory the reader cannot write (a read-only pipeline root, a mounted snapshot) cannot get the
`-shm` file that SQLite's WAL mode needs; it is then opened `immutable`, as a snapshot.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from typing import Any

from headwater.orchestration.errors import MetadataStoreError

MLMD_TABLES = ("Artifact", "Context", "Event", "Execution", "MLMDEnv", "Type")
"""Tables every ML Metadata SQLite store has (schema version 6 and later)."""


def sqlite_uri(path: str, **params: str) -> str:
    """A `file:` URI for `path` with SQLite URI parameters (`mode=ro`, `immutable=1`)."""
    quoted = urllib.parse.quote(os.path.abspath(path))
    return f"file:{quoted}?{urllib.parse.urlencode(params)}"


def check_is_store(path: str) -> None:
    """MetadataStoreError unless `path` is a SQLite file holding ML Metadata's tables."""
    if not os.path.exists(path):
        raise MetadataStoreError(f"no ML Metadata store at {path}: the file does not exist")
    if os.path.isdir(path):
        raise MetadataStoreError(
            f"{path} is a directory; expected an ML Metadata SQLite file (metadata.sqlite)"
        )
    try:
        with _read_only(path) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        raise MetadataStoreError(
            f"{path} is not an ML Metadata store: SQLite cannot read it ({exc})"
        ) from exc
    tables = {str(name) for (name,) in rows}
    missing = [t for t in MLMD_TABLES if t not in tables]
    if missing:
        found = ", ".join(sorted(tables)) or "no tables"
        raise MetadataStoreError(
            f"{path} is not an ML Metadata store: it lacks ML Metadata's tables "
            f"{', '.join(missing)} (found {found}); nothing was changed"
        )


def read_only_configs(path: str) -> list[Any]:
    """Connection configs that open `path` read-only: as a live file, else as a snapshot."""
    from ml_metadata.proto import metadata_store_pb2

    mlmd: Any = metadata_store_pb2
    configs = []
    for params in ({"mode": "ro"}, {"mode": "ro", "immutable": "1"}):
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = sqlite_uri(path, **params)
        config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READONLY
        configs.append(config)
    return configs


@contextlib.contextmanager
def _read_only(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only sqlite3 connection; immutable when the directory cannot hold WAL's files."""
    conn = sqlite3.connect(sqlite_uri(path, mode="ro"), uri=True, timeout=5)
    try:
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            conn = sqlite3.connect(sqlite_uri(path, mode="ro", immutable="1"), uri=True)
        yield conn
    finally:
        conn.close()
