"""A run leaves nothing in $TMPDIR, and the next run removes what a killed run left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from headwater.orchestration import (
    ComponentFailedError,
    LocalDagRunner,
    Model,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
)


@component
def Litter(model: OutputArtifact[Model], fail: Parameter[bool] = False) -> None:
    """Leaves temporary files and directories behind, as libraries do; raises when told to."""
    tempfile.mkdtemp()
    tempfile.mkdtemp(prefix="beam-temp")
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(b"x")
    subprocess.run(
        [sys.executable, "-c", "import tempfile; tempfile.mkdtemp(prefix='child-')"], check=True
    )
    open(os.path.join(model.uri, "ok.txt"), "w").close()
    if fail:
        raise ValueError("told to fail")


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    """A fresh $TMPDIR for this test, seen by tempfile and by subprocesses."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return path


def test_a_run_removes_its_temporary_files_whether_it_completes_or_fails(tmp_path, tmpdir_env):
    root = str(tmp_path / "root")
    LocalDagRunner(quiet=True).run(Pipeline("p", root, [Litter()]))
    assert os.listdir(tmpdir_env) == []
    with pytest.raises(ComponentFailedError):
        LocalDagRunner(quiet=True).run(Pipeline("p", root, [Litter(fail=True)]))
    assert os.listdir(tmpdir_env) == []
    assert tempfile.gettempdir() == str(tmpdir_env)
    assert os.environ["TMPDIR"] == str(tmpdir_env)


_CHILD = textwrap.dedent(
    """
    import os, tempfile, time
    from headwater.orchestration import LocalDagRunner, Model, OutputArtifact, Pipeline, component

    @component
    def Sleeper(model: OutputArtifact[Model]) -> None:
        with open(os.path.join(tempfile.mkdtemp(), "started.txt"), "w") as f:
            f.write("started")
        time.sleep(600)

    LocalDagRunner(quiet=True).run(Pipeline("k", {root!r}, [Sleeper()]))
    """
)


def _wait_for_start(tmpdir, child):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        for _, _, files in os.walk(tmpdir):
            if "started.txt" in files:
                return
        time.sleep(0.1)
    raise AssertionError("the child never started its component")


def test_the_next_run_removes_what_a_killed_run_left_and_nothing_else(tmp_path, tmpdir_env):
    script = tmp_path / "child.py"
    script.write_text(_CHILD.format(root=str(tmp_path / "killed")))
    child = subprocess.Popen([sys.executable, str(script)])
    try:
        _wait_for_start(tmpdir_env, child)
        [running] = os.listdir(tmpdir_env)
        # Another run meanwhile leaves the running one's directory alone.
        LocalDagRunner(quiet=True).run(Pipeline("p", str(tmp_path / "root"), [Litter()]))
        assert os.listdir(tmpdir_env) == [running]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    [left] = os.listdir(tmpdir_env)
    assert left == running
    assert left.startswith("headwater-run-")
    (tmpdir_env / "headwater-run-mine.txt").write_text("a file, not a run directory")
    (tmpdir_env / "someone-else").mkdir()
    LocalDagRunner(quiet=True).run(
        Pipeline("p", str(tmp_path / "root"), [Litter()], enable_cache=False)
    )
    assert sorted(os.listdir(tmpdir_env)) == ["headwater-run-mine.txt", "someone-else"]
