"""Evaluation data and results on s3:// URLs: a real S3-compatible server (moto's) on loopback,
from the root conftest's `s3_bucket` fixture; the metrics are checked against scikit-learn."""

from __future__ import annotations

import fsspec
import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

import headwater.model_analysis as ma
from headwater.io import write_parquet

N = 900


@pytest.fixture
def eval_data(s3_bucket):
    rng = np.random.default_rng(8)
    label = rng.integers(0, 2, N)
    pred = np.clip(0.35 * label + 0.65 * rng.random(N), 0, 1)
    table = pa.table({"label": label, "pred": pred})
    write_parquet(table.to_batches(max_chunksize=200), f"s3://{s3_bucket}/eval/data", num_shards=3)
    return label, pred


def _config() -> ma.EvalConfig:
    names = ("ExampleCount", "AUC", "BinaryAccuracy")
    return ma.EvalConfig(
        model_specs=(ma.ModelSpec(label_key="label", prediction_key="pred"),),
        metrics_specs=(
            ma.MetricsSpec(metrics=tuple(ma.MetricConfig(class_name=n) for n in names)),
        ),
    )


def _check(metrics, label, pred) -> None:
    assert metrics["example_count"] == N
    assert metrics["auc"] == pytest.approx(skm.roc_auc_score(label, pred), abs=1e-3)
    assert metrics["binary_accuracy"] == pytest.approx(skm.accuracy_score(label, pred > 0.5))


def test_run_model_analysis_reads_and_writes_s3(s3_bucket, eval_data):
    label, pred = eval_data
    out = f"s3://{s3_bucket}/evaluation"
    result = ma.run_model_analysis(
        _config(), f"s3://{s3_bucket}/eval/data-*.parquet", output_path=out
    )
    _check(result.get().metrics, label, pred)
    assert ma.load_eval_result(out).get().metrics == result.get().metrics


def test_beam_evaluation_reads_and_writes_s3(s3_bucket, eval_data):
    beam = pytest.importorskip("apache_beam")
    pytest.importorskip("boto3")  # Beam's S3 filesystem (apache-beam[aws])
    from headwater.io import ReadParquet

    label, pred = eval_data
    out = f"s3://{s3_bucket}/beam-evaluation"
    with beam.Pipeline("DirectRunner") as p:
        _ = (
            p
            | ReadParquet(f"s3://{s3_bucket}/eval/data-*.parquet")
            | ma.ExtractEvaluateAndWriteResults(_config(), output_path=out)
        )
    _check(ma.load_eval_result(out).get().metrics, label, pred)
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.find(f"{s3_bucket}/beam-evaluation")) == [
        "eval_config.json",
        "headwater_eval_config.json",
        "headwater_metrics.json",
        "headwater_plots.json",
        "headwater_validations.json",
        "metrics-00000-of-00001.tfrecord",
        "plots-00000-of-00001.tfrecord",
        "validations-00000-of-00001.tfrecord",
    ]
