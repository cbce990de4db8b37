"""A three-node pipeline of cheap components run by the orchestrator adapters' tests.

Make writes steps.txt; Check and Count read it. $ORCH_ROOT is the pipeline root. When
$ORCH_KILL_ONCE names a file that does not exist yet, Make creates it, writes half an output
and SIGKILLs its own process: the first attempt dies mid-run, the retry runs normally.
"""

from __future__ import annotations

import os
import signal

from headwater.orchestration import (
    InputArtifact,
    Model,
    ModelBlessing,
    ModelEvaluation,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
)


@component
def Make(model: OutputArtifact[Model], steps: Parameter[int] = 3) -> None:
    """Writes steps.txt; killed mid-write on the first attempt when $ORCH_KILL_ONCE is set."""
    marker = os.environ.get("ORCH_KILL_ONCE")
    with open(os.path.join(model.uri, "steps.txt"), "w") as f:
        f.write(str(steps))
        if marker and not os.path.exists(marker):
            open(marker, "w").close()
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)


@component
def Check(model: InputArtifact[Model], blessing: OutputArtifact[ModelBlessing]) -> None:
    """BLESSED when the model has more than 2 steps."""
    with open(os.path.join(model.uri, "steps.txt")) as f:
        ok = int(f.read()) > 2
    open(os.path.join(blessing.uri, "BLESSED" if ok else "NOT_BLESSED"), "w").close()


@component
def Count(model: InputArtifact[Model], evaluation: OutputArtifact[ModelEvaluation]) -> None:
    """Writes twice the model's steps."""
    with open(os.path.join(model.uri, "steps.txt")) as f:
        steps = int(f.read())
    with open(os.path.join(evaluation.uri, "count.txt"), "w") as f:
        f.write(str(2 * steps))


make = Make(steps=3)
check = Check(model=make.outputs["model"])
count = Count(model=make.outputs["model"])
pipeline = Pipeline("orchestrated", os.environ.get("ORCH_ROOT"), [make, check, count])
