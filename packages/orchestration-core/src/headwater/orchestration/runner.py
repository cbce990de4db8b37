"""LocalDagRunner: runs a pipeline's nodes in one process, in order, recording each in MLMD.

Per component: compute the cache key (node, input artifact ids, parameters, code, and the
component's format version and implementing library versions); answer from
a COMPLETE execution with that key (recorded as CACHED) or run the function on temporary
output directories (`<root>/<node>/<output>/.<random>.tmp`), rename them to new directories
`<root>/<node>/<output>/<execution id>` (`<id>-2`, ... when that name is taken, e.g. by another
store on the same root: an output location is never shared or overwritten) and publish the
artifacts LIVE with the COMPLETE execution in one MLMD write. A failure records FAILED, removes
the temporary directories and stops the run with the component's name and the user's exception;
an interrupt (Ctrl-C) records CANCELED and cleans up the same way. An execution left RUNNING by
a process that died (killed, out of memory) is marked CANCELED, and its temporary directories
removed, the next time its node runs on the same host. Temporary files a run makes through
Python's `tempfile` or `$TMPDIR` go to one directory removed when the run ends (tempdirs.py).
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from headwater.io.paths import safe_path_component
from headwater.orchestration.artifacts import Artifact, PushedModel
from headwater.orchestration.context import (
    ExecutionContext,
    execution_context,
    merge_beam_pipeline_args,
)
from headwater.orchestration.dsl import Channel, Node
from headwater.orchestration.errors import ComponentFailedError, PipelineRootError, WiringError
from headwater.orchestration.metadata import NODE_CONTEXT, MetadataStore, process_gone
from headwater.orchestration.parameters import code_fingerprints, to_jsonable
from headwater.orchestration.pipeline import Pipeline
from headwater.orchestration.tempdirs import run_temporary_directory

TEMPORARY_URIS = "temporary_uris"
"""Execution custom property: JSON list of the temporary output directories while RUNNING."""
TEMPORARY_SUFFIX = ".tmp"


@dataclass
class NodeResult:
    """How one node went: COMPLETE (ran), CACHED, or FAILED; its outputs and duration."""

    node_id: str
    status: str
    execution_id: int | None
    duration_s: float
    outputs: dict[str, list[Artifact]] = field(default_factory=dict)


@dataclass
class RunResult:
    """The outcome of one pipeline run."""

    pipeline_name: str
    run_id: str
    root: str
    nodes: list[NodeResult]
    duration_s: float = 0.0

    def node(self, node_id: str) -> NodeResult:
        """Result of the node with that id."""
        for result in self.nodes:
            if result.node_id == node_id:
                return result
        raise KeyError(f"run {self.run_id} has no node {node_id!r}")

    def output(self, node_id: str, key: str) -> Artifact:
        """The (first) artifact of output `key` of node `node_id`."""
        return self.node(node_id).outputs[key][0]


def new_run_id() -> str:
    """A run id: the UTC start time, as TFX names runs."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class LocalDagRunner:
    """Runs a pipeline in this process; progress lines go to `out` (stdout by default)."""

    def __init__(self, *, out: TextIO | None = None, quiet: bool = False) -> None:
        self._out = out
        self._quiet = quiet

    def run(self, pipeline: Pipeline, *, run_id: str | None = None) -> RunResult:
        """Run every node in order; raise ComponentFailedError at the first failure."""
        start = time.perf_counter()
        run_id = run_id or new_run_id()
        check_root_writable(pipeline.root)
        store = MetadataStore(pipeline.connection_config())
        pipeline_ctx, run_ctx = store.start_run(pipeline.name, run_id)
        try:
            with run_temporary_directory():
                results = self._run_nodes(store, pipeline, run_id, pipeline_ctx, run_ctx)
        except BaseException as exc:
            try:
                store.finish_run(run_ctx, "FAILED" if isinstance(exc, Exception) else "CANCELED")
            except Exception as record_exc:  # the store itself failing: keep the first error
                exc.add_note(f"(the run's end could not be recorded: {record_exc})")
            raise
        store.finish_run(run_ctx, "COMPLETE")
        elapsed = time.perf_counter() - start
        components = {node.id for node in pipeline.components if node.kind == "component"}
        ran = sum(r.status == "COMPLETE" and r.node_id in components for r in results)
        cached = sum(r.status == "CACHED" for r in results)
        self._say(
            f"done in {elapsed:.2f} s: {ran} ran, {cached} cached  "
            f"(metadata: {_store_label(pipeline)})"
        )
        return RunResult(pipeline.name, run_id, pipeline.root, results, elapsed)

    def _run_nodes(
        self,
        store: MetadataStore,
        pipeline: Pipeline,
        run_id: str,
        pipeline_ctx: Any,
        run_ctx: Any,
    ) -> list[NodeResult]:
        """Run every node in order, recording each; the results in order."""
        self._say(f"pipeline {pipeline.name}  run {run_id}  root {pipeline.root}")
        produced: dict[tuple[str, str], list[Artifact]] = {}
        results: list[NodeResult] = []
        total = len(pipeline.components)
        for i, node in enumerate(pipeline.components, 1):
            t0 = time.perf_counter()
            prefix = f"[{i}/{total}] {node.id}"

            def say(line: str, prefix: str = prefix) -> None:
                self._say(f"{prefix}  {line}")

            try:
                result = execute_node(
                    store,
                    pipeline,
                    run_id,
                    node,
                    pipeline_ctx,
                    run_ctx,
                    produced=produced,
                    say=say,
                )
            except ComponentFailedError as exc:
                elapsed = time.perf_counter() - t0
                self._say(f"{prefix}  FAILED after {elapsed:.2f} s")
                self._say(f"    {type(exc.cause).__name__}: {exc.cause}")
                where = user_frame(exc.cause)
                if where:
                    self._say(f"    at {where}")
                raise
            result.duration_s = time.perf_counter() - t0
            for key, artifacts in result.outputs.items():
                produced[(node.id, key)] = artifacts
            results.append(result)
            self._report(i, total, node, result)
        return results

    def _report(self, i: int, total: int, node: Node, result: NodeResult) -> None:
        # Resolvers and importers only look artifacts up: they resolve on every run.
        ran = "ran" if node.kind == "component" else "resolved"
        label = {"COMPLETE": ran, "CACHED": "cached"}.get(result.status, result.status.lower())
        outcomes = [
            note
            for artifacts in result.outputs.values()
            for a in artifacts
            if (note := _outcome(a))
        ]
        if outcomes and node.kind == "component":
            label += ", " + ", ".join(sorted({note.split(":", 1)[0] for note in outcomes}))
        self._say(f"[{i}/{total}] {node.id}  {label}  {result.duration_s:.2f} s")
        for key, artifacts in result.outputs.items():
            for artifact in artifacts:
                self._say(f"    {key}: {artifact.TYPE_NAME} {artifact.uri}")
        for note in outcomes if node.kind == "component" else ():
            self._say(f"    {note}")

    def _say(self, line: str) -> None:
        if not self._quiet:
            print(line, file=self._out or sys.stdout, flush=True)


def execute_node(
    store: MetadataStore,
    pipeline: Pipeline,
    run_id: str,
    node: Node,
    pipeline_ctx: Any,
    run_ctx: Any,
    *,
    produced: Mapping[tuple[str, str], list[Artifact]] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> NodeResult:
    """Run one node of run `run_id`: resolve its inputs, clean up after dead executions, apply
    the cache, run, publish. The one code path of every runner (local, Beam, `node run`).

    `produced` holds the outputs of upstream nodes that ran in this process (LocalDagRunner);
    without it each input is read from ML Metadata: the outputs the upstream node's COMPLETE or
    CACHED execution in this run recorded (UpstreamMissingError when it has none).
    """
    node_ctx = store.ensure_context(NODE_CONTEXT, f"{pipeline.name}.{node.id}")
    contexts = [pipeline_ctx, run_ctx, node_ctx]
    if produced is not None:
        inputs = _resolve_inputs(store, pipeline_ctx, node, produced)
    else:
        from headwater.orchestration.run_records import resolve_inputs_from_run

        inputs = resolve_inputs_from_run(store, pipeline.name, pipeline_ctx, run_ctx, node)
    for line in cancel_dead_executions(store, pipeline, node.id, node_ctx):
        say(line)
    if node.kind == "component":
        return _run_component(store, pipeline, run_id, node, node_ctx, contexts, inputs)
    result: NodeResult = node.execute(store, pipeline_ctx, contexts, inputs)  # type: ignore[attr-defined]
    return result


def _outcome(artifact: Artifact) -> str:
    """What a "ran" alone would hide: `not pushed: <why>` for a model the Pusher did not push."""
    if isinstance(artifact, PushedModel):
        reason = artifact.not_pushed_reason()
        if reason is not None:
            return f"not pushed: {reason}"
    return ""


def check_root_writable(root: str) -> None:
    """PipelineRootError unless `root` is (or can be made) a directory this process can write."""
    try:
        os.makedirs(root, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise PipelineRootError(
            f"pipeline root {root} cannot hold this run's outputs: {exc.strerror or exc} "
            f"({type(exc).__name__}); expected a writable directory. Reading commands "
            "(`headwater run list`, `artifacts`) still work on a read-only root"
        ) from exc


def _store_label(pipeline: Pipeline) -> str:
    if pipeline.metadata_connection_config is None:
        return pipeline.metadata_path
    return str(pipeline.metadata_connection_config.WhichOneof("config"))


def _resolve_inputs(
    store: MetadataStore,
    pipeline_ctx: Any,
    node: Node,
    produced: Mapping[tuple[str, str], list[Artifact]],
) -> dict[str, list[Artifact]]:
    """Artifacts for each input channel: upstream outputs of this run, or latest of a type."""
    inputs: dict[str, list[Artifact]] = {}
    for key, channel in node.inputs.items():
        if channel.producer is not None:
            inputs[key] = produced.get((channel.producer.id, channel.key), [])
        elif node.kind == "resolver":
            inputs[key] = []  # the resolver queries the store itself
        else:
            inputs[key] = latest_of_type(store, pipeline_ctx, channel)[:1]
    return inputs


def latest_of_type(store: MetadataStore, context: Any, channel: Channel) -> list[Artifact]:
    """LIVE artifacts of the channel's type attributed to `context`, newest first."""
    return store.live_artifacts(context, channel.type)


IMPLEMENTATION_VERSION = "implementation_version"
"""Execution custom property: JSON of the component's `format_version` and the versions of the
distributions that implement it (`ComponentSpec.implementation_version`), as keyed."""


def cache_key(
    node: Node,
    inputs: Mapping[str, list[Artifact]],
    implementation: Mapping[str, Any] | None = None,
) -> str:
    """sha256 over the node, its input artifact ids, parameters, user code and implementation.

    `implementation` is `node.spec.implementation_version()` (computed when not given): the
    component's format version and the installed versions of the libraries that implement it.
    """
    assert node.spec is not None
    if implementation is None:
        implementation = node.spec.implementation_version()
    payload = {
        "node": node.id,
        "type": node.type_name,
        "inputs": {k: [a.id for a in v] for k, v in sorted(inputs.items())},
        "parameters": to_jsonable(node.parameters),
        "code": node.spec.code_fingerprint,
        "parameter_code": [code_fingerprints(v) for _, v in sorted(node.parameters.items())],
        "external": node.spec.fingerprint(node.parameters) if node.spec.fingerprint else None,
        "implementation": implementation,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _run_component(
    store: MetadataStore,
    pipeline: Pipeline,
    run_id: str,
    node: Node,
    node_ctx: Any,
    contexts: list[Any],
    inputs: dict[str, list[Artifact]],
) -> NodeResult:
    spec = node.spec
    assert spec is not None
    properties = _parameter_properties(node.parameters)
    try:
        for name, ispec in spec.inputs.items():
            if not ispec.optional and not inputs.get(name):
                channel = node.inputs.get(name)
                raise WiringError(
                    f"{node.id}: required input {name!r} resolved to no artifact (from {channel!r})"
                )
        implementation = spec.implementation_version()
        key = cache_key(node, inputs, implementation)
    except Exception as exc:  # no input, or a fingerprint hook found bad input
        execution_id = store.put_execution(
            type_name=node.type_name,
            state="FAILED",
            contexts=contexts,
            properties={**properties, "error": f"{type(exc).__name__}: {exc}"[:2000]},
            inputs=inputs,
        )
        raise ComponentFailedError(node.id, exc, execution_id=execution_id) from exc
    properties["cache_key"] = key
    properties[IMPLEMENTATION_VERSION] = json.dumps(implementation, sort_keys=True)
    use_cache = pipeline.enable_cache and node.enable_cache is not False
    if use_cache:
        cached = store.find_cached_outputs(node_ctx, key)
        if cached is not None and set(cached) == set(spec.outputs):
            execution_id = store.put_execution(
                type_name=node.type_name,
                state="CACHED",
                contexts=contexts,
                properties=properties,
                inputs=inputs,
                outputs=cached,
            )
            return NodeResult(node.id, "CACHED", execution_id, 0.0, cached)
    outputs: dict[str, Artifact] = {}
    for out_key, cls in spec.outputs.items():
        artifact = cls(_new_temporary_dir(pipeline.root, node.id, out_key))
        artifact.is_output = True
        outputs[out_key] = artifact
    try:
        execution_id = store.put_execution(
            type_name=node.type_name,
            state="RUNNING",
            contexts=contexts,
            properties={
                **properties,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                TEMPORARY_URIS: json.dumps([a.uri for a in outputs.values()]),
            },
            inputs=inputs,
        )
    except BaseException:
        for artifact in outputs.values():
            shutil.rmtree(artifact.uri, ignore_errors=True)
        raise
    kwargs: dict[str, Any] = dict(node.parameters)
    for in_key in spec.inputs:
        found = inputs.get(in_key) or []
        kwargs[in_key] = found[0] if found else None
    kwargs.update(outputs)
    beam_args = merge_beam_pipeline_args(pipeline.beam_pipeline_args, node.beam_pipeline_args)
    ctx = ExecutionContext(pipeline.name, pipeline.root, run_id, node.id, execution_id, beam_args)
    try:
        with execution_context(ctx):
            spec.fn(**kwargs)
        published = _publish_files(pipeline.root, node.id, execution_id, outputs)
    except BaseException as exc:
        for artifact in outputs.values():
            shutil.rmtree(artifact.uri, ignore_errors=True)
        failed = isinstance(exc, Exception)
        store.put_execution(
            type_name=node.type_name,
            state="FAILED" if failed else "CANCELED",
            contexts=contexts,
            properties={**properties, "error": f"{type(exc).__name__}: {exc}"[:2000]},
            execution_id=execution_id,
        )
        if not failed:  # KeyboardInterrupt, SystemExit: recorded, then on its way
            raise
        raise ComponentFailedError(node.id, exc, execution_id=execution_id) from exc
    names = {k: f"{pipeline.name}:{run_id}:{node.id}:{k}" for k in published}
    store.put_execution(
        type_name=node.type_name,
        state="COMPLETE",
        contexts=contexts,
        properties=properties,
        outputs=published,
        execution_id=execution_id,
        output_names=names,
    )
    return NodeResult(node.id, "COMPLETE", execution_id, 0.0, published)


def cancel_dead_executions(
    store: MetadataStore, pipeline: Pipeline, node_id: str, node_ctx: Any
) -> list[str]:
    """Mark CANCELED the node's RUNNING executions whose process on this host is gone.

    Their temporary output directories are removed. Returns a line per execution for the log.
    """
    host = socket.gethostname()
    lines = []
    for execution in store.running_executions(node_ctx):
        props = execution.custom_properties
        if props["host"].string_value != host or not props["pid"].int_value:
            continue  # another machine's, or from before pids were recorded: can't tell
        pid = props["pid"].int_value
        if not process_gone(host, pid):
            continue
        reason = f"process {pid} on {host} ended while this execution ran (killed or crashed)"
        store.cancel_execution(execution, reason)
        for tmp in _temporary_dirs_of(execution, pipeline.root, node_id):
            shutil.rmtree(tmp, ignore_errors=True)
        lines.append(
            f"execution {execution.id} was left RUNNING by process {pid} on {host}, which is gone "
            "(killed or crashed): marked CANCELED"
        )
    return lines


def _new_temporary_dir(root: str, node_id: str, key: str) -> str:
    """A new, empty, uniquely named `<root>/<node>/<key>/.<random>.tmp` for one output."""
    parent = os.path.join(
        root,
        safe_path_component(node_id, what="node id"),
        safe_path_component(key, what=f"output key of node {node_id!r}"),
    )
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=".", suffix=TEMPORARY_SUFFIX, dir=parent)


def _temporary_dirs_of(execution: Any, root: str, node_id: str) -> list[str]:
    """The temporary output directories a RUNNING execution recorded (only ours, by name)."""
    recorded = execution.custom_properties[TEMPORARY_URIS].string_value
    if not recorded:  # recorded before the names were: TFX-style `.<execution id>.tmp`
        pattern = os.path.join(glob.escape(root), glob.escape(node_id), "*")
        return glob.glob(os.path.join(pattern, f".{execution.id}{TEMPORARY_SUFFIX}"))
    node_dir = os.path.join(root, node_id) + os.sep
    return [
        uri
        for uri in json.loads(recorded)
        if isinstance(uri, str)
        and os.path.abspath(uri).startswith(node_dir)
        and os.path.basename(uri).startswith(".")
        and uri.endswith(TEMPORARY_SUFFIX)
    ]


def reserve_output_dir(parent: str, execution_id: int) -> str:
    """Create and return a new, empty `<parent>/<execution id>` that no other artifact uses.

    Execution ids are unique per ML Metadata store only: two stores (or a store recreated) on
    one pipeline root hand out the same ids. The directory is made with `os.mkdir`, which fails
    if the name exists, whichever process or store made it; then `<id>-2`, `<id>-3`, ... are
    tried. An existing directory is never reused, emptied or removed.
    """
    for attempt in range(1, 1001):
        name = str(execution_id) if attempt == 1 else f"{execution_id}-{attempt}"
        path = os.path.join(parent, name)
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    return tempfile.mkdtemp(prefix=f"{execution_id}-", dir=parent)


def _publish_files(
    root: str, node_id: str, execution_id: int, outputs: Mapping[str, Artifact]
) -> dict[str, list[Artifact]]:
    """Rename each temporary output directory to a new final URI; artifacts become LIVE.

    The final directory is reserved empty first (reserve_output_dir); renaming a directory
    onto an empty one replaces it atomically, so readers see nothing or the complete output.
    """
    published: dict[str, list[Artifact]] = {}
    for key, artifact in outputs.items():
        final = reserve_output_dir(os.path.join(root, node_id, key), execution_id)
        try:
            os.rename(artifact.uri, final)
        except BaseException:
            os.rmdir(final)
            raise
        artifact.uri = final
        artifact.is_output = False
        artifact.state = "LIVE"
        published[key] = [artifact]
    return published


def _parameter_properties(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as execution custom properties: scalars as they are, the rest as JSON."""
    out: dict[str, Any] = {}
    for name, value in parameters.items():
        if value is None:
            continue
        out[name] = value if isinstance(value, bool | int | float | str) else to_jsonable(value)
    return out


def user_frame(exc: BaseException) -> str:
    """`file:line in function` of the innermost traceback frame outside site-packages."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if "site-packages" not in frame.filename and "/headwater/orchestration/" not in (
            frame.filename
        ):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return ""
