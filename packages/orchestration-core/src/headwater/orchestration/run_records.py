"""What one run recorded in ML Metadata, node by node: the reads a node run in its own process
(`headwater node run`, a Beam step, an Airflow task, a Kubeflow pod) needs.

A node's inputs in a run are the outputs that its upstream node's COMPLETE or CACHED execution
in the same run (an execution attributed to both the run's context and the upstream node's
context) recorded: OUTPUT events, or for a Resolver the artifacts it chose (its INPUT events).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable
from typing import Any

from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2

from headwater.orchestration.artifacts import Artifact
from headwater.orchestration.dsl import Node
from headwater.orchestration.errors import WiringError
from headwater.orchestration.metadata import (
    NODE_CONTEXT,
    PIPELINE_CONTEXT,
    RUN_CONTEXT,
    RUN_STATE,
    MetadataStore,
    MlmdContext,
    MlmdExecution,
    process_gone,
)

mlmd: Any = metadata_store_pb2
FINISHED = (mlmd.Execution.COMPLETE, mlmd.Execution.CACHED)


class UpstreamMissingError(WiringError):
    """A node's upstream node has no COMPLETE or CACHED execution in this run."""


def join_run(store: MetadataStore, pipeline_name: str, run_id: str) -> tuple[Any, Any]:
    """Pipeline and run contexts of a run that several processes share (created if missing).

    Unlike `MetadataStore.start_run` no process id is recorded: the run outlives each node's
    process. A run recorded as ended (a retried task after `run finish`) is RUNNING again.
    """
    pipeline_ctx = store.ensure_context(PIPELINE_CONTEXT, pipeline_name)
    run_ctx = store.ensure_context(
        RUN_CONTEXT, run_id, {"pipeline_name": pipeline_name, RUN_STATE: "RUNNING"}
    )
    if run_ctx.custom_properties[RUN_STATE].string_value != "RUNNING":
        store.finish_run(run_ctx, "RUNNING")
    parents = store.store.get_parent_contexts_by_context(run_ctx.id)
    if pipeline_ctx.id not in {p.id for p in parents}:
        # Another node's process may link them just now.
        with contextlib.suppress(mlmd_errors.AlreadyExistsError):
            store.store.put_parent_contexts(
                [mlmd.ParentContext(child_id=run_ctx.id, parent_id=pipeline_ctx.id)]
            )
    return pipeline_ctx, run_ctx


def run_context(store: MetadataStore, run_id: str) -> MlmdContext | None:
    """The run's context, or None."""
    return store.get_context(RUN_CONTEXT, run_id)


def node_executions_in_run(
    store: MetadataStore, pipeline_name: str, run_ctx: MlmdContext, node_id: str
) -> list[MlmdExecution]:
    """Executions of node `node_id` attributed to the run, oldest first."""
    node_ctx = store.get_context(NODE_CONTEXT, f"{pipeline_name}.{node_id}")
    if node_ctx is None:
        return []
    in_run = {e.id for e in store.store.get_executions_by_context(run_ctx.id)}
    return [e for e in store.executions_of(node_ctx) if e.id in in_run]


def finished_execution(
    store: MetadataStore, pipeline_name: str, run_ctx: MlmdContext, node_id: str
) -> MlmdExecution | None:
    """The newest COMPLETE or CACHED execution of the node in the run, or None."""
    done = [
        e
        for e in node_executions_in_run(store, pipeline_name, run_ctx, node_id)
        if e.last_known_state in FINISHED
    ]
    return done[-1] if done else None


def recorded_outputs(
    store: MetadataStore, execution: MlmdExecution, *, resolver: bool = False
) -> dict[str, list[Artifact]]:
    """Output key -> artifacts (in index order) an execution recorded."""
    wanted = mlmd.Event.INPUT if resolver else mlmd.Event.OUTPUT
    events = [e for e in store.events_of_executions([execution.id]) if e.type == wanted]
    events.sort(key=lambda e: (e.path.steps[0].key, e.path.steps[1].index))
    artifacts = dict(
        zip(
            [e.artifact_id for e in events],
            store.get_artifacts([e.artifact_id for e in events]),
            strict=True,
        )
    )
    out: dict[str, list[Artifact]] = {}
    for event in events:
        out.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    return out


def resolve_inputs_from_run(
    store: MetadataStore, pipeline_name: str, pipeline_ctx: Any, run_ctx: Any, node: Node
) -> dict[str, list[Artifact]]:
    """Artifacts for each input channel of `node`, read from what the run recorded."""
    from headwater.orchestration.runner import latest_of_type

    inputs: dict[str, list[Artifact]] = {}
    for key, channel in node.inputs.items():
        producer = channel.producer
        if producer is not None:
            execution = finished_execution(store, pipeline_name, run_ctx, producer.id)
            if execution is None:
                raise UpstreamMissingError(
                    f"{node.id}: upstream node {producer.id!r} has no COMPLETE or CACHED "
                    f"execution in run {run_ctx.name!r}, so input {key!r} has nothing to read; "
                    f"run {producer.id!r} in this run first"
                )
            outputs = recorded_outputs(store, execution, resolver=producer.kind == "resolver")
            inputs[key] = outputs.get(channel.key, [])
        elif node.kind == "resolver":
            inputs[key] = []  # the resolver queries the store itself
        else:
            inputs[key] = latest_of_type(store, pipeline_ctx, channel)[:1]
    return inputs


def running_in_run(
    store: MetadataStore, pipeline_name: str, run_ctx: MlmdContext, node_id: str
) -> list[MlmdExecution]:
    """The node's executions in the run still recorded RUNNING."""
    return [
        e
        for e in node_executions_in_run(store, pipeline_name, run_ctx, node_id)
        if e.last_known_state == mlmd.Execution.RUNNING
    ]


def live_here(execution: MlmdExecution) -> bool:
    """Whether the execution's recorded process is this host's and still alive."""
    props = execution.custom_properties
    host, pid = props["host"].string_value, props["pid"].int_value
    if host != socket.gethostname() or pid <= 0 or pid == os.getpid():
        return False
    return not process_gone(host, pid)


def node_states(
    store: MetadataStore, pipeline_name: str, run_ctx: MlmdContext, node_ids: Iterable[str]
) -> dict[str, str]:
    """Node id -> state of its newest execution in the run (MISSING when it has none)."""
    from headwater.orchestration.metadata import STATE_NAMES

    states = {}
    for node_id in node_ids:
        executions = node_executions_in_run(store, pipeline_name, run_ctx, node_id)
        finished = [e for e in executions if e.last_known_state in FINISHED]
        newest = finished[-1] if finished else (executions[-1] if executions else None)
        states[node_id] = STATE_NAMES[newest.last_known_state] if newest else "MISSING"
    return states
