"""Runs inside the isolated TFX 1.16 environment (tests/test_tfx_artifacts.py starts it).

    python tfx_side.py read  HEADWATER_DIR OUT.json   # TFX's libraries read Headwater's
    python tfx_side.py write TFX_DIR       OUT.json   # TFX's libraries write for Headwater

Prints nothing of its own; everything it found goes to OUT.json as plain lists and numbers.
"""

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFT 1.16 needs Keras 2 (tf-keras)

import tensorflow as tf
import tensorflow_data_validation as tfdv
import tensorflow_transform as tft

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import preprocessing


def rows_of(value, n):
    """Per-row python lists of a dense or sparse batch."""
    if isinstance(value, tf.SparseTensor):
        rows = [[] for _ in range(n)]
        for (r, _), v in zip(
            value.indices.numpy().tolist(), value.values.numpy().tolist(), strict=True
        ):
            rows[r].append(v)
        return rows
    return value.numpy().tolist()


def raw_batch(rows):
    dense_t = tf.ragged.constant([r["t"] for r in rows], dtype=tf.string, row_splits_dtype=tf.int64)
    return {
        "x": tf.constant([r["x"] for r in rows], tf.float32),
        "c": tf.constant([r["c"] for r in rows]),
        "t": dense_t.to_sparse(),
        "label": tf.constant([r["label"] for r in rows], tf.int64),
    }


def apply(transform_dir):
    out = tft.TFTransformOutput(transform_dir)
    n = len(preprocessing.APPLY_ROWS)
    batch = raw_batch(preprocessing.APPLY_ROWS)
    raw = {k: rows_of(v, n) for k, v in out.transform_raw_features(batch).items()}
    unlabeled = {k: v for k, v in batch.items() if k != "label"}
    layer = {k: rows_of(v, n) for k, v in out.transform_features_layer()(unlabeled).items()}
    return {
        "transform_raw_features": raw,
        "transform_features_layer_without_label": layer,
        "vocabulary_c": [v.decode() for v in out.vocabulary_by_name("c_vocab")],
        "transformed_feature_spec": sorted(out.transformed_feature_spec()),
    }


def summarize(stats, schema, anomalies):
    dataset = stats.datasets[0]
    return {
        "num_examples": dataset.num_examples,
        "features": sorted(f.path.step[0] for f in dataset.features),
        "schema_features": sorted(f.name for f in schema.feature),
        "anomalies": sorted(anomalies.anomaly_info),
    }


def read(directory):
    stats = tfdv.load_stats_binary(os.path.join(directory, "FeatureStats.pb"))
    schema = tfdv.load_schema_text(os.path.join(directory, "schema.pbtxt"))
    anomalies = tfdv.load_anomalies_text(os.path.join(directory, "anomalies.pbtxt"))
    recomputed = tfdv.validate_statistics(
        tfdv.load_stats_binary(os.path.join(directory, "serving_FeatureStats.pb")), schema
    )
    found = summarize(stats, schema, anomalies)
    found["tfdv_anomalies_of_our_serving_stats"] = sorted(recomputed.anomaly_info)
    found["transform"] = apply(os.path.join(directory, "transform"))
    found["evaluation"] = evaluation(os.path.join(directory, "evaluation"))
    return found


def evaluation(directory):
    """What TFMA's load_eval_result / load_validation_result find in an evaluation output."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(directory)
    slices = []
    for key, by_output in result.slicing_metrics:
        metrics = by_output[""][""]
        slices.append(
            {
                "slice_key": [[k, v.decode() if isinstance(v, bytes) else v] for k, v in key],
                "metrics": {name: m["doubleValue"] for name, m in metrics.items()},
            }
        )
    validation = tfma.load_validation_result(directory)
    failures = sorted(
        {
            f.metric_key.name
            for per_slice in validation.metric_validations_per_slice
            for f in per_slice.failures
        }
    )
    return {
        "slices": slices,
        "label_key": result.config.model_specs[0].label_key,
        "slicing_specs": [list(s.feature_keys) for s in result.config.slicing_specs],
        "validation_ok": validation.validation_ok,
        "failures": failures,
    }


def write(directory):
    import tempfile

    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    os.makedirs(directory, exist_ok=True)
    stats = tfdv.generate_statistics_from_csv(os.path.join(directory, "train.csv"))
    schema = tfdv.infer_schema(stats)
    serving = tfdv.generate_statistics_from_csv(os.path.join(directory, "serving.csv"))
    anomalies = tfdv.validate_statistics(serving, schema)
    tfdv.write_stats_text(stats, os.path.join(directory, "stats.pbtxt"))
    with open(os.path.join(directory, "FeatureStats.pb"), "wb") as f:
        f.write(stats.SerializeToString())
    tfdv.write_schema_text(schema, os.path.join(directory, "schema.pbtxt"))
    tfdv.write_anomalies_text(anomalies, os.path.join(directory, "anomalies.pbtxt"))
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(preprocessing.feature_spec(tf))
    )
    fn = preprocessing.make_preprocessing_fn(tft)
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (_, _), transform_fn = (
            preprocessing.RAW_ROWS,
            metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(directory, "transform"))
    found = summarize(stats, schema, anomalies)
    found["transform"] = apply(os.path.join(directory, "transform"))
    found["evaluation"] = write_evaluation(os.path.join(directory, "evaluation"))
    return found


def write_evaluation(directory):
    """TFMA evaluates the predictions of tests/test_tfx_artifacts.py (no model: a DataFrame)."""
    import pandas as pd
    import tensorflow_model_analysis as tfma
    from google.protobuf import text_format

    frame = pd.DataFrame(json.loads(os.environ["HEADWATER_EVAL_ROWS"]))
    config = text_format.Parse(
        """
        model_specs { label_key: "label" prediction_key: "pred" }
        slicing_specs {}
        slicing_specs { feature_keys: "c" }
        metrics_specs {
          metrics { class_name: "AUC" }
          metrics {
            class_name: "BinaryAccuracy"
            threshold { value_threshold { lower_bound { value: 0.9 } } }
          }
        }
        """,
        tfma.EvalConfig(),
    )
    tfma.analyze_raw_data(frame, config, output_path=directory)
    return evaluation(directory)


if __name__ == "__main__":
    mode, directory, out = sys.argv[1:4]
    result = read(directory) if mode == "read" else write(directory)
    with open(out, "w") as f:
        json.dump(result, f)
