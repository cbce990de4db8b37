"""Predictions from a real Keras SavedModel: serialized tf.Example and raw-feature signatures,
candidate and baseline in one pass, and clear errors for a bad model or signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

import headwater.model_analysis as ma

N = 600


def _data(seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=N).astype(np.float32)
    x2 = rng.normal(size=N).astype(np.float32)
    label = ((x1 + 0.5 * x2 + rng.normal(0, 0.5, N)) > 0).astype(np.int64)
    colour = rng.choice(["red", "blue"], N)
    return pa.table({"x1": x1, "x2": x2, "colour": colour, "label": label})


def save_model(path: Path, weights: tuple[float, float, float]) -> None:
    """A logistic model with fixed weights (so its predictions are known exactly), saved with
    a serialized-tf.Example `serving_default` and a raw-feature `serving_raw` signature."""
    import keras
    import tensorflow as tf

    x1 = keras.Input(shape=(), name="x1")
    x2 = keras.Input(shape=(), name="x2")
    stacked = keras.layers.Concatenate()(
        [keras.layers.Reshape((1,))(x1), keras.layers.Reshape((1,))(x2)]
    )
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model({"x1": x1, "x2": x2}, dense(stacked))
    dense.set_weights(
        [np.array([[weights[0]], [weights[1]]], np.float32), np.array([weights[2]], np.float32)]
    )

    spec = {
        "x1": tf.io.FixedLenFeature([], tf.float32),
        "x2": tf.io.FixedLenFeature([], tf.float32),
    }

    def serve(examples):
        return {"outputs": model(tf.io.parse_example(examples, spec))}

    def serve_raw(x1, x2):
        return {"outputs": model({"x1": x1, "x2": x2}), "logit_sign": tf.sign(x1)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
    )
    archive.add_endpoint(
        "serving_raw",
        serve_raw,
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="x1"),
            tf.TensorSpec([None], tf.float32, name="x2"),
        ],
    )
    archive.write_out(str(path), verbose=False)


def expected(table: pa.Table, weights: tuple[float, float, float]) -> np.ndarray:
    z = (
        weights[0] * table["x1"].to_numpy().astype(np.float64)
        + weights[1] * table["x2"].to_numpy()
        + weights[2]
    )
    return 1.0 / (1.0 + np.exp(-z))


GOOD, WORSE = (1.0, 0.5, 0.0), (0.2, -0.3, 0.1)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    save_model(root / "good", GOOD)
    save_model(root / "worse", WORSE)
    return {"good": root / "good", "worse": root / "worse"}


def spec(**kw) -> ma.ModelSpec:
    return ma.ModelSpec(**{"label_key": "label", **kw})


def test_serialized_and_raw_signatures_predict_what_the_weights_say(models):
    table = _data(1)
    batch = table.combine_chunks().to_batches()[0]
    serialized = ma.ModelPredictor(models["good"], spec())
    assert serialized.serialized
    np.testing.assert_allclose(serialized.predict(batch), expected(table, GOOD), rtol=1e-5)
    raw = ma.ModelPredictor(
        models["good"], spec(signature_name="serving_raw", prediction_key="outputs"), chunk_size=128
    )
    assert not raw.serialized
    np.testing.assert_allclose(raw.predict(batch), expected(table, GOOD), rtol=1e-5)


def test_candidate_and_baseline_evaluated_in_one_pass(models, tmp_path):
    table = _data(2)
    change = ma.MetricThreshold(
        change_threshold=ma.GenericChangeThreshold(
            direction=ma.MetricDirection.HIGHER_IS_BETTER, absolute=-1e-10
        )
    )
    config = ma.EvalConfig(
        model_specs=(spec(name="candidate"), spec(name="baseline", is_baseline=True)),
        slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("colour",))),
        metrics_specs=(
            ma.MetricsSpec(
                metrics=(
                    ma.MetricConfig(class_name="ExampleCount"),
                    ma.MetricConfig(class_name="AUC", threshold=change),
                )
            ),
        ),
    )
    result = ma.run_model_analysis(
        config,
        table,
        model_paths={"candidate": models["good"], "baseline": models["worse"]},
        output_path=tmp_path,
        batch_size=256,
    )
    y = table["label"].to_numpy()
    good, worse = expected(table, GOOD), expected(table, WORSE)
    assert result.get().metrics["auc"] == pytest.approx(skm.roc_auc_score(y, good), abs=1e-3)
    assert result.get(model_name="baseline").metrics["auc"] == pytest.approx(
        skm.roc_auc_score(y, worse), abs=1e-3
    )
    red = table["colour"].to_numpy(zero_copy_only=False) == "red"
    assert result.get((("colour", "red"),)).metrics["auc"] == pytest.approx(
        skm.roc_auc_score(y[red], good[red]), abs=1e-3
    )
    assert result.validation.blessed
    assert ma.load_eval_result(tmp_path).validation.blessed


def test_missing_signature_and_output_are_clear_errors(models, tmp_path):
    with pytest.raises(ma.ModelLoadError, match=r"no signature 'predict'.*serving_default"):
        ma.ModelPredictor(models["good"], spec(signature_name="predict"))
    with pytest.raises(ma.ModelLoadError, match=r"several outputs \['logit_sign', 'outputs'\]"):
        ma.ModelPredictor(models["good"], spec(signature_name="serving_raw"))
    with pytest.raises(ma.ModelLoadError, match="no output 'probs'"):
        ma.ModelPredictor(models["good"], spec(prediction_key="probs"))
    with pytest.raises(ma.ModelLoadError, match="no SavedModel directory"):
        ma.ModelPredictor(tmp_path / "missing", spec())


def test_raw_signature_input_missing_from_data_is_a_clear_error(models):
    predictor = ma.ModelPredictor(
        models["good"], spec(signature_name="serving_raw", prediction_key="outputs")
    )
    batch = _data(3).drop_columns(["x2"]).to_batches()[0]
    with pytest.raises(
        ma.EvalInputError, match="signature 'serving_raw' input 'x2' is not a column"
    ):
        predictor.predict(batch)


def test_tfrecord_records_go_to_the_models_as_read_with_the_same_result(models, tmp_path):
    """From TFRecord files, a serialized-tf.Example model is fed the records as read and only
    the label and slicing columns are decoded; the result equals the one from the same rows
    given as an Arrow table (whose rows are encoded for the model), batches crossing files."""
    from headwater.io.writers import write_tfrecord_shard

    table = _data(4).append_column("extra", pa.array(np.arange(N)))
    write_tfrecord_shard(table.slice(0, 250).to_batches(), str(tmp_path / "a.tfrecord"), None)
    write_tfrecord_shard(table.slice(250).to_batches(), str(tmp_path / "b.tfrecord.gz"), "gzip")
    config = ma.EvalConfig(
        model_specs=(spec(name="candidate"), spec(name="baseline", is_baseline=True)),
        slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("colour",))),
        metrics_specs=(
            ma.MetricsSpec(
                metrics=(
                    ma.MetricConfig(class_name="ExampleCount"),
                    ma.MetricConfig(class_name="AUC"),
                )
            ),
        ),
        options=ma.Options(compute_confidence_intervals=True),
    )
    paths = {"candidate": models["good"], "baseline": models["worse"]}
    from_files = ma.run_model_analysis(
        config, str(tmp_path / "*.tfrecord*"), model_paths=paths, batch_size=256
    )
    from_table = ma.run_model_analysis(config, table, model_paths=paths, batch_size=256)
    assert from_files.slices == from_table.slices
    y, good = table["label"].to_numpy(), expected(table, GOOD)
    assert from_files.get().metrics["example_count"] == N
    assert from_files.get().metrics["auc"] == pytest.approx(skm.roc_auc_score(y, good), abs=1e-3)

    missing = ma.EvalConfig(
        model_specs=(spec(),),
        slicing_specs=(ma.SlicingSpec(feature_keys=("nope",)),),
        metrics_specs=config.metrics_specs,
    )
    with pytest.raises(ma.EvalInputError, match=r"slicing features \['nope'\] are not in the data"):
        ma.run_model_analysis(
            missing, str(tmp_path / "*.tfrecord*"), model_paths={"": models["good"]}
        )


def test_a_model_error_in_the_pipeline_is_raised_and_leaves_no_thread(models, tmp_path):
    """The models run on a background thread a batch ahead of the metrics (and files are read
    on another): an error there is raised to the caller, and no thread is left behind."""
    import threading

    from headwater.io.writers import write_tfrecord_shard

    raw = spec(signature_name="serving_raw", prediction_key="outputs")
    config = ma.EvalConfig(
        model_specs=(raw,),
        metrics_specs=(ma.MetricsSpec(metrics=(ma.MetricConfig(class_name="ExampleCount"),)),),
    )
    table = _data(5).drop_columns(["x2"])
    write_tfrecord_shard(table.to_batches(), str(tmp_path / "x.tfrecord"), None)
    for data in (table, str(tmp_path / "x.tfrecord")):
        with pytest.raises(ma.EvalInputError, match="input 'x2' is not a column"):
            ma.run_model_analysis(config, data, model_paths={"": models["good"]}, batch_size=100)
        left = [t.name for t in threading.enumerate() if t.name.startswith("headwater-model")]
        assert left == []
