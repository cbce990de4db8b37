"""Benchmark: sliced model evaluation of a small Keras classifier on the taxi data.

Mirrors the anchor's TFMA workload (/work/shared/anchor/bench_tfma.py): a small Keras model
(embeddings of the categorical features + 3 floats -> Dense(32) -> sigmoid) whose serving
signature takes serialized raw tf.Examples and preprocesses in-graph; evaluated on 100k rows
with slices overall + payment_type + pickup_hour (31 slices) and ExampleCount,
BinaryAccuracy, AUC, Precision, Recall, CalibrationPlot. TFMA 0.47 took 280 s for that
(358 examples/s, 1.1 GB peak) on this kind of machine (/work/shared/anchor/README.md).

    uv run --frozen python tools/bench/bench_model_analysis.py [CSV] [--keep DIR]

The parent trains and exports the model, then evaluates in a fresh child process so the
child's peak RSS is the evaluation's alone. Printed: end-to-end `run_model_analysis` wall
time and examples/s (CSV read -> tf.Example encode -> inference -> metrics -> files), the
same pass split by phase, and a baseline in the same run: the bare signature call on
pre-encoded records (the inference floor).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

CSV = "/tmp/hw_data/r100000/taxi.csv"
LABEL = "big_tipper"
TFMA_S, TFMA_ROWS_PER_S, TFMA_PEAK_MIB = 280.0, 358.0, 1140
FLOATS = ["trip_miles", "fare", "trip_seconds"]
INTS = {
    "pickup_hour": 24,
    "pickup_day_of_week": 8,
    "pickup_community_area": 80,
    "dropoff_community_area": 80,
}
BUCKETED = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]
HASHED = {"payment_type": 16, "company": 64}
METRICS = ("ExampleCount", "BinaryAccuracy", "AUC", "Precision", "Recall", "CalibrationPlot")


def eval_config():
    import headwater.model_analysis as ma

    return ma.EvalConfig(
        model_specs=(ma.ModelSpec(signature_name="serving_default", label_key=LABEL),),
        slicing_specs=(
            ma.SlicingSpec(),
            ma.SlicingSpec(feature_keys=("payment_type",)),
            ma.SlicingSpec(feature_keys=("pickup_hour",)),
        ),
        metrics_specs=(
            ma.MetricsSpec(metrics=tuple(ma.MetricConfig(class_name=c) for c in METRICS)),
        ),
    )


def train_and_export(csv: str, model_dir: str) -> dict:
    """Train 2 epochs on 80% of the rows; export serving_default(serialized tf.Example)."""
    import keras
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import tensorflow as tf

    import headwater.io as hio

    table = pa.Table.from_batches(list(hio.read_csv(csv)))
    stats = {
        f: (
            float(np.nanmean(table[f].to_numpy(zero_copy_only=False))),
            float(np.nanstd(table[f].to_numpy(zero_copy_only=False))) or 1.0,
        )
        for f in FLOATS
    }
    bounds = {
        f: np.nanquantile(
            table[f].to_numpy(zero_copy_only=False).astype(float), np.linspace(0, 1, 17)[1:-1]
        )
        .astype(np.float32)
        .tolist()
        for f in BUCKETED
    }
    raw_spec = {
        **{
            f: tf.io.FixedLenFeature([], tf.int64, default_value=0)
            if pa.types.is_integer(table.schema.field(f).type)
            else tf.io.FixedLenFeature([], tf.float32, default_value=0.0)
            for f in FLOATS
        },
        **{f: tf.io.FixedLenFeature([], tf.int64, default_value=0) for f in INTS},
        **{f: tf.io.FixedLenFeature([], tf.float32, default_value=0.0) for f in BUCKETED},
        **{f: tf.io.FixedLenFeature([], tf.string, default_value="") for f in HASHED},
    }

    def preprocess(raw):
        out = {f: (tf.cast(raw[f], tf.float32) - stats[f][0]) / stats[f][1] for f in FLOATS}
        out.update({f: tf.clip_by_value(raw[f], 0, n - 1) for f, n in INTS.items()})
        out.update(
            {
                f: tf.cast(tf.raw_ops.Bucketize(input=raw[f], boundaries=bounds[f]), tf.int64)
                for f in BUCKETED
            }
        )
        out.update({f: tf.strings.to_hash_bucket_fast(raw[f], n) for f, n in HASHED.items()})
        return out

    sizes = {**INTS, **{f: 16 for f in BUCKETED}, **HASHED}
    inputs, parts = {}, []
    for f in FLOATS:
        inputs[f] = keras.Input(shape=(), name=f, dtype="float32")
        parts.append(keras.layers.Reshape((1,))(inputs[f]))
    for f, n in sizes.items():
        inputs[f] = keras.Input(shape=(), name=f, dtype="int64")
        parts.append(keras.layers.Embedding(n, 4)(inputs[f]))
    hidden = keras.layers.Dense(32, activation="relu")(keras.layers.concatenate(parts))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer="adam", loss="binary_crossentropy")

    def column(f, dtype, fill):
        values = table[f].to_numpy(zero_copy_only=False)
        return tf.constant(
            np.where(table[f].is_null().to_numpy(zero_copy_only=False), fill, values).astype(dtype)
        )

    raw = {f: column(f, np.float32, 0.0) for f in (*FLOATS, *BUCKETED)}
    raw.update({f: column(f, np.int64, 0) for f in INTS})
    raw.update(
        {
            f: tf.constant(pc.fill_null(table[f], "").to_numpy(zero_copy_only=False).astype(object))
            for f in HASHED
        }
    )
    features = {k: v.numpy() for k, v in preprocess(raw).items()}
    train = table["trip_id"].to_numpy() % 10 < 8
    keras.utils.set_random_seed(42)
    t0 = time.perf_counter()
    model.fit(
        {k: v[train] for k, v in features.items()},
        table[LABEL].to_numpy()[train],
        batch_size=512,
        epochs=2,
        verbose=0,
    )
    train_s = time.perf_counter() - t0

    class Serving(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve(self, serialized):
            return {"outputs": self.model(preprocess(tf.io.parse_example(serialized, raw_spec)))}

    serving = Serving(model)
    tf.saved_model.save(serving, model_dir, signatures={"serving_default": serving.serve})
    return {"train_s": round(train_s, 2)}


def evaluate(csv: str, model_dir: str, out_dir: str) -> dict:
    """Child process: end-to-end run_model_analysis, then the same pass split by phase."""
    t_import = time.perf_counter()
    import numpy as np
    import tensorflow as tf

    import headwater.io as hio
    import headwater.model_analysis as ma
    from headwater.model_analysis.inference import ModelPredictor

    import_s = time.perf_counter() - t_import
    config = eval_config()
    ModelPredictor(model_dir, config.candidate).predict(next(hio.read_csv(csv, batch_size=64)))

    t0 = time.perf_counter()
    result = ma.run_model_analysis(config, csv, model_paths={"": model_dir}, output_path=out_dir)
    total_s = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak so far
    rows = int(result.get().metrics["example_count"])

    # The same pass, phase by phase (what run_model_analysis does inside).
    predictor = ModelPredictor(model_dir, config.candidate)
    combiner = ma.SlicedMetricsCombiner(config)
    phases = dict.fromkeys(("read_csv", "encode_and_infer", "metrics", "write"), 0.0)
    t = time.perf_counter()
    batches = list(hio.read_csv(csv))
    phases["read_csv"] = time.perf_counter() - t
    acc = combiner.create_accumulator()
    for batch in batches:
        t = time.perf_counter()
        predictions = {"": predictor.predict(batch)}
        phases["encode_and_infer"] += time.perf_counter() - t
        t = time.perf_counter()
        acc = combiner.add_input(acc, ma.prepare_batch(batch, config, predictions))
        phases["metrics"] += time.perf_counter() - t
    t = time.perf_counter()
    split_result = combiner.extract_output(acc)
    phases["metrics"] += time.perf_counter() - t
    t = time.perf_counter()
    ma.write_eval_result(split_result, os.path.join(out_dir, "again"))
    phases["write"] = time.perf_counter() - t

    # Baseline in the same run: the bare signature on pre-encoded records (inference floor).
    records = [hio.encode_examples(b) for b in batches]
    fn = tf.saved_model.load(model_dir).signatures["serving_default"]
    t = time.perf_counter()
    for recs in records:
        for i in range(0, len(recs), predictor.chunk_size):
            fn(examples=tf.constant(recs[i : i + predictor.chunk_size]))
    bare_infer_s = time.perf_counter() - t
    t = time.perf_counter()
    encode_s_only = 0.0
    for b in batches:
        hio.encode_examples(b)
    encode_s_only = time.perf_counter() - t

    overall = result.get().metrics
    return {
        "rows": rows,
        "n_slices": len({s.slice_key for s in result.slices}),
        "import_s": round(import_s, 2),
        "run_model_analysis_s": round(total_s, 2),
        "rows_per_s": round(rows / total_s),
        "speedup_vs_tfma": round(rows / total_s / TFMA_ROWS_PER_S, 1),
        "run_model_analysis_peak_rss_mib": round(rss_mib),
        "phases_s": {k: round(v, 3) for k, v in phases.items()},
        "encode_examples_s": round(encode_s_only, 3),
        "baseline_bare_signature_call_s": round(bare_infer_s, 3),
        "overall": {k: round(v, 5) for k, v in overall.items()},
        "auc_nan_free": bool(np.isfinite(overall["auc"])),
        "blessed": result.validation.blessed,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--evaluate":
        _, _, csv, model_dir, out_dir = sys.argv
        res = evaluate(csv, model_dir, out_dir)
        # Peak of the whole child, the phase-split pass (all batches held) included.
        res["child_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print("CHILD " + json.dumps(res), flush=True)
        return
    argv = sys.argv[1:]
    keep = None
    if "--keep" in argv:
        i = argv.index("--keep")
        keep, argv = argv[i + 1], argv[:i] + argv[i + 2 :]
    csv = argv[0] if argv else CSV
    work = keep or tempfile.mkdtemp(prefix="bench_ma_")
    model_dir = os.path.join(work, "serving_model")
    res: dict = {"workload": "model_analysis", "csv": csv}
    if not os.path.isdir(model_dir):
        res.update(train_and_export(csv, model_dir))
    child = subprocess.run(
        [sys.executable, __file__, "--evaluate", csv, model_dir, os.path.join(work, "eval")],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in child.stdout.splitlines() if ln.startswith("CHILD ")]
    if child.returncode != 0 or not lines:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit(f"evaluation child failed with {child.returncode}")
    res.update(json.loads(lines[-1][len("CHILD ") :]))
    res["tfma_anchor"] = {"s": TFMA_S, "rows_per_s": TFMA_ROWS_PER_S, "peak_mib": TFMA_PEAK_MIB}
    print(
        f"run_model_analysis: {res['rows']} rows, {res['n_slices']} slices in "
        f"{res['run_model_analysis_s']} s = {res['rows_per_s']} rows/s "
        f"({res['speedup_vs_tfma']}x TFMA's {TFMA_ROWS_PER_S:.0f}); "
        f"peak RSS {res['run_model_analysis_peak_rss_mib']} MiB (TFMA {TFMA_PEAK_MIB})"
    )
    print(
        f"phases: {res['phases_s']}; bare signature call (floor) "
        f"{res['baseline_bare_signature_call_s']} s; encode_examples {res['encode_examples_s']} s"
    )
    print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
