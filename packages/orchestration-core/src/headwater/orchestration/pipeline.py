"""A pipeline: named nodes ordered by the channels between them, plus where runs are kept."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from headwater.orchestration.dsl import Node
from headwater.orchestration.errors import WiringError

METADATA_FILE = "metadata.sqlite"


def headwater_home() -> str:
    """`$HEADWATER_HOME`, or `~/.headwater`: where pipelines without a root keep their runs."""
    return os.environ.get("HEADWATER_HOME") or os.path.join(os.path.expanduser("~"), ".headwater")


def default_pipeline_root(name: str) -> str:
    """`<headwater home>/pipelines/<name>`."""
    return os.path.join(headwater_home(), "pipelines", name)


class Pipeline:
    """Components wired by their channels, run in dependency order.

    Example:
        Pipeline("penguin", root, [example_gen, statistics_gen], enable_cache=True)
    """

    def __init__(
        self,
        name: str,
        root: str | None = None,
        components: Sequence[Node] = (),
        metadata_connection_config: Any = None,
        enable_cache: bool = True,
        beam_pipeline_args: Sequence[str] = (),
    ) -> None:
        if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise WiringError(f"pipeline name must be letters, digits and '_-.', got {name!r}")
        self.name = name
        self.root = os.path.abspath(root or default_pipeline_root(name))
        self.metadata_connection_config = metadata_connection_config
        self.enable_cache = enable_cache
        self.beam_pipeline_args = list(beam_pipeline_args)
        self.components = _topological_order(name, list(components))

    @property
    def metadata_path(self) -> str:
        """The default SQLite store under the root (used when no connection config is set)."""
        return os.path.join(self.root, METADATA_FILE)

    def connection_config(self) -> Any:
        """The MLMD connection config: the one given, or SQLite under the root."""
        if self.metadata_connection_config is not None:
            return self.metadata_connection_config
        from headwater.orchestration.metadata import sqlite_metadata_connection_config

        return sqlite_metadata_connection_config(self.metadata_path)

    def node(self, node_id: str) -> Node:
        """The node with that id."""
        for node in self.components:
            if node.id == node_id:
                return node
        raise KeyError(f"pipeline {self.name!r} has no node {node_id!r}")

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, {[n.id for n in self.components]})"


def _topological_order(pipeline_name: str, nodes: list[Node]) -> list[Node]:
    """Nodes (and any upstream node not listed) in dependency order; WiringError on a cycle."""
    for node in nodes:
        if not isinstance(node, Node):
            raise WiringError(
                f"pipeline {pipeline_name!r}: components must be nodes (a component called "
                f"with its inputs), got {type(node).__name__} {node!r:.80}"
            )
    # Pull in upstream nodes the caller did not list, in first-seen order.
    seen: dict[int, Node] = {}
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(reversed(node.upstream()))
    all_nodes = list(seen.values())
    ids: dict[str, Node] = {}
    for node in all_nodes:
        if node.id in ids:
            raise WiringError(
                f"pipeline {pipeline_name!r}: two nodes have id {node.id!r}; "
                f"give one another id with .with_id(...)"
            )
        ids[node.id] = node
    order: list[Node] = []
    state: dict[int, str] = {}

    def visit(node: Node, path: list[str]) -> None:
        mark = state.get(id(node))
        if mark == "done":
            return
        if mark == "active":
            cycle = path[path.index(node.id) :]
            raise WiringError(
                f"pipeline {pipeline_name!r}: cycle between components "
                f"{' <- '.join(cycle)} (each reads the next one's outputs)"
            )
        state[id(node)] = "active"
        for channel in node.inputs.values():
            if channel.producer is not None:
                visit(channel.producer, [*path, channel.producer.id])
        state[id(node)] = "done"
        order.append(node)

    for node in all_nodes:
        visit(node, [node.id])
    return order
