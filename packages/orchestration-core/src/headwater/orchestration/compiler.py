"""A pipeline compiled to a description every orchestrator reads: its DAG and each node's command.

    description = compile_pipeline("examples/penguin/pipeline.py")
    print(description.to_json())        # `headwater pipeline compile FILE`

Each node's command is `headwater node run FILE --node ID --run-id {run_id}`: "{run_id}" is the
one placeholder an orchestrator fills with its own run id. The connection to ML Metadata and the
pipeline root are the pipeline file's own, unless overridden by `--metadata` / `--root` (or
$HEADWATER_METADATA / $HEADWATER_PIPELINE_ROOT), which every command accepts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from headwater.orchestration.errors import WiringError

FORMAT = "headwater.pipeline/1"
RUN_ID_PLACEHOLDER = "{run_id}"
METADATA_ENV = "HEADWATER_METADATA"
ROOT_ENV = "HEADWATER_PIPELINE_ROOT"


@dataclass(frozen=True, kw_only=True)
class NodeDescription:
    """One node: its id, kind, type, the nodes it reads from and the command that runs it."""

    id: str
    kind: str
    type: str
    upstream: list[str]
    command: list[str]
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class PipelineDescription:
    """A compiled pipeline (format `headwater.pipeline/1`); nodes in dependency order."""

    pipeline_name: str
    pipeline_file: str
    pipeline_attr: str | None
    root: str
    metadata: dict[str, str]
    nodes: list[NodeDescription]
    format: str = FORMAT

    def to_json(self) -> str:
        """The description as JSON text (keys in the documented order)."""
        data = asdict(self)
        ordered = {"format": data.pop("format"), **data}
        return json.dumps(ordered, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PipelineDescription:
        """Read a description back; WiringError naming what is wrong if it is not one."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WiringError(f"pipeline description is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise WiringError(f"pipeline description: expected format {FORMAT!r}, found {found!r}")
        try:
            nodes = [NodeDescription(**n) for n in data.pop("nodes")]
            return cls(nodes=nodes, **data)
        except (TypeError, KeyError) as exc:
            raise WiringError(f"pipeline description: {exc}") from exc

    def node(self, node_id: str) -> NodeDescription:
        """The node with that id."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(f"pipeline {self.pipeline_name!r} has no node {node_id!r}")


def load_pipeline(path: str, name: str | None = None) -> Any:
    """The Pipeline a Python file defines (a module-level Pipeline, or create_pipeline())."""
    import runpy

    from headwater.orchestration.errors import HeadwaterError
    from headwater.orchestration.pipeline import Pipeline
    from headwater.orchestration.training.user_code import user_code_error

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no pipeline file at {path}")
    try:
        namespace = runpy.run_path(path, run_name="__headwater__")
        found = [v for v in namespace.values() if isinstance(v, Pipeline)]
        if not found and callable(namespace.get("create_pipeline")):
            made = namespace["create_pipeline"]()
            found = [made] if isinstance(made, Pipeline) else []
    except HeadwaterError:
        raise  # already says what is wrong (a wiring mistake, a bad config)
    except Exception as exc:  # a syntax error, a failed import, a bug in the file
        raise user_code_error(exc, f"loading pipeline file {path}", path) from exc
    if name is not None:
        found = [p for p in found if p.name == name]
    if len(found) != 1:
        names = [p.name for p in found]
        raise WiringError(
            f"{path}: expected one Pipeline (a module-level variable or create_pipeline()), "
            f"found {len(found)} {names}; pick one with --pipeline NAME"
        )
    return found[0]


def metadata_config(value: str) -> Any:
    """The MLMD connection config `--metadata` names: a SQLite path, or a postgresql:// or
    mysql:// URL (`sqlite:///path` also reads as a path)."""
    from headwater.orchestration.metadata import sqlite_metadata_connection_config
    from headwater.orchestration.ui.stores import store_config

    config = store_config(value)
    if config.WhichOneof("config") == "sqlite":
        return sqlite_metadata_connection_config(os.path.abspath(config.sqlite.filename_uri))
    return config


def load_with_overrides(
    path: str,
    name: str | None = None,
    *,
    metadata: str | None = None,
    root: str | None = None,
    no_cache: bool = False,
) -> Any:
    """The pipeline of `path`, its store and root overridden by the flags or the environment."""
    pipeline = load_pipeline(path, name)
    root = root or os.environ.get(ROOT_ENV)
    if root:
        pipeline.root = os.path.abspath(root)
    metadata = metadata or os.environ.get(METADATA_ENV)
    if metadata:
        pipeline.metadata_connection_config = metadata_config(metadata)
    if no_cache:
        pipeline.enable_cache = False
    return pipeline


def describe_metadata(config: Any) -> dict[str, str]:
    """`{"kind": "sqlite", "path": ...}` or `{"kind": "url", "url": "postgresql://..."}`."""
    kind = config.WhichOneof("config")
    if kind == "sqlite":
        return {"kind": "sqlite", "path": os.path.abspath(config.sqlite.filename_uri)}
    if kind == "postgresql":
        pg = config.postgresql
        auth = pg.user + (f":{pg.password}" if pg.password else "")
        return {"kind": "url", "url": f"postgresql://{auth}@{pg.host}:{pg.port}/{pg.dbname}"}
    if kind == "mysql":
        my = config.mysql
        auth = my.user + (f":{my.password}" if my.password else "")
        return {"kind": "url", "url": f"mysql://{auth}@{my.host}:{my.port}/{my.database}"}
    raise WiringError(f"cannot describe an ML Metadata connection of kind {kind!r}")


def compile_pipeline(
    pipeline_file: str,
    name: str | None = None,
    *,
    metadata: str | None = None,
    root: str | None = None,
) -> PipelineDescription:
    """Compile the pipeline a file defines into its description.

    `metadata` / `root` override the file's store and root, and are passed on in every node's
    command so that the nodes record where the description says.
    """
    pipeline_file = os.path.abspath(pipeline_file)
    pipeline = load_with_overrides(pipeline_file, name, metadata=metadata, root=root)
    extra: list[str] = []
    if name:
        extra += ["--pipeline", name]
    if metadata:
        extra += ["--metadata", metadata_argument(metadata)]
    if root:
        extra += ["--root", os.path.abspath(root)]
    nodes = []
    for node in pipeline.components:
        upstream = list(dict.fromkeys(n.id for n in node.upstream()))
        command = ["headwater", "node", "run", pipeline_file, "--node", node.id]
        command += ["--run-id", RUN_ID_PLACEHOLDER, *extra]
        nodes.append(
            NodeDescription(
                id=node.id,
                kind=node.kind,
                type=node.type_name,
                upstream=upstream,
                command=command,
                resources=dict(node.resources),
            )
        )
    return PipelineDescription(
        pipeline_name=pipeline.name,
        pipeline_file=pipeline_file,
        pipeline_attr=name,
        root=pipeline.root,
        metadata=describe_metadata(pipeline.connection_config()),
        nodes=nodes,
    )


def metadata_argument(value: str) -> str:
    """A `--metadata` value as a command passes it on: a path made absolute, a URL unchanged."""
    if "://" in value and not value.startswith("sqlite://"):
        return value
    return os.path.abspath(value.removeprefix("sqlite://"))
