"""The CLI's orchestration commands: compile a pipeline, run one node of a run, finish a run.

    headwater pipeline compile pipeline.py --output pipeline.json
    headwater node run pipeline.py --node Trainer --run-id RUN
    headwater run finish pipeline.py --run-id RUN

Every command here takes the overrides an orchestrator may append: `--pipeline NAME`,
`--metadata URL_OR_SQLITE_PATH`, `--root DIR`, `--no-cache` ($HEADWATER_METADATA and
$HEADWATER_PIPELINE_ROOT stand for the flags). A compiled description (.json) may stand for
the pipeline file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

NODE_RUN_EXAMPLES = """\
examples:
  headwater node run pipeline.py --node CsvExampleGen --run-id 2026-12-03T15:00:00
  headwater node run pipeline.json --node Trainer --run-id manual-1 \\
      --metadata postgresql://mlmd@db:5432/mlmd --root /mnt/pipelines/penguin

exit status: 0 ran (or answered from the cache, or already done in this run); 1 the component
failed (FAILED recorded); 2 an upstream node has no output in this run; 130/143 interrupted by
SIGINT/SIGTERM (CANCELED recorded, temporary outputs removed).
"""

FINISH_EXAMPLES = """\
examples:
  headwater run finish pipeline.py --run-id 2026-12-03T15:00:00

exit status: 0 when every node is COMPLETE or CACHED in the run (run recorded COMPLETE),
1 otherwise (run recorded FAILED).
"""

COMPILE_EXAMPLES = """\
examples:
  headwater pipeline compile examples/penguin/pipeline.py
  headwater pipeline compile pipeline.py --output pipeline.json --metadata /data/mlmd.sqlite
  headwater pipeline compile pipeline.py --engine airflow --output dags/penguin.py \
      --option schedule=@daily
"""


def add_overrides(parser: argparse.ArgumentParser) -> None:
    """The flags every orchestration command accepts."""
    parser.add_argument("--pipeline", help="which Pipeline, if the file defines several")
    parser.add_argument(
        "--metadata",
        help="ML Metadata store instead of the pipeline's own: a SQLite file, "
        "postgresql://USER@HOST:PORT/DB or mysql://... (default $HEADWATER_METADATA)",
    )
    parser.add_argument(
        "--root", help="pipeline root instead of the pipeline's own ($HEADWATER_PIPELINE_ROOT)"
    )
    parser.add_argument("--no-cache", action="store_true", help="run even if cached")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """`--option KEY=VALUE`, repeatable: the options of the engine's generator."""
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the engine's generator (repeatable)",
    )


def add_commands(
    pipeline: Any, runs: Any, top: Any, formatter: type[argparse.HelpFormatter]
) -> None:
    """Wire `pipeline compile`, `node run` and `run finish` into the parser."""
    comp = pipeline.add_parser(
        "compile",
        help="write the pipeline's description (DAG, node commands) as JSON",
        epilog=COMPILE_EXAMPLES,
        formatter_class=formatter,
    )
    comp.add_argument("file", help="a .py file defining a Pipeline")
    comp.add_argument("--output", "-o", help="write here instead of stdout")
    comp.add_argument(
        "--engine",
        default="local",
        help="local or beam: the description (JSON); airflow: a DAG file; kubeflow: KFP YAML",
    )
    add_engine_options(comp)
    add_overrides(comp)
    comp.set_defaults(func=_compile)

    node = top.add_parser("node", help="run one node of a run").add_subparsers(metavar="ACTION")
    nrun = node.add_parser(
        "run",
        help="run one node of one run (what orchestrators call)",
        epilog=NODE_RUN_EXAMPLES,
        formatter_class=formatter,
    )
    nrun.add_argument("file", help="a .py file defining a Pipeline, or its compiled .json")
    nrun.add_argument("--node", required=True, help="the node id")
    nrun.add_argument("--run-id", required=True, help="the run id, shared by the run's nodes")
    add_overrides(nrun)
    nrun.set_defaults(func=_node_run)

    fin = runs.add_parser(
        "finish",
        help="record a run COMPLETE or FAILED from its nodes' executions",
        epilog=FINISH_EXAMPLES,
        formatter_class=formatter,
    )
    fin.add_argument("file", help="a .py file defining a Pipeline, or its compiled .json")
    fin.add_argument("--run-id", required=True, help="the run id")
    add_overrides(fin)
    fin.set_defaults(func=_run_finish)


def load_for_command(args: argparse.Namespace) -> Any:
    """The pipeline a command names (a .py file or a compiled .json), overrides applied."""
    from headwater.orchestration.compiler import (
        METADATA_ENV,
        ROOT_ENV,
        PipelineDescription,
        load_with_overrides,
    )

    path, name = args.file, args.pipeline
    metadata, root = args.metadata, args.root
    if path.endswith(".json"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no pipeline description at {path}")
        with open(path) as f:
            description = PipelineDescription.from_json(f.read())
        path, name = description.pipeline_file, name or description.pipeline_attr
        described = description.metadata
        metadata = metadata or os.environ.get(METADATA_ENV) or described.get("path")
        metadata = metadata or described.get("url")
        root = root or os.environ.get(ROOT_ENV) or description.root
    return load_with_overrides(
        path, name, metadata=metadata, root=root, no_cache=getattr(args, "no_cache", False)
    )


def _say(line: str) -> None:
    print(line, flush=True)


def _compile(args: argparse.Namespace) -> int:
    import tempfile

    from headwater.orchestration.compiler import compile_pipeline
    from headwater.orchestration.lifecycle import check_engine, engine_options, write_engine_files

    engine = check_engine(args.engine)
    description = compile_pipeline(args.file, args.pipeline, metadata=args.metadata, root=args.root)
    text = description.to_json()
    if engine in ("airflow", "kubeflow"):
        with tempfile.TemporaryDirectory() as tmp:
            described = os.path.join(tmp, "pipeline.json")
            with open(described, "w") as f:
                f.write(text)
            target = args.output or os.path.join(tmp, "out")
            write_engine_files(engine, described, target, engine_options(args.option))
            if not args.output:
                with open(target) as f:
                    sys.stdout.write(f.read())
                return 0
    elif args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
        return 0
    print(f"wrote {args.output}: {len(description.nodes)} nodes of {description.pipeline_name}")
    return 0


def _node_run(args: argparse.Namespace) -> int:
    from headwater.orchestration.cli import _register
    from headwater.orchestration.errors import ComponentFailedError
    from headwater.orchestration.node_run import Terminated, run_node
    from headwater.orchestration.run_records import UpstreamMissingError
    from headwater.orchestration.runner import user_frame

    pipeline = load_for_command(args)
    _register(pipeline)  # `headwater run list` / `run status` find a SQLite store without flags
    where = f"node {args.node} of run {args.run_id} ({pipeline.name})"
    _say(f"{where}  root {pipeline.root}")
    t0 = time.perf_counter()
    try:
        result = run_node(pipeline, args.node, args.run_id, say=lambda line: _say(f"    {line}"))
    except ComponentFailedError as exc:
        if args.traceback:
            raise
        print(f"error: {exc}", file=sys.stderr)
        frame = user_frame(exc.cause)
        if frame:
            print(f"    at {frame}", file=sys.stderr)
        return 1
    except UpstreamMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"error: {where} canceled: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"error: {where} canceled: interrupted", file=sys.stderr)
        return 130
    took = time.perf_counter() - t0
    _say(f"{where}  {result.status}  {took:.2f} s  (execution {result.execution_id})")
    for key, artifacts in result.outputs.items():
        for artifact in artifacts:
            _say(f"    {key}: {artifact.TYPE_NAME} {artifact.uri}")
    return 0


def _run_finish(args: argparse.Namespace) -> int:
    from headwater.orchestration.node_run import finish_run

    pipeline = load_for_command(args)
    state = finish_run(pipeline, args.run_id, say=_say)
    return 0 if state == "COMPLETE" else 1
