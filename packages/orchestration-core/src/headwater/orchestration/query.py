"""Questions answered from ML Metadata: pipelines, their runs, artifacts and lineage.

store = MetadataStore(pipeline.connection_config())
latest_artifacts(store, "penguin", Schema)[0].uri
lineage(store, artifact_id).producer.node_id
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from headwater.orchestration.artifacts import Artifact
from headwater.orchestration.errors import MetadataError
from headwater.orchestration.metadata import (
    NODE_CONTEXT,
    PIPELINE_CONTEXT,
    RUN_CONTEXT,
    RUN_STATE,
    STATE_NAMES,
    MetadataStore,
    process_gone,
)

mlmd: Any = metadata_store_pb2


@dataclass(frozen=True)
class ExecutionInfo:
    """One execution: which node of which run, its state and when."""

    id: int
    node_id: str
    type_name: str
    state: str
    run_id: str
    create_time_ms: int
    last_update_time_ms: int
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInfo:
    """One pipeline run: its id, overall state and the executions in it."""

    run_id: str
    create_time_ms: int
    state: str
    executions: list[ExecutionInfo]


@dataclass(frozen=True)
class Lineage:
    """Where an artifact came from and where it went."""

    artifact: Artifact
    producer: ExecutionInfo | None
    """The execution that wrote it (COMPLETE), or the importer that registered it."""
    reused_by: list[ExecutionInfo]
    """CACHED executions that answered with it."""
    consumers: list[ExecutionInfo]
    """Executions that read it."""


@dataclass(frozen=True)
class RunArtifact:
    """An artifact read or written in a run, with the node and key it was under."""

    node_id: str
    key: str
    direction: str
    artifact: Artifact


def list_pipelines(store: MetadataStore) -> list[str]:
    """Names of the pipelines recorded in the store."""
    return sorted(c.name for c in store.store.get_contexts_by_type(PIPELINE_CONTEXT))


def _pipeline_context(store: MetadataStore, pipeline_name: str) -> Any:
    ctx = store.get_context(PIPELINE_CONTEXT, pipeline_name)
    if ctx is None:
        known = list_pipelines(store)
        raise MetadataError(f"no pipeline {pipeline_name!r} in this store (pipelines: {known})")
    return ctx


def latest_artifacts(
    store: MetadataStore, pipeline_name: str, artifact_type: type[Artifact]
) -> list[Artifact]:
    """LIVE artifacts of `artifact_type` in the pipeline, newest first."""
    ctx = _pipeline_context(store, pipeline_name)
    return store.live_artifacts(ctx, artifact_type)


def execution_infos(store: MetadataStore, executions: Sequence[Any]) -> list[ExecutionInfo]:
    """ExecutionInfo for each MLMD execution (node and run read from its contexts).

    An execution recorded RUNNING whose process on this host has ended (killed, crashed) is
    reported CANCELED, as the next run of its node will record it.
    """
    from headwater.orchestration.metadata import get_value

    type_names = {t.id: t.name for t in store.store.get_execution_types()}
    infos = []
    for execution in executions:
        node_id, run_id = "", ""
        for ctx in store.store.get_contexts_by_execution(execution.id):
            ctx_type = store.context_type_id
            if ctx.type_id == ctx_type(NODE_CONTEXT):
                node_id = ctx.name.split(".", 1)[-1]
            elif ctx.type_id == ctx_type(RUN_CONTEXT):
                run_id = ctx.name
        infos.append(
            ExecutionInfo(
                id=execution.id,
                node_id=node_id,
                type_name=type_names.get(execution.type_id, "?"),
                state=_execution_state(execution),
                run_id=run_id,
                create_time_ms=execution.create_time_since_epoch,
                last_update_time_ms=execution.last_update_time_since_epoch,
                properties={k: get_value(v) for k, v in execution.custom_properties.items()},
            )
        )
    return infos


def pipeline_runs(store: MetadataStore, pipeline_name: str) -> list[RunInfo]:
    """The runs of a pipeline, oldest first, each with its executions and overall state.

    A run's state says how it went: FAILED (a component failed), CANCELED (interrupted, or its
    process killed), RUNNING, CACHED (every component answered from the cache), COMPLETE.
    """
    ctx = _pipeline_context(store, pipeline_name)
    runs = store.store.get_children_contexts_by_context(ctx.id)
    result = []
    for run in sorted(runs, key=lambda c: c.id):
        executions = execution_infos(store, store.executions_of(run))
        result.append(
            RunInfo(run.name, run.create_time_since_epoch, _run_state(run, executions), executions)
        )
    return result


def _execution_state(execution: Any) -> str:
    state = STATE_NAMES[execution.last_known_state]
    if state == "RUNNING" and _recorded_process_gone(execution):
        return "CANCELED"
    return state


def _recorded_process_gone(entity: Any) -> bool:
    """Whether the process an execution or run context recorded (`host`, `pid`) has ended."""
    props = entity.custom_properties
    if "host" not in props or "pid" not in props:
        return False
    return process_gone(props["host"].string_value, props["pid"].int_value)


def _run_state(run: Any, executions: Sequence[ExecutionInfo]) -> str:
    # Resolvers and importers look artifacts up on every run; a run whose components were all
    # answered from the cache is CACHED.
    recorded = (
        run.custom_properties[RUN_STATE].string_value
        if RUN_STATE in (run.custom_properties)
        else ""
    )
    if recorded == "RUNNING" and _recorded_process_gone(run):
        recorded = "CANCELED"
    # A node retried by an orchestrator (a killed attempt CANCELED, then a COMPLETE retry) is
    # judged by its latest attempt: the run went as its nodes' last executions went.
    latest: dict[str, ExecutionInfo] = {}
    for e in sorted(executions, key=lambda e: e.id):
        if e.type_name not in ("Resolver", "Importer"):
            latest[e.node_id] = e
    states = {e.state for e in latest.values()}
    for state in ("FAILED", "CANCELED", "RUNNING"):
        if state in states or recorded == state:
            return state
    if states and states <= {"CACHED"}:
        return "CACHED"
    return "COMPLETE" if executions else "EMPTY"


def run_artifacts(store: MetadataStore, run_id: str) -> list[RunArtifact]:
    """Every artifact a run read or wrote, by node (execution order) and key."""
    ctx = store.get_context(RUN_CONTEXT, run_id)
    if ctx is None:
        raise MetadataError(f"no run {run_id!r} in this store")
    executions = store.executions_of(ctx)
    infos = {e.id: e for e in execution_infos(store, executions)}
    events = store.events_of_executions(infos)
    artifacts = {a.id: a for a in store.get_artifacts(sorted({e.artifact_id for e in events}))}
    out = []
    for event in sorted(events, key=lambda e: (e.execution_id, e.type != mlmd.Event.INPUT)):
        key = event.path.steps[0].key if event.path.steps else ""
        direction = "input" if event.type == mlmd.Event.INPUT else "output"
        out.append(
            RunArtifact(
                infos[event.execution_id].node_id, key, direction, artifacts[event.artifact_id]
            )
        )
    return out


def lineage(store: MetadataStore, artifact_id: int) -> Lineage:
    """The artifact, the execution that produced it, cached reuses and its consumers."""
    found = store.store.get_artifacts_by_id([artifact_id])
    if not found:
        raise MetadataError(f"no artifact with id {artifact_id} in this store")
    artifact = store.from_proto(found[0])
    events = store.store.get_events_by_artifact_ids([artifact_id])
    execution_ids = sorted({e.execution_id for e in events})
    infos = {
        i.id: i for i in execution_infos(store, store.store.get_executions_by_id(execution_ids))
    }
    outputs = [infos[e.execution_id] for e in events if e.type == mlmd.Event.OUTPUT]
    producer = next((i for i in sorted(outputs, key=lambda i: i.id) if i.state != "CACHED"), None)
    reused = [i for i in outputs if i.state == "CACHED"]
    consumers = [infos[e.execution_id] for e in events if e.type == mlmd.Event.INPUT]
    return Lineage(
        artifact,
        producer,
        sorted(reused, key=lambda i: i.id),
        sorted(consumers, key=lambda i: i.id),
    )
