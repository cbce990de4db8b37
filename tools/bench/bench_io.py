"""Benchmark: headwater.io against its baselines on the taxi CSV, in one run.

    uv run --frozen python tools/bench/bench_io.py [CSV] [--tfx-bsl-rows N] [--repeat K]

Every line runs in a fresh child process; its peak RSS (VmHWM) is reset just before the call, so
"+N in the call" is what the call itself added to the input's memory. The time is
the call alone (imports and input preparation excluded), wall clock and CPU seconds (the machine
is shared: CPU time is the steadier figure when other jobs compete for the cores). Lines, each
beside its baseline:

  csv        pyarrow.csv.read_csv (whole file)    vs  headwater read_csv (iterator of batches)
  beam csv   headwater read_csv                   vs  ReadCsv on the Beam DirectRunner
  decode     tf.io.parse_example, known spec      vs  decode_examples with / without a schema
             tfx-bsl ExamplesToRecordBatchDecoder (from the anchor venv /tmp/tfx-anchor, if built)
  encode     tf.train.Example built per row       vs  encode_examples
  write      write_tfrecord (gzip), in-memory batches → one file
  read gz    tf.data.TFRecordDataset (GZIP) + parse_example, known spec  vs  read_tfrecord with
             the schema (one gzip TFRecord file of the 1M rows, written once next to the data)

Batches are 65536 rows. Serialized records are made once by headwater (byte-identical to
TensorFlow's, see packages/io/tests/test_tensorflow_compat.py) into a TFRecord file next to
the data. With --repeat K each line runs K times and the best time is kept (the machine is
shared). Prints a table and one `RESULT {json}` line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CSV = "/tmp/hw_data/r1000000/taxi.csv"
BATCH = 65536
ANCHOR_PYTHON = "/tmp/tfx-anchor/bin/python"


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited at fork)."""
    return _status_mib("VmHWM")


def _start_call() -> float:
    """Reset the peak to the current resident memory (Linux clear_refs 5); that memory in MiB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def _records(path: str) -> list[bytes]:
    """Every record of an uncompressed TFRecord file (framing only, no CRC check)."""
    import struct

    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        out.append(data[pos + 12 : pos + 12 + length])
        pos += length + 16
    return out


def _schema(csv: str):
    from headwater.io import read_csv

    return next(iter(read_csv(csv, batch_size=1000))).schema


def _tf_spec(tf, schema) -> dict:
    """FixedLen spec of the taxi columns (missing values get a default, as TF needs)."""
    import pyarrow as pa

    def one(t):
        if pa.types.is_integer(t):
            return tf.io.FixedLenFeature([], tf.int64, default_value=0)
        if pa.types.is_floating(t):
            return tf.io.FixedLenFeature([], tf.float32, default_value=0.0)
        return tf.io.FixedLenFeature([], tf.string, default_value="")

    return {f.name: one(f.type) for f in schema}


def _gzip_records_path(records_path: str) -> str:
    return records_path + ".gz"


def run_line(name: str, csv: str, records_path: str, tfx_bsl_rows: int) -> dict:
    """Run one benchmark line in this process; returns rows, seconds and peak MiB."""
    import pyarrow as pa

    pa.array([0])  # pyarrow imports pandas on first use: an import cost, not the work measured

    if name == "csv_pyarrow":
        from pyarrow import csv as pacsv

        before = _start_call()
        t, c = time.perf_counter(), time.process_time()
        rows = pacsv.read_csv(csv).num_rows
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    elif name == "csv_headwater":
        from headwater.io import read_csv

        before = _start_call()
        t, c = time.perf_counter(), time.process_time()
        rows = sum(b.num_rows for b in read_csv(csv, batch_size=BATCH))
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    elif name == "csv_beam":
        import apache_beam as beam
        from apache_beam.metrics.metric import MetricsFilter

        # Imports are excluded from every line: Beam imports its runner on the first run.
        from apache_beam.runners.portability import fn_api_runner, portable_runner  # noqa: F401
        from apache_beam.runners.worker import bundle_processor, sdk_worker  # noqa: F401

        from headwater.io import ReadCsv

        before = _start_call()
        t, c = time.perf_counter(), time.process_time()
        # The read alone: ReadCsv counts its rows in a Beam metric, so no sink is needed.
        pipeline = beam.Pipeline(runner="DirectRunner")
        _ = pipeline | ReadCsv(csv, batch_size=BATCH)
        result = pipeline.run()
        result.wait_until_finish()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        counters = result.metrics().query(MetricsFilter().with_name("csv_rows"))["counters"]
        rows = sum(counter.committed for counter in counters)
    elif name.startswith("decode_"):
        records = _records(records_path)
        if name == "decode_tfxbsl":
            records = records[:tfx_bsl_rows]
        batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
        rows = len(records)
        if name == "decode_tf":
            import tensorflow as tf

            spec = _tf_spec(tf, _schema(csv))
            tensors = [tf.constant(b) for b in batches]
            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            for b in tensors:
                tf.io.parse_example(b, spec)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        elif name == "decode_tfxbsl":
            from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

            decoder = ExamplesToRecordBatchDecoder()
            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            for b in batches:
                decoder.DecodeBatch(b)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        else:
            from headwater.io import decode_examples

            schema = None
            if name == "decode_headwater_schema":
                schema = decode_examples(batches[0][:1000]).schema
            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            for b in batches:
                decode_examples(b, schema)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
    elif name in ("tfrecord_tf", "tfrecord_headwater"):
        gz = _gzip_records_path(records_path)
        schema = _schema(csv)
        if name == "tfrecord_tf":
            import tensorflow as tf

            spec = _tf_spec(tf, schema)
            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            rows = 0
            dataset = tf.data.TFRecordDataset(gz, compression_type="GZIP").batch(BATCH)
            for batch in dataset.map(lambda b: tf.io.parse_example(b, spec)):
                rows += int(batch[schema.names[0]].shape[0])
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        else:
            from headwater.io import read_tfrecord

            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            rows = sum(b.num_rows for b in read_tfrecord(gz, schema=schema, batch_size=BATCH))
            wall, cpu = time.perf_counter() - t, time.process_time() - c
    elif name in ("encode_headwater", "encode_tf", "write_headwater"):
        from headwater.io import encode_examples, read_csv, write_tfrecord

        batches = list(read_csv(csv, batch_size=BATCH))
        if name == "encode_tf":
            import tensorflow as tf

            table = pa.Table.from_batches(batches).slice(0, 100_000)
            pylist = table.to_pylist()
            kinds = {
                f.name: "i"
                if pa.types.is_integer(f.type)
                else "f"
                if pa.types.is_floating(f.type)
                else "b"
                for f in table.schema
            }

            def feature(kind, value):
                if value is None:
                    return tf.train.Feature()
                if kind == "i":
                    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
                if kind == "f":
                    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
                return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))

            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            for row in pylist:
                tf.train.Example(
                    features=tf.train.Features(
                        feature={k: feature(kinds[k], v) for k, v in row.items()}
                    )
                ).SerializeToString()
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            rows = len(pylist)
        elif name == "encode_headwater":
            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            rows = sum(len(encode_examples(b)) for b in batches)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        else:
            prefix = os.path.join(os.path.dirname(records_path), "written", "data_tfrecord")
            before = _start_call()
            t, c = time.perf_counter(), time.process_time()
            write_tfrecord(batches, prefix, compression="gzip")
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            rows = sum(b.num_rows for b in batches)
    else:
        raise SystemExit(f"unknown line {name!r}")
    return {
        "line": name,
        "rows": rows,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mib": _rss_mib(),
        "before_mib": before,
    }


def _child(name: str, args: argparse.Namespace) -> dict | None:
    python = sys.executable
    if name == "decode_tfxbsl":
        if not os.path.exists(ANCHOR_PYTHON):
            return None
        python = ANCHOR_PYTHON
    env = dict(os.environ)
    if name == "decode_tfxbsl":  # the anchor venv must not see this repository's packages
        env.pop("PYTHONPATH", None)
    cmd = [
        python,
        os.path.abspath(__file__),
        args.csv,
        "--line",
        name,
        "--records",
        args.records,
        "--tfx-bsl-rows",
        str(args.tfx_bsl_rows),
    ]
    best = None
    for _ in range(args.repeat):
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [x for x in out.stdout.splitlines() if x.startswith("LINE ")]
        if out.returncode != 0 or not lines:
            print(f"{name} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            return None
        result = json.loads(lines[-1][5:])
        if best is None or result["wall_s"] < best["wall_s"]:
            best = result
    return best


def _prepare_records(csv: str, path: str) -> None:
    gz = _gzip_records_path(path)
    if not os.path.exists(gz):
        from headwater.io import read_csv, write_tfrecord

        os.makedirs(os.path.dirname(gz), exist_ok=True)
        (written,) = write_tfrecord(read_csv(csv, batch_size=BATCH), gz, compression="gzip")
        os.replace(written, gz)
    if os.path.exists(path):
        return
    from headwater.io import read_csv, write_tfrecord

    os.makedirs(os.path.dirname(path), exist_ok=True)
    (written,) = write_tfrecord(read_csv(csv, batch_size=BATCH), path, compression=None)
    os.replace(written, path)


PAIRS = [
    ("CSV → RecordBatches", "csv_pyarrow", "csv_headwater", 1.5, "within"),
    ("Beam DirectRunner CSV read", "csv_headwater", "csv_beam", 3.0, "within"),
    ("decode, schema known", "decode_tf", "decode_headwater_schema", 1.5, "within"),
    ("decode, no TensorFlow, inferred", "decode_tfxbsl", "decode_headwater_infer", 2.0, "faster"),
    ("encode tf.Example", "encode_tf", "encode_headwater", None, ""),
    ("write gzip TFRecord", "encode_headwater", "write_headwater", None, ""),
    ("read gzip TFRecord, schema known", "tfrecord_tf", "tfrecord_headwater", None, ""),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="?", default=CSV)
    ap.add_argument("--line")
    ap.add_argument("--records")
    ap.add_argument("--tfx-bsl-rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    if args.records is None:
        base = os.path.splitext(os.path.abspath(args.csv))[0]
        args.records = (
            f"/tmp/hw_bench/{os.path.basename(base)}_{os.path.getsize(args.csv)}.tfrecord"
        )
    if args.line:
        print("LINE " + json.dumps(run_line(args.line, args.csv, args.records, args.tfx_bsl_rows)))
        return
    _prepare_records(args.csv, args.records)
    names = []
    for _, a, b, _, _ in PAIRS:
        names += [n for n in (a, b) if n not in names]
    results = {}
    for name in names:
        results[name] = _child(name, args)
        r = results[name]
        if r:
            print(
                f"  {name:26s} {r['rows']:>9,d} rows {r['wall_s']:7.2f} s wall "
                f"{r['cpu_s']:6.2f} s cpu {r['rows'] / r['wall_s']:>10,.0f} rows/s  "
                f"peak {r['peak_mib']:5.0f} MiB "
                f"(+{r['peak_mib'] - r['before_mib']:.0f} in the call)",
                flush=True,
            )
    print()
    print(
        f"{'comparison':34s} {'base rows/s':>12s} {'ours rows/s':>12s} "
        f"{'ratio wall':>10s} {'ratio cpu':>10s}  target"
    )
    for label, base, ours, target, kind in PAIRS:
        rb, ro = results.get(base), results.get(ours)
        if not rb or not ro:
            print(f"{label:34s} (skipped: {base if not rb else ours} unavailable)")
            continue
        per_row = {k: (rb[k] / rb["rows"], ro[k] / ro["rows"]) for k in ("wall_s", "cpu_s")}
        if kind == "within":
            ratios = [o / b for b, o in per_row.values()]
            goal = f"ours ≤ {target}x the baseline's time per row"
        else:
            ratios = [b / o for b, o in per_row.values()]
            goal = f"ours ≥ {target}x the baseline's speed" if kind else "(speed-up)"
        print(
            f"{label:34s} {rb['rows'] / rb['wall_s']:>12,.0f} {ro['rows'] / ro['wall_s']:>12,.0f} "
            f"{ratios[0]:>9.2f}x {ratios[1]:>9.2f}x  {goal}"
        )
    print("RESULT " + json.dumps({"csv": args.csv, "lines": results}))


if __name__ == "__main__":
    main()
