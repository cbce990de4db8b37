"""A Keras model's compiled loss and metrics are evaluated per slice, as TFMA does by default.

The compile settings come from `data/tf_keras_compiled_metadata.pb`, the keras_metadata.pb of a
real compiled tf_keras 2.16 model (written by `data/make_tf_keras_metadata.py` in the TFX 1.16
environment): binary_crossentropy, metrics AUC `auc`, "accuracy", Precision, Recall, KLDivergence
(no Headwater equivalent), weighted_metrics BinaryAccuracy `weighted_acc`. Predictions come from
a column, so no TensorFlow is needed; values are checked against numpy / scikit-learn.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

import headwater.model_analysis as ma
from headwater.model_analysis.keras_compiled import read_training_config

FIXTURE = Path(__file__).parent / "data" / "tf_keras_compiled_metadata.pb"
N = 3000


@pytest.fixture(scope="module")
def batch() -> pa.RecordBatch:
    rng = np.random.default_rng(20)
    y = rng.integers(0, 2, N)
    pred = np.clip(0.35 * y + 0.65 * rng.random(N), 0.0, 1.0)
    pred[:5] = [0.0, 1.0, 1.0, 0.0, 0.5]  # clipped by the loss, as Keras does
    return pa.RecordBatch.from_pydict(
        {
            "label": y,
            "pred": pred,
            "weight": rng.uniform(0.2, 3.0, N),
            "payment_type": rng.choice(["Cash", "Card", "Mobile"], N),
        }
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    shutil.copy(FIXTURE, tmp_path / "keras_metadata.pb")
    return tmp_path


def _config(*metric_names: str, include_default_metrics: bool = True) -> ma.EvalConfig:
    return ma.EvalConfig(
        model_specs=(
            ma.ModelSpec(label_key="label", prediction_key="pred", example_weight_key="weight"),
        ),
        slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("payment_type",))),
        metrics_specs=(
            ma.MetricsSpec(metrics=tuple(ma.MetricConfig(class_name=n) for n in metric_names)),
        ),
        options=ma.Options(include_default_metrics=include_default_metrics),
    )


def _evaluate(cfg: ma.EvalConfig, batch: pa.RecordBatch, model_dir: Path) -> dict:
    combiner = ma.SlicedMetricsCombiner(cfg, {"": model_dir})
    acc = combiner.add_input(combiner.create_accumulator(), ma.prepare_batch(batch, cfg, {}))
    return {s.slice_key: s.metrics for s in combiner.extract_output(acc).slices}


def _rows(batch: pa.RecordBatch, key: tuple) -> np.ndarray:
    if not key:
        return np.arange(batch.num_rows)
    ((_, value),) = key
    return np.flatnonzero(batch.column("payment_type").to_numpy(zero_copy_only=False) == value)


def test_training_config_is_read_without_tensorflow(model_dir):
    cfg = read_training_config(model_dir)
    assert cfg is not None
    assert cfg["loss"] == "binary_crossentropy"
    assert [m["config"]["name"] for m in cfg["metrics"][0]] == [
        "auc",
        "accuracy",
        "precision",
        "recall",
        "kld",
    ]


def test_compiled_loss_and_metrics_per_slice_match_numpy(batch, model_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="headwater.model_analysis"):
        result = _evaluate(_config("ExampleCount"), batch, model_dir)
    assert "compiled metric 'KLDivergence' has no Headwater equivalent" in caplog.text
    y_all = batch.column("label").to_numpy().astype(np.float64)
    p_all = batch.column("pred").to_numpy()
    w_all = batch.column("weight").to_numpy()
    assert len(result) == 4
    for key, metrics in result.items():
        rows = _rows(batch, key)
        y, p, w = y_all[rows], p_all[rows], w_all[rows]
        assert set(metrics) == {
            "example_count",
            "loss",
            "auc",
            "accuracy",
            "precision",
            "recall",
            "weighted_acc",
        }
        q = np.clip(p, 1e-7, 1 - 1e-7)
        per_example = -(y * np.log(q) + (1 - y) * np.log(1 - q))
        # Keras: example-weighted sum over the number of examples (sum-over-batch-size).
        assert metrics["loss"] == pytest.approx(np.sum(w * per_example) / len(rows), rel=1e-9)
        # `metrics` ignore example weights; `weighted_metrics` use them.
        assert metrics["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-3)
        hard = (p > 0.5).astype(np.float64)
        assert metrics["accuracy"] == pytest.approx(np.mean(hard == y), rel=1e-12)
        assert metrics["precision"] == pytest.approx(skm.precision_score(y, hard), rel=1e-12)
        assert metrics["recall"] == pytest.approx(skm.recall_score(y, hard), rel=1e-12)
        assert metrics["weighted_acc"] == pytest.approx(
            np.sum(w * (hard == y)) / np.sum(w), rel=1e-12
        )


def test_eval_config_metric_of_the_same_name_wins(batch, model_dir):
    y = batch.column("label").to_numpy()
    p = batch.column("pred").to_numpy()
    w = np.where((y == 0) & (p > 0.6), 20.0, 1.0)  # weighs the confident mistakes up
    batch = batch.set_column(2, "weight", pa.array(w))
    result = _evaluate(_config("AUC"), batch, model_dir)
    # The config's AUC is example-weighted; the compiled one would not be.
    assert result[()]["auc"] == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), abs=1e-3)
    assert abs(result[()]["auc"] - skm.roc_auc_score(y, p)) > 0.02
    assert "loss" in result[()]


def test_include_default_metrics_false_turns_them_off(batch, model_dir):
    cfg = ma.as_eval_config(
        {
            "modelSpecs": [
                {"labelKey": "label", "predictionKey": "pred", "exampleWeightKey": "weight"}
            ],
            "metricsSpecs": [{"metrics": [{"className": "ExampleCount"}]}],
            "options": {"includeDefaultMetrics": {"value": False}},
        }
    )
    assert cfg.options.include_default_metrics is False
    assert _evaluate(cfg, batch, model_dir) == {(): {"example_count": float(N)}}


def test_a_model_without_compile_settings_adds_nothing(batch, tmp_path):
    assert _evaluate(_config("ExampleCount"), batch, tmp_path) == {
        (): {"example_count": float(N)},
        **{
            (("payment_type", v),): {"example_count": float(len(_rows(batch, (("p", v),))))}
            for v in ("Cash", "Card", "Mobile")
        },
    }


def test_unreadable_metadata_is_a_warning_not_a_crash(batch, tmp_path, caplog):
    (tmp_path / "keras_metadata.pb").write_bytes(b"\x0a\xff\xff")
    with caplog.at_level(logging.WARNING, logger="headwater.model_analysis"):
        result = _evaluate(_config("ExampleCount"), batch, tmp_path)
    assert set(result[()]) == {"example_count"}
    assert "keras_metadata.pb" in caplog.text
