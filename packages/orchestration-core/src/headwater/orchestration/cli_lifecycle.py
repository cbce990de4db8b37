"""The CLI's pipeline lifecycle: `pipeline create | update | delete`, `run status | delete`.

headwater pipeline create pipeline.py --engine airflow
headwater pipeline update pipeline.py
headwater pipeline run penguin
headwater run status 2026-12-03T15:00:00.000000
headwater run delete 2026-12-03T15:00:00.000000
headwater pipeline delete penguin
"""

from __future__ import annotations

import argparse
import os
from typing import Any

CREATE_EXAMPLES = """\
examples:
  headwater pipeline create examples/penguin/pipeline.py                 # local engine
  headwater pipeline create pipeline.py --engine beam
  headwater pipeline create pipeline.py --engine airflow --option schedule=@daily \\
      --option retries=3             # writes $AIRFLOW_HOME/dags/<pipeline>.py
  headwater pipeline create pipeline.py --engine kubeflow --output penguin.yaml \\
      --option image=registry.local/headwater:1 --metadata postgresql://mlmd@db/mlmd
"""

DELETE_EXAMPLES = """\
examples:
  headwater pipeline delete penguin --dry-run     # what would be removed and kept
  headwater pipeline delete penguin

Output files of the pipeline's artifacts are removed and the artifacts marked DELETED in ML
Metadata; executions and lineage stay. Kept (and listed): artifacts another pipeline's
executions read or reuse, and files outside the pipeline root.
"""

RUN_EXAMPLES = """\
examples:
  headwater run status 2026-12-03T15:00:00.000000
  headwater run delete 2026-12-03T15:00:00.000000 --dry-run
"""


def add_commands(pipeline: Any, runs: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Wire the lifecycle commands into the parser."""
    from headwater.orchestration.cli_orchestrate import add_engine_options, add_overrides

    for action, text in (
        ("create", "create a pipeline on an engine (compiled, registered, engine files written)"),
        ("update", "update a created pipeline (compiled and engine files written again)"),
    ):
        cmd = pipeline.add_parser(
            action, help=text, epilog=CREATE_EXAMPLES, formatter_class=formatter
        )
        cmd.add_argument("file", help="a .py file defining a Pipeline")
        cmd.add_argument("--engine", help="local (default on create), beam, airflow, kubeflow")
        cmd.add_argument("--output", help="where the engine's file goes (Airflow DAG, KFP YAML)")
        add_engine_options(cmd)
        add_overrides(cmd)
        cmd.set_defaults(func=_create if action == "create" else _update)

    delete = pipeline.add_parser(
        "delete",
        help="delete a pipeline's outputs and definition (lineage kept)",
        epilog=DELETE_EXAMPLES,
        formatter_class=formatter,
    )
    delete.add_argument("name", help="the pipeline name")
    _store_flags(delete)
    delete.set_defaults(func=_pipeline_delete)

    status = runs.add_parser(
        "status", help="a run's state and its nodes", epilog=RUN_EXAMPLES, formatter_class=formatter
    )
    status.add_argument("run_id")
    status.add_argument("--metadata", help="ML Metadata store: a SQLite file or a URL")
    status.set_defaults(func=_run_status)
    rdelete = runs.add_parser(
        "delete",
        help="delete a run's outputs (lineage kept)",
        epilog=RUN_EXAMPLES,
        formatter_class=formatter,
    )
    rdelete.add_argument("run_id")
    _store_flags(rdelete)
    rdelete.set_defaults(func=_run_delete)


def _store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metadata", help="ML Metadata store: a SQLite file or a URL")
    parser.add_argument("--root", help="the pipeline root (default: the created pipeline's)")
    parser.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")


def _create(args: argparse.Namespace) -> int:
    return _define(args, create=True)


def _update(args: argparse.Namespace) -> int:
    return _define(args, create=False)


def _define(args: argparse.Namespace, *, create: bool) -> int:
    from headwater.orchestration.compiler import compile_pipeline
    from headwater.orchestration.errors import WiringError
    from headwater.orchestration.lifecycle import (
        Definition,
        check_engine,
        definition_path,
        engine_options,
        now,
        read_definition,
        write_definition,
        write_engine_files,
    )

    description = compile_pipeline(args.file, args.pipeline, metadata=args.metadata, root=args.root)
    name = description.pipeline_name
    existing = read_definition(name)
    if create and existing is not None:
        raise WiringError(
            f"pipeline {name!r} already exists (engine {existing.engine}, file "
            f"{existing.pipeline_file}); change it with `headwater pipeline update`"
        )
    if not create and existing is None:
        raise WiringError(
            f"no pipeline {name!r} to update; create it with `headwater pipeline create`"
        )
    engine = check_engine(args.engine or (existing.engine if existing else "local"))
    options = engine_options(args.option)
    if not options and existing is not None and existing.engine == engine:
        options = dict(existing.engine_options)
    base = definition_path(name)[: -len(".json")]
    description_file = f"{base}.pipeline.json"
    os.makedirs(os.path.dirname(description_file), exist_ok=True)
    with open(description_file, "w") as f:
        f.write(description.to_json())
    engine_output = None
    if engine in ("airflow", "kubeflow"):
        target = args.output or (
            existing.engine_output if existing and existing.engine == engine else None
        )
        target = target or _default_engine_target(engine, name, base)
        engine_output = write_engine_files(engine, description_file, target, options)
    definition = Definition(
        pipeline_name=name,
        pipeline_file=description.pipeline_file,
        pipeline_attr=args.pipeline,
        engine=engine,
        root=description.root,
        metadata=args.metadata,
        description=description_file,
        engine_output=engine_output,
        engine_options={k: str(v) for k, v in options.items()},
        created=existing.created if existing else now(),
        updated=now(),
    )
    write_definition(definition)
    _register_and_undelete(description)
    print(
        f"pipeline {name} {'created' if create else 'updated'}: engine {engine}, "
        f"{len(description.nodes)} nodes"
    )
    print(f"    description: {description_file}")
    if engine_output:
        print(f"    {engine} file: {engine_output}")
    print(f"    run it: {_how_to_run(definition)}")
    return 0


def _default_engine_target(engine: str, name: str, base: str) -> str:
    if engine == "airflow":
        home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
        return os.path.join(home, "dags", f"{name}.py")
    return f"{base}.kfp.yaml"


def _how_to_run(definition: Any) -> str:
    name = definition.pipeline_name
    if definition.engine == "airflow":
        return f"airflow dags trigger {name}  (or `airflow dags test {name}`)"
    if definition.engine == "kubeflow":
        return (
            f"upload {definition.engine_output} to Kubeflow Pipelines (UI, or kfp.Client()"
            ".create_run_from_pipeline_package) and start a run there"
        )
    return f"headwater pipeline run {name}"


def _register_and_undelete(description: Any) -> None:
    from headwater.orchestration.compiler import metadata_config
    from headwater.orchestration.lifecycle import mark_pipeline_deleted
    from headwater.orchestration.metadata import PIPELINE_CONTEXT, MetadataStore
    from headwater.orchestration.registry import register_store

    meta = description.metadata
    if meta["kind"] == "sqlite":
        register_store(description.pipeline_name, meta["path"])
        if not os.path.exists(meta["path"]):
            return
    store = MetadataStore(metadata_config(meta.get("path") or meta["url"]))
    ctx = store.get_context(PIPELINE_CONTEXT, description.pipeline_name)
    if ctx is not None:
        mark_pipeline_deleted(store, ctx, False)


def writable_store(metadata: str | None, pipeline_name: str | None) -> tuple[str, Any]:
    """(label, writable store): `--metadata`, the created pipeline's, or the registry's."""
    from headwater.orchestration.compiler import metadata_config
    from headwater.orchestration.errors import MetadataError
    from headwater.orchestration.lifecycle import read_definition
    from headwater.orchestration.metadata import MetadataStore
    from headwater.orchestration.registry import registered_stores

    if metadata is None and pipeline_name is not None:
        definition = read_definition(pipeline_name)
        if definition is not None:
            metadata = definition.metadata or _described_store(definition.description)
        metadata = metadata or registered_stores().get(pipeline_name)
    if metadata is None:
        raise MetadataError(f"no store known for pipeline {pipeline_name!r}; give --metadata")
    if "://" not in metadata and not os.path.exists(metadata):
        raise FileNotFoundError(f"no ML Metadata file at {metadata}")
    return metadata, MetadataStore(metadata_config(metadata))


def _described_store(description_file: str) -> str | None:
    from headwater.orchestration.compiler import PipelineDescription

    try:
        with open(description_file) as f:
            meta = PipelineDescription.from_json(f.read()).metadata
    except FileNotFoundError:
        return None
    return meta.get("path") or meta.get("url")


def _pipeline_root(name: str, root: str | None, store_label: str) -> str:
    from headwater.orchestration.errors import MetadataError
    from headwater.orchestration.lifecycle import read_definition
    from headwater.orchestration.pipeline import METADATA_FILE

    if root:
        return os.path.abspath(root)
    definition = read_definition(name)
    if definition is not None:
        return definition.root
    if os.path.basename(store_label) == METADATA_FILE:
        return os.path.dirname(os.path.abspath(store_label))
    raise MetadataError(f"the root of pipeline {name!r} is not known; give --root")


def _pipeline_delete(args: argparse.Namespace) -> int:
    from headwater.orchestration.errors import MetadataError
    from headwater.orchestration.lifecycle import (
        definition_path,
        delete_outputs,
        mark_pipeline_deleted,
        read_definition,
    )
    from headwater.orchestration.metadata import PIPELINE_CONTEXT

    definition = read_definition(args.name)
    try:
        label, store = writable_store(args.metadata, args.name)
    except FileNotFoundError:
        if definition is None or args.metadata:
            raise
        label, store = "no store yet: the pipeline never ran", None
    ctx = store.get_context(PIPELINE_CONTEXT, args.name) if store else None
    if ctx is None and definition is None:
        raise MetadataError(f"no pipeline {args.name!r} (see `headwater pipeline list`)")
    if store is not None and ctx is not None:
        root = _pipeline_root(args.name, args.root, label)
        deletion = delete_outputs(
            store, ctx, root, scope_label=f"pipeline delete {args.name}", dry_run=args.dry_run
        )
        if not args.dry_run:
            mark_pipeline_deleted(store, ctx, True)
        _say_deletion(deletion, args.dry_run)
    if definition is not None and not args.dry_run:
        for path in (definition.engine_output, definition.description, definition_path(args.name)):
            if path and os.path.exists(path):
                os.unlink(path)
                print(f"removed {path}")
    verb = "would be deleted" if args.dry_run else "deleted"
    print(f"pipeline {args.name} {verb} (its runs and lineage stay in ML Metadata: {label})")
    return 0


def _say_deletion(deletion: Any, dry_run: bool) -> None:
    verb = "would remove" if dry_run else "removed"
    print(f"{verb} {len(deletion.removed)} artifacts' files")
    for artifact_id, uri in deletion.removed:
        print(f"    [{artifact_id}] {uri}")
    if deletion.kept:
        print(f"kept {len(deletion.kept)} artifacts:")
        for kept in deletion.kept:
            print(f"    [{kept.artifact_id}] {kept.uri}: {kept.reason}")


def _find_run(run_id: str, metadata: str | None) -> tuple[str, Any, Any]:
    """(store label, read-only store, run context) of the run, searched in the known stores."""
    from headwater.orchestration.cli import _stores
    from headwater.orchestration.errors import MetadataError
    from headwater.orchestration.metadata import RUN_CONTEXT

    for label, store in _stores(metadata):
        ctx = store.get_context(RUN_CONTEXT, run_id)
        if ctx is not None:
            return label, store, ctx
    raise MetadataError(f"no run {run_id!r} recorded (see `headwater run list PIPELINE`)")


def _run_status(args: argparse.Namespace) -> int:
    from headwater.orchestration.cli import _table
    from headwater.orchestration.query import pipeline_runs

    label, store, ctx = _find_run(args.run_id, args.metadata)
    name = ctx.custom_properties["pipeline_name"].string_value
    [run] = [r for r in pipeline_runs(store, name) if r.run_id == args.run_id]
    print(f"run {run.run_id} of {name}: {run.state}  (metadata: {label})")
    rows = []
    for e in run.executions:
        took = (e.last_update_time_ms - e.create_time_ms) / 1000
        rows.append((e.node_id, e.type_name, e.state, str(e.id), f"{took:.1f} s"))
    _table(["node", "type", "state", "execution", "took"], rows)
    return 0 if run.state in ("COMPLETE", "CACHED", "RUNNING") else 1


def _run_delete(args: argparse.Namespace) -> int:
    from headwater.orchestration.lifecycle import delete_outputs
    from headwater.orchestration.metadata import RUN_CONTEXT, set_value

    label, _, ctx = _find_run(args.run_id, args.metadata)
    name = ctx.custom_properties["pipeline_name"].string_value
    _, store = writable_store(label, name)
    ctx = store.get_context(RUN_CONTEXT, args.run_id)
    root = _pipeline_root(name, args.root, label)
    deletion = delete_outputs(
        store, ctx, root, scope_label=f"run delete {args.run_id}", dry_run=args.dry_run
    )
    if not args.dry_run:
        set_value(ctx.custom_properties["deleted"], "outputs removed by `headwater run delete`")
        store.store.put_contexts([ctx])
    _say_deletion(deletion, args.dry_run)
    return 0
