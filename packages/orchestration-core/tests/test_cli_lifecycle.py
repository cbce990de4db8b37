"""`headwater pipeline create | update | run | list | delete`, `run status | delete`."""

from __future__ import annotations

import os
import re

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import MetadataStore, sqlite_metadata_connection_config
from headwater.orchestration.cli import main

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "tiny_pipeline.py")
OTHER = f"""
import os, sys
sys.path.insert(0, {HERE!r})
from tiny_pipeline import Check
from headwater.orchestration import Importer, Model, Pipeline
model = Importer(source_uri=os.environ["OTHER_SOURCE"], artifact_type=Model)
pipeline = Pipeline("other", None, [model, Check(model=model.outputs["result"])])
"""


def _cli(capsys, home, *argv):
    code = main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _run_ids(out):
    return re.findall(r"^(\d{4}-\S+)\s", out, re.M)


def test_create_run_list_status_and_delete_keep_what_another_pipeline_uses(
    tmp_path, capsys, monkeypatch
):
    home, root = tmp_path / "home", tmp_path / "tiny"
    code, out, _ = _cli(capsys, home, "pipeline", "create", TINY, "--root", str(root))
    assert code == 0
    assert "pipeline tiny created: engine local, 2 nodes" in out
    code, _, err = _cli(capsys, home, "pipeline", "create", TINY, "--root", str(root))
    assert code == 1
    assert "pipeline 'tiny' already exists" in err
    code, out, _ = _cli(capsys, home, "pipeline", "update", TINY, "--root", str(root))
    assert code == 0
    assert "pipeline tiny updated" in out

    assert _cli(capsys, home, "pipeline", "run", "tiny")[0] == 0
    code, out, _ = _cli(capsys, home, "pipeline", "run", "tiny", "--engine", "beam")
    assert code == 0
    assert "2 cached" in out
    code, out, _ = _cli(capsys, home, "pipeline", "list")
    [row] = [line.split() for line in out.splitlines() if line.startswith("tiny")]
    assert (row[1], row[3], row[-1]) == ("2", "CACHED", "local")
    code, out, _ = _cli(capsys, home, "run", "list", "tiny")
    first, second = _run_ids(out)
    code, out, _ = _cli(capsys, home, "run", "status", first)
    assert code == 0
    assert f"run {first} of tiny: COMPLETE" in out
    assert re.search(r"^Make +Make +COMPLETE", out, re.M)
    assert re.search(r"^Check +Check +COMPLETE", out, re.M)

    # The second run answered from the first run's outputs: deleting the first keeps them all.
    code, out, _ = _cli(capsys, home, "run", "delete", first)
    assert code == 0
    assert "removed 0 artifacts' files" in out
    assert out.count("still used by ") == 2
    assert f"Make of run {second} (pipeline tiny)" in out

    # Another pipeline imports tiny's model and checks it.
    store = MetadataStore(sqlite_metadata_connection_config(str(root / "metadata.sqlite")))
    [model] = [a for a in store.store.get_artifacts() if "/Make/" in a.uri]
    [blessing] = [a for a in store.store.get_artifacts() if "/Check/" in a.uri]
    other = tmp_path / "other.py"
    other.write_text(OTHER)
    monkeypatch.setenv("OTHER_SOURCE", model.uri)
    monkeypatch.setenv("HEADWATER_PIPELINE_ROOT", str(root))  # the same store and root
    assert _cli(capsys, home, "pipeline", "run", str(other))[0] == 0
    monkeypatch.delenv("HEADWATER_PIPELINE_ROOT")

    code, out, _ = _cli(capsys, home, "pipeline", "delete", "tiny", "--dry-run")
    assert "would remove 1 artifacts' files" in out
    assert os.path.isdir(blessing.uri)
    code, out, _ = _cli(capsys, home, "pipeline", "delete", "tiny")
    assert code == 0
    assert f"removed 1 artifacts' files\n    [{blessing.id}] {blessing.uri}" in out
    assert f"kept 1 artifacts:\n    [{model.id}] {model.uri}: still used by" in out
    assert "(pipeline other)" in out
    assert not os.path.exists(blessing.uri)
    assert sorted(os.listdir(model.uri)) == ["started.txt", "steps.txt"]
    states = {a.id: a.state for a in store.store.get_artifacts()}
    assert states[blessing.id] == mlmd.Artifact.DELETED
    assert states[model.id] == mlmd.Artifact.LIVE
    assert len(store.store.get_executions()) == 6  # lineage stays: 2 runs of tiny, 1 of other
    code, out, _ = _cli(capsys, home, "pipeline", "list")
    assert re.search(r"^tiny .* DELETED ", out, re.M)
    assert _cli(capsys, home, "pipeline", "update", TINY)[0] == 1  # no longer created


def test_create_for_airflow_writes_the_dag_and_run_says_how_to_trigger_it(tmp_path, capsys):
    home, dag = tmp_path / "home", tmp_path / "dags" / "tiny.py"
    code, out, _ = _cli(
        capsys,
        home,
        "pipeline",
        "create",
        TINY,
        "--engine",
        "airflow",
        "--output",
        str(dag),
        "--root",
        str(tmp_path / "root"),
        "--option",
        "retries=4",
    )
    assert code == 0
    assert f"airflow file: {dag}" in out
    source = dag.read_text()
    assert "node run" in source
    assert "'retries': 4" in source
    code, _, err = _cli(capsys, home, "pipeline", "run", "tiny")
    assert code == 2
    assert "runs on airflow: airflow dags trigger tiny" in err
    assert _cli(capsys, home, "pipeline", "delete", "tiny")[0] == 0
    assert not dag.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["pipeline", "create"],
        ["pipeline", "update"],
        ["pipeline", "delete"],
        ["pipeline", "compile"],
        ["pipeline", "run"],
        ["pipeline", "list"],
        ["run", "list"],
        ["run", "status"],
        ["run", "delete"],
        ["run", "finish"],
        ["node", "run"],
    ],
)
def test_every_lifecycle_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "examples:\n  headwater " in capsys.readouterr().out
