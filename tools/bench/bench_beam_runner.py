"""Beam runner cost per component on the penguin data: Beam's DirectRunner vs Headwater's default.

    uv run --frozen python tools/bench/bench_beam_runner.py [--reps 2]

Runs CsvExampleGen (use_beam), StatisticsGen, SchemaGen and Transform on the 342 penguin rows
with `--runner=DirectRunner` (on Beam 2.6x+ it first tries Prism: a worker pool on all
interfaces, a binary download, then a fallback) and with `--runner=FnApiRunner` (what
`headwater.orchestration.context.DEFAULT_RUNNER` picks), alternating, after one warm-up run,
in one process. Naming a runner makes StatisticsGen take its Beam driver in both. Prints each
node's wall and CPU seconds (CPU: this process, between the runner's progress lines) per runner,
as the median over the repetitions. Figures are indicative on a shared machine.

    uv run --frozen python tools/bench/bench_beam_runner.py --fixed-cost [--csv taxi.csv]

The fixed cost of one library pipeline instead (ReadCsv | GenerateStatistics on the FnApiRunner,
100 rows of `--csv` by default, where nearly all of it is fixed): its number of transforms, and
its CPU seconds split into where Beam spends them (cProfile, a warm run in this process):
building the options views, inspecting DoFn signatures, converting to the runner proto, running
the bundles. These are Beam's own costs per transform and per DoFn; what Headwater controls is
how many transforms and DoFns its pipelines have.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PENGUIN = os.path.join(HERE, "..", "..", "examples", "penguin")
RUNNERS = ("DirectRunner", "FnApiRunner")


class _CpuMarks:
    """A progress stream that notes this process's CPU time at the run's start and node ends."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def write(self, text: str) -> int:
        if text.startswith(("pipeline ", "[")):  # "pipeline <name> run ..." / "[i/n] <node> ..."
            self.marks.append(time.process_time())
        return len(text)

    def flush(self) -> None:
        pass


def _run_once(runner: str, root: str) -> dict[str, tuple[float, float]]:
    """Per node: (wall s, CPU s) for one run of the pipeline with `--runner=<runner>`."""
    from headwater.orchestration import (
        CsvExampleGen,
        LocalDagRunner,
        Pipeline,
        SchemaGen,
        StatisticsGen,
        Transform,
    )

    gen = CsvExampleGen(input_base=os.path.join(PENGUIN, "data"), use_beam=True)
    stats = StatisticsGen(examples=gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    transform = Transform(
        examples=gen.outputs["examples"],
        schema=schema.outputs["schema"],
        module_file=os.path.join(PENGUIN, "penguin_preprocessing.py"),
    )
    pipeline = Pipeline(
        "bench-runner",
        root,
        [gen, stats, schema, transform],
        enable_cache=False,
        beam_pipeline_args=["--direct_num_workers=1", f"--runner={runner}"],
    )
    marks = _CpuMarks()
    result = LocalDagRunner(out=marks).run(pipeline)  # type: ignore[arg-type]
    cpu = [b - a for a, b in zip(marks.marks, marks.marks[1:], strict=False)]
    return {
        node.node_id: (node.duration_s, cpu[i] if i < len(cpu) else float("nan"))
        for i, node in enumerate(result.nodes)
    }


_BUCKETS = {
    "options views (PipelineOptions per view_as)": "pipeline_options.py:336(__init__)",
    "DoFn signature inspection (userstate.get_dofn_specs)": "userstate.py:247(get_dofn_specs)",
    "pipeline -> runner proto (to_runner_api)": "pipeline.py:1060(to_runner_api)",
    "bundles run (sdk_worker.process_bundle)": "sdk_worker.py:696(process_bundle)",
}


def _fixed_cost(csv: str, rows: int) -> None:
    """Print the transforms and the CPU split of a warm ReadCsv | GenerateStatistics run."""
    import cProfile
    import pstats

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    import headwater.data_validation as dv
    import headwater.io as hio

    with tempfile.TemporaryDirectory(prefix="bench-beam-fixed-") as tmp:
        path = os.path.join(tmp, "head.csv")
        with open(csv) as src, open(path, "w") as dst:
            for i, line in enumerate(src):
                if i > rows:
                    break
                dst.write(line)

        def run() -> beam.Pipeline:
            pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
            _ = pipeline | "Read" >> hio.ReadCsv(path) | "Stats" >> dv.GenerateStatistics()
            pipeline.run().wait_until_finish()
            return pipeline

        run()  # first-call costs (Beam's runner modules, thread pools) left out
        profile = cProfile.Profile()
        start = time.process_time()
        profile.enable()
        pipeline = run()
        profile.disable()
        cpu = time.process_time() - start
    proto = pipeline.to_runner_api().components.transforms
    leaves = sum(1 for t in proto.values() if not t.subtransforms)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    print(f"{leaves} leaf transforms; warm run {cpu:.3f} s CPU (profiled: {total:.3f} s)")
    print("  cumulative seconds; the parts overlap (the proto conversion inspects DoFns too)")
    for label, key in _BUCKETS.items():
        cum = sum(v[3] for (file, line, name), v in stats.items() if key == _key(file, line, name))
        print(f"  {label:<56} {cum:6.3f} s profiled ({cum / total:5.1%})")


def _key(file: str, line: int, name: str) -> str:
    return f"{os.path.basename(file)}:{line}({name})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--fixed-cost", action="store_true", help="one library pipeline's cost")
    parser.add_argument("--csv", default="/tmp/anchor_bench/data/r100000/taxi.csv")
    parser.add_argument("--rows", type=int, default=100)
    args = parser.parse_args()
    if args.fixed_cost:
        _fixed_cost(args.csv, args.rows)
        return
    samples: dict[str, list[dict[str, tuple[float, float]]]] = {r: [] for r in RUNNERS}
    with tempfile.TemporaryDirectory(prefix="bench-beam-runner-") as tmp:
        _run_once("FnApiRunner", os.path.join(tmp, "warm-up"))  # imports, TF start-up
        for rep in range(args.reps):
            for runner in RUNNERS:
                samples[runner].append(_run_once(runner, os.path.join(tmp, f"{runner}-{rep}")))
    nodes = list(samples[RUNNERS[0]][0])
    print(f"{'node':<16}" + "".join(f"{r + ' wall/cpu s':>28}" for r in RUNNERS) + "  saved wall")
    for node in nodes:
        cells = []
        walls = []
        for runner in RUNNERS:
            wall = statistics.median(s[node][0] for s in samples[runner])
            cpu = statistics.median(s[node][1] for s in samples[runner])
            walls.append(wall)
            cells.append(f"{wall:>20.2f} / {cpu:5.2f}")
        print(f"{node:<16}" + "".join(cells) + f"  {walls[0] - walls[1]:>9.2f}")
    print(f"load average: {os.getloadavg()}, cpus: {os.cpu_count()}", file=sys.stderr)


if __name__ == "__main__":
    main()
