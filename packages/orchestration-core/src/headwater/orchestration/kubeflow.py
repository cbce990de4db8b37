"""Kubeflow Pipelines v2: a compiled pipeline as KFP pipeline IR YAML, built with the kfp SDK.

Each node becomes a container task running `headwater node run` in `image` (an image that holds
Headwater and the pipeline file), waiting for its upstream nodes; every node sits inside an exit
handler whose exit task is `headwater run finish`, so the run's outcome is recorded in ML
Metadata whatever the nodes did. The run id is KFP's pipeline job id. KFP's own cache is off on
every task: Headwater's cache decides, and records CACHED executions. The ML Metadata connection
and the pipeline root given as options reach the pods as `--metadata` / `--root`; a PVC can be
mounted on every task (kfp-kubernetes) to hold the root.

kfp 2.17 needs protobuf >= 6 and ml-metadata 1.17 protobuf < 5, so the SDK runs in its own
environment, created on first use from the hash-locked `kubeflow_tooling/requirements.txt` (the
same mechanism as the TF.js converter's and Airflow's), with `kubeflow_tooling/compile_kfp.py`.

Example:
    description = compile_pipeline("pipeline.py")
    compile_kubeflow(description, "penguin.yaml", image="registry.example/penguin:1",
                     metadata="mysql://mlmd@mysql:3306/mlmd", pvc="pipelines", root="/data/root")
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from headwater.io.isolated_env import IsolatedEnvError, isolated_python
from headwater.orchestration.adapter_commands import adapter_nodes, description_dict
from headwater.orchestration.errors import WiringError

__all__ = ["FINISH_TASK", "compile_kubeflow", "kfp_python", "kubeflow_plan"]

TOOLING = Path(__file__).parent / "kubeflow_tooling"
FINISH_TASK = "headwater-run-finish"
"""The exit task: records the run COMPLETE or FAILED, whatever the nodes did."""
DEFAULT_PVC_MOUNT = "/headwater"
_COMPILE_TIMEOUT_S = 300


def kfp_python() -> str:
    """The python of the isolated Kubeflow Pipelines SDK environment (created on first use)."""
    return isolated_python(
        "kfp", TOOLING / "requirements.txt", description="Kubeflow Pipelines SDK"
    )


def kubeflow_plan(
    description: Any,
    *,
    image: str,
    pipeline_file: str | None = None,
    command_prefix: Sequence[str] | str = ("headwater",),
    metadata: str | None = None,
    root: str | None = None,
    pvc: str | None = None,
    pvc_mount_path: str = DEFAULT_PVC_MOUNT,
    pipeline_root: str | None = None,
    env: Mapping[str, str] | None = None,
    accelerator: str = "nvidia.com/gpu",
    retries: int = 0,
) -> dict[str, Any]:
    """What `compile_kubeflow` hands to the kfp SDK (see there), as plain JSON-able data."""
    data = description_dict(description)
    if not image:
        raise WiringError("a Kubeflow pipeline needs image=: one that holds headwater")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    local_file = str(data["pipeline_file"])
    if pipeline_file:  # where the file lives in the image
        data = {**data, "pipeline_file": pipeline_file}
        data["nodes"] = [
            {**n, "command": [pipeline_file if a == local_file else a for a in n["command"]]}
            for n in data["nodes"]
        ]
    for what, value in (("metadata", metadata), ("root", root)):
        if value and "://" not in value and not os.path.isabs(value):
            raise WiringError(f"{what}= must be a URL or an absolute path in the pods: {value!r}")
    # Flags, so they win over any --metadata / --root the description was compiled with.
    nodes, finish = adapter_nodes(data, command_prefix=command_prefix, metadata=metadata, root=root)
    names = _task_names([n.id for n in nodes])
    variables = dict(env or {})
    return {
        "pipeline_name": _kebab(str(data["pipeline_name"])),
        "image": image,
        "pipeline_root": pipeline_root,
        "env": variables,
        "pvc": {"name": pvc, "mount_path": pvc_mount_path} if pvc else None,
        "accelerator": accelerator,
        "retries": int(retries),
        "tasks": [
            {
                "name": names[n.id],
                "display_name": n.id,
                "argv": list(n.command),
                "after": [names[u] for u in n.upstream],
                "resources": dict(n.resources),
            }
            for n in nodes
        ],
        "finish": {
            "name": FINISH_TASK.replace("-", "_"),
            "display_name": FINISH_TASK,
            "argv": list(finish),
        },
    }


def compile_kubeflow(
    description: Any,
    path: str | os.PathLike[str],
    *,
    image: str,
    pipeline_file: str | None = None,
    command_prefix: Sequence[str] | str = ("headwater",),
    metadata: str | None = None,
    root: str | None = None,
    pvc: str | None = None,
    pvc_mount_path: str = DEFAULT_PVC_MOUNT,
    pipeline_root: str | None = None,
    env: Mapping[str, str] | None = None,
    accelerator: str = "nvidia.com/gpu",
    retries: int = 0,
) -> Path:
    """Write the KFP v2 pipeline IR YAML for a compiled pipeline to `path`; returns the path.

    `description`: a PipelineDescription, its dict, its JSON text or a path to it.
    `image`: the container image of every task; it must hold headwater (on PATH, or give
    `command_prefix`) and the pipeline file (at the description's path, or at `pipeline_file`).
    `metadata`: the ML Metadata connection the pods use (`mysql://user@host:3306/db`,
    `postgresql://...`), `root`: the pipeline root in the pods (a path on the PVC, or an object
    store URI), both appended to every command as `--metadata` / `--root`. `pvc`: a
    PersistentVolumeClaim mounted at `pvc_mount_path` on every task. `pipeline_root`: KFP's
    own pipeline root (where KFP keeps its artifacts; Headwater's nodes write none there).
    `env`: more environment variables.
    Resources set on a node (`with_resources(cpu=, memory=, gpu=)`) become requests and limits;
    a GPU uses `accelerator` as its resource type. `retries`: how often KFP retries a failed
    node task (a killed attempt is recorded CANCELED and run again cleanly; the exit task is
    not retried).
    """
    plan = kubeflow_plan(
        description,
        image=image,
        pipeline_file=pipeline_file,
        command_prefix=command_prefix,
        metadata=metadata,
        root=root,
        pvc=pvc,
        pvc_mount_path=pvc_mount_path,
        pipeline_root=pipeline_root,
        env=env,
        accelerator=accelerator,
        retries=retries,
    )
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp.yaml")  # kfp insists on .yaml
    argv = [kfp_python(), str(TOOLING / "compile_kfp.py"), str(tmp)]
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(plan),
            capture_output=True,
            text=True,
            timeout=_COMPILE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IsolatedEnvError(f"compiling {target} with the kfp SDK: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-6:])
        raise WiringError(f"the kfp SDK could not compile {target}: {tail}")
    os.replace(tmp, target)
    return target


def _kebab(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "pipeline"


def _task_names(node_ids: list[str]) -> dict[str, str]:
    """Python identifiers for the kfp components, unique (KFP names them comp-<kebab>)."""
    names: dict[str, str] = {}
    taken = {FINISH_TASK.replace("-", "_"), "pipeline"}
    for node_id in node_ids:
        base = re.sub(r"\W", "_", node_id.lower()).strip("_") or "node"
        base = base if base[0].isalpha() else f"node_{base}"
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        names[node_id] = candidate
    return names
