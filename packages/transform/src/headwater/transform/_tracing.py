"""The record of analyzers met while a preprocessing_fn is traced into a graph.

Tracing runs the user's function once in a TF1-style graph over placeholders. Every analyzer
call records its input tensors and returns placeholders standing for its (not yet computed)
result; the analysis then fills those placeholders pass by pass, and the final graph binds them
as constants. The stack below is private state of one trace, not a user-facing context.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from headwater.transform.errors import AnalyzerError


@dataclasses.dataclass
class AnalyzerNode:
    """One analyzer call: what it reduces (graph tensor names) and where its result goes."""

    index: int
    kind: str
    name: str
    inputs: list[str]
    outputs: list[str]
    config: dict[str, Any]
    level: int = 0


@dataclasses.dataclass
class Annotation:
    """A fact about a tensor known only after analysis: the integer range a mapper produces."""

    tensor: str
    analyzer: int
    kind: str  # "vocabulary" (size + oov) or "buckets" (number of boundaries + 1)
    extra: int = 0


@dataclasses.dataclass
class TraceState:
    """Analyzers and annotations collected while tracing one preprocessing_fn."""

    analyzers: list[AnalyzerNode] = dataclasses.field(default_factory=list)
    annotations: list[Annotation] = dataclasses.field(default_factory=list)
    vocab_names: set[str] = dataclasses.field(default_factory=set)


_STACK: list[TraceState] = []


@contextmanager
def tracing() -> Iterator[TraceState]:
    """Collect the analyzers of the preprocessing_fn traced inside this block."""
    state = TraceState()
    _STACK.append(state)
    try:
        yield state
    finally:
        _STACK.pop()


def current(what: str) -> TraceState:
    """The trace in progress, or a clear error when `what` is called outside one."""
    if not _STACK:
        raise AnalyzerError(
            f"{what} needs a full pass over the data, so it can only be called inside a "
            "preprocessing_fn run by headwater.transform (analyze_dataset, AnalyzeDataset, ...)"
        )
    return _STACK[-1]


def add_analyzer(
    kind: str,
    inputs: list[Any],
    config: dict[str, Any],
    outputs: list[tuple[Any, Any]],
    name: str,
) -> list[Any]:
    """Record an analyzer over `inputs`; return placeholders (dtype, shape) for its results."""
    import tensorflow as tf

    state = current(f"headwater.transform.{kind}")
    index = len(state.analyzers)
    with tf.name_scope(f"{name}_{index}"):
        placeholders = [
            tf.compat.v1.placeholder(dtype, shape, name=f"result_{i}")
            for i, (dtype, shape) in enumerate(outputs)
        ]
    state.analyzers.append(
        AnalyzerNode(
            index=index,
            kind=kind,
            name=name,
            inputs=[t.name for t in inputs],
            outputs=[p.name for p in placeholders],
            config=config,
        )
    )
    return placeholders


def annotate(tensor: Any, analyzer_output: Any, kind: str, extra: int = 0) -> None:
    """Remember that `tensor` takes values in a range fixed by the analyzer behind the output."""
    state = current("annotate")
    for node in state.analyzers:
        if analyzer_output.name in node.outputs:
            state.annotations.append(Annotation(tensor.name, node.index, kind, extra))
            return
