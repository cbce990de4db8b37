"""Benchmark: the taxi preprocessing (as /work/shared/anchor/bench_tft.py) with headwater.transform.

    uv run --frozen python tools/bench/bench_transform.py [CSV] [--modes plain,beam] [--tft]

Each mode runs in its own process so its peak memory (ru_maxrss) is its own:
  plain  read_csv, analyze_dataset, then transform_dataset streamed into the tf.Example encode +
         gzip TFRecord write (headwater.io); then the serving graph's per-example latency.
  plain_stream  the same with every pass re-reading the CSV (flat memory), read included.
  beam   AnalyzeAndTransformDataset on the DirectRunner, reading the CSV with ReadCsv and
         writing transformed tf.Examples with WriteTFRecord (what the TFT anchor measures).
Baselines in the same run: bare pyarrow CSV read, and (with --tft) TFT 1.16 itself from the
anchor venv on the same file. Prints one `RESULT {json}` line per mode.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_CSV = "/tmp/hw_data/r100000/taxi.csv"
SCHEMA = "/work/shared/anchor/inputs/schema_1m.pbtxt"
TFT_PYTHON = "/tmp/tfx-anchor/bin/python"
ANCHOR_DIR = "/work/shared/anchor"

DENSE_FLOAT = ["trip_miles", "fare", "trip_seconds"]
VOCAB = {"payment_type": (10, 2), "company": (50, 10)}  # name -> (top_k, num_oov_buckets)
BUCKET = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]
CATEGORICAL = [
    "pickup_hour",
    "pickup_day_of_week",
    "pickup_community_area",
    "dropoff_community_area",
]
LABEL = "big_tipper"
NUM_BUCKETS = 10


def fill_in_missing(x):
    """Sparse [B, <=1] or dense [B, 1] -> dense [B]; missing -> 0 / ''."""
    import tensorflow as tf

    if isinstance(x, tf.sparse.SparseTensor):
        default = "" if x.dtype == tf.string else 0
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    return tf.reshape(x, [-1])


def preprocessing_fn(inputs):
    """The anchor's taxi preprocessing_fn, ported by changing the import."""
    import tensorflow as tf

    import headwater.transform as tft

    out = {}
    for k in DENSE_FLOAT:
        out[k + "_xf"] = tft.scale_to_z_score(tf.cast(fill_in_missing(inputs[k]), tf.float32))
    for k, (top_k, oov) in VOCAB.items():
        out[k + "_xf"] = tft.compute_and_apply_vocabulary(
            fill_in_missing(inputs[k]), top_k=top_k, num_oov_buckets=oov, vocab_filename=k
        )
    for k in BUCKET:
        out[k + "_xf"] = tft.bucketize(fill_in_missing(inputs[k]), NUM_BUCKETS)
    for k in CATEGORICAL:
        out[k + "_xf"] = fill_in_missing(inputs[k])
    out[LABEL] = fill_in_missing(inputs[LABEL])
    out["trip_id"] = fill_in_missing(inputs["trip_id"])
    return out


def _schema():
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    with open(SCHEMA) as f:
        return text_format.Parse(f.read(), schema_pb2.Schema())


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _count_rows(csv: str) -> int:
    with open(csv, "rb") as f:
        return sum(1 for _ in f) - 1


def _serving_latency(transform_fn_dir: str, csv: str, n: int = 300) -> dict:
    import numpy as np
    import tensorflow as tf
    from pyarrow import csv as pacsv

    from headwater.io import encode_examples

    raw = pacsv.read_csv(csv, read_options=pacsv.ReadOptions(block_size=1 << 20)).slice(0, n)
    records = encode_examples(raw.combine_chunks().to_batches()[0])
    serve = tf.saved_model.load(transform_fn_dir).signatures["serving_default"]
    serve(examples=tf.constant(records[:1]))  # warm up
    times = []
    for record in records:
        t = time.perf_counter()
        serve(examples=tf.constant([record]))
        times.append(time.perf_counter() - t)
    ms = np.asarray(times) * 1000
    return {
        "serving_p50_ms": round(float(np.percentile(ms, 50)), 3),
        "serving_p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def run_plain(csv: str, work: str) -> dict:
    t = time.perf_counter()
    import tensorflow as tf  # noqa: F401  (timed with the imports, not the analysis)

    import headwater.transform as tft
    from headwater.io import read_csv, write_tfrecord

    imports_s = time.perf_counter() - t
    rss_after_imports = _peak_mib()
    schema = _schema()
    t = time.perf_counter()
    batches = list(read_csv(csv))
    read_s = time.perf_counter() - t
    rows = sum(b.num_rows for b in batches)
    out_dir = os.path.join(work, "transform_output")
    t = time.perf_counter()
    output = tft.analyze_dataset(batches, schema, preprocessing_fn, out_dir)
    analyze_s = time.perf_counter() - t
    # transform streamed into the write, as a user writes it (and as TFT's pipeline runs):
    # the next batch is transformed while the last one is encoded and compressed
    t = time.perf_counter()
    transformed = tft.transform_dataset(batches, output, schema)
    write_tfrecord(transformed, os.path.join(work, "transformed", "data"), compression="gzip")
    transform_write_s = time.perf_counter() - t
    result = {
        "mode": "plain",
        "rows": rows,
        "imports_s": round(imports_s, 2),
        "read_csv_s": round(read_s, 2),
        "analyze_s": round(analyze_s, 2),
        "analyze_rows_per_s": round(rows / analyze_s),
        "transform_encode_gzip_write_s": round(transform_write_s, 2),
        "transform_rows_per_s": round(rows / transform_write_s),
        "call_s": round(analyze_s + transform_write_s, 2),
        "rows_per_s": round(rows / (analyze_s + transform_write_s)),
        "call_with_read_s": round(read_s + analyze_s + transform_write_s, 2),
        "rows_per_s_with_read": round(rows / (read_s + analyze_s + transform_write_s)),
        "rss_after_imports_mib": rss_after_imports,
        "company_vocab_size": output.vocabulary_size_by_name("company"),
        "payment_vocab": [v.decode() for v in output.vocabulary_by_name("payment_type")],
    }
    result.update(_serving_latency(output.transform_savedmodel_dir, csv))
    result["peak_mib"] = _peak_mib()
    return result


class _CsvPasses:
    """Re-iterable: each pass re-reads the CSV, so memory stays flat whatever the file size."""

    def __init__(self, csv: str) -> None:
        self.csv = csv

    def __iter__(self):
        from headwater.io import read_csv

        return iter(read_csv(self.csv))


def run_plain_stream(csv: str, work: str) -> dict:
    """Constant memory: analysis passes and the transform stream from the CSV."""
    t = time.perf_counter()
    import tensorflow as tf  # noqa: F401

    import headwater.transform as tft
    from headwater.io import write_tfrecord

    imports_s = time.perf_counter() - t
    schema = _schema()
    rows = _count_rows(csv)
    out_dir = os.path.join(work, "transform_output")
    t = time.perf_counter()
    output = tft.analyze_dataset(_CsvPasses(csv), schema, preprocessing_fn, out_dir)
    analyze_s = time.perf_counter() - t
    t = time.perf_counter()
    transformed = tft.transform_dataset(_CsvPasses(csv), output, schema)
    write_tfrecord(transformed, os.path.join(work, "transformed", "data"), compression="gzip")
    transform_s = time.perf_counter() - t
    return {
        "mode": "plain_stream",
        "rows": rows,
        "imports_s": round(imports_s, 2),
        "read_analyze_s": round(analyze_s, 2),
        "read_transform_write_s": round(transform_s, 2),
        "call_s": round(analyze_s + transform_s, 2),
        "rows_per_s": round(rows / (analyze_s + transform_s)),
        "peak_mib": _peak_mib(),
    }


def run_beam(csv: str, work: str, beam_args: list[str] | None = None) -> dict:
    t = time.perf_counter()
    import apache_beam as beam
    import tensorflow as tf  # noqa: F401

    import headwater.transform as tft
    from headwater.io import ReadCsv, WriteTFRecord

    imports_s = time.perf_counter() - t
    schema = _schema()
    rows = _count_rows(csv)
    t = time.perf_counter()
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(beam_args or [])
    with beam.Pipeline(options=options) as p, tft.Context(temp_dir=os.path.join(work, "tmp")):
        raw = p | "Read" >> ReadCsv(csv)
        (transformed, _), transform_fn = (raw, schema) | tft.AnalyzeAndTransformDataset(
            preprocessing_fn
        )
        _ = transformed | "Write" >> WriteTFRecord(os.path.join(work, "transformed", "data"))
        _ = transform_fn | tft.WriteTransformFn(os.path.join(work, "transform_output"))
    call_s = time.perf_counter() - t
    output = tft.TransformOutput(os.path.join(work, "transform_output"))
    return {
        "mode": "beam",
        "beam_args": beam_args or [],
        "rows": rows,
        "imports_s": round(imports_s, 2),
        "call_s": round(call_s, 2),
        "rows_per_s": round(rows / call_s),
        "company_vocab_size": output.vocabulary_size_by_name("company"),
        "peak_mib": _peak_mib(),
    }


def run_pyarrow_baseline(csv: str) -> dict:
    from pyarrow import csv as pacsv

    t = time.perf_counter()
    table = pacsv.read_csv(csv)
    s = time.perf_counter() - t
    return {
        "mode": "pyarrow_read_csv",
        "rows": table.num_rows,
        "call_s": round(s, 2),
        "rows_per_s": round(table.num_rows / s),
    }


def run_tft(csv: str) -> dict:
    """TFT 1.16 (the anchor script) on the same CSV, in the anchor venv."""
    rows = _count_rows(csv)
    bench = tempfile.mkdtemp(prefix="hw-tft-anchor-")
    os.makedirs(os.path.join(bench, "data", f"r{rows}"))
    os.symlink(csv, os.path.join(bench, "data", f"r{rows}", "taxi.csv"))
    os.makedirs(os.path.join(bench, "out"))
    shutil.copy(SCHEMA, os.path.join(bench, "out", "schema_1m.pbtxt"))
    env = dict(
        os.environ, ANCHOR_BENCH=bench, ANCHOR_OUT=os.path.join(bench, "out"), PYTHONPATH=ANCHOR_DIR
    )
    t = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", TFT_PYTHON, os.path.join(ANCHOR_DIR, "bench_tft.py"), str(rows)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t
    result: dict = {"mode": "tft_1.16", "rows": rows, "process_wall_s": round(wall, 1)}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            result.update(call_s=r["call_s"], rows_per_s=r["rows_per_s"])
    for line in proc.stderr.splitlines():
        if "Maximum resident set size" in line:
            result["peak_mib"] = round(int(line.split(":")[1]) / 1024, 1)
    if proc.returncode:
        result["error"] = proc.stderr[-2000:]
    shutil.rmtree(bench, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=DEFAULT_CSV)
    parser.add_argument("--modes", default="plain,plain_stream,beam")
    parser.add_argument("--tft", action="store_true", help="also run TFT 1.16 (anchor venv)")
    parser.add_argument(
        "--beam-args", default="", help="extra Beam options for the beam mode, space separated"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = tempfile.mkdtemp(prefix="hw-bench-transform-")
        try:
            if args.worker == "beam":
                result = run_beam(args.csv, work, args.beam_args.split())
            else:
                fn = {"plain": run_plain, "plain_stream": run_plain_stream}[args.worker]
                result = fn(args.csv, work)
            print("RESULT " + json.dumps(result), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    print("RESULT " + json.dumps(run_pyarrow_baseline(args.csv)), flush=True)
    for mode in args.modes.split(","):
        subprocess.run(
            [sys.executable, __file__, args.csv, "--worker", mode, f"--beam-args={args.beam_args}"],
            check=True,
        )
    if args.tft:
        print("RESULT " + json.dumps(run_tft(args.csv)), flush=True)
    print(
        "TFT 1.16 reference (anchor README): 100k 58.8 s 1.7k rows/s 850 MiB; "
        "1M 357.7 s 2.8k rows/s 1,870 MiB",
        flush=True,
    )


if __name__ == "__main__":
    main()
