"""`headwater ui` response times over a store with many runs of a 9-node pipeline.

    uv run --frozen python tools/bench/bench_ui.py [--runs 1000]

Writes `--runs` runs of a penguin-shaped 9-node DAG (ExampleGen ... Pusher, one execution per
node with its input and output events) into a fresh SQLite store through the same MLMD calls
the runner makes, serves it read-only on 127.0.0.1 and times each page (median and max of
20 requests over HTTP): pipelines, a pipeline's runs page, a run page, a node page, an
artifact page and its lineage; then the same over a pipeline whose runs after the first were
all answered from the cache (its statistics artifact has 1,000 writers and 2,000 readers).
Prints a table and a `RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.request

# node -> (inputs: key -> upstream node, outputs: key -> artifact class name)
DAG: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "CsvExampleGen": ({}, {"examples": "Examples"}),
    "StatisticsGen": ({"examples": "CsvExampleGen"}, {"statistics": "ExampleStatistics"}),
    "SchemaGen": ({"statistics": "StatisticsGen"}, {"schema": "Schema"}),
    "ExampleValidator": (
        {"statistics": "StatisticsGen", "schema": "SchemaGen"},
        {"anomalies": "ExampleAnomalies"},
    ),
    "Transform": (
        {"examples": "CsvExampleGen", "schema": "SchemaGen"},
        {"transform_graph": "TransformGraph"},
    ),
    "Trainer": ({"transform_graph": "Transform"}, {"model": "Model"}),
    "Evaluator": (
        {"model": "Trainer", "examples": "CsvExampleGen"},
        {"evaluation": "ModelEvaluation", "blessing": "ModelBlessing"},
    ),
    "InfraValidator": ({"model": "Trainer"}, {"blessing": "InfraBlessing"}),
    "Pusher": (
        {"model": "Trainer", "model_blessing": "Evaluator"},
        {"pushed_model": "PushedModel"},
    ),
}


def write_runs(path: str, pipeline: str, runs: int, *, cached: bool = False) -> float:
    """`runs` runs of DAG in the store at `path`; returns the seconds it took.

    With `cached`, every run after the first is answered from the cache: its executions are
    CACHED and name the first run's artifacts, which then have `runs` writers and readers.
    """
    from headwater.orchestration import MetadataStore, sqlite_metadata_connection_config
    from headwater.orchestration.artifacts import artifact_class
    from headwater.orchestration.metadata import NODE_CONTEXT

    store = MetadataStore(sqlite_metadata_connection_config(path))
    start = time.perf_counter()
    node_ctx = {n: store.ensure_context(NODE_CONTEXT, f"{pipeline}.{n}") for n in DAG}
    first: dict[str, dict[str, object]] = {}
    for r in range(runs):
        run_id = f"run-{r:05d}"
        pipeline_ctx, run_ctx = store.start_run(pipeline, run_id)
        made: dict[str, dict[str, object]] = {}
        for node, (ins, outs) in DAG.items():
            if cached and r > 0:
                store.put_execution(
                    type_name=node,
                    state="CACHED",
                    contexts=[pipeline_ctx, run_ctx, node_ctx[node]],
                    properties={"cache_key": f"{node}-0"},
                    inputs={
                        k: [first[up][k] if k in first[up] else next(iter(first[up].values()))]
                        for k, up in ins.items()
                    },
                    outputs={k: [a] for k, a in first[node].items()},
                )
                continue
            inputs = {
                key: [next(iter(made[up].values()))] if key not in made[up] else [made[up][key]]
                for key, up in ins.items()
            }
            outputs = {
                key: artifact_class(cls)(f"/tmp/bench-ui/{pipeline}/{node}/{key}/{r}")
                for key, cls in outs.items()
            }
            store.put_execution(
                type_name=node,
                state="COMPLETE",
                contexts=[pipeline_ctx, run_ctx, node_ctx[node]],
                properties={"cache_key": f"{node}-{r}", "rows": r},
                inputs=inputs,  # type: ignore[arg-type]
                outputs={k: [a] for k, a in outputs.items()},
            )
            made[node] = dict(outputs)
        if r == 0:
            first = made
        store.finish_run(run_ctx, "COMPLETE")
    return time.perf_counter() - start


def _time(url: str, repeat: int = 20) -> tuple[float, float]:
    took = []
    for _ in range(repeat):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
        took.append(time.perf_counter() - t)
    return statistics.median(took) * 1000, max(took) * 1000


def main(argv: list[str] | None = None) -> int:
    """Write the store, serve it, time the pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args(argv)
    from headwater.orchestration import MetadataStore, sqlite_metadata_connection_config
    from headwater.orchestration.ui import running

    with tempfile.TemporaryDirectory(prefix="hw-bench-ui-") as root:
        path = os.path.join(root, "metadata.sqlite")
        wrote = write_runs(path, "bench", args.runs)
        print(f"wrote {args.runs} runs x {len(DAG)} nodes in {wrote:.1f} s")
        wrote_cached = write_runs(path, "cached", args.runs, cached=True)
        print(f"wrote {args.runs} runs (all but the first cached) in {wrote_cached:.1f} s")
        reader = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
        last = f"run-{args.runs - 1:05d}"
        [stats] = reader.store.get_artifacts_by_uri(
            "/tmp/bench-ui/cached/StatisticsGen/statistics/0"
        )
        [art] = reader.store.get_artifacts_by_uri(
            f"/tmp/bench-ui/bench/Trainer/model/{args.runs // 2}"
        )
        pages = {
            "pipelines (/)": "/",
            "runs page (50 of them)": "/p/bench",
            "runs page, oldest 50": f"/p/bench?offset={max(0, args.runs - 50)}",
            "run page (9 nodes)": f"/p/bench/runs/{last}",
            "node page": f"/p/bench/runs/{last}/nodes/Trainer",
            "artifact page": f"/p/bench/artifacts/{art.id}",
            "lineage (2 hops)": f"/p/bench/artifacts/{art.id}/lineage",
            "cached: runs page": "/p/cached",
            "cached: artifact page": f"/p/cached/artifacts/{stats.id}",
            "cached: lineage (2 hops)": f"/p/cached/artifacts/{stats.id}/lineage",
        }
        result = {"runs": args.runs, "nodes": len(DAG), "write_s": round(wrote, 1)}
        with running([reader]) as base:
            print(f"{'page':28} {'median ms':>10} {'max ms':>8}")
            for name, url in pages.items():
                median, worst = _time(base + url)
                print(f"{name:28} {median:10.1f} {worst:8.1f}")
                result[name] = {"median_ms": round(median, 1), "max_ms": round(worst, 1)}
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
