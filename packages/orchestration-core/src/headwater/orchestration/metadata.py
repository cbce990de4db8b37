"""ML Metadata: connection configs and the store wrapper the runners record runs through.

Contexts follow TFX: a `pipeline` context (the pipeline name), a `pipeline_run` context (the
run id, child of the pipeline context) and a `node` context (`<pipeline>.<node id>`). Every
write is batched: an execution, its artifacts, events and attributions go in one
`put_execution` call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ml_metadata import errors as mlmd_errors
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from headwater.orchestration.artifacts import INT, STRING, Artifact, artifact_class
from headwater.orchestration.errors import MetadataStoreError
from headwater.orchestration.parameters import to_json

# Generated protobuf modules carry no types mypy can see; name the messages used in signatures.
mlmd: Any = metadata_store_pb2
ConnectionConfig = Any
_LOG = logging.getLogger(__name__)
MlmdArtifact = Any
MlmdContext = Any
MlmdEvent = Any
MlmdExecution = Any

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
RUN_STATE = "state"
"""Run context custom property: RUNNING while a runner runs it, then COMPLETE/FAILED/CANCELED."""

_PROPERTY_TYPES = {INT: mlmd.INT, "DOUBLE": mlmd.DOUBLE, STRING: mlmd.STRING}
_BASE_TYPES = {
    "DATASET": mlmd.ArtifactType.DATASET,
    "MODEL": mlmd.ArtifactType.MODEL,
    "STATISTICS": mlmd.ArtifactType.STATISTICS,
    "METRICS": mlmd.ArtifactType.METRICS,
}
STATE_NAMES = {v: k for k, v in mlmd.Execution.State.items()}
ARTIFACT_STATE_NAMES = {v: k for k, v in mlmd.Artifact.State.items()}


def sqlite_metadata_connection_config(path: str) -> ConnectionConfig:
    """A SQLite ML Metadata store at `path` (created with its folder if missing)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def postgresql_metadata_connection_config(
    *, host: str, port: int, database: str, user: str, password: str = ""
) -> ConnectionConfig:
    """A PostgreSQL ML Metadata store (the database is created if the user may)."""
    config = mlmd.ConnectionConfig()
    pg = config.postgresql
    pg.host, pg.port, pg.dbname, pg.user = host, str(port), database, user
    if password:
        pg.password = password
    return config


def mysql_metadata_connection_config(
    *, host: str, port: int, database: str, user: str, password: str = ""
) -> ConnectionConfig:
    """A MySQL / MariaDB ML Metadata store."""
    config = mlmd.ConnectionConfig()
    config.mysql.host, config.mysql.port = host, port
    config.mysql.database, config.mysql.user = database, user
    if password:
        config.mysql.password = password
    return config


def set_value(value_proto: mlmd.Value, value: Any) -> None:
    """Store a Python value in an MLMD Value: int, double, string, else JSON string."""
    if isinstance(value, bool):
        value_proto.int_value = int(value)
    elif isinstance(value, int):
        value_proto.int_value = value
    elif isinstance(value, float):
        value_proto.double_value = value
    elif isinstance(value, str):
        value_proto.string_value = value
    else:
        value_proto.string_value = to_json(value)


def get_value(value_proto: mlmd.Value) -> Any:
    """The Python value of an MLMD Value."""
    kind = value_proto.WhichOneof("value")
    if kind is None:
        return None
    if kind == "struct_value":
        from google.protobuf import json_format

        return json_format.MessageToDict(value_proto.struct_value)
    if kind == "proto_value":
        return value_proto.proto_value
    return getattr(value_proto, kind)


class MetadataStore:
    """An ML Metadata store with Headwater's types, contexts and batched writes.

    `read_only=True` (what listing and querying need) never changes the store: a SQLite file
    must already be an ML Metadata store (MetadataStoreError otherwise) and is opened read-only,
    so it works on a read-only pipeline root; type lookups then never register anything.
    """

    def __init__(self, config: ConnectionConfig, *, read_only: bool = False) -> None:
        self.config = config
        self.read_only = read_only
        sqlite_path = config.sqlite.filename_uri if config.WhichOneof("config") == "sqlite" else ""
        if read_only and sqlite_path and not sqlite_path.startswith("file:"):
            self.store = _open_sqlite_read_only(sqlite_path)
        else:
            if sqlite_path:
                _create_in_wal_mode(sqlite_path)
            try:
                self.store = _open_retrying(config)
            except (mlmd_errors.StatusError, RuntimeError) as exc:
                raise MetadataStoreError(
                    f"cannot open ML Metadata store ({_describe(config)}): {exc}"
                    f"{_sqlite_hint(sqlite_path)}"
                ) from exc
        self._artifact_types: dict[str, int] = {}
        self._execution_types: dict[str, int] = {}
        self._context_types: dict[str, int] = {}

    # -- types ------------------------------------------------------------------------------
    def artifact_type_id(self, cls: type[Artifact]) -> int:
        """Id of `cls`'s artifact type, registered (or extended) on first use."""
        type_id = self._artifact_types.get(cls.TYPE_NAME)
        if type_id is None:
            at = mlmd.ArtifactType(name=cls.TYPE_NAME)
            for name, ptype in cls.PROPERTIES.items():
                at.properties[name] = _PROPERTY_TYPES[ptype]
            if cls.BASE_TYPE:
                at.base_type = _BASE_TYPES[cls.BASE_TYPE]
            try:
                type_id = self.store.put_artifact_type(at, can_add_fields=True)
            except mlmd_errors.StatusError:
                # Registered by another tool with other properties: keep theirs.
                type_id = self.store.get_artifact_type(cls.TYPE_NAME).id
            self._artifact_types[cls.TYPE_NAME] = type_id
        return type_id

    def execution_type_id(self, name: str) -> int:
        """Id of the execution type `name` (one per component type)."""
        type_id = self._execution_types.get(name)
        if type_id is None:
            if self.read_only:
                type_id = _existing_type_id(self.store.get_execution_type, name)
            else:
                try:
                    type_id = self.store.put_execution_type(mlmd.ExecutionType(name=name))
                except mlmd_errors.AlreadyExistsError:  # another process registered it just now
                    type_id = self.store.get_execution_type(name).id
            self._execution_types[name] = type_id
        return type_id

    def context_type_id(self, name: str) -> int:
        """Id of the context type `name` (-1 on a read-only store that has no such type)."""
        type_id = self._context_types.get(name)
        if type_id is None:
            if self.read_only:
                type_id = _existing_type_id(self.store.get_context_type, name)
            else:
                try:
                    type_id = self.store.put_context_type(mlmd.ContextType(name=name))
                except mlmd_errors.AlreadyExistsError:  # another process registered it just now
                    type_id = self.store.get_context_type(name).id
            self._context_types[name] = type_id
        return type_id

    # -- contexts ---------------------------------------------------------------------------
    def get_context(self, type_name: str, name: str) -> MlmdContext | None:
        """The context of that type and name, or None."""
        return self.store.get_context_by_type_and_name(type_name, name)

    def ensure_context(
        self, type_name: str, name: str, properties: Mapping[str, Any] | None = None
    ) -> MlmdContext:
        """The context of that type and name, created if missing."""
        found = self.get_context(type_name, name)
        if found is not None:
            return found
        ctx = mlmd.Context(type_id=self.context_type_id(type_name), name=name)
        for key, value in (properties or {}).items():
            set_value(ctx.custom_properties[key], value)
        try:
            [ctx.id] = self.store.put_contexts([ctx])
        except mlmd_errors.AlreadyExistsError:
            existing = self.get_context(type_name, name)
            assert existing is not None
            return existing
        return ctx

    def start_run(self, pipeline_name: str, run_id: str) -> tuple[MlmdContext, MlmdContext]:
        """Pipeline context (get or create) and a new run context, child of it.

        The run context records `state` RUNNING and the `pid` and `host` running it, until
        finish_run records how it ended.
        """
        pipeline_ctx = self.ensure_context(PIPELINE_CONTEXT, pipeline_name)
        run_ctx = self.ensure_context(
            RUN_CONTEXT,
            run_id,
            {
                "pipeline_name": pipeline_name,
                RUN_STATE: "RUNNING",
                "pid": os.getpid(),
                "host": socket.gethostname(),
            },
        )
        self.store.put_parent_contexts(
            [mlmd.ParentContext(child_id=run_ctx.id, parent_id=pipeline_ctx.id)]
        )
        return pipeline_ctx, run_ctx

    def finish_run(self, run_ctx: MlmdContext, state: str) -> None:
        """Record how a run ended: COMPLETE, FAILED or CANCELED."""
        set_value(run_ctx.custom_properties[RUN_STATE], state)
        self.store.put_contexts([run_ctx])

    # -- artifacts --------------------------------------------------------------------------
    def to_proto(self, artifact: Artifact, *, name: str = "") -> MlmdArtifact:
        """The MLMD Artifact proto of a runtime artifact."""
        cls = type(artifact)
        proto = mlmd.Artifact(type_id=self.artifact_type_id(cls), uri=artifact.uri)
        if artifact.id is not None:
            proto.id = artifact.id
        if name:
            proto.name = name
        proto.state = mlmd.Artifact.State.Value(artifact.state)
        for key, value in artifact.properties.items():
            if value is None:
                continue
            ptype = cls.PROPERTIES[key]
            if ptype == INT:
                proto.properties[key].int_value = int(value)
            elif ptype == STRING:
                proto.properties[key].string_value = str(value)
            else:
                proto.properties[key].double_value = float(value)
        for key, value in artifact.custom_properties.items():
            if value is not None:
                set_value(proto.custom_properties[key], value)
        return proto

    def from_proto(self, proto: MlmdArtifact, type_name: str | None = None) -> Artifact:
        """A runtime artifact of the right class from an MLMD Artifact proto."""
        if type_name is None:
            type_name = self.type_name_of(proto.type_id)
        cls = artifact_class(type_name)
        props = {k: get_value(v) for k, v in proto.properties.items() if k in cls.PROPERTIES}
        return cls(
            proto.uri,
            id=proto.id,
            properties=props,
            custom_properties={k: get_value(v) for k, v in proto.custom_properties.items()},
            state=ARTIFACT_STATE_NAMES[proto.state],
        )

    def type_name_of(self, type_id: int) -> str:
        """Artifact type name of a type id."""
        for name, tid in self._artifact_types.items():
            if tid == type_id:
                return name
        [at] = self.store.get_artifact_types_by_id([type_id])
        self._artifact_types[at.name] = type_id
        return str(at.name)

    def live_artifacts(
        self, context: MlmdContext, cls: type[Artifact], *, limit: int | None = None
    ) -> list[Artifact]:
        """LIVE artifacts of type `cls` attributed to `context`, newest first (one query)."""
        options = metadata_store.ListOptions(
            filter_query=f"type = '{cls.TYPE_NAME}' AND state = LIVE",
            order_by=metadata_store.OrderByField.ID,
            is_asc=False,
            limit=limit,
        )
        protos = self.store.get_artifacts_by_context(context.id, list_options=options)
        return [self.from_proto(a, cls.TYPE_NAME) for a in protos]

    def get_artifacts(self, ids: Sequence[int]) -> list[Artifact]:
        """Runtime artifacts by id, in the order given."""
        by_id = {a.id: a for a in self.store.get_artifacts_by_id(list(ids))}
        return [self.from_proto(by_id[i]) for i in ids]

    # -- executions -------------------------------------------------------------------------
    def put_execution(
        self,
        *,
        type_name: str,
        state: str,
        contexts: Sequence[MlmdContext],
        properties: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Sequence[Artifact]] | None = None,
        outputs: Mapping[str, Sequence[Artifact]] | None = None,
        execution_id: int | None = None,
        output_names: Mapping[str, str] | None = None,
    ) -> int:
        """Write an execution with its events and new artifacts in one call; returns its id.

        New output artifacts get their ids assigned in place.
        """
        execution = mlmd.Execution(
            type_id=self.execution_type_id(type_name),
            last_known_state=mlmd.Execution.State.Value(state),
        )
        if execution_id is not None:
            execution.id = execution_id
        for key, value in (properties or {}).items():
            if value is not None:
                set_value(execution.custom_properties[key], value)
        pairs: list[tuple[MlmdArtifact, MlmdEvent | None]] = []
        order: list[Artifact] = []
        # MLMD allows one event per (artifact, execution, type): an artifact wired to two
        # inputs (a cached candidate that is also the resolved baseline) is recorded once.
        seen: set[tuple[int, int]] = set()
        for event_type, mapping in ((mlmd.Event.INPUT, inputs), (mlmd.Event.OUTPUT, outputs)):
            for key, artifacts in (mapping or {}).items():
                for index, artifact in enumerate(artifacts):
                    event: MlmdEvent | None = None
                    if artifact.id is None or (artifact.id, event_type) not in seen:
                        if artifact.id is not None:
                            seen.add((artifact.id, event_type))
                        event = mlmd.Event(type=event_type)
                        event.path.steps.add().key = key
                        event.path.steps.add().index = index
                    name = (output_names or {}).get(key, "") if artifact.id is None else ""
                    pairs.append((self.to_proto(artifact, name=name and f"{name}:{index}"), event))
                    order.append(artifact)
        execution_id, artifact_ids, _ = self.store.put_execution(
            execution, pairs, list(contexts), reuse_context_if_already_exist=True
        )
        for artifact, artifact_id in zip(order, artifact_ids, strict=True):
            artifact.id = artifact_id
        return int(execution_id)

    def find_cached_outputs(
        self, node_context: MlmdContext, cache_key: str
    ) -> dict[str, list[Artifact]] | None:
        """Outputs of the newest COMPLETE execution of the node with `cache_key`, if all LIVE."""
        options = metadata_store.ListOptions(
            filter_query=f"custom_properties.cache_key.string_value = '{cache_key}'"
        )
        executions = self.store.get_executions_by_context(node_context.id, list_options=options)
        complete = [e for e in executions if e.last_known_state == mlmd.Execution.COMPLETE]
        if not complete:
            return None
        newest = max(complete, key=lambda e: e.id)
        events = self.store.get_events_by_execution_ids([newest.id])
        outputs = [e for e in events if e.type == mlmd.Event.OUTPUT]
        protos = {a.id: a for a in self.store.get_artifacts_by_id([e.artifact_id for e in outputs])}
        result: dict[str, list[Artifact]] = {}
        for event in sorted(outputs, key=_event_sort_key):
            proto = protos.get(event.artifact_id)
            if proto is None or proto.state != mlmd.Artifact.LIVE or not os.path.exists(proto.uri):
                return None
            result.setdefault(event.path.steps[0].key, []).append(self.from_proto(proto))
        return result

    def running_executions(self, context: MlmdContext) -> list[MlmdExecution]:
        """Executions of a context still marked RUNNING, oldest first."""
        return [
            e for e in self.executions_of(context) if e.last_known_state == mlmd.Execution.RUNNING
        ]

    def cancel_execution(self, execution: MlmdExecution, reason: str) -> None:
        """Mark an execution CANCELED, its reason in custom property `error`."""
        updated = mlmd.Execution()
        updated.CopyFrom(execution)
        updated.last_known_state = mlmd.Execution.CANCELED
        set_value(updated.custom_properties["error"], reason[:2000])
        self.store.put_executions([updated])

    def executions_of(self, context: MlmdContext) -> list[MlmdExecution]:
        """Executions attributed to a context, oldest first."""
        return sorted(self.store.get_executions_by_context(context.id), key=lambda e: e.id)

    def events_of_executions(self, ids: Iterable[int]) -> list[MlmdEvent]:
        """Events of the given executions."""
        return list(self.store.get_events_by_execution_ids(list(ids)))


_OPEN_ATTEMPTS = 8
_CONCURRENT_CREATION = (
    "Concurrent writes aborted",
    "database is locked",
    "concurrent connection to the empty database",
    # PostgreSQL: two processes creating the same new database; the loser retries and connects.
    "pg_database_datname_index",
    # ... and the same new tables in it: PostgreSQL's catalog refuses the second CREATE TABLE
    # with a unique violation on the catalog's own name indexes rather than "already exists".
    "pg_type_typname_nsp_index",
    "pg_class_relname_nsp_index",
)


def _open_retrying(config: ConnectionConfig) -> Any:
    """An MLMD client; retried while other processes create the same new store's tables.

    Several runs starting at once on a new SQLite file all create ML Metadata's tables, and
    ML Metadata gives up on all but one ("Concurrent writes aborted after max number of
    retries", "a subset of tables ... Please retry the connection"). Once the tables exist,
    opening only reads them, so a few retries settle it. On PostgreSQL, processes creating the
    same new database race the same way.
    """
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return metadata_store.MetadataStore(config)
        except (mlmd_errors.StatusError, RuntimeError) as exc:
            retry = any(text in str(exc) for text in _CONCURRENT_CREATION)
            if not retry or attempt == _OPEN_ATTEMPTS - 1:
                raise
            _LOG.debug("ML Metadata store busy being created (%s); retrying", exc)
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise AssertionError("unreachable")


def _existing_type_id(get_type: Any, name: str) -> int:
    """Id of a registered type, or -1 (matches nothing) when the store has none of that name."""
    try:
        return int(get_type(name).id)
    except mlmd_errors.NotFoundError:
        return -1


def _open_sqlite_read_only(path: str) -> Any:
    """An MLMD client on a SQLite store opened read-only (live, else as a snapshot)."""
    from headwater.orchestration.sqlite_store import check_is_store, read_only_configs

    check_is_store(path)
    failures = []
    for config in read_only_configs(path):
        try:
            return metadata_store.MetadataStore(config)
        except (mlmd_errors.StatusError, RuntimeError) as exc:
            failures.append(f"{config.sqlite.filename_uri}: {exc}")
    raise MetadataStoreError(f"cannot open ML Metadata store {path} read-only: {failures}")


def _sqlite_hint(path: str) -> str:
    """Why a SQLite store may not open: its directory is not writable (a read-only root)."""
    if not path or path.startswith("file:"):
        return ""
    folder = os.path.dirname(os.path.abspath(path))
    if not _writable_dir(folder):
        return (
            f"; the directory {folder} is not writable, and recording a run needs a writable "
            "store (reading commands such as `headwater run list` work on a read-only store)"
        )
    return ""


def _writable_dir(folder: str) -> bool:
    """Whether a file can be created in `folder` (tried, not guessed from permission bits)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def process_gone(host: str, pid: int) -> bool:
    """Whether process `pid` on `host` has ended; False when that cannot be told from here."""
    if host != socket.gethostname() or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's process has that pid now
    return False


def _create_in_wal_mode(path: str) -> None:
    """Create a new SQLite store file in WAL journaling: about 2x cheaper commits.

    ML Metadata commits every write; in the default rollback-journal mode each commit costs
    several fsyncs, which dominates a component's overhead. The mode is set only on a file
    that does not exist yet (WAL is persistent in the file): opening a file with Python's
    sqlite3 while ML Metadata's own SQLite has it open would drop that one's POSIX locks.
    """
    import sqlite3

    if not path or path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        _LOG.debug("could not create %s in WAL mode: %s", path, exc)


def _event_sort_key(event: MlmdEvent) -> tuple[str, int]:
    steps = event.path.steps
    return (steps[0].key if steps else "", steps[1].index if len(steps) > 1 else 0)


def _describe(config: ConnectionConfig) -> str:
    kind = config.WhichOneof("config")
    if kind == "sqlite":
        return f"sqlite {config.sqlite.filename_uri}"
    if kind == "postgresql":
        pg = config.postgresql
        return f"postgresql {pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
    if kind == "mysql":
        my = config.mysql
        return f"mysql {my.user}@{my.host}:{my.port}/{my.database}"
    return json.dumps(kind)
