"""Benchmark: dataset statistics of the taxi CSV, beside bare pyarrow in the same run.

TFDV 1.16 (/work/shared/anchor/README.md, this kind of machine): `generate_statistics_from_csv`
takes 19.1 s on 100k rows (800 MiB peak) and 129.5 s on 1M rows (7.7k rows/s, 1,660 MiB peak),
after 26 s of imports; `generate_statistics_from_dataframe` takes 0.41 s per 100k rows.

    uv run --frozen python tools/bench/bench_statistics.py [CSV ...] [--ten-million] [--repeat=3]
        [--tfdv=/tmp/tfx-anchor/bin/python]   # also run TFDV 1.16 on each file (keep it to 100k)
        [--memory]       # only peak memory: read and csv once per file, side by side
        [--scale=N]      # like --ten-million, N copies of the last file (--scale=2: 2M rows)

The last line compares peak RSS across the files (e.g. 1M vs 10M rows): memory must not grow
with the rows. Peak RSS is robust on the busy shared machine; wall times are not (they swing
2x with the load), so compare times only within one run, and only with care.

Peak-memory check for the lead (a 1 GB file in /tmp, about 3 minutes on 2 cores):

    uv run --frozen python tools/bench/bench_statistics.py /tmp/hw_data/r1000000/taxi.csv \
        --ten-million --memory

Every workload runs in a fresh child process, so its peak RSS is its own, `--repeat` times
(Beam: half as often), and the fastest run is reported (the machine is shared and noisy):

- baseline: pyarrow.csv.read_csv + per-column aggregates (min/max, mean, stddev, count,
  distinct count / value counts) — the floor: read the file and touch every column once;
- csv: `generate_statistics_from_csv` (headwater.io read + statistics, streaming batches),
  and its two halves: `read` (iterating headwater.io.read_csv alone) and `table` (statistics
  of the same data already in memory as an Arrow table);
- dataframe: `generate_statistics_from_dataframe` on a pandas DataFrame in memory;
- beam: ReadCsv | GenerateStatistics on Beam's DirectRunner;
- import: `import headwater.data_validation` in a fresh interpreter.

`--ten-million` also builds a 10M-row file in /tmp (the 1M file ten times) and deletes it after.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_CSVS = ["/tmp/hw_data/r100000/taxi.csv", "/tmp/hw_data/r1000000/taxi.csv"]
TFDV_CSV_S = {100_000: 19.1, 1_000_000: 129.5}
TFDV_CSV_PEAK_MIB = {100_000: 800, 1_000_000: 1660}
TFDV_DF_S_PER_100K = 0.41


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def work_baseline(path: str) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    start = time.perf_counter()
    table = pcsv.read_csv(path)
    read = time.perf_counter() - start
    start = time.perf_counter()
    for column in table.columns:
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            pc.min_max(column)
            pc.mean(column)
            pc.stddev(column)
            pc.count(column)
        else:
            pc.count_distinct(column)
            pc.value_counts(column)
    aggregate = time.perf_counter() - start
    return {"rows": table.num_rows, "wall": read + aggregate, "read": read, "compute": aggregate}


def work_read(path: str) -> dict:
    import headwater.io as hio

    start = time.perf_counter()
    rows = sum(batch.num_rows for batch in hio.read_csv(path))
    return {"rows": rows, "wall": time.perf_counter() - start}


def work_csv(path: str) -> dict:
    import headwater.data_validation as dv

    start = time.perf_counter()
    stats = dv.generate_statistics_from_csv(path)
    return {"rows": stats.datasets[0].num_examples, "wall": time.perf_counter() - start}


def work_table(path: str) -> dict:
    import pyarrow as pa

    import headwater.data_validation as dv
    import headwater.io as hio

    table = pa.Table.from_batches(list(hio.read_csv(path)))
    start = time.perf_counter()
    stats = dv.generate_statistics(table)
    return {"rows": stats.datasets[0].num_examples, "wall": time.perf_counter() - start}


def work_dataframe(path: str) -> dict:
    import pyarrow.csv as pcsv

    import headwater.data_validation as dv

    frame = pcsv.read_csv(path).to_pandas()
    start = time.perf_counter()
    stats = dv.generate_statistics_from_dataframe(frame)
    return {"rows": stats.datasets[0].num_examples, "wall": time.perf_counter() - start}


def work_beam(path: str, runner: str = "DirectRunner") -> dict:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    import headwater.data_validation as dv
    import headwater.io as hio

    fd, out = tempfile.mkstemp(suffix=".rows")
    os.close(fd)

    def record(stats: object, path: str) -> None:
        with open(path, "w") as handle:
            handle.write(str(stats.datasets[0].num_examples))  # type: ignore[attr-defined]

    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions([f"--runner={runner}"])) as pipeline:
        _ = (
            pipeline
            | "Read" >> hio.ReadCsv(path)
            | "Stats" >> dv.GenerateStatistics()
            | "Rows" >> beam.Map(record, out)
        )
    wall = time.perf_counter() - start
    with open(out) as handle:
        rows = int(handle.read())
    os.unlink(out)
    return {"rows": rows, "wall": wall}


WORKLOADS = {
    "baseline": work_baseline,
    "read": work_read,
    "csv": work_csv,
    "table": work_table,
    "dataframe": work_dataframe,
    "beam": work_beam,
}


def _child(name: str, path: str, repeat: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, path, str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"{name} on {path} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _import_time() -> tuple[float, float]:
    """Import seconds (interpreter start excluded): with compiled bytecode cached, as installed
    packages have it, and with every module compiled from source (PYTHONDONTWRITEBYTECODE)."""
    cache = tempfile.mkdtemp(prefix="hw_pycache_")
    cached_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached_env["PYTHONPYCACHEPREFIX"] = cache
    cold_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}

    def run(code: str, env: dict[str, str]) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, env=env)
        return time.perf_counter() - start

    try:
        run("import headwater.data_validation", cached_env)  # fills the bytecode cache
        times = []
        for env in (cached_env, cold_env):
            bare = min(run("pass", env) for _ in range(3))
            times.append(min(run("import headwater.data_validation", env) for _ in range(3)) - bare)
        return times[0], times[1]
    finally:
        shutil.rmtree(cache, ignore_errors=True)


_TFDV_SCRIPT = """
import json, resource, sys, time
start = time.perf_counter()
import pandas as pd
import tensorflow_data_validation as tfdv
imported = time.perf_counter() - start
path = sys.argv[1]
start = time.perf_counter()
stats = tfdv.generate_statistics_from_csv(path)
csv = time.perf_counter() - start
frame = pd.read_csv(path)
start = time.perf_counter()
tfdv.generate_statistics_from_dataframe(frame)
dataframe = time.perf_counter() - start
print("RESULT " + json.dumps({"import": imported, "csv": csv, "dataframe": dataframe,
      "rows": stats.datasets[0].num_examples,
      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _tfdv(python: str, path: str) -> dict:
    """TFDV 1.16 on the same file, in its own interpreter (it needs TensorFlow)."""
    out = subprocess.run(
        [python, "-c", _TFDV_SCRIPT, path], capture_output=True, text=True, check=False
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"TFDV on {path} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _scaled(source: str, copies: int) -> str:
    """A file in /tmp holding `source`'s rows `copies` times (one header)."""
    fd, target = tempfile.mkstemp(suffix=f"_taxi_x{copies}.csv", dir="/tmp")
    with open(source, "rb") as src:
        header = src.readline()
        body = src.read()
    with os.fdopen(fd, "wb") as out:
        out.write(header)
        for _ in range(copies):
            out.write(body)
    return target


def _memory_line(peaks: dict[str, tuple[int, float, float]]) -> str:
    """Peak RSS per file side by side: rows, statistics' peak, reading's peak."""
    parts = [
        f"{rows:,} rows: statistics {csv_peak:.0f} MiB (read alone {read_peak:.0f} MiB)"
        for rows, csv_peak, read_peak in peaks.values()
    ]
    first, last = next(iter(peaks.values())), list(peaks.values())[-1]
    return (
        "peak RSS, side by side: "
        + " | ".join(parts)
        + f" -> x{last[0] / first[0]:.0f} rows, x{last[1] / first[1]:.2f} peak memory"
        " (peak RSS is robust on a busy machine; wall times are not)"
    )


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        name, path, repeat = argv[1], argv[2], int(argv[3])
        result = min((WORKLOADS[name](path) for _ in range(repeat)), key=lambda r: r["wall"])
        result["peak_mib"] = _peak_mib()
        print("RESULT " + json.dumps(result))
        return
    scale = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--scale=")), None)
    if "--ten-million" in argv:
        scale = 10
    memory_only = "--memory" in argv
    repeat = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--repeat=")), 3)
    if memory_only:
        repeat = 1
    tfdv_python = next((a.split("=", 1)[1] for a in argv if a.startswith("--tfdv=")), None)
    csvs = [a for a in argv if not a.startswith("--")] or list(DEFAULT_CSVS)
    made = None
    if scale:
        made = _scaled(csvs[-1], scale)
        csvs.append(made)
    if not memory_only:
        cached, cold = _import_time()
        print(
            f"import headwater.data_validation: {cached:.2f} s with bytecode cached, "
            f"{cold:.2f} s compiling every module (interpreter start excluded)"
        )
    print(f"best of {repeat} runs per workload (Beam: {max(1, repeat // 2)})")
    names = ["csv", "read"] if memory_only else list(WORKLOADS)
    peaks: dict[str, tuple[int, float, float]] = {}
    try:
        for path in csvs:
            size = os.path.getsize(path) / 2**20
            results = {
                name: _child(name, path, repeat if name != "beam" else max(1, repeat // 2))
                for name in names
                if not (made == path and name == "beam")
            }
            rows = results["csv"]["rows"]
            peaks[path] = (rows, results["csv"]["peak_mib"], results["read"]["peak_mib"])
            print(f"\n{path}: {rows:,} rows, {size:.0f} MiB")
            print(f"{'workload':<34}{'wall s':>9}{'rows/s':>12}{'peak MiB':>10}  notes")
            base = results.get("baseline")
            tfdv_s = TFDV_CSV_S.get(rows)
            if tfdv_python:
                measured = _tfdv(tfdv_python, path)
                print(
                    f"TFDV 1.16 in this run: generate_statistics_from_csv {measured['csv']:.2f} s, "
                    f"generate_statistics_from_dataframe {measured['dataframe']:.2f} s, "
                    f"import {measured['import']:.1f} s, peak {measured['peak_mib']:.0f} MiB"
                )
                tfdv_s = measured["csv"]
                results["tfdv_dataframe"] = measured
            for name, label in (
                ("baseline", "pyarrow read + aggregates"),
                ("csv", "generate_statistics_from_csv"),
                ("read", "  of which: headwater.io read"),
                ("table", "  of which: stats of Arrow table"),
                ("dataframe", "generate_statistics_from_dataframe"),
                ("beam", "Beam DirectRunner ReadCsv+Stats"),
            ):
                if name not in results:
                    continue
                r = results[name]
                notes = []
                if name == "baseline":
                    notes.append(f"read {r['read']:.2f} s + aggregates {r['compute']:.2f} s")
                if name in ("csv", "beam") and tfdv_s:
                    notes.append(f"{tfdv_s / r['wall']:.0f}x TFDV ({tfdv_s:.1f} s)")
                if name == "csv" and base is not None:
                    notes.append(f"{r['wall'] / base['wall']:.2f}x pyarrow baseline")
                    tfdv_peak = results.get("tfdv_dataframe", {}).get("peak_mib")
                    if tfdv_peak is None:
                        tfdv_peak = TFDV_CSV_PEAK_MIB.get(rows)
                    if tfdv_peak is not None:
                        notes.append(f"TFDV peak {tfdv_peak:.0f} MiB")
                if name in ("table", "dataframe"):
                    tfdv_df = TFDV_DF_S_PER_100K * rows / 100_000
                    if "tfdv_dataframe" in results:
                        tfdv_df = results["tfdv_dataframe"]["dataframe"]
                    notes.append(f"{tfdv_df / r['wall']:.1f}x TFDV dataframe ({tfdv_df:.2f} s)")
                print(
                    f"{label:<34}{r['wall']:>9.2f}{r['rows'] / r['wall']:>12,.0f}"
                    f"{r['peak_mib']:>10.0f}  {'; '.join(notes)}"
                )
        if len(peaks) > 1:
            print("\n" + _memory_line(peaks))
    finally:
        if made:
            os.unlink(made)


if __name__ == "__main__":
    main(sys.argv[1:])
