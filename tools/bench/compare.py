"""Headwater beside TFX 1.16 on the same files in the same run: the README's speed table.

    uv run --frozen python tools/bench/compare.py [--repeat 2] [--only stats_csv,transform_100k]
        [--anchor-python /tmp/tfx-anchor/bin/python] [--anchor-dir /work/shared/anchor]
        [--bench-dir /tmp/anchor_bench] [--write]

The TFX side runs the anchor's own scripts (`bench_*.py` in --anchor-dir) in the anchor venv that
the anchor's `setup.sh` builds outside this workspace; the Headwater side runs this file's
`--worker` modes in this environment. Each workload alternates TFX, Headwater, TFX, Headwater ...
(`--repeat` rounds; the slow TFX workloads once) on the same files, every measurement in a fresh
process whose wall time and peak RSS (summed over its process tree, sampled every 0.1 s) are
recorded; the best round of each side is reported. "call" times exclude imports on both sides
(each script times its own library call); the penguin rows are whole processes.

Floors measured beside (the work itself, without the library): a bare pyarrow read and per-column
aggregates (statistics), a bare numpy pass computing the analyzers over the same columns
(transform), the model's bare signature call on pre-encoded records (evaluation, batch inference)
and a bare `python -c "import tensorflow"` process (the pipeline).

--write replaces docs/benchmarks.md with the table (date, machine, versions) and the README's
speed table (between its `bench-table` markers) with the summary rows; nothing else writes them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

ANCHOR_PYTHON = "/tmp/tfx-anchor/bin/python"
ANCHOR_DIR = "/work/shared/anchor"
BENCH_DIR = "/tmp/anchor_bench"
LABEL = "big_tipper"
BEAM_RUNNER = "FnApiRunner"
"""The Beam workers' runner: Headwater's own (orchestration's DEFAULT_RUNNER; bulk's too)."""
README_START, README_END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
LAST_RUN = os.path.join(HERE, "compare_last_run.json")


# -- measuring a process ----------------------------------------------------------------------
def _tree_rss_kib(root: int) -> int:
    """Resident memory of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{name}/statm") as handle:
                rss[int(name)] = int(handle.read().split()[1]) * page_kib
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


@dataclass
class Measured:
    """One process: wall seconds, peak tree RSS, its last `RESULT {json}` line."""

    wall_s: float
    peak_mib: float
    result: dict[str, Any]
    returncode: int
    log: str = ""


def run_measured(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 1800,
) -> Measured:
    """Run `cmd`, sampling its process tree's RSS; stdout+stderr kept in a temp log."""
    fd, log_path = tempfile.mkstemp(prefix="compare-", suffix=".log")
    start = time.perf_counter()
    with os.fdopen(fd, "w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_kib(proc.pid))
            if time.perf_counter() - start > timeout:
                proc.kill()
            time.sleep(0.1)
        wall = time.perf_counter() - start
        log.seek(0)
        text = log.read()
    results = [line[len("RESULT ") :] for line in text.splitlines() if line.startswith("RESULT ")]
    result = json.loads(results[-1]) if results else {}
    if proc.returncode != 0:
        print(f"  ! {' '.join(cmd[:4])} ... exited {proc.returncode}; log {log_path}:")
        print("    " + "\n    ".join(text.splitlines()[-15:]))
    elif results or not text.strip():
        os.unlink(log_path)
    return Measured(round(wall, 2), round(peak / 1024), result, proc.returncode, log_path)


# -- Headwater workers (each runs in a fresh process: `compare.py --worker NAME ARGS`) --------
def worker_stats(mode: str, csv: str) -> dict[str, Any]:
    """Statistics of `csv`: plain CSV path, Beam (FnApiRunner), in-memory table/DataFrame, floor."""
    import bench_statistics as bs

    work = {
        "csv": bs.work_csv,
        # Beam 2.77's DirectRunner first tries Prism (a worker pool, a binary download, a
        # fallback to the FnApiRunner): not the work, and not what Headwater's pipelines run.
        "beam": lambda path: bs.work_beam(path, runner=BEAM_RUNNER),
        "table": bs.work_table,
        "dataframe": bs.work_dataframe,
        "floor": bs.work_baseline,
    }[mode]
    out = work(csv)
    return {"rows": out["rows"], "call_s": round(out["wall"], 3)}


def _transform_floor(csv: str) -> dict[str, Any]:
    """The analyzers' work done bare: numpy/pyarrow over the preprocessing_fn's columns."""
    import bench_transform as bt
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    table = pcsv.read_csv(csv)
    start = time.perf_counter()
    for name in ("trip_miles", "fare", "trip_seconds"):  # scale_to_z_score: mean and variance
        values = table[name].to_numpy(zero_copy_only=False).astype(np.float32)
        values = np.nan_to_num(values)
        values.mean(), values.var()
    for name in ("payment_type", "company"):  # compute_and_apply_vocabulary: counts, top k
        counts = pc.value_counts(table[name].fill_null(""))
        np.argsort(-counts.field("counts").to_numpy())
    for name in ("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"):
        values = np.nan_to_num(table[name].to_numpy(zero_copy_only=False))  # bucketize
        np.quantile(values, np.linspace(0, 1, bt.NUM_BUCKETS + 1)[1:-1])
    return {"rows": table.num_rows, "call_s": round(time.perf_counter() - start, 3)}


def worker_transform(mode: str, csv: str) -> dict[str, Any]:
    """The anchor's taxi preprocessing_fn: plain API incl. CSV read, Beam, or the numpy floor."""
    import bench_transform as bt

    if mode == "floor":
        return _transform_floor(csv)
    work = tempfile.mkdtemp(prefix="compare-transform-")
    try:
        if mode == "plain":
            out = bt.run_plain(csv, work)
            return {
                "rows": out["rows"],
                "call_s": out["call_with_read_s"],
                "analyze_s": out["analyze_s"],
                "read_s": out["read_csv_s"],
                "vocab": out["company_vocab_size"],
            }
        out = bt.run_beam(csv, work, [f"--runner={BEAM_RUNNER}"])
        return {"rows": out["rows"], "call_s": out["call_s"], "vocab": out["company_vocab_size"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _eval_config() -> Any:
    """The anchor's TFMA EvalConfig (bench_tfma.py), in Headwater's names."""
    import bench_model_analysis as bma

    return bma.eval_config()


def worker_evaluate(mode: str, model_dir: str, examples: str) -> dict[str, Any]:
    """TFX's exported taxi model on TFX's raw examples: run_model_analysis (model load
    included, as TFMA's default_eval_shared_model + run_model_analysis), or the bare signature
    call over records read and batched before the clock (the floor)."""
    import headwater.io as hio
    import headwater.model_analysis as ma

    if mode == "load":
        return _model_load(model_dir, examples)
    if mode == "floor":
        import tensorflow as tf

        from headwater.model_analysis.inference import ModelPredictor

        chunk = ModelPredictor(model_dir, _eval_config().candidate).chunk_size
        records = [hio.encode_examples(b) for b in hio.read_tfrecord(examples)]
        fn = tf.saved_model.load(model_dir).signatures["serving_default"]
        fn(examples=tf.constant(records[0][:64]))
        start = time.perf_counter()
        for recs in records:
            for i in range(0, len(recs), chunk):
                fn(examples=tf.constant(recs[i : i + chunk]))
        return {
            "rows": sum(len(r) for r in records),
            "call_s": round(time.perf_counter() - start, 3),
        }
    # As the anchor's bench_tfma.py, which imports TensorFlow (and TFMA) before its clock: the
    # timed call is the evaluation with its model load, not the interpreter importing TF.
    import tensorflow  # noqa: F401

    config = _eval_config()
    out = tempfile.mkdtemp(prefix="compare-eval-")
    try:
        start = time.perf_counter()
        result = ma.run_model_analysis(
            config, examples, model_paths={"": model_dir}, output_path=out, file_format="tfrecords"
        )
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    overall = result.get().metrics
    return {
        "rows": int(overall["example_count"]),
        "call_s": round(seconds, 3),
        "slices": len({s.slice_key for s in result.slices}),
        "auc": round(float(overall["auc"]), 4),
    }


def _model_load(model_dir: str, examples: str) -> dict[str, Any]:
    """Loading the SavedModel and its first call (graph optimization): the fixed cost that
    both TFX and Headwater pay inside their timed call and the bare-call floors leave out."""
    import headwater.io as hio

    records = hio.encode_examples(next(hio.read_tfrecord(examples, batch_size=64)))
    start = time.perf_counter()
    import tensorflow as tf

    imported = time.perf_counter()
    fn = tf.saved_model.load(model_dir).signatures["serving_default"]
    fn(examples=tf.constant(records))
    return {
        "rows": 64,
        "call_s": round(time.perf_counter() - imported, 3),
        "import_s": round(imported - start, 3),
    }


def worker_bulk(mode: str, model_dir: str, examples: str) -> dict[str, Any]:
    """TFX's model over TFX's raw examples into PredictionLogs: plain (model load included,
    as TFX's BulkInferrer executor time), Beam, or the bare signature call (the ceiling)."""
    import bench_bulk_inferrer as bb

    if mode == "load":
        return _model_load(model_dir, examples)
    work = tempfile.mkdtemp(prefix="compare-bulk-")
    try:
        kind = {"plain": "plain", "beam": "beam", "floor": "ceiling"}[mode]
        out = bb.measure(kind, examples, model_dir, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = out["s"] + out.get("model_load_s", 0.0)
    return {"rows": out["rows"], "call_s": round(seconds, 3)}


def worker_imports(_: str) -> dict[str, Any]:
    """Each library's import in a fresh interpreter, and whether it pulled Beam or TensorFlow."""
    out = {}
    for lib in (
        "io",
        "data_validation",
        "transform",
        "model_analysis",
        "bulk_inferrer",
        "pusher",
        "model_server",
        "infra_validator",
        "orchestration",
    ):
        code = (
            f"import sys, time; t = time.perf_counter(); import headwater.{lib}; "
            "print(round(time.perf_counter() - t, 3), 'apache_beam' in sys.modules, "
            "'tensorflow' in sys.modules)"
        )
        text = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        out[lib] = {"s": float(text[0]), "beam": text[1] == "True", "tensorflow": text[2] == "True"}
    return {"imports": out, "call_s": out["transform"]["s"]}


WORKERS = {
    "stats": worker_stats,
    "transform": worker_transform,
    "evaluate": worker_evaluate,
    "bulk": worker_bulk,
    "imports": worker_imports,
}


# -- the workloads ------------------------------------------------------------------------------
@dataclass
class Side:
    """One measured command and which RESULT key (or the process wall) is its figure."""

    label: str
    cmd: list[str]
    key: str = "call_s"  # "wall" = the whole process
    env: dict[str, str] | None = None
    clean: tuple[str, ...] = ()  # output directories removed before each run
    fresh_home: bool = False  # a new, empty HEADWATER_HOME for each run (no cache, no store)
    runs: list[Measured] = field(default_factory=list)

    def seconds(self, m: Measured) -> float | None:
        if m.returncode != 0:
            return None
        value = m.wall_s if self.key == "wall" else m.result.get(self.key)
        return float(value) if value is not None else None

    def best(self) -> Measured | None:
        good = [m for m in self.runs if self.seconds(m) is not None]
        return min(good, key=lambda m: self.seconds(m) or 0.0) if good else None

    def best_s(self) -> float | None:
        best = self.best()
        return self.seconds(best) if best else None


@dataclass
class Workload:
    """TFX's command, Headwater's commands (first = the headline) and floors, run alternately."""

    name: str
    title: str
    rows: int
    tfx: Side | None
    headwater: list[Side]
    floors: list[Side] = field(default_factory=list)
    tfx_repeat: int | None = None  # None: --repeat


def _hw(*args: str) -> list[str]:
    return [sys.executable, os.path.abspath(__file__), "--worker", *args]


def workloads(args: argparse.Namespace) -> list[Workload]:
    apy, adir, bench = args.anchor_python, args.anchor_dir, args.bench_dir
    csv100 = os.path.join(bench, "data", "r100000", "taxi.csv")
    csv1m = os.path.join(bench, "data", "r1000000", "taxi.csv")
    model = os.path.join(bench, "model_100000", "serving_model")
    raw = os.path.join(bench, "raw_100000", "examples-*")

    def anchor(*script: str) -> list[str]:
        return [apy, os.path.join(adir, script[0]), *script[1:]]

    venv_bin = os.path.dirname(sys.executable)
    return [
        Workload(
            "stats_csv",
            "statistics of the 100k-row taxi CSV",
            100_000,
            Side(
                "TFDV generate_statistics_from_csv", anchor("bench_tfdv_stats.py", "csv", "100000")
            ),
            [
                Side("generate_statistics_from_csv", _hw("stats", "csv", csv100)),
                Side("Beam FnApiRunner", _hw("stats", "beam", csv100)),
            ],
            [Side("pyarrow read + aggregates", _hw("stats", "floor", csv100))],
        ),
        Workload(
            "stats_memory",
            "statistics of 100k rows already in memory",
            100_000,
            Side(
                "TFDV generate_statistics_from_dataframe",
                anchor("bench_tfdv_stats.py", "dataframe", "100000"),
            ),
            [
                Side("DataFrame", _hw("stats", "dataframe", csv100)),
                Side("Arrow table", _hw("stats", "table", csv100)),
            ],
        ),
        Workload(
            "transform_100k",
            "analyze + transform 100k taxi rows, CSV in, TFRecords out",
            100_000,
            Side(
                "TFT AnalyzeAndTransformDataset",
                anchor("bench_tft.py", "100000"),
                clean=(os.path.join(bench, "tft_100000"),),
            ),
            [
                Side("plain API", _hw("transform", "plain", csv100)),
                Side("Beam FnApiRunner", _hw("transform", "beam", csv100)),
            ],
            [Side("numpy analyzers (vs analyze)", _hw("transform", "floor", csv100))],
        ),
        Workload(
            "transform_1m",
            "analyze + transform 1M taxi rows, CSV in, TFRecords out",
            1_000_000,
            Side(
                "TFT AnalyzeAndTransformDataset",
                anchor("bench_tft.py", "1000000"),
                clean=(os.path.join(bench, "tft_1000000"),),
            ),
            [
                Side("plain API", _hw("transform", "plain", csv1m)),
                Side("Beam FnApiRunner", _hw("transform", "beam", csv1m)),
            ],
            [Side("numpy analyzers (vs analyze)", _hw("transform", "floor", csv1m))],
            tfx_repeat=1,
        ),
        # TFX's side trains and exports the taxi model, then evaluates it; Headwater evaluates
        # that same exported model on the same raw examples with the same config.
        Workload(
            "evaluate",
            "evaluate TFX's exported taxi model, 100k rows, 31 slices",
            100_000,
            Side("TFMA run_model_analysis", anchor("bench_tfma.py", "100000"), "tfma_s"),
            [Side("run_model_analysis", _hw("evaluate", "run", model, raw))],
            [
                Side("bare signature call", _hw("evaluate", "floor", model, raw)),
                Side("model load + first call", _hw("evaluate", "load", model, raw)),
            ],
            tfx_repeat=1,
        ),
        Workload(
            "bulk",
            "batch inference, 100k rows → PredictionLogs, the same model",
            100_000,
            Side("TFX BulkInferrer", anchor("bench_bulk_inferrer.py", "100000"), "bulk_inferrer_s"),
            [
                Side("plain", _hw("bulk", "plain", model, raw)),
                Side("Beam FnApiRunner", _hw("bulk", "beam", model, raw)),
            ],
            [
                Side("bare signature call", _hw("bulk", "floor", model, raw)),
                Side("model load + first call", _hw("bulk", "load", model, raw)),
            ],
            tfx_repeat=1,
        ),
        Workload(
            "penguin",
            "penguin pipeline, whole process from the shell",
            342,
            Side(
                "TFX LocalDagRunner (in-process Beam)",
                anchor("bench_tfx_penguin.py", "--inproc"),
                "wall",
            ),
            [
                Side(
                    "headwater pipeline run",
                    [
                        os.path.join(venv_bin, "headwater"),
                        "pipeline",
                        "run",
                        os.path.join(REPO, "examples", "penguin", "pipeline.py"),
                    ],
                    "wall",
                    fresh_home=True,
                )
            ],
            [
                Side(
                    "python -c 'import tensorflow'",
                    [sys.executable, "-c", "import tensorflow"],
                    "wall",
                )
            ],
            tfx_repeat=1,
        ),
        Workload(
            "imports",
            "`import headwater.transform` (no Beam, no TensorFlow)",
            0,
            None,
            [Side("import headwater.transform", _hw("imports", "-"))],
        ),
    ]


def prepare(args: argparse.Namespace) -> None:
    """The anchor's data (make_taxi.py, seed 42) when missing: 100k and 1M rows."""
    env = dict(os.environ, ANCHOR_BENCH=args.bench_dir)
    for rows in (100_000, 1_000_000):
        if not os.path.exists(os.path.join(args.bench_dir, "data", f"r{rows}", "taxi.csv")):
            subprocess.run(
                [
                    args.anchor_python,
                    os.path.join(args.anchor_dir, "..", "datasets", "make_taxi.py"),
                    "--rows",
                    str(rows),
                    "--seed",
                    "42",
                    "--out",
                    os.path.join(args.bench_dir, "data", f"r{rows}"),
                ],
                check=True,
                env=env,
            )
    out = os.path.join(args.bench_dir, "out")
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(args.anchor_dir, "inputs", "schema_1m.pbtxt"), out)


def anchor_env(args: argparse.Namespace) -> dict[str, str]:
    return dict(
        os.environ,
        ANCHOR_BENCH=args.bench_dir,
        ANCHOR_OUT=os.path.join(args.bench_dir, "out"),
        TF_USE_LEGACY_KERAS="1",
        TF_CPP_MIN_LOG_LEVEL="1",
    )


def run_workload(work: Workload, args: argparse.Namespace) -> None:
    tfx_env = anchor_env(args)
    rounds = args.repeat
    for i in range(rounds):
        if work.tfx and i < (work.tfx_repeat or rounds):
            for directory in work.tfx.clean:  # TFT refuses to publish over an old output
                shutil.rmtree(directory, ignore_errors=True)
            work.tfx.runs.append(run_measured(work.tfx.cmd, env=tfx_env, cwd=args.anchor_dir))
            _say(work, work.tfx, work.tfx.runs[-1])
        for side in work.headwater + work.floors:
            env, home = side.env, None
            if side.fresh_home:
                home = tempfile.mkdtemp(prefix="compare-home-")
                env = dict(env or os.environ, HEADWATER_HOME=home)
            side.runs.append(run_measured(side.cmd, env=env, cwd=REPO))
            if home:
                shutil.rmtree(home, ignore_errors=True)
            _say(work, side, side.runs[-1])


def _say(work: Workload, side: Side, m: Measured) -> None:
    seconds = side.seconds(m)
    shown = f"{seconds:.2f} s" if seconds is not None else "FAILED"
    print(
        f"  {work.name:15s} {side.label:40s} {shown:>10s}  peak {m.peak_mib:>6.0f} MiB", flush=True
    )


# -- the report ---------------------------------------------------------------------------------
def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "failed"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def goals(works: dict[str, Workload]) -> list[tuple[str, str, bool | None]]:
    """Each goal of the speed issue: (goal, measured, met)."""
    rows: list[tuple[str, str, bool | None]] = []

    def check(goal: str, value: float | None, limit: float, at_least: bool, unit: str = "x"):
        if value is None:
            rows.append((goal, "not measured", None))
            return
        met = value >= limit if at_least else value <= limit
        rows.append((goal, f"{value:.2f}{unit}", met))

    def tfx_over(name: str, i: int) -> float | None:
        w = works.get(name)
        return _ratio(w.tfx.best_s(), w.headwater[i].best_s()) if w and w.tfx else None

    def over_floor(name: str, i: int, floor: int = 0) -> float | None:
        w = works.get(name)
        return _ratio(w.headwater[i].best_s(), w.floors[floor].best_s()) if w else None

    for size in ("100k", "1m"):
        check(f"transform {size}: plain ≥ 30x TFT", tfx_over(f"transform_{size}", 0), 30, True)
        check(f"transform {size}: Beam ≥ 30x TFT", tfx_over(f"transform_{size}", 1), 30, True)
        w = works.get(f"transform_{size}")
        analyze = (
            w.headwater[0].best().result.get("analyze_s") if w and w.headwater[0].best() else None
        )
        floor = w.floors[0].best_s() if w else None
        check(f"transform {size}: analyze ≤ 2x the numpy floor", _ratio(analyze, floor), 2, False)
    check("statistics in memory ≥ 3x TFDV's dataframe path", tfx_over("stats_memory", 0), 3, True)
    check("statistics CSV 100k ≤ 1.5x the pyarrow floor", over_floor("stats_csv", 0), 1.5, False)
    w = works.get("stats_csv")
    check(
        "statistics Beam ≤ 2x the plain path",
        _ratio(w.headwater[1].best_s(), w.headwater[0].best_s()) if w else None,
        2,
        False,
    )
    check(
        "penguin pipeline ≤ 1.6x a bare `import tensorflow` process",
        over_floor("penguin", 0),
        1.6,
        False,
    )
    check("evaluation ≥ 30x TFMA", tfx_over("evaluate", 0), 30, True)

    def without_load(name: str) -> float | None:
        w = works.get(name)
        if not w or len(w.floors) < 2:
            return None
        total, call, load = w.headwater[0].best_s(), w.floors[0].best_s(), w.floors[1].best_s()
        return _ratio(total - load, call) if total and call and load else None

    check("evaluation ≤ 1.3x the bare signature call", over_floor("evaluate", 0), 1.3, False)
    check(
        "evaluation, model load subtracted, ≤ 1.3x the bare signature call",
        without_load("evaluate"),
        1.3,
        False,
    )
    check("batch inference ≥ 10x TFX's BulkInferrer", tfx_over("bulk", 0), 10, True)
    check("batch inference ≤ 1.5x the bare signature call", over_floor("bulk", 0), 1.5, False)
    check(
        "batch inference, model load subtracted, ≤ 1.5x the bare signature call",
        without_load("bulk"),
        1.5,
        False,
    )
    w = works.get("imports")
    best = w.headwater[0].best() if w else None
    if best:
        lib = best.result["imports"]["transform"]
        rows.append(
            (
                "`import headwater.transform` without Beam",
                f"{lib['s']:.2f} s, Beam {'imported' if lib['beam'] else 'not imported'}",
                not lib["beam"],
            )
        )
    return rows


def _package_versions(python: str, packages: tuple[str, ...]) -> str:
    """`name=version ...` of `packages` as installed for `python`."""
    code = (
        "import importlib.metadata as m, sys; "
        "print(' '.join(p + '=' + m.version(p) for p in sys.argv[1:]))"
    )
    out = subprocess.run(
        [python, "-c", code, *packages], capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "unavailable"


def versions(args: argparse.Namespace) -> dict[str, str]:
    tfx = (
        "tfx",
        "tensorflow",
        "tensorflow-data-validation",
        "tensorflow-transform",
        "tensorflow-model-analysis",
        "apache-beam",
        "pyarrow",
    )
    ours = ("headwater-io", "tensorflow", "apache-beam", "pyarrow", "numpy")
    return {
        "tfx": _package_versions(args.anchor_python, tfx),
        "headwater": _package_versions(sys.executable, ours),
    }


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        mem_gib = int(handle.readline().split()[1]) / 1024**2
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def render(works: list[Workload], args: argparse.Namespace, measured: dict[str, list[str]]) -> str:
    by_name = {w.name: w for w in works}
    vers = versions(args)
    commands = sorted({tuple(m) for m in measured.values()})
    when = "; ".join(
        f"{started} UTC (load average {load} at its start): "
        + ", ".join(w.name for w in works if tuple(measured[w.name]) == (started, load))
        for started, load in commands
    )
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by tools/bench/compare.py --write; do not edit by hand. -->",
        "",
        "TFX 1.16 and Headwater on the same files, each workload's two sides in the same run "
        f"(alternating, {args.repeat} rounds, the slow TFX workloads once; the best round of "
        f"each side), on {machine()}. Measured by the command started {when}. "
        '"call" times exclude imports on both sides (each script times its own library call); '
        "the penguin row is the whole process from the shell, each Headwater run with a new, "
        "empty Headwater home (no cache); TFX's runs ExampleGen to Pusher, Headwater's also "
        "runs a Resolver, the InfraValidator and the BulkInferrer. Peak memory is the resident "
        "memory of the measured process and its children.",
        "",
        f"- TFX side: {vers['tfx']}",
        f"- Headwater side: {vers['headwater']}",
        "",
        "Reproduce: build the TFX 1.16 environment outside this workspace "
        "(tfx==1.16.0 in a Python 3.11 venv), then "
        "`uv run --frozen python tools/bench/compare.py --anchor-python VENV/bin/python "
        "--write`.",
        "",
        "| workload | TFX 1.16 | Headwater | TFX ÷ Headwater | peak MiB (TFX / Headwater) |",
        "|---|---:|---:|---:|---:|",
    ]
    for w in works:
        if w.tfx is None:
            continue
        tfx_s = w.tfx.best_s()
        tfx_best = w.tfx.best()
        for i, side in enumerate(w.headwater):
            hw_best = side.best()
            ratio = _ratio(tfx_s, side.best_s())
            title = w.title if i == 0 else f"↳ the same, {side.label}"
            tfx_cell = f"{_fmt_s(tfx_s)} ({w.tfx.label})" if i == 0 else ""
            mem = (
                f"{tfx_best.peak_mib if tfx_best else '–'} / {hw_best.peak_mib if hw_best else '–'}"
            )
            lines.append(
                f"| {title} | {tfx_cell} | {_fmt_s(side.best_s())} ({side.label}) | "
                f"{f'{ratio:.1f}x' if ratio else '–'} | {mem} |"
            )
    lines += [
        "",
        "## Floors measured beside",
        "",
        "| workload | floor | floor time | Headwater ÷ floor |",
        "|---|---|---:|---:|",
    ]
    for w in works:
        for floor in w.floors:
            base = w.headwater[0].best_s()
            if "analyze" in floor.label and w.headwater[0].best():
                base = w.headwater[0].best().result.get("analyze_s")  # type: ignore[union-attr]
            ratio = None if "load" in floor.label else _ratio(base, floor.best_s())
            lines.append(
                f"| {w.title} | {floor.label} | {_fmt_s(floor.best_s())} | "
                f"{f'{ratio:.2f}x' if ratio else '–'} |"
            )
    lines += ["", "## Goals", "", "| goal | measured | met |", "|---|---:|:---:|"]
    for goal, figure, met in goals(by_name):
        lines.append(f"| {goal} | {figure} | {'yes' if met else 'no' if met is False else '–'} |")
    imports = by_name.get("imports")
    if imports and imports.headwater[0].best():
        lines += [
            "",
            "## Import time of each library (fresh interpreter)",
            "",
            "| library | seconds | imports Beam | imports TensorFlow |",
            "|---|---:|:---:|:---:|",
        ]
        for lib, info in imports.headwater[0].best().result["imports"].items():  # type: ignore[union-attr]
            lines.append(
                f"| headwater.{lib} | {info['s']:.2f} | "
                f"{'yes' if info['beam'] else 'no'} | "
                f"{'yes' if info['tensorflow'] else 'no'} |"
            )
    lines += ["", "Every run of every side, in seconds (wall of the process / its figure):", ""]
    for w in works:
        for side in ([w.tfx] if w.tfx else []) + w.headwater + w.floors:
            figures = ", ".join(f"{m.wall_s:.1f}/{_fmt_s(side.seconds(m))}" for m in side.runs)
            lines.append(f"- {w.name} · {side.label}: {figures}")
    return "\n".join(lines) + "\n"


def readme_table(works: list[Workload], started: str) -> str:
    """The README's rows: the headline figure of each TFX workload, from this run."""
    lines = [
        f"Measured side by side by `tools/bench/compare.py` ({started[:10]}, this project's "
        "2-core machine, same files, each row's two sides in the same run; details, floors "
        "and memory in `docs/benchmarks.md`):",
        "",
        "| workload | TFX 1.16 | Headwater | ratio |",
        "|---|---:|---:|---:|",
    ]
    for w in works:
        if w.tfx is None:
            continue
        hw = w.headwater[0]
        ratio = _ratio(w.tfx.best_s(), hw.best_s())
        extra = ""
        if len(w.headwater) > 1 and w.headwater[1].best_s() is not None:
            extra = f" ({w.headwater[1].label}: {_fmt_s(w.headwater[1].best_s())})"
        lines.append(
            f"| {w.title} | {_fmt_s(w.tfx.best_s())} | {_fmt_s(hw.best_s())}{extra} | "
            f"{f'{ratio:.1f}x' if ratio else '–'} |"
        )
    return "\n".join(lines)


def write_readme(table: str) -> None:
    path = os.path.join(REPO, "README.md")
    with open(path) as handle:
        text = handle.read()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {README_START} ... {README_END} markers")
    text = pattern.sub(lambda _: f"{README_START}\n{table}\n{README_END}", text)
    with open(path, "w") as handle:
        handle.write(text)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--worker"]:
        result = WORKERS[argv[1]](*argv[2:])
        print("RESULT " + json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--anchor-python", default=ANCHOR_PYTHON)
    parser.add_argument("--anchor-dir", default=ANCHOR_DIR)
    parser.add_argument("--bench-dir", default=BENCH_DIR)
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md + README")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="with --only: keep the other workloads' runs from the last --write (each row says "
        "which command measured it)",
    )
    args = parser.parse_args(argv)
    if not os.path.exists(args.anchor_python):
        raise SystemExit(
            f"no TFX anchor environment at {args.anchor_python}: build it first "
            "(a Python 3.11 venv with tfx==1.16.0) and pass --anchor-python"
        )
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    prepare(args)
    chosen = set(args.only.split(",")) if args.only else None
    every = workloads(args)
    works = [w for w in every if chosen is None or w.name in chosen]
    for work in works:
        print(f"== {work.name}: {work.title}", flush=True)
        run_workload(work, args)
    measured = {w.name: [started, load] for w in works}
    if args.merge:
        with open(LAST_RUN) as handle:
            previous = json.load(handle)
        for work in every:
            if work.name in measured or work.name not in previous["runs"]:
                continue
            for side in _sides(work):
                side.runs = [Measured(**m) for m in previous["runs"][work.name].get(side.label, [])]
            measured[work.name] = previous["measured"][work.name]
        works = [w for w in every if w.name in measured]
    report = render(works, args, measured)
    print(report)
    if args.write:
        with open(os.path.join(REPO, "docs", "benchmarks.md"), "w") as handle:
            handle.write(report)
        write_readme(readme_table(works, min(m[0] for m in measured.values())))
        raw = {w.name: {s.label: [m.__dict__ for m in s.runs] for s in _sides(w)} for w in works}
        with open(LAST_RUN, "w") as handle:
            json.dump({"measured": measured, "runs": raw}, handle, indent=1)


def _sides(work: Workload) -> list[Side]:
    return ([work.tfx] if work.tfx else []) + work.headwater + work.floors


if __name__ == "__main__":
    main(sys.argv[1:])
