"""Interrupted and killed components: their executions end CANCELED and leave no temp output."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import (
    LocalDagRunner,
    MetadataStore,
    Model,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
)


@component
def Sleeper(model: OutputArtifact[Model], seconds: Parameter[float] = 0.0) -> None:
    """Writes started.txt into its output, then sleeps, then writes done.txt."""
    with open(os.path.join(model.uri, "started.txt"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    with open(os.path.join(model.uri, "done.txt"), "w") as f:
        f.write("ok")


@component
def Interrupted(model: OutputArtifact[Model]) -> None:
    """Stands for a user pressing Ctrl-C while the component runs."""
    raise KeyboardInterrupt


def _executions(root):
    store = MetadataStore(Pipeline("p", str(root), []).connection_config()).store
    return sorted(store.get_executions(), key=lambda e: e.id)


def test_ctrl_c_records_canceled_and_removes_temporary_output(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        LocalDagRunner(quiet=True).run(Pipeline("p", str(tmp_path), [Interrupted()]))
    (execution,) = _executions(tmp_path)
    assert execution.last_known_state == mlmd.Execution.CANCELED
    assert execution.custom_properties["error"].string_value == "KeyboardInterrupt: "
    assert os.listdir(tmp_path / "Interrupted" / "model") == []


_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    from test_runner_interrupts import Sleeper
    from headwater.orchestration import LocalDagRunner, Pipeline
    LocalDagRunner(quiet=True).run(Pipeline("p", {root!r}, [Sleeper(seconds=600.0)]))
    """
)


def test_execution_of_a_killed_process_is_canceled_on_the_next_run(tmp_path):
    root = str(tmp_path / "root")
    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.Popen([sys.executable, "-c", _CHILD.format(here=here, root=root)])
    try:
        deadline = time.monotonic() + 120
        started = None
        while started is None and time.monotonic() < deadline and child.poll() is None:
            found = [
                os.path.join(dirpath, "started.txt")
                for dirpath, _, files in os.walk(root)
                if "started.txt" in files
            ]
            started = found[0] if found else None
            time.sleep(0.1)
        assert started is not None, "the child never started its component"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    tmp_dir = os.path.dirname(started)
    assert os.path.basename(tmp_dir).endswith(".tmp")
    (left,) = _executions(root)
    assert left.last_known_state == mlmd.Execution.RUNNING

    out = io.StringIO()
    result = LocalDagRunner(out=out).run(Pipeline("p", root, [Sleeper()]))
    assert [n.status for n in result.nodes] == ["COMPLETE"]
    assert f"execution {left.id} was left RUNNING by process {child.pid}" in out.getvalue()
    canceled, done = _executions(root)
    assert canceled.id == left.id
    assert canceled.last_known_state == mlmd.Execution.CANCELED
    assert f"process {child.pid}" in canceled.custom_properties["error"].string_value
    assert done.last_known_state == mlmd.Execution.COMPLETE
    assert not os.path.exists(tmp_dir)
    assert os.listdir(os.path.join(root, "Sleeper", "model")) == [str(done.id)]
