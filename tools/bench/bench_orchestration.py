"""Orchestration overhead and ExampleGen throughput.

    uv run --frozen python tools/bench/bench_orchestration.py [taxi.csv]

1. Whole-run wall time (median) of 1- and 10-component no-op chains, uncached and cached,
   on SQLite MLMD, and the cost of one more component: (t10 - t1) / 9.
2. CsvExampleGen on the taxi CSV (default /tmp/hw_data/r1000000/taxi.csv): rows/s and peak
   memory, beside headwater.io's raw `read_csv` of the same file (the baseline), each in its
   own process so that peak RSS is its own.
Prints a table and a `RESULT {json}` line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

DEFAULT_CSV = "/tmp/hw_data/r1000000/taxi.csv"


def _noop_pipeline(root: str, n: int, *, enable_cache: bool) -> object:
    from headwater.orchestration import (
        InputArtifact,
        Model,
        OutputArtifact,
        Parameter,
        Pipeline,
        component,
    )

    @component
    def First(out: OutputArtifact[Model], tag: Parameter[int] = 0) -> None:
        """Does nothing."""

    @component
    def Next(prev: InputArtifact[Model], out: OutputArtifact[Model]) -> None:
        """Does nothing."""

    nodes = [First()]
    for i in range(1, n):
        nodes.append(Next(prev=nodes[-1].outputs["out"]).with_id(f"Next{i}"))
    return Pipeline("noop", root, nodes, enable_cache=enable_cache)


def bench_overhead(repeats: int = 15) -> dict[str, float]:
    """Median seconds of whole runs (1 and 10 no-op components, uncached and cached) and the
    marginal cost of one more component, (t10 - t1) / 9."""
    import statistics

    from headwater.orchestration import LocalDagRunner

    runner = LocalDagRunner(quiet=True)
    out: dict[str, float] = {}
    for n in (1, 10):
        with tempfile.TemporaryDirectory() as root:
            runner.run(_noop_pipeline(root, n, enable_cache=True))  # types, contexts, cache
            for cached in (False, True):
                times = []
                for _ in range(repeats):
                    pipeline = _noop_pipeline(root, n, enable_cache=cached)
                    t0 = time.perf_counter()
                    runner.run(pipeline)
                    times.append(time.perf_counter() - t0)
                out[f"pipeline{n}_{'cached' if cached else 'uncached'}_s"] = statistics.median(
                    times
                )
    for kind in ("uncached", "cached"):
        out[f"per_component_{kind}_s"] = (
            out[f"pipeline10_{kind}_s"] - out[f"pipeline1_{kind}_s"]
        ) / 9
    return out


def _child(kind: str, path: str) -> None:
    """Run one measured workload in this process and print its figures as JSON."""
    t0 = time.perf_counter()
    if kind == "raw_read":
        import headwater.io as hio

        start = time.perf_counter()
        rows = sum(b.num_rows for b in hio.read_csv(path))
    else:
        from headwater.orchestration import CsvExampleGen, LocalDagRunner, Pipeline

        with tempfile.TemporaryDirectory() as root:
            gen = CsvExampleGen(
                input_base=os.path.dirname(path), input_config=os.path.basename(path)
            )
            start = time.perf_counter()
            result = LocalDagRunner(quiet=True).run(Pipeline("bench", root, [gen]))
            examples = result.output("CsvExampleGen", "examples")
            rows = (
                sum(sum(b.num_rows for b in split.read_batches()) for split in examples.splits())
                if kind == "csv_example_gen_verify"
                else _count_rows(path)
            )
    elapsed = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": elapsed,
                "process_s": time.perf_counter() - t0,
                "peak_mib": peak_mib,
            }
        )
    )


def _count_rows(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f) - 1


def _measure(kind: str, path: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, path],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Run every measurement and print the table and the RESULT line."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--child" in sys.argv:
        _child(args[0], args[1])
        return
    path = args[0] if args else DEFAULT_CSV
    overhead = bench_overhead()
    raw = _measure("raw_read", path)
    gen = _measure("csv_example_gen", path)
    print(f"{'measure':<44}{'value':>14}")
    labels = {
        "pipeline1_uncached_s": "1 no-op component pipeline, uncached (run)",
        "pipeline1_cached_s": "1 no-op component pipeline, cached (run)",
        "pipeline10_uncached_s": "10-component no-op pipeline, uncached",
        "pipeline10_cached_s": "10-component no-op pipeline, cached",
        "per_component_uncached_s": "one more component, uncached",
        "per_component_cached_s": "one more component, cached",
    }
    for key, label in labels.items():
        print(f"{label:<44}{overhead[key] * 1e3:>11.1f} ms")
    for name, figures in (
        ("headwater.io read_csv (baseline)", raw),
        ("CsvExampleGen (split+tf.Example gz)", gen),
    ):
        rate = figures["rows"] / figures["seconds"]
        print(
            f"{name:<44}{rate:>11,.0f} rows/s  {figures['seconds']:.2f} s  "
            f"peak {figures['peak_mib']:,.0f} MiB"
        )
    print(
        "RESULT "
        + json.dumps(
            {
                "workload": "orchestration",
                "csv": path,
                **{k: round(v, 5) for k, v in overhead.items()},
                "raw_read_rows_per_s": round(raw["rows"] / raw["seconds"]),
                "raw_read_peak_mib": round(raw["peak_mib"]),
                "csv_example_gen_rows_per_s": round(gen["rows"] / gen["seconds"]),
                "csv_example_gen_s": round(gen["seconds"], 2),
                "csv_example_gen_peak_mib": round(gen["peak_mib"]),
                "rows": gen["rows"],
            }
        )
    )


if __name__ == "__main__":
    main()
