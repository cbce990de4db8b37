"""BeamDagRunner: a pipeline's nodes as the steps of one Beam pipeline, as TFX's BeamDagRunner.

    BeamDagRunner().run(pipeline)                                  # the DirectRunner
    BeamDagRunner(["--direct_num_workers=2"]).run(pipeline)

Each node is a `ParDo` over one element that runs the node through the one-node code path
(`node_run.run_node`: inputs read from ML Metadata by run, cache, publish); it takes its
upstream nodes' steps as side inputs, so Beam starts it only after they are done. Nodes that do
not depend on each other may run at once when the Beam runner runs steps in parallel. The run
is recorded like a LocalDagRunner run (contexts, executions, COMPLETE / FAILED / CANCELED).

In this process the steps find the Pipeline object itself; a runner that ships steps to other
processes needs the pipeline's file (`pipeline_file=`), which each step loads again.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from headwater.orchestration.context import resolve_runner_aliases
from headwater.orchestration.errors import ComponentFailedError, WiringError
from headwater.orchestration.metadata import STATE_NAMES, MetadataStore
from headwater.orchestration.pipeline import Pipeline
from headwater.orchestration.run_records import finished_execution, recorded_outputs
from headwater.orchestration.runner import (
    NodeResult,
    RunResult,
    check_root_writable,
    new_run_id,
    user_frame,
)
from headwater.orchestration.tempdirs import run_temporary_directory


@dataclass(frozen=True)
class PipelineSource:
    """Where a step in another process loads the pipeline from (the CLI's overrides kept)."""

    pipeline_file: str
    pipeline_name: str | None = None
    metadata: str | None = None
    root: str | None = None
    no_cache: bool = False

    def load(self) -> Pipeline:
        """The pipeline, loaded again from its file."""
        from headwater.orchestration.compiler import load_with_overrides

        pipeline: Pipeline = load_with_overrides(
            self.pipeline_file,
            self.pipeline_name,
            metadata=self.metadata,
            root=self.root,
            no_cache=self.no_cache,
        )
        return pipeline


@dataclass
class _Launch:
    """What steps running in the launching process share with the runner."""

    pipeline: Pipeline
    runner: BeamDagRunner
    failure: BaseException | None = None
    results: dict[str, NodeResult] = field(default_factory=dict)


_LAUNCHES: dict[int, _Launch] = {}
_LOCK = threading.Lock()
_TOKENS = itertools.count(1)


class _RunNode(beam.DoFn):
    """Runs one node of the run for the one element it gets; yields the node id when done."""

    def __init__(
        self, token: int, source: PipelineSource | None, node_id: str, run_id: str, position: str
    ) -> None:
        super().__init__()
        self._token = token
        self._source = source
        self._node_id = node_id
        self._run_id = run_id
        self._position = position

    def process(self, element, *upstream):
        """Run the node (its upstream steps are done: their outputs came as side inputs).

        Not annotated: Beam would check the annotations against the side inputs' types.
        """
        from headwater.orchestration.node_run import run_node

        launch = _LAUNCHES.get(self._token)
        if launch is not None:
            pipeline, say = launch.pipeline, launch.runner._say
        elif self._source is not None:
            pipeline, say = self._source.load(), _print
        else:
            raise WiringError(
                f"node {self._node_id}: this Beam runner runs steps outside the process that "
                "launched the run; give BeamDagRunner.run(pipeline_file=...) so that they can "
                "load the pipeline"
            )
        prefix = f"{self._position} {self._node_id}"
        t0 = time.perf_counter()
        try:
            result = run_node(
                pipeline,
                self._node_id,
                self._run_id,
                say=lambda line: say(f"{prefix}  {line}"),
                own_temporary_directory=launch is None,
            )
        except BaseException as exc:
            if launch is not None and launch.failure is None:
                launch.failure = exc
            if isinstance(exc, ComponentFailedError):
                say(f"{prefix}  FAILED after {time.perf_counter() - t0:.2f} s")
                say(f"    {type(exc.cause).__name__}: {exc.cause}")
                where = user_frame(exc.cause)
                if where:
                    say(f"    at {where}")
            raise
        result.duration_s = time.perf_counter() - t0
        if launch is not None:
            launch.results[self._node_id] = result
        label = {"COMPLETE": "ran", "CACHED": "cached"}.get(result.status, result.status)
        say(f"{prefix}  {label}  {result.duration_s:.2f} s")
        yield self._node_id


def _print(line: str) -> None:
    print(line, flush=True)


class BeamDagRunner:
    """Runs a pipeline as a Beam pipeline, one step per node; progress lines go to `out`.

    Example:
        BeamDagRunner(beam_orchestrator_args=["--runner=DirectRunner"]).run(pipeline)
    """

    def __init__(
        self,
        beam_orchestrator_args: Sequence[str] = (),
        *,
        out: TextIO | None = None,
        quiet: bool = False,
    ) -> None:
        self._args = [str(a) for a in beam_orchestrator_args]
        self._out = out
        self._quiet = quiet

    def run(
        self,
        pipeline: Pipeline,
        *,
        run_id: str | None = None,
        pipeline_source: PipelineSource | None = None,
    ) -> RunResult:
        """Run every node; raise ComponentFailedError (the run FAILED) when one fails."""
        start = time.perf_counter()
        run_id = run_id or new_run_id()
        check_root_writable(pipeline.root)
        store = MetadataStore(pipeline.connection_config())
        _, run_ctx = store.start_run(pipeline.name, run_id)
        with _LOCK:
            token = next(_TOKENS)
            _LAUNCHES[token] = launch = _Launch(pipeline, self)
        self._say(f"pipeline {pipeline.name}  run {run_id}  root {pipeline.root}  (Beam)")
        try:
            with run_temporary_directory():
                self._run_beam(pipeline, run_id, token, pipeline_source)
        except BaseException as exc:
            state = "CANCELED" if isinstance(launch.failure or exc, KeyboardInterrupt) else "FAILED"
            try:
                store.finish_run(run_ctx, state)
            except Exception as record_exc:  # the store itself failing: keep the first error
                exc.add_note(f"(the run's end could not be recorded: {record_exc})")
            if launch.failure is not None and launch.failure is not exc:
                raise launch.failure from None  # the node's own error, not Beam's wrapping
            raise
        finally:
            with _LOCK:
                _LAUNCHES.pop(token, None)
        store.finish_run(run_ctx, "COMPLETE")
        results = [
            launch.results.get(node.id) or _recorded_result(store, pipeline, run_ctx, node)
            for node in pipeline.components
        ]
        elapsed = time.perf_counter() - start
        ran = sum(
            r.status == "COMPLETE"
            for r, n in zip(results, pipeline.components, strict=True)
            if n.kind == "component"
        )
        cached = sum(r.status == "CACHED" for r in results)
        self._say(f"done in {elapsed:.2f} s: {ran} ran, {cached} cached")
        return RunResult(pipeline.name, run_id, pipeline.root, results, elapsed)

    def _run_beam(
        self, pipeline: Pipeline, run_id: str, token: int, source: PipelineSource | None
    ) -> None:
        total = len(pipeline.components)
        args = resolve_runner_aliases(self._args)  # --runner=DaskRunner: Headwater's fixed one
        with beam.Pipeline(options=PipelineOptions(args)) as p:
            start = p | "Start" >> beam.Create([None])
            steps: dict[str, Any] = {}
            for i, node in enumerate(pipeline.components, 1):
                upstream = list(dict.fromkeys(n.id for n in node.upstream()))
                side = [beam.pvalue.AsList(steps[u]) for u in upstream]
                dofn = _RunNode(token, source, node.id, run_id, f"[{i}/{total}]")
                steps[node.id] = start | f"Run[{node.id}]" >> beam.ParDo(dofn, *side)

    def _say(self, line: str) -> None:
        if not self._quiet:
            print(line, file=self._out or sys.stdout, flush=True)


def _recorded_result(
    store: MetadataStore, pipeline: Pipeline, run_ctx: Any, node: Any
) -> NodeResult:
    """A node's result read back from ML Metadata (steps that ran in other processes)."""
    execution = finished_execution(store, pipeline.name, run_ctx, node.id)
    if execution is None:
        return NodeResult(node.id, "MISSING", None, 0.0)
    outputs = recorded_outputs(store, execution, resolver=node.kind == "resolver")
    took = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    return NodeResult(node.id, STATE_NAMES[execution.last_known_state], execution.id, took, outputs)
