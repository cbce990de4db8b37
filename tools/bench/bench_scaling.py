"""StatisticsGen and Transform on taxi rows: in process, multi-process FnApiRunner, Dask.

    uv run --frozen python tools/bench/bench_scaling.py --rows 1000000 --rows 10000000

For each size, the taxi CSV (`../shared/datasets/make_taxi.py --rows 1000000 --seed 42`; the
10M file is the 1M file's rows repeated, built here and deleted after) is turned into Examples
once by CsvExampleGen's plain path (TFRecord shards of 250k rows, so parallel readers have
files to share). Runners: `in_process` (no Beam options: inputs under 64 MiB take the in-memory
twin), `fnapi` (`--runner=FnApiRunner`: Beam in this process), `multi_process` (FnApiRunner,
`--workers` processes), `dask` (a LocalCluster of `--workers` processes on 127.0.0.1). For each
runner, a fresh Python process runs Importer -> StatisticsGen -> SchemaGen -> Transform
(z-scores and two vocabularies) and reports per node the wall time, and per process the peak
resident memory: the driver, the FnApiRunner's worker processes (the largest child), or each
Dask worker (measured inside the workers before the cluster is closed). rows/s per worker =
rows / wall / workers. Figures are indicative on a shared machine.

    --runners in_process,fnapi,multi_process,dask   --workers 2   --keep DIR (reuse data)
    --env MALLOC_ARENA_MAX=2 (repeatable: set in the measured process, so in its workers too)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
MAKE_TAXI = os.path.join(REPO, "..", "shared", "datasets", "make_taxi.py")
BASE_ROWS = 1_000_000
RUNNERS = ("in_process", "fnapi", "multi_process", "dask")

PREPROCESSING = """
import headwater.transform as tft


def preprocessing_fn(inputs):
    out = {}
    for key in ("fare", "trip_miles", "trip_seconds", "pickup_hour"):
        out[key + "_xf"] = tft.scale_to_z_score(inputs[key])
    out["payment_type_xf"] = tft.compute_and_apply_vocabulary(inputs["payment_type"])
    out["pickup_day_of_week_xf"] = tft.compute_and_apply_vocabulary(inputs["pickup_day_of_week"])
    out["big_tipper"] = inputs["big_tipper"]
    return out
"""


def _csv(rows: int, work: str) -> str:
    """A directory holding taxi.csv with `rows` rows (repeating the 1M file past 1M)."""
    out = os.path.join(work, f"csv{rows}")
    if os.path.exists(os.path.join(out, "taxi.csv")):
        return out
    base_rows = min(rows, BASE_ROWS)
    base = os.path.join(work, f"r{base_rows}")
    if not os.path.exists(os.path.join(base, "taxi.csv")):
        subprocess.run(
            [
                sys.executable,
                MAKE_TAXI,
                "--rows",
                str(base_rows),
                "--seed",
                "42",
                "--out",
                base,
                "--format",
                "csv",
            ],
            check=True,
        )
    if rows == base_rows:
        return base
    if rows % base_rows:
        raise SystemExit(f"--rows above {BASE_ROWS} must be a multiple of it, got {rows}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(base, "taxi.csv"), "rb") as f:
        header = f.readline()
        body = f.read()
    with open(os.path.join(out, "taxi.csv"), "wb") as f:
        f.write(header)
        for _ in range(rows // base_rows):
            f.write(body)
    return out


def _examples(csv_dir: str, work: str) -> str:
    """The Examples artifact directory CsvExampleGen's plain path writes for `csv_dir`."""
    from headwater.orchestration import CsvExampleGen, LocalDagRunner, Pipeline

    root = os.path.join(work, "gen-" + os.path.basename(csv_dir))
    result = LocalDagRunner(quiet=True).run(
        Pipeline("gen", root, [CsvExampleGen(input_base=csv_dir)], enable_cache=False)
    )
    return result.output("CsvExampleGen", "examples").uri


def _child(examples: str, runner: str, workers: int, root: str, module: str) -> None:
    """Run in a fresh process: the measured pipeline; prints one JSON line of figures."""
    import resource

    from headwater.orchestration import (
        Examples,
        Importer,
        LocalDagRunner,
        Pipeline,
        SchemaGen,
        StatisticsGen,
        Transform,
    )

    cluster = None
    args: list[str] = []
    if runner == "fnapi":
        args = ["--runner=FnApiRunner"]
    elif runner == "multi_process":
        args = [
            "--runner=FnApiRunner",
            "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}",
        ]
    elif runner == "dask":
        from distributed import LocalCluster

        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
        args = ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}"]
    split_names = sorted(
        d.removeprefix("Split-") for d in os.listdir(examples) if d.startswith("Split-")
    )
    imported = Importer(
        examples, Examples, properties={"split_names": json.dumps(split_names)}
    ).with_id("examples")
    stats = StatisticsGen(examples=imported.outputs["result"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    transform = Transform(
        examples=imported.outputs["result"],
        schema=schema.outputs["schema"],
        module_file=module,
        disable_analyzer_cache=True,
    )
    try:
        result = LocalDagRunner(quiet=True).run(
            Pipeline(
                "scaling",
                root,
                [imported, stats, schema, transform],
                enable_cache=False,
                beam_pipeline_args=args,
            )
        )
        worker_peaks: list[int] = []
        if cluster is not None:
            from distributed import Client

            with Client(cluster) as client:
                peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
                worker_peaks = [int(v) for v in peaks.values()]
        elif runner == "multi_process":
            worker_peaks = [resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]
    finally:
        if cluster is not None:
            cluster.close()
    print(
        "RESULT "
        + json.dumps(
            {
                "wall": {n.node_id: n.duration_s for n in result.nodes},
                "driver_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "worker_peaks_kib": worker_peaks,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="a directory to keep generated data in (reused)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set in the measured process's environment (its workers inherit it)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        examples, runner, root, module = args.child
        _child(examples, runner, args.workers, root, module)
        return
    child_env = dict(os.environ)
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env wants KEY=VALUE, got {item!r}")
        child_env[key] = value
    work = args.keep or tempfile.mkdtemp(prefix="bench-scaling-")
    module = os.path.join(work, "taxi_preprocessing.py")
    with open(module, "w") as f:
        f.write(PREPROCESSING)
    print(
        f"{'rows':>10} {'runner':<14} {'node':<14} {'wall s':>8} {'rows/s/worker':>14} "
        f"{'driver MiB':>10} {'worker peak MiB':>16}"
    )
    try:
        for rows in args.rows or [BASE_ROWS]:
            csv_dir = _csv(rows, work)
            examples = _examples(csv_dir, work)
            if rows > BASE_ROWS:  # the repeated CSV is only needed to build the Examples
                shutil.rmtree(csv_dir, ignore_errors=True)
            for runner in args.runners.split(","):
                root = tempfile.mkdtemp(prefix=f"run-{runner}-", dir=work)
                start = time.perf_counter()
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--workers",
                        str(args.workers),
                        "--child",
                        examples,
                        runner,
                        root,
                        module,
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                    env=child_env,
                )
                shutil.rmtree(root, ignore_errors=True)
                if done.returncode != 0:
                    print(
                        f"{rows:>10} {runner:<14} FAILED after {time.perf_counter() - start:.0f}"
                        f" s\n{done.stderr[-3000:]}"
                    )
                    continue
                line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
                res = json.loads(line.removeprefix("RESULT "))
                workers = args.workers if runner in ("multi_process", "dask") else 1
                peaks = "/".join(f"{k / 1024:.0f}" for k in res["worker_peaks_kib"]) or "-"
                for node in ("StatisticsGen", "Transform"):
                    wall = res["wall"][node]
                    print(
                        f"{rows:>10} {runner:<14} {node:<14} {wall:>8.1f} "
                        f"{rows / wall / workers:>14.0f} {res['driver_peak_kib'] / 1024:>10.0f} "
                        f"{peaks:>16}",
                        flush=True,
                    )
            shutil.rmtree(os.path.dirname(os.path.dirname(examples)), ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average: {os.getloadavg()}, cpus: {os.cpu_count()}", file=sys.stderr)


if __name__ == "__main__":
    main()
