"""The generated Airflow DAG, run by a real Apache Airflow 3 in its own environment.

`airflow dags test` (standalone: SQLite metadata DB in a temporary AIRFLOW_HOME, no scheduler,
no webserver) runs every task through `headwater node run` in this environment. The isolated
Airflow environment is created once per requirements lock under the Headwater cache.
"""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import LocalDagRunner, MetadataStore, pipeline_runs
from headwater.orchestration.airflow_dag import airflow_executable, airflow_home, write_airflow_dag
from headwater.orchestration.compiler import compile_pipeline, load_with_overrides
from headwater.orchestration.metadata import RUN_CONTEXT, RUN_STATE

pytestmark = pytest.mark.e2e

PIPELINE = str(Path(__file__).with_name("orchestrated_pipeline.py"))


@pytest.fixture(scope="module")
def airflow() -> str:
    return airflow_executable()


def _dags_test(airflow: str, home: Path, dags: Path, **extra_env: str) -> str:
    env = {**airflow_home(home, dags), **extra_env}
    done = subprocess.run(
        [airflow, "dags", "test", "orchestrated"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return log


def _executions(root: Path) -> list[tuple[str, str, str, list[str]]]:
    """(node id, run id, state, output uris) of every execution, oldest first."""
    store = MetadataStore(load_with_overrides(PIPELINE, root=str(root)).connection_config())
    out = []
    for run in pipeline_runs(store, "orchestrated"):
        for e in run.executions:
            events = store.events_of_executions([e.id])
            ids = [v.artifact_id for v in events if v.type == mlmd.Event.OUTPUT]
            uris = sorted(a.uri for a in store.get_artifacts(ids))
            out.append((e.node_id, run.run_id, e.state, uris))
    return out


def _runs(root: Path) -> list[tuple[str, str]]:
    store = MetadataStore(load_with_overrides(PIPELINE, root=str(root)).connection_config())
    return [(r.run_id, r.state) for r in pipeline_runs(store, "orchestrated")]


def _top_level_imports(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    return modules


def _files(uri: str) -> dict[str, str]:
    return {name: Path(uri, name).read_text() for name in sorted(os.listdir(uri))}


def test_airflow_runs_the_pipeline_as_a_local_run_and_a_second_run_from_the_cache(
    airflow, tmp_path
):
    description = compile_pipeline(PIPELINE, root=str(tmp_path / "orch"))
    dag = write_airflow_dag(description, tmp_path / "dags" / "orchestrated.py", retries=0)
    assert _top_level_imports(dag.read_text()) == {"airflow", "datetime"}  # never headwater
    _dags_test(airflow, tmp_path / "airflow", tmp_path / "dags")
    local = LocalDagRunner(quiet=True).run(load_with_overrides(PIPELINE, root=str(tmp_path / "l")))

    # Check and Count both wait only for Make: Airflow may run them in either order.
    orch, loc = sorted(_executions(tmp_path / "orch")), sorted(_executions(tmp_path / "l"))
    expected = [("Check", "COMPLETE"), ("Count", "COMPLETE"), ("Make", "COMPLETE")]
    assert [(n, s) for n, _, s, _ in orch] == [(n, s) for n, _, s, _ in loc] == expected
    [(run_id, state)] = _runs(tmp_path / "orch")
    assert run_id.startswith("manual__")  # Airflow's run id
    assert state == "COMPLETE"  # recorded by the finish task
    for (node, *_, uris), (_, *_, local_uris) in zip(orch, loc, strict=True):
        assert [_files(u) for u in uris] == [_files(u) for u in local_uris], node
    assert _files(orch[1][3][0]) == {"count.txt": "6"}
    assert local.output("Check", "blessing").uri  # the local run published too

    _dags_test(airflow, tmp_path / "airflow2", tmp_path / "dags")
    after = _executions(tmp_path / "orch")
    assert sorted(after[:3]) == orch
    [(second, _)] = [r for r in _runs(tmp_path / "orch") if r[0] != run_id]
    assert sorted((n, r, s) for n, r, s, _ in after[3:]) == [
        ("Check", second, "CACHED"),
        ("Count", second, "CACHED"),
        ("Make", second, "CACHED"),
    ]
    # The same artifacts, no new ones.
    assert sorted((n, u) for n, *_, u in after[3:]) == [(n, u) for n, *_, u in orch]
    assert _runs(tmp_path / "orch")[1] == (second, "CACHED")  # every node answered from the cache


def test_a_node_killed_under_airflow_is_retried_clean_with_no_duplicate_output(airflow, tmp_path):
    description = compile_pipeline(PIPELINE, root=str(tmp_path / "orch"))
    write_airflow_dag(
        description, tmp_path / "dags" / "orchestrated.py", retries=1, retry_delay_s=0
    )
    marker = tmp_path / "killed-once"
    log = _dags_test(airflow, tmp_path / "airflow", tmp_path / "dags", ORCH_KILL_ONCE=str(marker))
    assert marker.exists()  # the first attempt really died
    assert "exit code 137" in log or "-9" in log, log[-4000:]

    executions = _executions(tmp_path / "orch")
    assert [(n, s) for n, _, s, _ in executions[:2]] == [
        ("Make", "CANCELED"),  # the killed attempt, found RUNNING by the retry
        ("Make", "COMPLETE"),
    ]
    assert sorted((n, s) for n, _, s, _ in executions[2:]) == [
        ("Check", "COMPLETE"),
        ("Count", "COMPLETE"),
    ]
    assert executions[0][3] == []  # nothing published by the killed attempt
    [model] = executions[1][3]
    assert os.listdir(tmp_path / "orch" / "Make" / "model") == [os.path.basename(model)]
    assert _files(model) == {"steps.txt": "3"}
    store = MetadataStore(
        load_with_overrides(PIPELINE, root=str(tmp_path / "orch")).connection_config()
    )
    assert len(store.store.get_artifacts()) == 3  # one model, one blessing, one evaluation
    # run finish recorded the run COMPLETE: every node's newest execution is COMPLETE.
    [(run_id, _)] = _runs(tmp_path / "orch")
    run = store.get_context(RUN_CONTEXT, run_id)
    assert run.custom_properties[RUN_STATE].string_value == "COMPLETE"
