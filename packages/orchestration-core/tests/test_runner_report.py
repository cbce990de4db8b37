"""What the runner prints: a Pusher that did not push says so, and why."""

from __future__ import annotations

import io
import os

from headwater.orchestration import (
    LocalDagRunner,
    Model,
    ModelBlessing,
    OutputArtifact,
    Parameter,
    Pipeline,
    Pusher,
    component,
)


@component
def Candidate(model: OutputArtifact[Model]) -> None:
    """A model directory (never pushed here, so no SavedModel is needed)."""
    os.makedirs(os.path.join(model.uri, "Format-Serving"))


@component
def Judge(blessing: OutputArtifact[ModelBlessing], blessed: Parameter[bool] = False) -> None:
    """A ModelBlessing as the Evaluator writes it."""
    open(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w").close()
    blessing.custom_properties["blessed"] = int(blessed)


def _lines(out):
    """Progress lines with the durations (the only part that varies) left out."""
    return [line.rsplit("  ", 1)[0] if line.endswith(" s") else line for line in out.splitlines()]


def test_a_model_that_was_not_pushed_is_reported_not_pushed_with_the_reason(tmp_path):
    candidate = Candidate()
    judge = Judge(blessed=False)
    pusher = Pusher(
        model=candidate.outputs["model"],
        model_blessing=judge.outputs["blessing"],
        push_destination=str(tmp_path / "serving"),
    )
    out = io.StringIO()
    result = LocalDagRunner(out=out).run(Pipeline("p", str(tmp_path), [candidate, judge, pusher]))
    model = result.output("Candidate", "model").uri
    blessing = result.output("Judge", "blessing").uri
    pushed = result.output("Pusher", "pushed_model").uri
    lines = _lines(out.getvalue())
    at = lines.index("[3/3] Pusher  ran, not pushed")
    assert lines[at + 1 : at + 3] == [
        f"    pushed_model: PushedModel {pushed}",
        f"    not pushed: Model {model} was not pushed: not blessed by model validation "
        f"({blessing}).",
    ]
    assert lines[at - 2] == "[2/3] Judge  ran"
    assert not os.path.exists(tmp_path / "serving")
