"""The Airflow DAG generator and the Kubeflow plan, read as text and data (no Airflow, no kfp).

The real runs (airflow dags test, the KFP YAML run task by task) are tests/test_airflow_e2e.py
and tests/test_kubeflow_e2e.py.
"""

from __future__ import annotations

import ast
import json

import pytest

from headwater.orchestration.airflow_dag import FINISH_TASK_ID, airflow_dag_source
from headwater.orchestration.errors import WiringError
from headwater.orchestration.kubeflow import kubeflow_plan

FILE = "/pipelines/my pipe.py"


def _node(node_id: str, upstream: list[str], **resources: object) -> dict:
    command = ["headwater", "node", "run", FILE, "--node", node_id, "--run-id", "{run_id}"]
    return {
        "id": node_id,
        "kind": "component",
        "type": node_id,
        "upstream": upstream,
        "command": [*command, "--root", "/data/root"],
        "resources": resources,
    }


DESCRIPTION = {
    "format": "headwater.pipeline/1",
    "pipeline_name": "demo",
    "pipeline_file": FILE,
    "pipeline_attr": None,
    "root": "/data/root",
    "metadata": {"kind": "sqlite", "path": "/data/root/metadata.sqlite"},
    "nodes": [
        _node("Gen", []),
        _node("Stats", ["Gen"]),
        _node("Schema", ["Stats"]),
        _node("Train", ["Gen", "Schema"], cpu="2", memory="4Gi", gpu=1),
    ],
}


def _operators(source: str) -> dict[str, dict[str, object]]:
    """task_id -> the BashOperator's keyword arguments (literals) in a generated DAG file."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator":
            kwargs = {
                k.arg: ast.literal_eval(k.value)
                for k in node.keywords
                if k.arg and isinstance(k.value, ast.Constant)
            }
            found[str(kwargs["task_id"])] = kwargs
    return found


def _edges(source: str) -> set[tuple[str, str]]:
    edges = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            left, right = node.left, node.right
            assert isinstance(left, ast.Name)
            assert isinstance(right, ast.Name)
            edges.add((left.id.removeprefix("t_"), right.id.removeprefix("t_")))
    return edges


def test_the_dag_file_has_a_task_per_node_the_edges_and_a_finish_task_that_always_runs():
    source = airflow_dag_source(
        DESCRIPTION,
        schedule="@daily",
        start_date="2026-01-02",
        retries=3,
        retry_delay_s=30,
        command_prefix="/opt/hw/bin/headwater",
    )
    tree = ast.parse(source)
    imports = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else n.names[0].name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
    }
    assert imports == {"datetime", "airflow.sdk", "airflow.providers.standard.operators.bash"}
    ops = _operators(source)
    assert list(ops) == ["Gen", "Stats", "Schema", "Train", FINISH_TASK_ID]
    assert ops["Train"]["bash_command"] == (
        "/opt/hw/bin/headwater node run '/pipelines/my pipe.py' --node Train "
        '--run-id "$HEADWATER_RUN_ID" --root /data/root'
    )
    assert ops[FINISH_TASK_ID]["bash_command"] == (
        "/opt/hw/bin/headwater run finish '/pipelines/my pipe.py' "
        '--run-id "$HEADWATER_RUN_ID" --root /data/root'
    )
    assert ops[FINISH_TASK_ID]["trigger_rule"] == "all_done"
    assert ops[FINISH_TASK_ID]["retries"] == 0
    assert _edges(source) == {
        ("Gen", "Stats"),
        ("Stats", "Schema"),
        ("Gen", "Train"),
        ("Schema", "Train"),
        *((n, FINISH_TASK_ID) for n in ("Gen", "Stats", "Schema", "Train")),
    }
    assert "RUN_ENV = {'HEADWATER_RUN_ID': '{{ run_id }}'}" in source
    assert "schedule='@daily'," in source
    assert "start_date=datetime.datetime.fromisoformat('2026-01-02T00:00:00+00:00')," in source
    assert "'retries': 3," in source
    assert "datetime.timedelta(seconds=30.0)" in source


def test_the_dag_passes_overrides_and_the_pipeline_name_to_every_command():
    described = {**DESCRIPTION, "pipeline_attr": "demo"}
    ops = _operators(
        airflow_dag_source(
            json.dumps(described),
            command_prefix=["hw"],
            metadata="mysql://u@db:3306/m",
            no_cache=True,
        )
    )
    for op in ops.values():
        assert str(op["bash_command"]).endswith(
            "--root /data/root --pipeline demo --metadata mysql://u@db:3306/m --no-cache"
        )
    assert "start_date=None" in airflow_dag_source(DESCRIPTION, command_prefix=["hw"])


def test_node_ids_airflow_cannot_take_are_made_valid_and_unique():
    nodes = [_node("a b", []), _node("a:b", ["a b"]), _node(FINISH_TASK_ID, [])]
    ops = _operators(airflow_dag_source({**DESCRIPTION, "nodes": nodes}, command_prefix=["hw"]))
    assert list(ops) == ["a_b", "a_b_2", f"{FINISH_TASK_ID}_2", FINISH_TASK_ID]


def test_what_is_not_a_description_is_refused_by_name():
    with pytest.raises(WiringError, match=r"format must be 'headwater\.pipeline/1'"):
        airflow_dag_source({**DESCRIPTION, "format": "tfx"}, command_prefix=["hw"])
    with pytest.raises(WiringError, match="missing 'nodes'"):
        airflow_dag_source({"format": "headwater.pipeline/1", "pipeline_name": "x",
                            "pipeline_file": FILE}, command_prefix=["hw"])  # fmt: skip
    bad = {**DESCRIPTION, "nodes": [{**_node("Gen", []), "command": ["python", "x.py"]}]}
    with pytest.raises(WiringError, match="must start with headwater"):
        airflow_dag_source(bad, command_prefix=["hw"])
    with pytest.raises(ValueError, match="retries"):
        airflow_dag_source(DESCRIPTION, retries=-1, command_prefix=["hw"])


def test_the_kubeflow_plan_runs_the_file_where_the_image_holds_it_with_the_options():
    plan = kubeflow_plan(
        DESCRIPTION,
        image="reg/hw:1",
        pipeline_file="/app/pipeline.py",
        metadata="mysql://mlmd@mysql:3306/mlmd",
        root="/headwater/root",
        pvc="pipelines",
    )
    assert [(t["name"], t["display_name"], t["after"]) for t in plan["tasks"]] == [
        ("gen", "Gen", []),
        ("stats", "Stats", ["gen"]),
        ("schema", "Schema", ["stats"]),
        ("train", "Train", ["gen", "schema"]),
    ]
    assert plan["tasks"][3]["argv"] == [
        "headwater",
        "node",
        "run",
        "/app/pipeline.py",
        "--node",
        "Train",
        "--run-id",
        "{run_id}",
        "--root",
        "/data/root",
        "--metadata",
        "mysql://mlmd@mysql:3306/mlmd",
        "--root",
        "/headwater/root",
    ]  # fmt: skip  (the later --root wins)
    assert plan["tasks"][3]["resources"] == {"cpu": "2", "memory": "4Gi", "gpu": 1}
    assert plan["finish"]["argv"][:6] == [
        "headwater", "run", "finish", "/app/pipeline.py", "--run-id", "{run_id}"
    ]  # fmt: skip
    assert plan["pvc"] == {"name": "pipelines", "mount_path": "/headwater"}
    with pytest.raises(WiringError, match="absolute path in the pods"):
        kubeflow_plan(DESCRIPTION, image="reg/hw:1", root="relative/root")
    with pytest.raises(WiringError, match="needs image="):
        kubeflow_plan(DESCRIPTION, image="")
