"""BeamDagRunner on the DirectRunner: the same records as a local run, then the cache."""

from __future__ import annotations

import io
import os

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import (
    ComponentFailedError,
    LocalDagRunner,
    MetadataStore,
    pipeline_runs,
)
from headwater.orchestration.beam_dag_runner import BeamDagRunner
from headwater.orchestration.compiler import load_with_overrides

TINY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_pipeline.py")


def _records(root):
    """(node, state, output keys and file names) per execution of each run, oldest first."""
    pipeline = load_with_overrides(TINY, root=str(root))
    store = MetadataStore(pipeline.connection_config())
    out = []
    for run in pipeline_runs(store, "tiny"):
        rows = []
        for e in run.executions:
            events = [v for v in store.events_of_executions([e.id]) if v.type == mlmd.Event.OUTPUT]
            files = [
                sorted(os.listdir(a.uri))
                for a in store.get_artifacts([v.artifact_id for v in events])
            ]
            rows.append((e.node_id, e.state, [v.path.steps[0].key for v in events], files))
        out.append((run.state, rows))
    return out


def test_beam_run_records_what_a_local_run_records_and_caches(tmp_path):
    out = io.StringIO()
    first = BeamDagRunner(out=out).run(load_with_overrides(TINY, root=str(tmp_path / "beam")))
    LocalDagRunner(quiet=True).run(load_with_overrides(TINY, root=str(tmp_path / "local")))
    assert _records(tmp_path / "beam") == _records(tmp_path / "local")
    assert _records(tmp_path / "beam") == [
        (
            "COMPLETE",
            [
                ("Make", "COMPLETE", ["model"], [["started.txt", "steps.txt"]]),
                ("Check", "COMPLETE", ["blessing"], [["BLESSED"]]),
            ],
        )
    ]
    assert [n.status for n in first.nodes] == ["COMPLETE", "COMPLETE"]
    assert first.output("Check", "blessing").custom_properties["blessed"] == 1
    assert "[2/2] Check  ran" in out.getvalue()

    second = BeamDagRunner(quiet=True).run(load_with_overrides(TINY, root=str(tmp_path / "beam")))
    assert [n.status for n in second.nodes] == ["CACHED", "CACHED"]
    assert second.output("Check", "blessing").uri == first.output("Check", "blessing").uri
    [_, (state, rows)] = _records(tmp_path / "beam")
    assert state == "CACHED"
    assert [r[1] for r in rows] == ["CACHED", "CACHED"]


def test_a_failing_node_fails_the_beam_run_with_its_own_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_FAIL", "1")
    with pytest.raises(ComponentFailedError, match="TINY_FAIL is set") as info:
        BeamDagRunner(quiet=True).run(load_with_overrides(TINY, root=str(tmp_path)))
    assert info.value.node_id == "Check"
    [(state, rows)] = _records(tmp_path)
    assert state == "FAILED"
    assert [(r[0], r[1]) for r in rows] == [("Make", "COMPLETE"), ("Check", "FAILED")]
    assert os.listdir(tmp_path / "Check" / "blessing") == []
