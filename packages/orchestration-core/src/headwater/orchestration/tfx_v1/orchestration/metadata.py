"""`tfx.orchestration.metadata`: ML Metadata connection configs with TFX's arguments."""

from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2

from headwater.orchestration import metadata as _metadata
from headwater.orchestration.metadata import ConnectionConfig
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr

ConnectionConfigType = metadata_store_pb2.ConnectionConfig  # type: ignore[attr-defined]


def sqlite_metadata_connection_config(metadata_db_uri: str) -> ConnectionConfig:
    """A SQLite store at `metadata_db_uri` (created with its folder if missing)."""
    return _metadata.sqlite_metadata_connection_config(metadata_db_uri)


def mysql_metadata_connection_config(
    host: str, port: int, database: str, username: str, password: str
) -> ConnectionConfig:
    """A MySQL store (TFX's positional arguments)."""
    return _metadata.mysql_metadata_connection_config(
        host=host, port=port, database=database, user=username, password=password
    )


__getattr__ = module_getattr("orchestration.metadata")
__dir__ = module_dir("orchestration.metadata", globals())
__all__ = [
    "ConnectionConfigType",
    "mysql_metadata_connection_config",
    "sqlite_metadata_connection_config",
]
