"""A two-node pipeline of cheap components for the orchestration tests (runs in well under 1 s).

Make writes `steps.txt`; Check reads it and writes BLESSED or NOT_BLESSED. $TINY_ROOT is the
pipeline root. $TINY_HOLD names a file: while it exists, Make waits after writing `started.txt`
(a node to kill or interrupt mid-run). $TINY_FAIL set makes Check raise.
"""

from __future__ import annotations

import os
import time

from headwater.orchestration import (
    InputArtifact,
    Model,
    ModelBlessing,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
)


@component
def Make(model: OutputArtifact[Model], steps: Parameter[int] = 3) -> None:
    """Writes steps.txt; holds while $TINY_HOLD exists."""
    with open(os.path.join(model.uri, "started.txt"), "w") as f:
        f.write(str(os.getpid()))
    hold = os.environ.get("TINY_HOLD", "")
    deadline = time.monotonic() + 120
    while hold and os.path.exists(hold) and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(os.path.join(model.uri, "steps.txt"), "w") as f:
        f.write(str(steps))


@component
def Check(model: InputArtifact[Model], blessing: OutputArtifact[ModelBlessing]) -> None:
    """BLESSED when the model has more than 2 steps."""
    if os.environ.get("TINY_FAIL"):
        raise ValueError("TINY_FAIL is set")
    with open(os.path.join(model.uri, "steps.txt")) as f:
        ok = int(f.read()) > 2
    open(os.path.join(blessing.uri, "BLESSED" if ok else "NOT_BLESSED"), "w").close()
    blessing.custom_properties["blessed"] = int(ok)


make = Make(steps=3)
check = Check(model=make.outputs["model"])
pipeline = Pipeline("tiny", None, [make, check])
