"""Benchmark: `DataAccessor.tf_dataset_factory` input throughput on the taxi rows.

    uv run --frozen python tools/bench/bench_training_input.py [CSV] [--batch-size 1024]
        [--cases bare_tfrecord,factory_tfrecord,factory_parquet] [--shuffle]

The CSV (default: the 1M-row taxi file) is written once, with headwater.io, as gzip TFRecord
of tf.Example (as TFX's ExampleGen lays it out) and as Parquet, 4 shards each, into a cache
directory beside /tmp/hw_data. Then each case reads one full epoch of
(features, label) batches in its own process, so its peak memory (ru_maxrss) is its own:

  bare_tfrecord     the baseline: TFRecordDataset(GZIP) → batch → tf.io.parse_example → prefetch
  factory_tfrecord  tf_dataset_factory on the tf.Example split
  factory_parquet   tf_dataset_factory on the Parquet split
  tfx_tfrecord      TFX's own path (tfx_bsl 1.16 `TFExampleRecord.TensorFlowDataset`, what
                    TFX's `tf_dataset_factory` calls) on the tf.Example split, in the anchor
                    venv (/work/shared/anchor; skipped when it is not built)

All cases parse with the same spec, from the anchor's taxi schema (dense where it has a
shape, sparse elsewhere). Prints examples/s, wall time and peak MiB per case, and one
`RESULT {json}` line per case.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DEFAULT_CSV = "/tmp/hw_data/r1000000/taxi.csv"
SCHEMA = "/work/shared/anchor/inputs/schema_1m.pbtxt"
LABEL = "big_tipper"
SHARDS = 4
CASES = ["bare_tfrecord", "factory_tfrecord", "factory_parquet", "tfx_tfrecord"]
TFX_PYTHON = "/tmp/tfx-anchor/bin/python"
TFX_CASE = """
import json, resource, sys, time
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.public import tfxio
from tfx_bsl.tfxio import dataset_options

directory, schema_path, label, batch_size, shuffle = sys.argv[1:6]
with open(schema_path) as f:
    schema = text_format.Parse(f.read(), schema_pb2.Schema())
start = time.perf_counter()
source = tfxio.TFExampleRecord(
    file_pattern=directory + "/*", schema=schema, telemetry_descriptors=["bench"])
dataset = source.TensorFlowDataset(dataset_options.TensorFlowDatasetOptions(
    batch_size=int(batch_size), num_epochs=1, shuffle=shuffle == "1", label_key=label))
examples = 0
for _, y in dataset:
    examples += int(y.shape[0])
wall = time.perf_counter() - start
print("RESULT " + json.dumps({"case": "tfx_tfrecord", "examples": examples,
      "wall_s": round(wall, 2), "examples_per_s": round(examples / wall),
      "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def prepare(csv: str, cache: str) -> dict[str, str]:
    """Write the CSV as gzip tf.Example TFRecord and as Parquet (once); their directories."""
    import headwater.io as hio

    dirs = {"tfrecord": os.path.join(cache, "tfrecord"), "parquet": os.path.join(cache, "parquet")}
    for kind, directory in dirs.items():
        if os.path.isdir(directory) and os.listdir(directory):
            continue
        os.makedirs(directory, exist_ok=True)
        start = time.perf_counter()
        batches = hio.read_csv(csv)
        if kind == "tfrecord":
            hio.write_tfrecord(batches, os.path.join(directory, "data_tfrecord"), num_shards=SHARDS)
        else:
            hio.write_parquet(batches, os.path.join(directory, "data"), num_shards=SHARDS)
        print(f"wrote {kind} in {time.perf_counter() - start:.1f} s to {directory}", flush=True)
    return dirs


def run_case(case: str, dirs: dict[str, str], batch_size: int, shuffle: bool) -> dict[str, float]:
    """Read one epoch of batches; the timing covers building the dataset and iterating it."""
    import tensorflow as tf

    from headwater.orchestration import DataAccessor, TensorFlowDatasetOptions
    from headwater.orchestration.training import load_schema, schema_as_feature_spec

    schema = load_schema(SCHEMA)
    start = time.perf_counter()
    if case == "bare_tfrecord":
        spec = schema_as_feature_spec(schema)
        files = sorted(tf.io.gfile.glob(os.path.join(dirs["tfrecord"], "*")))
        dataset = tf.data.TFRecordDataset(
            files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE
        )
        if shuffle:
            dataset = dataset.shuffle(10_000)
        dataset = (
            dataset.batch(batch_size)
            .map(lambda r: tf.io.parse_example(r, spec), num_parallel_calls=tf.data.AUTOTUNE)
            .map(lambda f: (f, f.pop(LABEL)))
            .prefetch(tf.data.AUTOTUNE)
        )
    else:
        payload = "tfrecord" if case == "factory_tfrecord" else "parquet"
        options = TensorFlowDatasetOptions(
            batch_size, num_epochs=1, shuffle=shuffle, label_key=LABEL
        )
        dataset = DataAccessor().tf_dataset_factory(dirs[payload], options, schema)
    examples = 0
    for _, label in dataset:
        examples += int(label.shape[0])
    wall = time.perf_counter() - start
    return {
        "examples": examples,
        "wall_s": round(wall, 2),
        "examples_per_s": round(examples / wall),
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=DEFAULT_CSV)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--shuffle", action="store_true", help="shuffle (10k buffer) as training does"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case here
    args = parser.parse_args()
    cache = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(args.csv))),
        "training_input_" + os.path.basename(os.path.dirname(os.path.abspath(args.csv))),
    )
    if args.case:
        dirs = {k: os.path.join(cache, k) for k in ("tfrecord", "parquet")}
        result = run_case(args.case, dirs, args.batch_size, args.shuffle)
        print("RESULT " + json.dumps({"case": args.case, **result}), flush=True)
        return
    prepare(args.csv, cache)
    print(f"{'case':<18} {'examples':>9} {'wall s':>8} {'examples/s':>11} {'peak MiB':>9}")
    for case in args.cases.split(","):
        command = [sys.executable, __file__, args.csv, "--case", case]
        command += ["--batch-size", str(args.batch_size)] + (["--shuffle"] if args.shuffle else [])
        if case == "tfx_tfrecord":
            if not os.path.exists(TFX_PYTHON):
                print(f"{case}: skipped ({TFX_PYTHON} is not built)")
                continue
            directory = os.path.join(cache, "tfrecord")
            flag = "1" if args.shuffle else "0"
            command = [
                TFX_PYTHON,
                "-c",
                TFX_CASE,
                directory,
                SCHEMA,
                LABEL,
                str(args.batch_size),
                flag,
            ]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode != 0 or not lines:
            print(f"{case}: failed\n{out.stderr[-3000:]}")
            continue
        r = json.loads(lines[-1][len("RESULT ") :])
        print(
            f"{case:<18} {r['examples']:>9} {r['wall_s']:>8} {r['examples_per_s']:>11} "
            f"{r['peak_mib']:>9}",
            flush=True,
        )
        print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
