"""A pipeline's life as TFX's CLI users know it: create, update, delete; delete a run.

`headwater pipeline create FILE --engine ENGINE` keeps a definition in
`$HEADWATER_HOME/definitions/<name>.json` (the file, engine, overrides, the compiled description
beside it, and what the engine needs: an Airflow DAG file, a Kubeflow pipeline YAML).

Deleting removes output files, never lineage: the executions and contexts stay in ML Metadata
(it has no delete), and each removed artifact is marked DELETED there. An artifact is kept,
files and all, when anything outside what is deleted still uses it: an execution of another
pipeline (or, deleting a run, of another run) read it or was answered with it from the cache;
and so is any file outside the pipeline root (imported data, a model pushed elsewhere).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from headwater.orchestration.errors import MetadataError, WiringError
from headwater.orchestration.metadata import NODE_CONTEXT, RUN_CONTEXT, MetadataStore, set_value

mlmd: Any = metadata_store_pb2
ENGINES = ("local", "beam", "airflow", "kubeflow")
DELETED = "deleted"
"""Pipeline context custom property: when `pipeline delete` removed the pipeline's outputs."""


@dataclass(frozen=True, kw_only=True)
class Definition:
    """A created pipeline: where it comes from and how it runs."""

    pipeline_name: str
    pipeline_file: str
    pipeline_attr: str | None
    engine: str
    root: str
    metadata: str | None
    description: str
    engine_output: str | None = None
    engine_options: dict[str, str] = field(default_factory=dict)
    created: str = ""
    updated: str = ""


def definitions_dir() -> str:
    """`$HEADWATER_HOME/definitions`."""
    from headwater.orchestration.pipeline import headwater_home

    return os.path.join(headwater_home(), "definitions")


def definition_path(name: str) -> str:
    """Where the definition of pipeline `name` lives."""
    return os.path.join(definitions_dir(), f"{name}.json")


def read_definition(name: str) -> Definition | None:
    """The definition of pipeline `name`, or None when it was never created (or deleted)."""
    path = definition_path(name)
    try:
        with open(path) as f:
            return Definition(**json.load(f))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, TypeError) as exc:
        raise MetadataError(f"{path}: not a pipeline definition ({exc}); remove it") from exc


def list_definitions() -> list[Definition]:
    """Every created pipeline, by name."""
    try:
        names = sorted(f[: -len(".json")] for f in os.listdir(definitions_dir()))
    except FileNotFoundError:
        return []
    found = [read_definition(n) for n in names if not n.endswith(".pipeline")]
    return [d for d in found if d is not None]


def write_definition(definition: Definition) -> None:
    """Write (replace) a definition atomically."""
    path = definition_path(definition.pipeline_name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(asdict(definition), f, indent=1)
    os.replace(tmp, path)


def now() -> str:
    """The UTC time, ISO 8601."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def check_engine(engine: str) -> str:
    """`engine` if known; WiringError listing the engines otherwise."""
    if engine not in ENGINES:
        raise WiringError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    return engine


def engine_options(pairs: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` options for an engine's generator; integers and decimals become numbers."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise WiringError(f"engine option {pair!r}: expected KEY=VALUE (e.g. retries=3)")
        options[key] = _number(value)
    return options


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def write_engine_files(
    engine: str, description_file: str, target: str, options: dict[str, Any]
) -> str:
    """Generate what an orchestrator engine runs (Airflow DAG file, KFP YAML) at `target`."""
    if engine == "airflow":
        try:
            from headwater.orchestration.airflow_dag import write_airflow_dag
        except ImportError as exc:
            raise WiringError(
                f"the Airflow engine is not available in this installation ({exc})"
            ) from exc
        return str(write_airflow_dag(description_file, target, **options))
    if engine == "kubeflow":
        try:
            from headwater.orchestration.kubeflow import compile_kubeflow
        except ImportError as exc:
            raise WiringError(
                f"the Kubeflow Pipelines engine is not available in this installation ({exc})"
            ) from exc
        if "image" not in options:
            raise WiringError(
                "the kubeflow engine needs the tasks' container image: --option image=IMAGE "
                "(an image holding headwater and the pipeline file)"
            )
        return str(compile_kubeflow(description_file, target, **options))
    raise WiringError(f"engine {engine!r} needs no generated files")


@dataclass(frozen=True)
class Kept:
    """An artifact left in place, and why."""

    artifact_id: int
    uri: str
    reason: str


@dataclass
class Deletion:
    """What a delete removed and what it kept."""

    removed: list[tuple[int, str]] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


def delete_outputs(
    store: MetadataStore, scope: Any, root: str, *, scope_label: str, dry_run: bool = False
) -> Deletion:
    """Remove the files of artifacts that executions in context `scope` produced (COMPLETE
    outputs), unless something outside the scope uses them or they lie outside `root`; mark the
    removed ones DELETED in ML Metadata."""
    in_scope = {e.id for e in store.store.get_executions_by_context(scope.id)}
    executions = store.store.get_executions_by_id(sorted(in_scope))
    producers = {e.id for e in executions if e.last_known_state == mlmd.Execution.COMPLETE}
    events = store.events_of_executions(producers)
    produced = sorted({e.artifact_id for e in events if e.type == mlmd.Event.OUTPUT})
    result = Deletion()
    if not produced:
        return result
    users: dict[int, list[int]] = {}
    for event in store.store.get_events_by_artifact_ids(produced):
        if event.execution_id not in in_scope:
            users.setdefault(event.artifact_id, []).append(event.execution_id)
    root = os.path.abspath(root) + os.sep
    for proto in store.store.get_artifacts_by_id(produced):
        if proto.state != mlmd.Artifact.LIVE:
            continue
        reason = ""
        if proto.id in users:
            reason = "still used by " + _describe_users(store, users[proto.id])
        elif not os.path.abspath(proto.uri).startswith(root):
            reason = f"outside the pipeline root {root.rstrip(os.sep)}"
        if reason:
            result.kept.append(Kept(proto.id, proto.uri, reason))
            continue
        result.removed.append((proto.id, proto.uri))
        if dry_run:
            continue
        shutil.rmtree(proto.uri, ignore_errors=True)
        proto.state = mlmd.Artifact.DELETED
        set_value(proto.custom_properties["deleted_by"], scope_label)
        store.store.put_artifacts([proto])
    return result


def _describe_users(store: MetadataStore, execution_ids: list[int]) -> str:
    """`Trainer of run R (pipeline other)` for each execution, deduplicated."""
    names = []
    for execution_id in sorted(set(execution_ids)):
        node, run = "?", "?"
        for ctx in store.store.get_contexts_by_execution(execution_id):
            if ctx.type_id == store.context_type_id(NODE_CONTEXT):
                node = ctx.name
            elif ctx.type_id == store.context_type_id(RUN_CONTEXT):
                run = ctx.name
        pipeline, _, node_id = node.partition(".")
        names.append(f"{node_id} of run {run} (pipeline {pipeline})")
    return ", ".join(dict.fromkeys(names))


def mark_pipeline_deleted(store: MetadataStore, pipeline_ctx: Any, deleted: bool) -> None:
    """Record on the pipeline context that it was deleted (or, created again, that it is not)."""
    if deleted:
        set_value(pipeline_ctx.custom_properties[DELETED], now())
    elif DELETED in pipeline_ctx.custom_properties:
        del pipeline_ctx.custom_properties[DELETED]
    else:
        return
    store.store.put_contexts([pipeline_ctx])
