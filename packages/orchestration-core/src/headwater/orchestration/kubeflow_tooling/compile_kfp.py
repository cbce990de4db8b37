"""Compile a Headwater task plan (JSON on stdin) to KFP v2 pipeline IR YAML with the kfp SDK.

Runs in the isolated Kubeflow Pipelines environment (`kubeflow_tooling/requirements.txt`), never
in Headwater's: it imports only kfp and the standard library. Usage:
    python compile_kfp.py OUTPUT.yaml < plan.json
The plan (written by headwater.orchestration.kubeflow): pipeline name, image, the tasks (name,
argv with the "{run_id}" placeholder, the tasks it waits for, resources), the closing finish
task, environment variables for every task, an optional PVC to mount and a pipeline root.
"""

import json
import sys
from typing import Any

from kfp import compiler, dsl

RUN_ID = "{run_id}"


def container_component(name: str, image: str, argv: list[str]) -> Any:
    """A container component named `name` running argv; its one input is the run id."""

    def spec(run_id: str):  # kfp reads this signature: no return annotation
        resolved = [run_id if a == RUN_ID else a for a in argv]
        return dsl.ContainerSpec(image=image, command=resolved[:1], args=resolved[1:])

    spec.__name__ = name
    spec.__qualname__ = name
    return dsl.container_component(spec)


def configure(task: Any, plan: dict[str, Any], resources: dict[str, Any]) -> Any:
    task.set_caching_options(False)  # Headwater's own cache decides, and records it in MLMD
    for key, value in sorted(plan["env"].items()):
        task.set_env_variable(key, value)
    if resources.get("cpu"):
        task.set_cpu_request(str(resources["cpu"])).set_cpu_limit(str(resources["cpu"]))
    if resources.get("memory"):
        memory = str(resources["memory"])
        task.set_memory_request(memory).set_memory_limit(memory)
    if resources.get("gpu"):
        task.set_accelerator_type(plan.get("accelerator") or "nvidia.com/gpu")
        task.set_accelerator_limit(int(resources["gpu"]))
    if plan.get("pvc"):
        from kfp import kubernetes

        kubernetes.mount_pvc(
            task, pvc_name=plan["pvc"]["name"], mount_path=plan["pvc"]["mount_path"]
        )
    return task


def build(plan: dict[str, Any]) -> Any:
    image = plan["image"]
    finish = container_component(plan["finish"]["name"], image, plan["finish"]["argv"])
    nodes = {t["name"]: container_component(t["name"], image, t["argv"]) for t in plan["tasks"]}

    @dsl.pipeline(name=plan["pipeline_name"], pipeline_root=plan.get("pipeline_root") or None)
    def pipeline() -> None:
        run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
        closing = configure(finish(run_id=run_id), plan, {})
        closing.set_display_name(plan["finish"]["display_name"])
        with dsl.ExitHandler(closing, name="headwater-nodes"):
            made: dict[str, Any] = {}
            for t in plan["tasks"]:
                task = configure(nodes[t["name"]](run_id=run_id), plan, t["resources"])
                task.set_display_name(t["display_name"])
                if plan.get("retries"):
                    task.set_retry(num_retries=plan["retries"])
                for up in t["after"]:
                    task.after(made[up])
                made[t["name"]] = task

    return pipeline


def main() -> None:
    plan = json.load(sys.stdin)
    compiler.Compiler().compile(build(plan), package_path=sys.argv[1])


if __name__ == "__main__":
    main()
