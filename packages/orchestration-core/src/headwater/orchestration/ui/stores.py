"""Which store `headwater ui --store URL` reads: a SQLite file, PostgreSQL or MySQL by URL.

store_config("pipelines/penguin/metadata.sqlite")
store_config("postgresql://reader:secret@db.local:5432/mlmd")
store_config("mysql://reader@127.0.0.1:3306/mlmd")
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from headwater.orchestration.errors import MetadataStoreError
from headwater.orchestration.metadata import (
    MetadataStore,
    mysql_metadata_connection_config,
    postgresql_metadata_connection_config,
)

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def store_config(url: str) -> Any:
    """The MLMD ConnectionConfig a store URL names (`sqlite:///path` or a path is SQLite)."""
    from ml_metadata.proto import metadata_store_pb2

    mlmd: Any = metadata_store_pb2
    if "://" not in url or url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://") if url.startswith("sqlite://") else url
        if not path:
            raise MetadataStoreError(f"store URL {url!r}: expected a SQLite file path")
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = path
        return config
    parts = urlsplit(url)
    scheme = {"postgres": "postgresql"}.get(parts.scheme, parts.scheme)
    if scheme not in DEFAULT_PORTS:
        raise MetadataStoreError(
            f"store URL {url!r}: expected postgresql://, mysql:// or a SQLite file path"
        )
    database = parts.path.lstrip("/")
    if not parts.hostname or not parts.username or not database:
        raise MetadataStoreError(
            f"store URL {url!r}: expected {scheme}://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        )
    make = (
        postgresql_metadata_connection_config
        if scheme == "postgresql"
        else mysql_metadata_connection_config
    )
    return make(
        host=parts.hostname,
        port=parts.port or DEFAULT_PORTS[scheme],
        database=unquote(database),
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
    )


def open_store(url: str) -> MetadataStore:
    """The store at `url`, opened read-only (a SQLite file must exist and be an MLMD store).

    A server database is read with the user the URL names: give the UI a user that may only
    SELECT to make the database itself refuse writes.
    """
    config = store_config(url)
    if config.WhichOneof("config") == "sqlite" and not os.path.isfile(config.sqlite.filename_uri):
        raise FileNotFoundError(f"no ML Metadata file at {config.sqlite.filename_uri}")
    return MetadataStore(config, read_only=True)
