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
    seconds, which dominates small inputs. Beam runs when the component's beam_pipeline_args
    name a runner (`--runner=...`, DEFAULT_RUNNER included) or ask for parallel local workers
    (`wants_parallel_beam`), or when the files reach IN_MEMORY_LIMIT_BYTES: a distributed runner
    asked for is never skipped, whatever the input's size.
    """
    ctx = current_context()
    args = ctx.beam_pipeline_args if ctx else ()
    if names_runner(args) or wants_parallel_beam(args):
        return True
    return sum(os.path.getsize(f) for f in files) >= IN_MEMORY_LIMIT_BYTES


LOCAL_RUNNERS = frozenset(
    {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner"}
)
"""Runners that execute in this process (one worker unless the direct_* options ask for more)."""


def _flag_groups(args: Sequence[str]) -> list[tuple[str, list[str]]]:
    """`args` grouped per option as (`--name`, its tokens); a bare value joins the option before."""
    groups: list[tuple[str, list[str]]] = []
    for arg in args:
        if arg.startswith("--") or not groups:
            groups.append((arg.split("=", 1)[0], [arg]))
        else:
            groups[-1][1].append(arg)
    return groups


def option_value(args: Sequence[str], name: str) -> str | None:
    """The last value Beam `args` give option `name` (`--name=v` or `--name v`), or None."""
    value = None
    for flag, tokens in _flag_groups(args):
        if flag == f"--{name}":
            value = tokens[0].split("=", 1)[1] if "=" in tokens[0] else " ".join(tokens[1:])
    return value


def runner_name(args: Sequence[str]) -> str:
    """The runner Beam `args` pick once with_runner has run (its class name, no module path)."""
    return (option_value(with_runner(args), "runner") or DEFAULT_RUNNER).rsplit(".", 1)[-1]


def wants_parallel_beam(args: Sequence[str]) -> bool:
    """Whether Beam `args` ask for more than this one process: a non-local runner, or local
    direct workers beyond one (`--direct_num_workers` other than 1, or a multi_* running mode)."""
    if names_runner(args) and runner_name(args) not in LOCAL_RUNNERS:
        return True
    workers = option_value(args, "direct_num_workers")
    mode = option_value(args, "direct_running_mode") or "in_memory"
    return (workers is not None and workers != "1") or mode != "in_memory"


def parallel_beam_requested() -> bool:
    """Whether the running component's beam_pipeline_args ask for parallel Beam
    (`wants_parallel_beam`): components whose plain path skips Beam (ExampleGen) then use it."""
    ctx = current_context()
    return wants_parallel_beam(ctx.beam_pipeline_args if ctx else ())


def merge_beam_pipeline_args(base: Sequence[str], override: Sequence[str]) -> list[str]:
    """`base` (the pipeline's Beam args) with every option `override` (a component's) sets
    replaced by the override's value, then the rest of `override`.

    Example:
        merge_beam_pipeline_args(["--runner=DaskRunner", "--job_name=a"], ["--runner=FnApiRunner"])
        # ["--job_name=a", "--runner=FnApiRunner"]
    """
    overridden = {flag for flag, _ in _flag_groups(override)}
    kept = [tok for flag, toks in _flag_groups(base) if flag not in overridden for tok in toks]
    return [*kept, *override]


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

    from headwater.orchestration.training.user_code import register_with_beam

    register_with_beam()  # user module files loaded before Beam ship to workers by value
    ctx = current_context()
    args = with_runner([*(ctx.beam_pipeline_args if ctx else ()), *extra_args])
    return beam.Pipeline(options=PipelineOptions(resolve_runner_aliases(args)))


RUNNER_ALIASES = {"DaskRunner": "headwater.orchestration.dask_runner.DaskRunner"}
"""Runner names Headwater maps to a class: Beam's DaskRunner needs its fix (see dask_runner)."""


def resolve_runner_aliases(args: Sequence[str]) -> list[str]:
    """`args` with a runner named in RUNNER_ALIASES (`--runner=DaskRunner`) given its class path."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg.startswith("--runner=") and arg.split("=", 1)[1] in RUNNER_ALIASES:
            out[i] = f"--runner={RUNNER_ALIASES[arg.split('=', 1)[1]]}"
        elif arg == "--runner" and i + 1 < len(out) and out[i + 1] in RUNNER_ALIASES:
            out[i + 1] = RUNNER_ALIASES[out[i + 1]]
    return out
