"""End to end: the README's command on the penguin pipeline, its records in ML Metadata, the
cache on a second run, a crashing component and its fixed rerun, the CLI's listings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import (
    ComponentFailedError,
    CsvExampleGen,
    Examples,
    InputArtifact,
    LocalDagRunner,
    MetadataStore,
    Model,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
    sqlite_metadata_connection_config,
)
from headwater.orchestration.cli import main

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUIN_FILE = os.path.join(REPO, "examples", "penguin", "pipeline.py")
PENGUIN_DATA = os.path.join(REPO, "examples", "penguin", "data")


@pytest.fixture(scope="module")
def penguin_runs(tmp_path_factory):
    """Run the penguin pipeline through the CLI until a run is fully cached (2 runs, or 3
    when a Resolver hands the first run's model to the second as its baseline)."""
    home = str(tmp_path_factory.mktemp("home"))
    outputs = []
    for attempt in range(3):
        capture = tmp_path_factory.mktemp("out") / "stdout.txt"
        with open(capture, "w") as f:
            saved, sys.stdout = sys.stdout, f
            try:
                code = main(["--home", home, "pipeline", "run", PENGUIN_FILE])
            finally:
                sys.stdout = saved
        assert code == 0
        outputs.append(capture.read_text())
        if attempt >= 1 and " ran " not in outputs[-1]:
            break
    return home, outputs


def _downstream_of_resolvers() -> set[str]:
    from headwater.orchestration.cli import load_pipeline

    pipeline = load_pipeline(PENGUIN_FILE)
    found: set[str] = set()
    for node in pipeline.components:  # topological order
        if any(up.kind == "resolver" or up.id in found for up in node.upstream()):
            found.add(node.id)
    return found


def _store(home):
    path = os.path.join(home, "pipelines", "penguin", "metadata.sqlite")
    return MetadataStore(sqlite_metadata_connection_config(path)).store


def test_penguin_run_prints_every_artifact_and_records_it(penguin_runs):
    home, outputs = penguin_runs
    printed = "".join(outputs)
    store = _store(home)
    artifacts = store.get_artifacts()
    assert artifacts, "the pipeline produced no artifact"
    for artifact in artifacts:
        assert artifact.state == mlmd.Artifact.LIVE
        assert artifact.uri in printed  # the progress output says where it is
        assert os.path.isdir(artifact.uri)
    states = {e.last_known_state for e in store.get_executions()}
    assert states <= {mlmd.Execution.COMPLETE, mlmd.Execution.CACHED}
    nodes = {c.name for c in store.get_contexts_by_type("node")}
    assert "penguin.CsvExampleGen" in nodes
    examples_type = store.get_artifact_type("Examples")
    [examples] = [
        a for a in artifacts if a.type_id == examples_type.id and "/CsvExampleGen/" in a.uri
    ]
    assert json.loads(examples.properties["split_names"].string_value) == ["train", "eval"]
    assert sorted(os.listdir(examples.uri)) == ["Split-eval", "Split-train"]
    assert os.listdir(os.path.join(examples.uri, "Split-train")) == [
        "data_tfrecord-00000-of-00001.gz"
    ]
    # The Evaluator blessed the model, so the Pusher put it where TF Serving looks; later runs
    # (same model, re-blessed against itself as baseline) reuse that version.
    pushed_type = store.get_artifact_type("PushedModel")
    pushes = [a for a in artifacts if a.type_id == pushed_type.id]
    assert pushes
    for pushed in pushes:
        assert pushed.custom_properties["pushed"].int_value == 1
    destinations = {p.custom_properties["pushed_destination"].string_value for p in pushes}
    versions = {p.custom_properties["pushed_version"].string_value for p in pushes}
    [destination], [version] = destinations, versions
    assert os.listdir(os.path.dirname(destination)) == [version]
    assert os.path.isfile(os.path.join(destination, "saved_model.pb"))


def _component_executions(store, run):
    types = {t.id: t.name for t in store.get_execution_types()}
    return [
        e
        for e in store.get_executions_by_context(run.id)
        if types[e.type_id] not in ("Resolver", "Importer")
    ]


def _node_of(store, execution):
    [node] = [
        c.name.split(".", 1)[1]
        for c in store.get_contexts_by_execution(execution.id)
        if c.type_id == store.get_context_type("node").id
    ]
    return node


def test_second_penguin_run_is_fully_cached(penguin_runs):
    home, outputs = penguin_runs
    store = _store(home)
    runs = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id)
    assert len(runs) == len(outputs)
    assert {e.last_known_state for e in _component_executions(store, runs[0])} == {
        mlmd.Execution.COMPLETE
    }
    # Only nodes fed by a Resolver (a baseline that is new on the second run) may rerun.
    rerun = {
        _node_of(store, e)
        for e in _component_executions(store, runs[1])
        if e.last_known_state != mlmd.Execution.CACHED
    }
    assert rerun <= _downstream_of_resolvers()
    last = _component_executions(store, runs[-1])
    assert {e.last_known_state for e in last} == {mlmd.Execution.CACHED}
    assert " ran " not in outputs[-1]
    # The cached run reuses earlier artifacts: no new artifact rows.
    earlier = [e.id for run in runs[:-1] for e in store.get_executions_by_context(run.id)]
    produced = {
        e.artifact_id
        for e in store.get_events_by_execution_ids(earlier)
        if e.type == mlmd.Event.OUTPUT
    }
    reused = {
        e.artifact_id
        for e in store.get_events_by_execution_ids([e.id for e in last])
        if e.type == mlmd.Event.OUTPUT
    }
    assert reused <= produced


def test_cli_lists_pipelines_runs_and_artifacts_with_lineage(penguin_runs, capsys):
    home, _ = penguin_runs
    assert main(["--home", home, "pipeline", "list"]) == 0
    out = capsys.readouterr().out
    assert "penguin" in out
    assert "CACHED" in out
    assert main(["--home", home, "run", "list", "penguin"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 3  # header + the runs
    first_run = lines[1].split()[0]
    assert "COMPLETE" in lines[1]
    assert main(["--home", home, "artifacts", first_run, "--lineage"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"CsvExampleGen +examples +Examples", out)
    assert re.search(
        rf"produced by CsvExampleGen \(execution \d+, run {re.escape(first_run)}\)", out
    )
    assert main(["--home", home, "artifacts", "no-such-run"]) == 1


@component
def Fit(
    examples: InputArtifact[Examples], model: OutputArtifact[Model], marker: Parameter[str]
) -> None:
    """Counts training rows into model/rows.txt; crashes while `marker` is missing."""
    rows = sum(b.num_rows for b in examples.split("train").read_batches())
    with open(os.path.join(model.uri, "rows.txt"), "w") as f:
        f.write(str(rows))  # written before the crash: must not survive it
    if not os.path.exists(marker):
        raise RuntimeError(f"Fit crashed: {marker} missing")


def test_crash_leaves_no_live_artifact_and_fixed_rerun_completes(tmp_path):
    marker = tmp_path / "fixed"

    def pipeline():
        gen = CsvExampleGen(input_base=PENGUIN_DATA)
        return Pipeline(
            "crash",
            str(tmp_path / "root"),
            [gen, Fit(examples=gen.outputs["examples"], marker=str(marker))],
        )

    with pytest.raises(
        ComponentFailedError, match=r"'Fit' failed: RuntimeError: Fit crashed"
    ) as err:
        LocalDagRunner(quiet=True).run(pipeline())
    store = MetadataStore(pipeline().connection_config()).store
    types = {t.id: t.name for t in store.get_artifact_types()}
    assert [types[a.type_id] for a in store.get_artifacts()] == ["Examples"]  # no Model
    assert (
        store.get_executions_by_id([err.value.execution_id])[0].last_known_state
        == mlmd.Execution.FAILED
    )
    assert os.listdir(tmp_path / "root" / "Fit" / "model") == []  # temporary output removed
    [examples] = store.get_artifacts_by_type("Examples")
    assert examples.state == mlmd.Artifact.LIVE
    marker.write_text("ok")
    result = LocalDagRunner(quiet=True).run(pipeline())
    assert [n.status for n in result.nodes] == ["CACHED", "COMPLETE"]
    with open(os.path.join(result.output("Fit", "model").uri, "rows.txt")) as f:
        train_rows = int(f.read())
    assert 200 < train_rows < 260  # about 2/3 of 342
    assert [a.state for a in store.get_artifacts()] == [mlmd.Artifact.LIVE] * 2


def test_cli_starts_without_tensorflow_or_beam():
    code = (
        "import sys, headwater.orchestration.cli, headwater.orchestration;"
        "print(sorted(m for m in ('tensorflow', 'apache_beam', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
