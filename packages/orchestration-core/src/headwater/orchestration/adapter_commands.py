"""What every orchestrator adapter reads from a compiled pipeline description.

The description (`headwater pipeline compile`, format `headwater.pipeline/1`) lists each node's
entrypoint command with a `{run_id}` placeholder. Adapters (Airflow, Kubeflow Pipelines) turn
that into their own tasks: this module gives them the nodes, the commands with the leading
`headwater` replaced by a concrete prefix, the overrides (`--metadata`, `--root`, `--no-cache`)
appended, and the closing `headwater run finish` command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headwater.orchestration.errors import WiringError

__all__ = ["RUN_ID", "AdapterNode", "adapter_nodes", "description_dict", "headwater_command"]

FORMAT = "headwater.pipeline/1"
RUN_ID = "{run_id}"
"""The one placeholder in a description's commands; each adapter puts its own run id there."""


@dataclass(frozen=True)
class AdapterNode:
    """One task to generate: its id, the nodes it waits for, its argv, its resources."""

    id: str
    upstream: tuple[str, ...]
    command: tuple[str, ...]
    resources: Mapping[str, Any]


def description_dict(description: Any) -> dict[str, Any]:
    """The description as a dict: from a PipelineDescription, a mapping, JSON text or a path."""
    if hasattr(description, "to_json"):
        data = json.loads(description.to_json())
    elif isinstance(description, Mapping):
        data = dict(description)
    elif isinstance(description, os.PathLike) or (
        isinstance(description, str) and not description.lstrip().startswith("{")
    ):
        path = Path(description)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise WiringError(f"{path}: not a readable pipeline description: {exc}") from exc
    elif isinstance(description, str):
        data = json.loads(description)
    else:
        raise TypeError(f"expected a pipeline description, got {type(description).__name__}")
    if data.get("format") != FORMAT:
        raise WiringError(
            f"pipeline description: format must be {FORMAT!r}, got {data.get('format')!r} "
            "(compile it with `headwater pipeline compile`)"
        )
    for key in ("pipeline_name", "pipeline_file", "nodes"):
        if key not in data:
            raise WiringError(f"pipeline description: missing {key!r}")
    return data


def headwater_command() -> list[str]:
    """The headwater executable of the running environment, as an absolute path."""
    beside = Path(sys.executable).parent / "headwater"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("headwater")
    if found:
        return [os.path.abspath(found)]
    raise WiringError(
        f"no `headwater` executable beside {sys.executable} or on PATH; give command_prefix"
    )


def _overrides(
    data: Mapping[str, Any], metadata: str | None, root: str | None, no_cache: bool
) -> list[str]:
    extra: list[str] = []
    if data.get("pipeline_attr"):
        extra += ["--pipeline", str(data["pipeline_attr"])]
    if metadata:  # a path as the nodes will see it (absolute), a URL unchanged
        remote = "://" in metadata and not metadata.startswith("sqlite://")
        extra += ["--metadata", metadata if remote else os.path.abspath(metadata)]
    if root:
        extra += ["--root", root if "://" in root else os.path.abspath(root)]
    if no_cache:
        extra.append("--no-cache")
    return extra


def adapter_nodes(
    data: Mapping[str, Any],
    *,
    command_prefix: Sequence[str] | str | None = None,
    metadata: str | None = None,
    root: str | None = None,
    no_cache: bool = False,
) -> tuple[list[AdapterNode], tuple[str, ...]]:
    """The nodes with concrete commands, and the `run finish` command that closes a run.

    `command_prefix` replaces the leading `headwater` of each command (default: the absolute
    path of this environment's headwater executable); text is split as a shell would
    (`--option command_prefix="python -m headwater.orchestration.cli"`).
    """
    if isinstance(command_prefix, str):
        command_prefix = shlex.split(command_prefix)
    prefix = list(command_prefix) if command_prefix is not None else headwater_command()
    if not prefix:
        raise WiringError("command_prefix is empty: give the command that runs headwater")
    extra = _overrides(data, metadata, root, no_cache)
    nodes = []
    for raw in data["nodes"]:
        argv = [str(a) for a in raw["command"]]
        if not argv or os.path.basename(argv[0]) != "headwater":
            raise WiringError(f"node {raw.get('id')!r}: command must start with headwater: {argv}")
        if RUN_ID not in argv:
            raise WiringError(f"node {raw['id']!r}: command has no {RUN_ID} placeholder: {argv}")
        # A command that already names its pipeline keeps its own --pipeline.
        tail = extra[2:] if "--pipeline" in argv and data.get("pipeline_attr") else extra
        nodes.append(
            AdapterNode(
                id=str(raw["id"]),
                upstream=tuple(str(u) for u in raw.get("upstream", ())),
                command=tuple([*prefix, *argv[1:], *tail]),
                resources=dict(raw.get("resources") or {}),
            )
        )
    # run finish takes the overrides the nodes' commands carry (compiled with --root, ...).
    common = _common_flags([str(a) for a in data["nodes"][0]["command"]]) if data["nodes"] else []
    if "--pipeline" in common:
        extra = extra[2:] if data.get("pipeline_attr") else extra
    finish = [*prefix, "run", "finish", str(data["pipeline_file"]), "--run-id", RUN_ID]
    return nodes, tuple([*finish, *common, *extra])


def _common_flags(argv: list[str]) -> list[str]:
    """A node command's flags other than --node and --run-id (`headwater node run FILE ...`)."""
    flags = argv[4:]
    out: list[str] = []
    i = 0
    while i < len(flags):
        if flags[i] in ("--node", "--run-id"):
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out
