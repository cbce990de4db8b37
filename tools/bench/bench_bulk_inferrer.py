"""Benchmark: bulk inference of the taxi model over raw taxi tf.Examples into PredictionLogs.

Mirrors the anchor's TFX BulkInferrer workload (/work/shared/anchor/bench_bulk_inferrer.py):
100k raw taxi tf.Examples (gzip TFRecord, as ImportExampleGen leaves them) through the model of
the TFMA benchmark (serving_default takes serialized tf.Examples and preprocesses in-graph,
trained by bench_model_analysis.train_and_export), written as PredictionLog TFRecords. TFX's
BulkInferrer took 33.9 s for that (2.95k rows/s, 1,290 MB peak; /work/shared/anchor/README.md).

    uv run --frozen python tools/bench/bench_bulk_inferrer.py [--rows N] [--csv CSV] [--keep DIR]

Each measurement runs in a fresh child process so that its peak RSS is its own; all of them in
the same run:
  plain    read_serialized_examples (records as read, no column decoded; started before the
           model loads, so the reading overlaps the load) -> Inferrer.infer ->
           write_inference_outputs (PredictionLogs); the model's load (printed apart) and first
           call inside the clock, as TFX's BulkInferrer pays them (only imports are warmed)
  columns  the same, decoding trip_id and fare to write them in Parquet beside the output
  beam     ReadSerializedExamples (records as read) -> RunBulkInference -> WritePredictionLogs
           on Beam's in-process
           FnApiRunner (what the DirectRunner runs batch pipelines on); pipeline start-up and
           the model load inside the clock
  ceiling  the bare signature call on batches encoded before the clock starts
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = "/tmp/hw_data/r100000/taxi.csv"
MAKE_TAXI = os.path.join(HERE, "..", "..", "..", "shared", "datasets", "make_taxi.py")
TFX_S, TFX_ROWS_PER_S, TFX_PEAK_MIB = 33.9, 2950.0, 1290
BATCH_SIZE = 8192
KEEP = ("trip_id", "fare")


def _peak_mib() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _warm(data: str) -> None:
    """Imports (TensorFlow's included) and one pass of the reading code, without the model.

    The model's load and first call (its graph optimization) stay inside the clock: TFX's
    BulkInferrer pays them in its timed run, and compare.py subtracts the "model load + first
    call" floor measured in a fresh process.
    """
    import pyarrow.parquet  # noqa: F401
    import tensorflow  # noqa: F401

    import headwater.bulk_inferrer as bi

    next(bi.read_serialized_examples(data, columns=list(KEEP), batch_size=64))


def _cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, data: str, model_dir: str, out: str) -> dict:
    """Child process: one measurement of `kind` (wall and CPU seconds of the timed part)."""
    import headwater.bulk_inferrer as bi
    import headwater.io as hio

    spec = bi.ModelSpec(batch_size=BATCH_SIZE)
    handler = hio.SavedModelHandler(model_dir)
    if kind == "ceiling":
        import numpy as np
        import tensorflow as tf

        encoded = [
            np.array(hio.encode_examples(b), dtype=object)
            for b in hio.read_tfrecord(data, batch_size=BATCH_SIZE)
        ]
        fn = tf.saved_model.load(model_dir).signatures["serving_default"]
        fn(examples=encoded[0][:64])
        t, c = time.perf_counter(), _cpu_s()
        for records in encoded:
            {k: v.numpy() for k, v in fn(examples=records).items()}
        seconds, cpu = time.perf_counter() - t, _cpu_s() - c
        rows = sum(len(r) for r in encoded)
    elif kind in ("plain", "columns"):
        _warm(data)
        t0, c0 = time.perf_counter(), _cpu_s()
        # What run_bulk_inference does over read_serialized_examples, the model's first call
        # (graph optimization) inside the clock. The reading starts first: its thread reads
        # ahead from the call on (two batches, as the component reads), so the first batches
        # are read while the model loads. The records as read feed the serialized-tf.Example
        # signature (not re-encoded); only the kept columns are decoded, none for
        # PredictionLogs alone.
        read = bi.read_serialized_examples(
            data, columns=[] if kind == "plain" else KEEP, batch_size=BATCH_SIZE, ahead=2
        )
        inferrer = bi.Inferrer(handler.load_model(), spec)
        load_s, load_cpu = time.perf_counter() - t0, _cpu_s() - c0
        t, c = time.perf_counter(), _cpu_s()
        results = (r for b in read for r in inferrer.infer_chunks(b))
        if kind == "plain":
            written = bi.write_inference_outputs(
                results, prediction_logs=os.path.join(out, "prediction_logs.gz")
            )
        else:
            written = bi.write_inference_outputs(
                results, columns=os.path.join(out, "columns.parquet"), keep_columns=KEEP
            )
        seconds, cpu = time.perf_counter() - t, _cpu_s() - c
        rows = written.num_rows
    elif kind == "beam":
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        _warm(data)
        t, c = time.perf_counter(), _cpu_s()
        with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
            _ = (
                pipeline
                | "Read" >> bi.ReadSerializedExamples(data, columns=[])
                | "Infer" >> bi.RunBulkInference(handler, spec)
                | "Write" >> bi.WritePredictionLogs(os.path.join(out, "prediction_logs"))
            )
        seconds, cpu = time.perf_counter() - t, _cpu_s() - c
        rows = _count_records(os.path.join(out, "prediction_logs-00000-of-00001.gz"))
    else:
        raise ValueError(f"unknown measurement {kind!r}")
    extra = {}
    if kind in ("plain", "columns"):
        extra = {"model_load_s": round(load_s, 3), "model_load_cpu_s": round(load_cpu, 3)}
    return {
        "kind": kind,
        "rows": rows,
        "s": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "peak_mib": _peak_mib(),
        **extra,
    }


def _count_records(path: str) -> int:
    import tensorflow as tf

    return sum(1 for _ in tf.data.TFRecordDataset(path, compression_type="GZIP"))


def _prepare(work: str, rows: int, csv: str | None) -> tuple[str, str]:
    """The taxi CSV (generated when absent), its tf.Examples as gzip TFRecord, the model."""
    sys.path.insert(0, HERE)
    from bench_model_analysis import train_and_export

    import headwater.io as hio

    if csv is None:
        csv = CSV if rows == 100_000 and os.path.exists(CSV) else None
    if csv is None:
        out = os.path.join(work, f"r{rows}")
        if not os.path.exists(os.path.join(out, "taxi.csv")):
            subprocess.run(
                [sys.executable, MAKE_TAXI, "--rows", str(rows), "--seed", "42", "--out", out],
                check=True,
            )
        csv = os.path.join(out, "taxi.csv")
    data = os.path.join(work, "examples")
    if not os.path.isdir(data):
        os.makedirs(data)
        hio.write_tfrecord(hio.read_csv(csv), os.path.join(data, "examples"))
    model_dir = os.path.join(work, "serving_model")
    if not os.path.isdir(model_dir):
        train_and_export(csv, model_dir)
    return os.path.join(data, "examples-00000-of-00001.gz"), model_dir


def main() -> None:
    argv = sys.argv[1:]
    if argv and argv[0] == "--measure":
        _, kind, data, model_dir, out = argv
        print("CHILD " + json.dumps(measure(kind, data, model_dir, out)), flush=True)
        return
    options = dict(zip(argv[::2], argv[1::2], strict=True))
    rows = int(options.get("--rows", 100_000))
    work = options.get("--keep") or tempfile.mkdtemp(prefix="bench_bi_")
    data, model_dir = _prepare(work, rows, options.get("--csv"))
    results = {}
    for kind in ("ceiling", "plain", "columns", "beam"):
        out = tempfile.mkdtemp(prefix=f"{kind}_", dir=work)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", kind, data, model_dir, out],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [ln for ln in child.stdout.splitlines() if ln.startswith("CHILD ")]
        if child.returncode != 0 or not lines:
            sys.stderr.write(child.stderr[-4000:])
            raise SystemExit(f"{kind} child failed with {child.returncode}")
        results[kind] = json.loads(lines[-1][len("CHILD ") :])
    ceiling_s = results["ceiling"]["s"]
    for kind in ("ceiling", "plain", "columns", "beam"):
        r = results[kind]
        rate = r["rows"] / r["s"] if r["s"] else float("inf")
        r["rows_per_s"] = round(rate)
        r["x_tfx"] = round(rate / TFX_ROWS_PER_S, 1)
        r["x_ceiling_time"] = round(r["s"] / ceiling_s, 2) if ceiling_s else None
        ceiling_cpu = results["ceiling"]["cpu_s"]
        r["x_ceiling_cpu"] = round(r["cpu_s"] / ceiling_cpu, 2) if ceiling_cpu else None
        print(
            f"{kind:8s} {r['rows']} rows in {r['s']:.2f} s = {r['rows_per_s']} rows/s "
            f"({r['x_tfx']}x TFX's {TFX_ROWS_PER_S:.0f}; {r['x_ceiling_time']}x the ceiling's "
            f"time); CPU {r['cpu_s']:.2f} s ({r['x_ceiling_cpu']}x the ceiling's); "
            f"peak RSS {r['peak_mib']} MiB (TFX {TFX_PEAK_MIB})"
            + (f"; model load {r['model_load_s']} s apart" if "model_load_s" in r else "")
        )
    print(f"load average: {os.getloadavg()}, cpus: {os.cpu_count()}")
    summary = {"workload": "bulk_inferrer", "rows": rows, "batch_size": BATCH_SIZE, **results}
    summary["tfx_anchor"] = {"s": TFX_S, "rows_per_s": TFX_ROWS_PER_S, "peak_mib": TFX_PEAK_MIB}
    print("RESULT " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
