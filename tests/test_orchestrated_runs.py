"""Two runs of one pipeline at once, each node a `headwater node run` process, on one ML
Metadata store (SQLite, and a real PostgreSQL server): no corruption, each run's lineage whole.

Both runs' first nodes are held until both are running, then released together, so that the
two runs' writes (executions, artifacts, renames under one root) overlap for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd
from test_orchestration_postgres import postgres  # noqa: F401  (the server fixture)

from headwater.orchestration import MetadataStore, pipeline_runs
from headwater.orchestration.cli import main
from headwater.orchestration.compiler import load_with_overrides

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "packages", "orchestration-core", "tests", "tiny_pipeline.py")
RUNS = ("run-a", "run-b")


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """`node run` registers its SQLite store: in the test's own home, never the user's."""
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "home"))


def _node(node, run_id, overrides, env):
    cmd = [sys.executable, "-m", "headwater.orchestration.cli", "node", "run", TINY]
    cmd += ["--node", node, "--run-id", run_id, *overrides]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_all(children):
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, f"{out}\n{err}"


def _run_two_at_once(tmp_path, overrides):
    hold = tmp_path / "hold"
    hold.write_text("")
    env = {**os.environ, "TINY_HOLD": str(hold)}
    makes = [_node("Make", run_id, overrides, env) for run_id in RUNS]
    deadline = time.monotonic() + 180
    model_dir = tmp_path / "root" / "Make" / "model"
    while time.monotonic() < deadline and all(c.poll() is None for c in makes):
        started = [d for d, _, files in os.walk(model_dir) if "started.txt" in files]
        if len(started) == 2:
            break
        time.sleep(0.05)
    hold.unlink()  # both Make nodes running: release them together
    _wait_all(makes)
    _wait_all([_node("Check", run_id, overrides, dict(os.environ)) for run_id in RUNS])
    for run_id in RUNS:
        assert main(["run", "finish", TINY, "--run-id", run_id, *overrides]) == 0


def _check_each_run_whole(store, root):
    runs = {r.run_id: r for r in pipeline_runs(store, "tiny")}
    assert sorted(runs) == sorted(RUNS)
    made = {}
    for run_id in RUNS:
        run = runs[run_id]
        assert run.state == "COMPLETE"
        assert [(e.node_id, e.state) for e in run.executions] == [
            ("Make", "COMPLETE"),
            ("Check", "COMPLETE"),
        ]
        make, check = run.executions
        events = store.events_of_executions([make.id, check.id])
        [model] = [
            e.artifact_id
            for e in events
            if e.execution_id == make.id and e.type == mlmd.Event.OUTPUT
        ]
        [read] = [
            e.artifact_id
            for e in events
            if e.execution_id == check.id and e.type == mlmd.Event.INPUT
        ]
        [blessing] = [
            e.artifact_id
            for e in events
            if e.execution_id == check.id and e.type == mlmd.Event.OUTPUT
        ]
        assert read == model  # Check read its own run's model
        made[run_id] = (model, blessing)
    ids = [i for pair in made.values() for i in pair]
    assert len(set(ids)) == 4
    artifacts = store.store.get_artifacts()
    assert sorted(a.id for a in artifacts) == sorted(ids)  # nothing half-published, no extra
    for a in artifacts:
        assert a.state == mlmd.Artifact.LIVE
        assert sorted(os.listdir(a.uri)) in (["BLESSED"], ["started.txt", "steps.txt"])
    for node, key in (("Make", "model"), ("Check", "blessing")):
        folder = os.path.join(root, node, key)
        assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]
        assert len(os.listdir(folder)) == 2


def test_two_runs_at_once_on_sqlite(tmp_path):
    overrides = ["--root", str(tmp_path / "root")]
    _run_two_at_once(tmp_path, overrides)
    pipeline = load_with_overrides(TINY, root=str(tmp_path / "root"))
    _check_each_run_whole(MetadataStore(pipeline.connection_config()), str(tmp_path / "root"))


@pytest.mark.integration
def test_two_runs_at_once_on_postgresql(tmp_path, postgres):  # noqa: F811
    url = f"postgresql://{postgres['user']}@{postgres['host']}:{postgres['port']}/concurrent"
    overrides = ["--root", str(tmp_path / "root"), "--metadata", url]
    _run_two_at_once(tmp_path, overrides)
    pipeline = load_with_overrides(TINY, root=str(tmp_path / "root"), metadata=url)
    assert pipeline.connection_config().WhichOneof("config") == "postgresql"
    _check_each_run_whole(MetadataStore(pipeline.connection_config()), str(tmp_path / "root"))
