"""`headwater node run` / `run finish` / `pipeline compile`: one node of one run per process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import LocalDagRunner, MetadataStore, pipeline_runs
from headwater.orchestration.cli import main
from headwater.orchestration.compiler import (
    PipelineDescription,
    compile_pipeline,
    load_with_overrides,
)

TINY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_pipeline.py")
STATE = {v: k for k, v in mlmd.Execution.State.items()}


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """`node run` registers its SQLite store: in the test's own home, never the user's."""
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "home"))


def _node(root, node, run_id, *extra):
    return main(
        ["node", "run", TINY, "--node", node, "--run-id", run_id, "--root", str(root), *extra]
    )


def _store(root):
    return MetadataStore(load_with_overrides(TINY, root=str(root)).connection_config())


def _executions(root):
    """(node id, run id, state, output uris) per execution, oldest first."""
    store = _store(root)
    out = []
    for run in pipeline_runs(store, "tiny"):
        for e in run.executions:
            events = store.events_of_executions([e.id])
            outputs = store.get_artifacts(
                [v.artifact_id for v in events if v.type == mlmd.Event.OUTPUT]
            )
            out.append((e.node_id, run.run_id, e.state, sorted(a.uri for a in outputs)))
    return out


def test_compile_describes_the_dag_and_each_node_command(tmp_path):
    description = compile_pipeline(TINY, root=str(tmp_path))
    data = json.loads(description.to_json())
    assert list(data) == [
        "format",
        "pipeline_name",
        "pipeline_file",
        "pipeline_attr",
        "root",
        "metadata",
        "nodes",
    ]
    assert data["format"] == "headwater.pipeline/1"
    assert data["pipeline_file"] == TINY
    assert data["metadata"] == {"kind": "sqlite", "path": str(tmp_path / "metadata.sqlite")}
    assert [(n["id"], n["upstream"]) for n in data["nodes"]] == [("Make", []), ("Check", ["Make"])]
    assert data["nodes"][1]["command"] == [
        "headwater",
        "node",
        "run",
        TINY,
        "--node",
        "Check",
        "--run-id",
        "{run_id}",
        "--root",
        str(tmp_path),
    ]
    assert PipelineDescription.from_json(description.to_json()) == description


def test_nodes_run_one_by_one_record_what_a_local_run_records(tmp_path, capsys):
    assert _node(tmp_path / "orch", "Make", "r1") == 0
    assert _node(tmp_path / "orch", "Check", "r1") == 0
    assert main(["run", "finish", TINY, "--run-id", "r1", "--root", str(tmp_path / "orch")]) == 0
    local = LocalDagRunner(quiet=True).run(load_with_overrides(TINY, root=str(tmp_path / "local")))
    orch, loc = _executions(tmp_path / "orch"), _executions(tmp_path / "local")
    assert [(n, s) for n, _, s, _ in orch] == [(n, s) for n, _, s, _ in loc]
    assert [(n, s) for n, _, s, _ in orch] == [("Make", "COMPLETE"), ("Check", "COMPLETE")]
    [run] = pipeline_runs(_store(tmp_path / "orch"), "tiny")
    assert (run.run_id, run.state) == ("r1", "COMPLETE")
    capsys.readouterr()
    assert main(["run", "status", "r1"]) == 0  # the store was registered: no --metadata
    assert "run r1 of tiny: COMPLETE" in capsys.readouterr().out
    blessing = orch[1][3][0]
    assert os.listdir(blessing) == ["BLESSED"] == os.listdir(local.output("Check", "blessing").uri)

    # A retried task of a finished node records nothing; a new run is answered from the cache.
    assert _node(tmp_path / "orch", "Check", "r1") == 0
    assert "already COMPLETE in run r1" in capsys.readouterr().out
    assert _node(tmp_path / "orch", "Make", "r2") == 0
    assert _node(tmp_path / "orch", "Check", "r2") == 0
    after = _executions(tmp_path / "orch")
    assert after[:2] == orch
    assert [(n, r, s) for n, r, s, _ in after[2:]] == [
        ("Make", "r2", "CACHED"),
        ("Check", "r2", "CACHED"),
    ]
    assert [u for *_, u in after[2:]] == [u for *_, u in orch]  # the same artifacts, no new ones


def test_a_node_whose_upstream_has_no_output_in_the_run_exits_2(tmp_path, capsys):
    assert _node(tmp_path, "Check", "r1") == 2
    err = capsys.readouterr().err
    assert "upstream node 'Make' has no COMPLETE or CACHED execution in run 'r1'" in err
    assert main(["run", "finish", TINY, "--run-id", "r1", "--root", str(tmp_path)]) == 1
    [run] = pipeline_runs(_store(tmp_path), "tiny")
    assert run.state == "FAILED"


def test_a_failing_node_exits_1_with_the_users_line(tmp_path, capsys, monkeypatch):
    assert _node(tmp_path, "Make", "r1") == 0
    monkeypatch.setenv("TINY_FAIL", "1")
    assert _node(tmp_path, "Check", "r1") == 1
    err = capsys.readouterr().err
    assert "error: component 'Check' failed: ValueError: TINY_FAIL is set" in err
    assert f"at {TINY}:" in err
    assert [(n, s) for n, _, s, _ in _executions(tmp_path)] == [
        ("Make", "COMPLETE"),
        ("Check", "FAILED"),
    ]
    assert os.listdir(tmp_path / "Check" / "blessing") == []
    # The fixed node, retried in the same run, runs cleanly.
    monkeypatch.delenv("TINY_FAIL")
    assert _node(tmp_path, "Check", "r1") == 0
    assert main(["run", "finish", TINY, "--run-id", "r1", "--root", str(tmp_path)]) == 0


def _start_held_node(root, run_id, hold):
    env = {**os.environ, "TINY_HOLD": str(hold)}
    hold.write_text("")
    cmd = [sys.executable, "-m", "headwater.orchestration.cli", "node", "run", TINY]
    cmd += ["--node", "Make", "--run-id", run_id, "--root", str(root)]
    child = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        started = [d for d, _, files in os.walk(root / "Make") if "started.txt" in files]
        if started:
            return child, started[0]
        time.sleep(0.05)
    child.kill()
    raise AssertionError(f"the node never started: {child.communicate()}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_cancels_the_node_and_removes_its_temporary_output(tmp_path, signum):
    child, tmp_dir = _start_held_node(tmp_path, "r1", tmp_path / "hold")
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, err
    assert "canceled" in err
    assert [(n, s) for n, _, s, _ in _executions(tmp_path)] == [("Make", "CANCELED")]
    assert not os.path.exists(tmp_dir)
    assert os.listdir(tmp_path / "Make" / "model") == []


def test_a_killed_node_retried_runs_clean_with_one_output(tmp_path, capsys):
    child, tmp_dir = _start_held_node(tmp_path, "r1", tmp_path / "hold")
    child.kill()
    child.communicate()
    [(_, _, state, outputs)] = _executions(tmp_path)
    assert (state, outputs) == ("CANCELED", [])  # RUNNING, its process gone: reported CANCELED
    assert _node(tmp_path, "Make", "r1") == 0
    assert "was left RUNNING by an attempt" in capsys.readouterr().out
    executions = _executions(tmp_path)
    assert [(n, s) for n, _, s, _ in executions] == [("Make", "CANCELED"), ("Make", "COMPLETE")]
    store = _store(tmp_path)
    raw = sorted(store.store.get_executions(), key=lambda e: e.id)
    assert STATE[raw[0].last_known_state] == "CANCELED"  # recorded, not only reported
    assert not os.path.exists(tmp_dir)
    [final] = executions[1][3]
    assert os.listdir(tmp_path / "Make" / "model") == [os.path.basename(final)]
    assert sorted(os.listdir(final)) == ["started.txt", "steps.txt"]
    assert len(store.store.get_artifacts()) == 1


def test_a_run_whose_killed_node_was_retried_reads_as_its_retries_went(tmp_path):
    child, _ = _start_held_node(tmp_path, "r1", tmp_path / "hold")
    child.kill()
    child.communicate()
    assert _node(tmp_path, "Make", "r1") == 0
    assert _node(tmp_path, "Check", "r1") == 0
    assert main(["run", "finish", TINY, "--run-id", "r1", "--root", str(tmp_path)]) == 0
    [run] = pipeline_runs(_store(tmp_path), "tiny")
    assert [e.state for e in run.executions] == ["CANCELED", "COMPLETE", "COMPLETE"]
    assert run.state == "COMPLETE"  # judged by each node's last attempt, as `run finish` did
