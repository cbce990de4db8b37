"""Benchmark: schema inference, validation, drift and row-level validation on the taxi data.

TFDV 1.16's `validate_statistics` takes 3–8 ms per call (/work/shared/anchor/README.md).

    uv run --frozen python tools/bench/bench_validation.py [--csv 1M.csv] [--drift drift.csv]
        [--corrupt corrupt.csv] [--no-tfdv]

Statistics are computed once per file with `generate_statistics_from_csv` (reported, not the
subject here). Then, each timed as the median of repeated calls in this process:

- infer: `infer_schema` of the 1M-row statistics;
- validate: `validate_statistics` of the 1M-row statistics against that schema;
- drift: the same with the drifted file's statistics as `previous_statistics` and a
  comparator on every feature (L-infinity on strings, JS divergence, PSI, KS and normalized
  Wasserstein on numbers) — the values are printed;
- corrupt: `validate_statistics` of the corrupted file's statistics (what it finds);
- rows: `validate_examples_in_csv` over the 1M-row file, beside bare `pyarrow.csv.read_csv`
  of the same file (the floor for anything that reads every row), in fresh child processes.

With the TFX anchor venv (/tmp/tfx-anchor) present, TFDV's `validate_statistics` runs on the
same statistics and schema files in a child process (its import is not timed), and the anomaly
types it reports on the corrupted data are printed beside ours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

TFDV_PYTHON = "/tmp/tfx-anchor/bin/python"
TFDV_VALIDATE_MS = (3, 8)


def _median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


_ROWS = """
import json, resource, sys, time
from headwater.data_validation import load_schema_text, validate_examples_in_csv
schema = load_schema_text(sys.argv[2])
start = time.perf_counter()
result = validate_examples_in_csv(sys.argv[1], schema)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "rows": result.num_examples,
                  "anomalous": sum(result.counts.values()), "peak": peak}))
"""
_PYARROW = """
import json, resource, sys, time
import pyarrow.csv as pc
start = time.perf_counter()
table = pc.read_csv(sys.argv[1])
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "rows": table.num_rows,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
_TFDV = """
import json, sys, time
import tensorflow_data_validation as tfdv
stats = tfdv.load_stats_binary(sys.argv[1])
corrupt = tfdv.load_stats_binary(sys.argv[3])
schema = tfdv.load_schema_text(sys.argv[2])
times = []
for _ in range(20):
    start = time.perf_counter()
    tfdv.validate_statistics(stats, schema)
    times.append((time.perf_counter() - start) * 1000)
times.sort()
found = tfdv.validate_statistics(corrupt, schema)
print(json.dumps({"median_ms": times[len(times) // 2],
                  "corrupt": {k: sorted(r.type for r in v.reason)
                              for k, v in found.anomaly_info.items()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="/tmp/hw_data/r1000000/taxi.csv")
    parser.add_argument("--drift", default="/tmp/hw_data/r100000_drift/taxi_drift.csv")
    parser.add_argument("--corrupt", default="/tmp/hw_data/r100000_corrupt/taxi_corrupt.csv")
    parser.add_argument("--no-tfdv", action="store_true", help="skip the TFDV side-by-side")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    start = time.perf_counter()
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    import headwater.data_validation as dv

    print(f"import headwater.data_validation: {time.perf_counter() - start:.2f} s")

    def stats_of(path: str):  # type: ignore[no-untyped-def]
        begin = time.perf_counter()
        stats = dv.generate_statistics_from_csv(path)
        n = stats.datasets[0].num_examples
        print(f"statistics of {path}: {n:,} rows in {time.perf_counter() - begin:.2f} s")
        return stats

    stats = stats_of(args.csv)
    drifted = stats_of(args.drift)
    corrupt = stats_of(args.corrupt)

    infer_ms = _median_ms(lambda: dv.infer_schema(stats), args.repeat)
    schema = dv.infer_schema(stats)
    validate_ms = _median_ms(lambda: dv.validate_statistics(stats, schema), args.repeat)
    print(f"infer_schema ({len(schema.feature)} features):     {infer_ms:8.2f} ms")
    print(
        f"validate_statistics (1M-row stats): {validate_ms:8.2f} ms"
        f"   TFDV 1.16 (anchor README): {TFDV_VALIDATE_MS[0]}-{TFDV_VALIDATE_MS[1]} ms"
    )

    with_drift = dv.update_schema(schema, drifted)  # accept the drifted data but for drift
    for feature in with_drift.feature:
        if feature.type == 1:  # BYTES
            dv.set_drift_comparator(with_drift, feature.name, "l_infinity", 0.05)
        else:
            for metric, threshold in (
                ("jensen_shannon_divergence", 0.05),
                ("psi", 0.2),
                ("ks", 0.1),
                ("wasserstein", 0.1),
            ):
                dv.set_drift_comparator(with_drift, feature.name, metric, threshold)
    drift_ms = _median_ms(
        lambda: dv.validate_statistics(drifted, with_drift, previous_statistics=stats),
        args.repeat,
    )
    report = dv.check_statistics(drifted, with_drift, previous_statistics=stats)
    print(f"validate_statistics + drift on every feature:  {drift_ms:8.2f} ms")
    print("  drift (current = drifted 100k, previous = 1M):")
    for r in report.drift:
        if r.anomalous:
            print(
                f"    {r.feature:24s} {r.metric:26s} {r.value:9.4f} > {r.threshold:<5g}"
                f" (n={r.current_count:,.0f} vs {r.baseline_count:,.0f})"
            )
    anomalies = dv.validate_statistics(corrupt, schema)
    ours = {k: sorted(r.type for r in v.reason) for k, v in anomalies.anomaly_info.items()}
    name = anomalies_pb2.AnomalyInfo.Type.Name
    print("  corrupted data:", {k: [name(t) for t in v] for k, v in ours.items()})

    with tempfile.TemporaryDirectory() as tmp:
        schema_path = os.path.join(tmp, "schema.pbtxt")
        dv.write_schema_text(schema, schema_path)
        rows = _child(_ROWS, args.csv, schema_path)
        arrow = _child(_PYARROW, args.csv)
        print(
            f"validate_examples_in_csv: {rows['rows']:,} rows in {rows['wall']:.2f} s "
            f"({rows['rows'] / rows['wall']:,.0f} rows/s, peak {rows['peak']:.0f} MiB, "
            f"{rows['anomalous']} anomalous)   pyarrow.csv.read_csv alone: {arrow['wall']:.2f} s "
            f"(peak {arrow['peak']:.0f} MiB)"
        )
        if not args.no_tfdv and os.path.exists(TFDV_PYTHON):
            stats_path = os.path.join(tmp, "stats.pb")
            corrupt_path = os.path.join(tmp, "corrupt.pb")
            dv.write_stats_binary(stats, stats_path)
            dv.write_stats_binary(corrupt, corrupt_path)
            out = subprocess.run(
                [TFDV_PYTHON, "-c", _TFDV, stats_path, schema_path, corrupt_path],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            tfdv = json.loads(out.strip().splitlines()[-1])
            print(
                f"TFDV 1.16 validate_statistics, same files: {tfdv['median_ms']:.2f} ms "
                f"(ours {validate_ms:.2f} ms)"
            )
            theirs = {k: [name(t) for t in v] for k, v in tfdv["corrupt"].items()}
            print("  TFDV on corrupted data:", theirs)
            print(
                "  same anomaly types as TFDV:",
                theirs == {k: [name(t) for t in v] for k, v in ours.items()},
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
