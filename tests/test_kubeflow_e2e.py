"""The pipeline compiled to KFP v2 IR YAML, loaded back by kfp and run task by task as pods would.

No cluster here: the test reads the compiled spec back through kfp's own loader (in the isolated
kfp environment), then runs each container task's command and arguments, with its environment
variables and nothing else of ours, in the order of the spec's dependencies, the exit task last,
resolving the run id placeholder as KFP's driver does (to the pipeline job's uuid).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import LocalDagRunner, MetadataStore, pipeline_runs
from headwater.orchestration.compiler import compile_pipeline, load_with_overrides
from headwater.orchestration.kubeflow import compile_kubeflow, kfp_python
from headwater.orchestration.metadata import (
    RUN_CONTEXT,
    RUN_STATE,
    sqlite_metadata_connection_config,
)

pytestmark = pytest.mark.e2e

PIPELINE = str(Path(__file__).with_name("orchestrated_pipeline.py"))
JOB_UUID = "{{$.pipeline_job_uuid}}"
RUN_ID_INPUT = "{{$.inputs.parameters['run_id']}}"

# Runs in the kfp environment: the spec as kfp's loader reads it, as JSON.
READ_BACK = """
import json, sys
from google.protobuf import json_format
from kfp import components
c = components.load_component_from_file(sys.argv[1])
print(json.dumps({"name": c.name,
                  "spec": json_format.MessageToDict(c.pipeline_spec),
                  "platform": json_format.MessageToDict(c.platform_spec)}))
"""


def _read_back(path: Path) -> dict:
    done = subprocess.run(
        [kfp_python(), "-c", READ_BACK, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout)


def _in_order(tasks: dict) -> list[str]:
    """Task names so that each comes after its dependentTasks (the spec's edges)."""
    order: list[str] = []
    while len(order) < len(tasks):
        ready = [
            t
            for t, spec in sorted(tasks.items())
            if t not in order and set(spec.get("dependentTasks", [])) <= set(order)
        ]
        assert ready, f"a cycle in {tasks}"
        order += ready[:1]
    return order


def _run_as_a_pod(spec: dict, task: dict, job_uuid: str, workdir: Path) -> None:
    container = spec["deploymentSpec"]["executors"][
        spec["components"][task["componentRef"]["name"]]["executorLabel"]
    ]["container"]
    [constant] = [p["runtimeValue"]["constant"] for p in task["inputs"]["parameters"].values()]
    assert constant == JOB_UUID
    argv = [a.replace(RUN_ID_INPUT, job_uuid) for a in container["command"] + container["args"]]
    # The image's PATH holds headwater; the pod's environment is the spec's, nothing of ours.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(workdir)}
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    done = subprocess.run(
        argv, env=env, cwd=workdir, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])


def _executions(store: MetadataStore) -> list[tuple[str, str, str, list[str]]]:
    out = []
    for run in pipeline_runs(store, "orchestrated"):
        for e in run.executions:
            events = store.events_of_executions([e.id])
            ids = [v.artifact_id for v in events if v.type == mlmd.Event.OUTPUT]
            out.append(
                (e.node_id, run.run_id, e.state, sorted(a.uri for a in store.get_artifacts(ids)))
            )
    return sorted(out)


def _files(uri: str) -> dict[str, str]:
    return {name: Path(uri, name).read_text() for name in sorted(os.listdir(uri))}


def test_kfp_yaml_loads_back_and_its_tasks_run_as_pods_equal_a_local_run(tmp_path):
    description = json.loads(compile_pipeline(PIPELINE).to_json())
    description["nodes"][0]["resources"] = {"cpu": "2", "memory": "2Gi", "gpu": 1}
    root, store_path = tmp_path / "pvc" / "root", tmp_path / "pvc" / "mlmd.sqlite"
    path = compile_kubeflow(
        description,
        tmp_path / "orchestrated.yaml",
        image="registry.invalid/headwater-pipeline:1",
        root=str(root),
        metadata=str(store_path),
        pvc="headwater-data",
        pvc_mount_path=str(tmp_path / "pvc"),
        env={"ORCH_FLAVOUR": "kfp"},
        retries=2,
    )
    back = _read_back(path)
    spec = back["spec"]
    assert back["name"] == "orchestrated"

    # The DAG: every node inside the exit handler, edges as in the pipeline, finish as exit task.
    top = spec["root"]["dag"]["tasks"]
    assert sorted(top) == ["exit-handler-1", "headwater-run-finish"]
    finish = top["headwater-run-finish"]
    assert finish["dependentTasks"] == ["exit-handler-1"]
    assert finish["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    nodes = spec["components"][top["exit-handler-1"]["componentRef"]["name"]]["dag"]["tasks"]
    assert {t: sorted(s.get("dependentTasks", [])) for t, s in nodes.items()} == {
        "make": [],
        "check": ["make"],
        "count": ["make"],
    }
    assert {s["taskInfo"]["name"] for s in nodes.values()} == {"Make", "Check", "Count"}
    assert all(not s["cachingOptions"].get("enableCache") for s in nodes.values())
    assert all(s["retryPolicy"]["maxRetryCount"] == 2 for s in nodes.values())
    assert "retryPolicy" not in finish

    # Each task's container: the image, `headwater node run` with the options, env, resources.
    executors = spec["deploymentSpec"]["executors"]
    make = executors["exec-make"]["container"]
    assert make["image"] == "registry.invalid/headwater-pipeline:1"
    assert make["command"] + make["args"] == [
        "headwater", "node", "run", PIPELINE, "--node", "Make", "--run-id", RUN_ID_INPUT,
        "--metadata", str(store_path), "--root", str(root),
    ]  # fmt: skip
    assert make["env"] == [{"name": "ORCH_FLAVOUR", "value": "kfp"}]
    assert make["resources"]["cpuLimit"] == 2
    assert make["resources"]["memoryLimit"] == pytest.approx(2 * 1024**3 / 1e9)
    assert make["resources"]["accelerator"]["resourceCount"] == "1"
    assert "resources" not in executors["exec-check"]["container"]
    assert executors["exec-headwater-run-finish"]["container"]["args"][:2] == ["run", "finish"]
    mounts = back["platform"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert sorted(mounts) == sorted(executors)
    assert mounts["exec-make"]["pvcMount"][0]["mountPath"] == str(tmp_path / "pvc")

    # Run it as KFP would: node tasks in dependency order, then the exit task.
    job_uuid = str(uuid.uuid4())
    workdir = tmp_path / "pod"
    workdir.mkdir()
    for name in _in_order(nodes):
        _run_as_a_pod(spec, nodes[name], job_uuid, workdir)
    _run_as_a_pod(spec, finish, job_uuid, workdir)

    local = LocalDagRunner(quiet=True).run(load_with_overrides(PIPELINE, root=str(tmp_path / "l")))
    kfp_store = MetadataStore(sqlite_metadata_connection_config(str(store_path)))
    local_store = MetadataStore(
        load_with_overrides(PIPELINE, root=str(tmp_path / "l")).connection_config()
    )
    orch, loc = _executions(kfp_store), _executions(local_store)
    assert [(n, r, s) for n, r, s, _ in orch] == [
        ("Check", job_uuid, "COMPLETE"),
        ("Count", job_uuid, "COMPLETE"),
        ("Make", job_uuid, "COMPLETE"),
    ]
    assert [(n, s) for n, _, s, _ in orch] == [(n, s) for n, _, s, _ in loc]
    for (node, *_, uris), (*_, local_uris) in zip(orch, loc, strict=True):
        assert all(u.startswith(str(root)) for u in uris), node
        assert [_files(u) for u in uris] == [_files(u) for u in local_uris], node
    assert local.output("Count", "evaluation").uri
    run = kfp_store.get_context(RUN_CONTEXT, job_uuid)
    assert run.custom_properties[RUN_STATE].string_value == "COMPLETE"
