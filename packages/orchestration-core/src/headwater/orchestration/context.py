"""What a running component may ask of the runner: its pipeline, run, node and Beam options.

The runner sets the context around each component call; `beam_pipeline()` reads it so that a
component's Beam work honours the pipeline's `beam_pipeline_args` without passing them around.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import apache_beam as beam


@dataclass(frozen=True)
class ExecutionContext:
    """The run a component executes in."""

    pipeline_name: str
    pipeline_root: str
    run_id: str
    node_id: str
    execution_id: int | None
    beam_pipeline_args: Sequence[str] = field(default_factory=tuple)


_CURRENT: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "headwater_execution_context", default=None
)


def current_context() -> ExecutionContext | None:
    """The context of the component running now, or None outside a run."""
    return _CURRENT.get()


@contextlib.contextmanager
def execution_context(ctx: ExecutionContext) -> Iterator[ExecutionContext]:
    """Set `ctx` as the current context for the duration of the block."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)


IN_MEMORY_LIMIT_BYTES = 64 << 20
"""Inputs below this size run a component's in-memory twin on the default runner (prefer_beam)."""


def prefer_beam(files: Sequence[str]) -> bool:
    """Whether a component should run its Beam pipeline over `files` rather than its in-memory twin.

    Both drivers share the libraries' combiners and give the same result; Beam's start-up costs
    seconds, which dominates small inputs. Beam runs when the pipeline's beam_pipeline_args
    name a runner (`--runner=...`, DEFAULT_RUNNER included) or more than one direct worker,
    or when the files reach IN_MEMORY_LIMIT_BYTES.
    """
    ctx = current_context()
    args = ctx.beam_pipeline_args if ctx else ()
    if names_runner(args):
        return True
    if any(a.startswith("--direct_num_workers=") and a.split("=", 1)[1] != "1" for a in args):
        return True
    return sum(os.path.getsize(f) for f in files) >= IN_MEMORY_LIMIT_BYTES


DEFAULT_RUNNER = "FnApiRunner"
"""Beam's in-process Python runner, used unless beam_pipeline_args name one (see with_runner)."""


def names_runner(args: Sequence[str]) -> bool:
    """Whether Beam `args` choose a runner themselves (`--runner X` or `--runner=X`)."""
    return any(a == "--runner" or a.startswith("--runner=") for a in args)


def with_runner(args: Sequence[str]) -> list[str]:
    """`args` with DEFAULT_RUNNER put first unless they name a runner (the user's choice wins).

    Beam's DirectRunner (2.6x and later) first hands a pipeline to the Prism runner, which binds
    a gRPC worker pool on all interfaces and downloads a Prism binary from the internet before
    falling back; the FnApiRunner runs the pipeline in this process (no socket in its default
    in_memory mode, nothing fetched) and starts faster. The one place Headwater picks a runner.
    """
    return list(args) if names_runner(args) else [f"--runner={DEFAULT_RUNNER}", *args]


def beam_pipeline(extra_args: Sequence[str] = ()) -> beam.Pipeline:
    """A `beam.Pipeline` with the running pipeline's beam_pipeline_args (DEFAULT_RUNNER default).

    Example:
        with beam_pipeline() as p:
            _ = p | ReadCsv(path) | GenerateStatistics() | WriteStatistics(out)
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    ctx = current_context()
    args = with_runner([*(ctx.beam_pipeline_args if ctx else ()), *extra_args])
    return beam.Pipeline(options=PipelineOptions(args))
