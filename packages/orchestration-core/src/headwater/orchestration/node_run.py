"""One node of one run in its own process: what every orchestrator's task calls.

    headwater node run pipeline.py --node Trainer --run-id 2026-12-03T15:00:00
    headwater run finish pipeline.py --run-id 2026-12-03T15:00:00

`run_node` joins the run (contexts created by whichever node comes first), resolves the node's
inputs from what its upstream nodes recorded in this run, and runs it through the same code
path as the LocalDagRunner (`execute_node`: cache, temporary outputs, atomic publish). A node
already COMPLETE or CACHED in the run is not run again (a retried task records nothing new). A
RUNNING execution of the node left in this run by an attempt whose process is gone (killed,
its pod evicted) is marked CANCELED and its temporary outputs removed before the node runs
again. SIGTERM and SIGINT end the node CANCELED, temporary outputs removed.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from headwater.orchestration.errors import MetadataError, WiringError
from headwater.orchestration.metadata import STATE_NAMES, MetadataStore
from headwater.orchestration.pipeline import Pipeline
from headwater.orchestration.run_records import (
    FINISHED,
    finished_execution,
    join_run,
    live_here,
    node_states,
    recorded_outputs,
    run_context,
    running_in_run,
)
from headwater.orchestration.runner import (
    NodeResult,
    _temporary_dirs_of,
    check_root_writable,
    execute_node,
)
from headwater.orchestration.tempdirs import run_temporary_directory


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the node like Ctrl-C does (recorded CANCELED, cleaned up)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def cancel_on_sigterm() -> Iterator[None]:
    """While the block runs (main thread only), SIGTERM raises Terminated, SIGINT
    KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    # Ctrl-C cancels too, even in a process started with SIGINT ignored (a shell's background
    # job, nohup): Python then installs no KeyboardInterrupt handler of its own.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def pipeline_node(pipeline: Pipeline, node_id: str) -> Any:
    """The node with that id; WiringError listing the pipeline's node ids otherwise."""
    for node in pipeline.components:
        if node.id == node_id:
            return node
    ids = [n.id for n in pipeline.components]
    raise WiringError(f"pipeline {pipeline.name!r} has no node {node_id!r} (its nodes: {ids})")


def run_node(
    pipeline: Pipeline,
    node_id: str,
    run_id: str,
    *,
    say: Callable[[str], None] = lambda line: None,
    store: MetadataStore | None = None,
    own_temporary_directory: bool = True,
) -> NodeResult:
    """Run node `node_id` of run `run_id`; its result (COMPLETE, CACHED).

    `own_temporary_directory=False` leaves `tempfile`'s directory to the caller (a runner that
    holds one for the whole run).

    Raises ComponentFailedError when the component fails (recorded FAILED), UpstreamMissingError
    when an upstream node has no output in this run, and lets KeyboardInterrupt / Terminated
    through after recording the execution CANCELED.
    """
    node = pipeline_node(pipeline, node_id)
    check_root_writable(pipeline.root)
    store = store or MetadataStore(pipeline.connection_config())
    pipeline_ctx, run_ctx = join_run(store, pipeline.name, run_id)
    done = finished_execution(store, pipeline.name, run_ctx, node_id)
    if done is not None:
        state = STATE_NAMES[done.last_known_state]
        say(f"already {state} in run {run_id} (execution {done.id}): nothing recorded again")
        outputs = recorded_outputs(store, done, resolver=node.kind == "resolver")
        return NodeResult(node_id, state, done.id, 0.0, outputs)
    for execution in running_in_run(store, pipeline.name, run_ctx, node_id):
        props = execution.custom_properties
        who = f"process {props['pid'].int_value} on {props['host'].string_value}"
        if live_here(execution):
            raise MetadataError(
                f"node {node_id!r} of run {run_id!r} is already running (execution "
                f"{execution.id}, {who}); wait for it or stop it first"
            )
        store.cancel_execution(
            execution, f"attempt in {who} ended while this execution ran (killed or crashed)"
        )
        for tmp in _temporary_dirs_of(execution, pipeline.root, node_id):
            shutil.rmtree(tmp, ignore_errors=True)
        say(f"execution {execution.id} was left RUNNING by an attempt ({who}): marked CANCELED")
    tempdir = run_temporary_directory() if own_temporary_directory else contextlib.nullcontext()
    with tempdir, cancel_on_sigterm():
        return execute_node(
            store, pipeline, run_id, node, pipeline_ctx, run_ctx, produced=None, say=say
        )


def finish_run(
    pipeline: Pipeline,
    run_id: str,
    *,
    say: Callable[[str], None] = lambda line: None,
    store: MetadataStore | None = None,
) -> str:
    """Record run `run_id` COMPLETE when every node has a COMPLETE or CACHED execution in it,
    else FAILED; returns the state recorded."""
    store = store or MetadataStore(pipeline.connection_config())
    if run_context(store, run_id) is None:
        say(f"run {run_id!r} has no record in this store: no node of it ran")
    _, run_ctx = join_run(store, pipeline.name, run_id)
    states = node_states(store, pipeline.name, run_ctx, [n.id for n in pipeline.components])
    finished = {STATE_NAMES[s] for s in FINISHED}
    state = "COMPLETE" if all(s in finished for s in states.values()) else "FAILED"
    store.finish_run(run_ctx, state)
    for node_id, node_state in states.items():
        say(f"    {node_id}  {node_state}")
    say(f"run {run_id} of {pipeline.name}: {state}")
    return state
