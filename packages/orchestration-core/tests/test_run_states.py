"""A run's state says what happened to it: COMPLETE, FAILED, CANCELED (interrupted or killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from headwater.orchestration import (
    ComponentFailedError,
    LocalDagRunner,
    MetadataStore,
    Model,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
    pipeline_runs,
)
from headwater.orchestration.cli import main


@component
def Step(model: OutputArtifact[Model], fail: Parameter[bool] = False) -> None:
    """Writes ok.txt; raises when told to."""
    if fail:
        raise ValueError("told to fail")
    with open(os.path.join(model.uri, "ok.txt"), "w") as f:
        f.write("ok")


@component
def CtrlC(model: OutputArtifact[Model]) -> None:
    """Stands for a user pressing Ctrl-C while the component runs."""
    raise KeyboardInterrupt


def _states(root):
    store = MetadataStore(Pipeline("p", str(root), []).connection_config())
    return [(r.state, sorted(e.state for e in r.executions)) for r in pipeline_runs(store, "p")]


def _run_list(root, capsys):
    capsys.readouterr()
    assert main(["run", "list", "p", "--metadata", os.path.join(root, "metadata.sqlite")]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [line.split()[1] for line in lines[1:]]


def test_interrupted_and_failed_runs_are_not_complete(tmp_path, capsys):
    root = str(tmp_path)
    LocalDagRunner(quiet=True).run(Pipeline("p", root, [Step()]))
    with pytest.raises(KeyboardInterrupt):
        LocalDagRunner(quiet=True).run(Pipeline("p", root, [Step(), CtrlC()]))
    with pytest.raises(ComponentFailedError):
        LocalDagRunner(quiet=True).run(Pipeline("p", root, [Step(fail=True)]))
    assert _states(root) == [
        ("COMPLETE", ["COMPLETE"]),
        ("CANCELED", ["CACHED", "CANCELED"]),
        ("FAILED", ["FAILED"]),
    ]
    assert _run_list(root, capsys) == ["COMPLETE", "CANCELED", "FAILED"]


_CHILD = textwrap.dedent(
    """
    import os, time
    from headwater.orchestration import (
        LocalDagRunner, Model, OutputArtifact, Pipeline, component,
    )

    @component
    def Step(model: OutputArtifact[Model]) -> None:
        open(os.path.join(model.uri, "ok.txt"), "w").close()

    @component
    def Sleeper(model: OutputArtifact[Model]) -> None:
        open(os.path.join(model.uri, "started.txt"), "w").close()
        time.sleep(600)

    LocalDagRunner(quiet=True).run(Pipeline("p", {root!r}, [Step(), Sleeper()]))
    """
)


def _wait_for_file(root, name, child):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        for dirpath, _, files in os.walk(root):
            if name in files:
                return os.path.join(dirpath, name)
        time.sleep(0.1)
    raise AssertionError(f"the child never wrote {name}")


def test_a_killed_run_is_canceled_before_and_after_the_next_run(tmp_path, capsys):
    root = str(tmp_path / "root")
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(root=root))
    child = subprocess.Popen([sys.executable, str(script)])
    try:
        _wait_for_file(root, "started.txt", child)
        assert _states(root) == [("RUNNING", ["COMPLETE", "RUNNING"])]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _states(root) == [("CANCELED", ["CANCELED", "COMPLETE"])]
    assert _run_list(root, capsys) == ["CANCELED"]
    LocalDagRunner(quiet=True).run(Pipeline("p", root, [Step()]))
    assert _run_list(root, capsys) == ["CANCELED", "COMPLETE"]
