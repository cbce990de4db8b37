"""What the UI's pages show, read from ML Metadata: run summaries, a run's graph, lineage.

Every function only reads: the store is opened read-only and nothing here writes to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from headwater.orchestration.artifacts import Artifact
from headwater.orchestration.errors import MetadataError
from headwater.orchestration.metadata import PIPELINE_CONTEXT, RUN_CONTEXT, MetadataStore
from headwater.orchestration.query import (
    ExecutionInfo,
    Lineage,
    _execution_state,
    _run_state,
    execution_infos,
)

SHOWN_EXECUTIONS = 20
"""At most this many reusing and reading executions are listed per artifact (newest first)."""
GRAPH_EXECUTIONS = 12
"""At most this many executions per artifact and direction are drawn in a lineage graph."""

mlmd: Any = metadata_store_pb2


@dataclass(frozen=True)
class RunSummary:
    """One run as the runs list shows it: state, how long it took, what ran and what was cached."""

    run_id: str
    state: str
    create_time_ms: int
    duration_s: float
    counts: dict[str, int]
    """Executions by state (COMPLETE, CACHED, FAILED, ...)."""


@dataclass(frozen=True)
class NodeRun:
    """One node in a run: its execution, parameters and the artifacts it read and wrote."""

    execution: ExecutionInfo
    inputs: list[tuple[str, Artifact]] = field(default_factory=list)
    outputs: list[tuple[str, Artifact]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Seconds from the execution's creation to its last update."""
        e = self.execution
        return max(0, e.last_update_time_ms - e.create_time_ms) / 1000


@dataclass(frozen=True)
class RunDetail:
    """A run: its summary, its nodes in execution order and the edges between them."""

    pipeline: str
    summary: RunSummary
    nodes: list[NodeRun]
    edges: list[tuple[str, str]]
    """(upstream node id, downstream node id): an output of one read by the other."""


@dataclass(frozen=True)
class ArtifactLinks:
    """An artifact's lineage, the newest executions of each kind, and how many there are."""

    lineage: Lineage
    reused_total: int
    consumers_total: int


@dataclass(frozen=True)
class LineageGraph:
    """Artifacts and executions within a few hops of one artifact, and the events joining them."""

    center: int
    artifacts: dict[int, Artifact]
    executions: dict[int, ExecutionInfo]
    edges: list[tuple[str, str]]
    """("a<id>" | "e<id>") pairs, from producer to product, from input to its reader."""
    hops: dict[str, int]
    """Each graph node's distance from the center: negative upstream, positive downstream."""
    left_out: int = 0
    """Executions not drawn (beyond GRAPH_EXECUTIONS per artifact and direction)."""


def pipeline_names(store: MetadataStore) -> list[str]:
    """Names of the pipelines recorded in the store."""
    return sorted(c.name for c in store.store.get_contexts_by_type(PIPELINE_CONTEXT))


def run_summaries(
    store: MetadataStore, pipeline: str, *, limit: int | None = None, offset: int = 0
) -> tuple[list[RunSummary], int]:
    """Runs of `pipeline`, newest first (a page of them), and how many runs there are in all."""
    ctx = store.get_context(PIPELINE_CONTEXT, pipeline)
    if ctx is None:
        raise MetadataError(f"no pipeline {pipeline!r} in this store")
    runs = sorted(store.store.get_children_contexts_by_context(ctx.id), key=lambda c: -c.id)
    page = runs[offset : offset + limit if limit is not None else None]
    return [_summary(store, run) for run in page], len(runs)


def _summary(store: MetadataStore, run: Any) -> RunSummary:
    executions = store.store.get_executions_by_context(run.id)
    types = _execution_type_names(store)
    infos = [
        ExecutionInfo(
            id=e.id,
            node_id="",
            type_name=types.get(e.type_id, "?"),
            state=_execution_state(e),
            run_id=run.name,
            create_time_ms=e.create_time_since_epoch,
            last_update_time_ms=e.last_update_time_since_epoch,
        )
        for e in executions
    ]
    return _summary_of(run, infos)


def _summary_of(run: Any, infos: Sequence[ExecutionInfo]) -> RunSummary:
    counts: dict[str, int] = {}
    for info in infos:
        counts[info.state] = counts.get(info.state, 0) + 1
    end = max((i.last_update_time_ms for i in infos), default=run.create_time_since_epoch)
    return RunSummary(
        run_id=run.name,
        state=_run_state(run, infos),
        create_time_ms=run.create_time_since_epoch,
        duration_s=max(0, end - run.create_time_since_epoch) / 1000,
        counts=counts,
    )


def _execution_type_names(store: MetadataStore) -> dict[int, str]:
    cached: dict[int, str] | None = getattr(store, "_ui_execution_types", None)
    if cached is None or len(cached) < len(store.store.get_execution_types()):
        cached = {t.id: t.name for t in store.store.get_execution_types()}
        store._ui_execution_types = cached  # type: ignore[attr-defined]
    return cached


def run_detail(store: MetadataStore, pipeline: str, run_id: str) -> RunDetail:
    """A run's nodes (execution order), their artifacts, and the edges of its graph."""
    run = store.get_context(RUN_CONTEXT, run_id)
    if run is None:
        raise MetadataError(f"no run {run_id!r} in this store")
    infos = sorted(execution_infos(store, store.executions_of(run)), key=lambda i: i.id)
    events = store.events_of_executions(i.id for i in infos)
    artifacts = {a.id: a for a in store.get_artifacts(sorted({e.artifact_id for e in events}))}
    nodes = {i.id: NodeRun(i) for i in infos}
    producers: dict[int, str] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        node = nodes[event.execution_id]
        pair = (key, artifacts[event.artifact_id])
        if event.type == mlmd.Event.INPUT:
            node.inputs.append(pair)
        else:
            node.outputs.append(pair)
            producers[event.artifact_id] = node.execution.node_id
    edges = sorted(
        {
            (producers[a.id], node.execution.node_id)
            for node in nodes.values()
            for _, a in node.inputs
            if a.id in producers and producers[a.id] != node.execution.node_id
        }
    )
    return RunDetail(pipeline, _summary_of(run, infos), list(nodes.values()), edges)


def artifact(store: MetadataStore, artifact_id: int) -> Artifact:
    """The artifact with that id (MetadataError when there is none)."""
    found = store.store.get_artifacts_by_id([artifact_id])
    if not found:
        raise MetadataError(f"no artifact with id {artifact_id} in this store")
    return store.from_proto(found[0])


def artifact_links(
    store: MetadataStore, artifact_id: int, limit: int = SHOWN_EXECUTIONS
) -> ArtifactLinks:
    """The producer, and the newest `limit` cached reuses and readers, of an artifact.

    An artifact answered from the cache by every run has as many events as runs: only the
    executions shown are read with their contexts, so the page stays fast on long histories.
    """
    found = artifact(store, artifact_id)
    events = store.store.get_events_by_artifact_ids([artifact_id])
    outputs = sorted({e.execution_id for e in events if e.type == mlmd.Event.OUTPUT})
    inputs = sorted({e.execution_id for e in events if e.type == mlmd.Event.INPUT}, reverse=True)
    made_by = _first_writer(store, outputs)
    producer = [made_by] if made_by is not None else []
    reused = [i for i in reversed(outputs) if i not in producer]
    wanted = producer + reused[:limit] + inputs[:limit]
    infos = {
        i.id: i
        for i in execution_infos(store, store.store.get_executions_by_id(sorted(set(wanted))))
    }
    return ArtifactLinks(
        Lineage(
            found,
            infos.get(producer[0]) if producer else None,
            [infos[i] for i in reused[:limit] if i in infos],
            [infos[i] for i in inputs[:limit] if i in infos],
        ),
        reused_total=len(reused),
        consumers_total=len(inputs),
    )


def lineage_graph(store: MetadataStore, artifact_id: int, hops: int = 2) -> LineageGraph:
    """Executions and artifacts up to `hops` executions upstream and downstream of an artifact.

    Upstream follows each artifact's producer (the execution that wrote it, not cached reuses)
    to its inputs; downstream follows readers to their outputs.
    """
    artifacts: dict[int, Artifact] = {artifact_id: artifact(store, artifact_id)}
    left_out = 0
    executions: dict[int, ExecutionInfo] = {}
    edges: set[tuple[str, str]] = set()
    distance: dict[str, int] = {f"a{artifact_id}": 0}
    for direction in (-1, 1):
        frontier = [artifact_id]
        for hop in range(1, hops + 1):
            found, skipped = _step(store, frontier, direction)
            left_out += skipped
            frontier = []
            for execution, linked in found:
                executions[execution.id] = execution
                distance.setdefault(f"e{execution.id}", direction * (2 * hop - 1))
                for art_id, art, edge in linked:
                    artifacts.setdefault(art_id, art)
                    edges.add(edge)
                    if f"a{art_id}" not in distance:
                        distance[f"a{art_id}"] = direction * 2 * hop
                        frontier.append(art_id)
            if not frontier:
                break
    return LineageGraph(artifact_id, artifacts, executions, sorted(edges), distance, left_out)


def _step(
    store: MetadataStore, artifact_ids: list[int], direction: int
) -> tuple[list[tuple[ExecutionInfo, list[tuple[int, Artifact, tuple[str, str]]]]], int]:
    """One hop: the producers (direction -1) or readers (+1) of artifacts, and their other side.

    Also returns how many executions were left out: readers beyond the newest GRAPH_EXECUTIONS
    of each artifact, and cached reuses, which add nothing to the drawing.
    """
    if not artifact_ids:
        return [], 0
    events = store.store.get_events_by_artifact_ids(artifact_ids)
    wanted = mlmd.Event.INPUT if direction > 0 else mlmd.Event.OUTPUT
    per_artifact: dict[int, list[int]] = {}
    for event in events:
        if event.type == wanted:
            per_artifact.setdefault(event.artifact_id, []).append(event.execution_id)
    all_ids = {i for ids in per_artifact.values() for i in ids}
    if direction > 0:
        kept = {i for ids in per_artifact.values() for i in sorted(ids)[-GRAPH_EXECUTIONS:]}
    else:
        kept = _first_writers(store, per_artifact)
    execution_ids = sorted(kept)
    infos = execution_infos(store, store.store.get_executions_by_id(execution_ids))
    linked_events = store.store.get_events_by_execution_ids([i.id for i in infos])
    other = mlmd.Event.INPUT if direction < 0 else mlmd.Event.OUTPUT
    arts = {
        a.id: store.from_proto(a)
        for a in store.store.get_artifacts_by_id(sorted({e.artifact_id for e in linked_events}))
    }
    out = []
    for info in infos:
        linked = []
        for event in linked_events:
            if event.execution_id != info.id or event.artifact_id not in arts:
                continue
            a, e = f"a{event.artifact_id}", f"e{info.id}"
            if event.type == other:
                edge = (a, e) if direction < 0 else (e, a)
                linked.append((event.artifact_id, arts[event.artifact_id], edge))
            elif event.artifact_id in artifact_ids:  # the edge back to where we came from
                edge = (e, a) if direction < 0 else (a, e)
                linked.append((event.artifact_id, arts[event.artifact_id], edge))
        out.append((info, linked))
    return out, len(all_ids - kept) if direction > 0 else 0


def _first_writers(store: MetadataStore, writers: dict[int, list[int]]) -> set[int]:
    """For each artifact, the execution that made it (see _first_writer)."""
    found = {_first_writer(store, sorted(ids)) for ids in writers.values()}
    return {i for i in found if i is not None}


def _first_writer(store: MetadataStore, writer_ids: Sequence[int], batch: int = 8) -> int | None:
    """The first of `writer_ids` (ascending) that was not CACHED: the one that made the artifact.

    Read a few at a time: the maker comes first, and an artifact reused by every later run has
    as many CACHED writers as runs.
    """
    for start in range(0, len(writer_ids), batch):
        chunk = store.store.get_executions_by_id(list(writer_ids[start : start + batch]))
        for execution in sorted(chunk, key=lambda x: x.id):
            if _execution_state(execution) != "CACHED":
                return int(execution.id)
    return None
