"""What a running component may ask of the runner: its pipeline, run, node and Beam options.

The runner sets the context around each component call; `beam_pipeline()` reads it so that a
component's Beam work honours the pipeline's `beam_pipeline_args` without passing them around.
"""

from __future__ import annotations

import contextlib
import contextvars
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


def beam_pipeline(extra_args: Sequence[str] = ()) -> beam.Pipeline:
    """A `beam.Pipeline` with the running pipeline's beam_pipeline_args (DirectRunner default).

    Example:
        with beam_pipeline() as p:
            _ = p | ReadCsv(path) | GenerateStatistics() | WriteStatistics(out)
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    ctx = current_context()
    args = [*(ctx.beam_pipeline_args if ctx else ()), *extra_args]
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.insert(0, "--runner=DirectRunner")
    return beam.Pipeline(options=PipelineOptions(args))
