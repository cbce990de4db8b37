"""Slicing, run_model_analysis on prediction columns, validation, result files, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import headwater.model_analysis as ma

N = 4000


@pytest.fixture(scope="module")
def table() -> pa.Table:
    rng = np.random.default_rng(21)
    y = rng.integers(0, 2, N)
    pred = np.clip(0.3 * y + 0.7 * rng.random(N), 0, 1)
    base = np.clip(0.15 * y + 0.85 * rng.random(N), 0, 1)
    payment = rng.choice(["Cash", "Credit Card", "Mobile"], N).astype(object)
    payment[::97] = None  # missing: in no payment slice
    return pa.table(
        {
            "label": y,
            "pred": pred,
            "base_pred": base,
            "weight": rng.uniform(0.5, 2.0, N),
            "payment_type": pa.array(payment, pa.string()),
            "hour": rng.integers(0, 24, N),
            "tags": pa.array(
                [["a", "b"] if i % 3 == 0 else ["b"] if i % 3 == 1 else [] for i in range(N)]
            ),
        }
    )


def metrics_spec(*names, **kwargs) -> ma.MetricsSpec:
    return ma.MetricsSpec(metrics=tuple(ma.MetricConfig(class_name=n) for n in names), **kwargs)


def config(**kwargs) -> ma.EvalConfig:
    defaults = {
        "model_specs": (
            ma.ModelSpec(label_key="label", prediction_key="pred", example_weight_key="weight"),
        ),
        "slicing_specs": (
            ma.SlicingSpec(),
            ma.SlicingSpec(feature_keys=("payment_type",)),
            ma.SlicingSpec(feature_keys=("payment_type", "hour")),
        ),
        "metrics_specs": (
            metrics_spec(
                "ExampleCount", "WeightedExampleCount", "AUC", "BinaryAccuracy", "MeanPrediction"
            ),
        ),
    }
    return ma.EvalConfig(**{**defaults, **kwargs})


def test_slice_groups_match_a_pandas_groupby(table):
    batch = table.to_batches()[0]
    spec = ma.SlicingSpec(feature_keys=("payment_type", "hour"))
    groups = dict(ma.slice_groups(batch, [spec]))
    df = table.select(["payment_type", "hour"]).to_pandas()
    expected = df.groupby(["payment_type", "hour"]).indices  # drops missing keys
    assert len(groups) == len(expected)
    for (pt, hour), rows in expected.items():
        got = groups[(("payment_type", pt), ("hour", int(hour)))]
        np.testing.assert_array_equal(np.sort(got), np.sort(rows))


def test_multivalent_feature_puts_an_example_in_each_of_its_values(table):
    batch = table.to_batches()[0]
    groups = dict(ma.slice_groups(batch, [ma.SlicingSpec(feature_keys=("tags",))]))
    assert set(groups) == {(("tags", "a"),), (("tags", "b"),)}
    np.testing.assert_array_equal(groups[(("tags", "a"),)], np.arange(0, N, 3))
    assert len(groups[(("tags", "b"),)]) == len(range(0, N, 3)) + len(range(1, N, 3))


def test_sliced_metrics_match_sklearn_per_slice(table):
    result = ma.run_model_analysis(config(), table, batch_size=700)  # several batches
    df = table.to_pandas()
    overall = result.get()
    assert overall.metrics["example_count"] == N
    assert overall.metrics["weighted_example_count"] == pytest.approx(df.weight.sum())
    for pt, part in df.dropna(subset=["payment_type"]).groupby("payment_type"):
        s = result.get((("payment_type", pt),))
        assert s.example_count == len(part)
        assert s.metrics["auc"] == pytest.approx(
            skm.roc_auc_score(part.label, part.pred, sample_weight=part.weight), abs=1e-3
        )
        assert s.metrics["binary_accuracy"] == pytest.approx(
            skm.accuracy_score(part.label, part.pred > 0.5, sample_weight=part.weight)
        )
    crosses = [s for s in result.slices if len(s.slice_key) == 2]
    assert len(crosses) == len(df.dropna().groupby(["payment_type", "hour"]))


def test_plain_and_beam_drivers_agree(table, tmp_path):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that

    cfg = config(slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("payment_type",))))
    plain = ma.run_model_analysis(cfg, table, batch_size=1000)
    batches = table.to_batches(max_chunksize=1000)
    expected = {(s.slice_key, s.model_name): s.metrics for s in plain.slices}

    def matches(results):
        (result,) = results
        got = {(s.slice_key, s.model_name): s.metrics for s in result.slices}
        assert got.keys() == expected.keys()
        for key, values in expected.items():
            for name, value in values.items():
                np.testing.assert_allclose(got[key][name], value, rtol=1e-9)

    with TestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create(batches)
            | ma.ExtractEvaluateAndWriteResults(cfg, output_path=tmp_path / "beam")
        )
        assert_that(out, matches)
    loaded = ma.load_eval_result(tmp_path / "beam")
    assert loaded.get().metrics["auc"] == pytest.approx(plain.get().metrics["auc"])


def test_results_round_trip_through_files(table, tmp_path):
    cfg = config(
        metrics_specs=(metrics_spec("ExampleCount", "AUC", "CalibrationPlot"),),
        slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("payment_type",))),
    )
    result = ma.run_model_analysis(cfg, table, output_path=tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "eval_config.json",
        "headwater_eval_config.json",
        "headwater_metrics.json",
        "headwater_plots.json",
        "headwater_validations.json",
        "metrics-00000-of-00001.tfrecord",
        "plots-00000-of-00001.tfrecord",
        "validations-00000-of-00001.tfrecord",
    }
    loaded = ma.load_eval_result(tmp_path)
    assert loaded.eval_config == cfg
    assert [s.slice_key for s in loaded.slices] == [
        tuple((k, v) for k, v in s.slice_key) for s in result.slices
    ]
    assert loaded.get().metrics == result.get().metrics
    assert (
        loaded.get().plots["calibration_plot"]["weighted_examples"]
        == (result.get().plots["calibration_plot"]["weighted_examples"])
    )


def test_thresholds_list_every_outcome_and_decide_the_blessing(table):
    auc_ok = ma.MetricThreshold(value_threshold=ma.GenericValueThreshold(lower_bound=0.5))
    acc_too_high = ma.MetricThreshold(value_threshold=ma.GenericValueThreshold(lower_bound=0.99))
    per_slice = ma.PerSliceMetricThreshold(
        slicing_specs=(ma.SlicingSpec(feature_keys=("payment_type",)),), threshold=auc_ok
    )
    spec = ma.MetricsSpec(
        metrics=(
            ma.MetricConfig(class_name="AUC", threshold=auc_ok, per_slice_thresholds=(per_slice,)),
            ma.MetricConfig(class_name="BinaryAccuracy"),
        ),
        thresholds={"binary_accuracy": acc_too_high},
    )
    result = ma.run_model_analysis(config(metrics_specs=(spec,)), table)
    v = result.validation
    assert not v.blessed
    assert len(v.outcomes) == 1 + 3 + 1  # overall AUC, AUC per payment type, accuracy
    (failure,) = v.failures
    assert failure.metric_name == "binary_accuracy"
    assert failure.slice_name == "Overall"
    assert failure.bound == {"lower_bound": 0.99, "upper_bound": None}
    assert failure.value == pytest.approx(result.get().metrics["binary_accuracy"])
    assert "not in [0.99, inf]" in failure.reason
    assert "1 of 5 threshold checks failed" in v.reason


def test_no_thresholds_still_blesses_and_says_why(table, tmp_path):
    result = ma.run_model_analysis(config(), table)
    assert result.validation.blessed
    assert "no thresholds configured" in result.validation.reason
    assert ma.write_blessing(tmp_path, result.validation) == "BLESSED"
    assert "no thresholds configured" in (tmp_path / "BLESSED").read_text()


def test_change_thresholds_compare_candidate_and_baseline(table):
    change = ma.MetricThreshold(
        change_threshold=ma.GenericChangeThreshold(
            direction=ma.MetricDirection.HIGHER_IS_BETTER, absolute=-1e-10
        )
    )
    models = (
        ma.ModelSpec(name="candidate", label_key="label", prediction_key="pred"),
        ma.ModelSpec(
            name="baseline", label_key="label", prediction_key="base_pred", is_baseline=True
        ),
    )
    spec = ma.MetricsSpec(
        metrics=(
            ma.MetricConfig(class_name="AUC", threshold=change),
            ma.MetricConfig(class_name="SymmetricFlipRate"),
        )
    )
    result = ma.run_model_analysis(config(model_specs=models, metrics_specs=(spec,)), table)
    cand, base = result.get(), result.get(model_name="baseline")
    assert cand.metrics["auc"] > base.metrics["auc"]
    (outcome,) = result.validation.outcomes
    assert outcome.kind == "change"
    assert outcome.status is ma.ThresholdStatus.PASSED
    assert outcome.baseline_value == pytest.approx(base.metrics["auc"])
    df = table.to_pandas()
    flips = ((df.pred > 0.5) != (df.base_pred > 0.5)).mean()
    assert cand.metrics["symmetric_flip_rate"] == pytest.approx(flips)
    assert "symmetric_flip_rate" not in base.metrics
    # Reversed roles: the worse model as candidate fails.
    swapped = (
        ma.ModelSpec(name="candidate", label_key="label", prediction_key="base_pred"),
        ma.ModelSpec(name="baseline", label_key="label", prediction_key="pred", is_baseline=True),
    )
    worse = ma.run_model_analysis(config(model_specs=swapped, metrics_specs=(spec,)), table)
    assert not worse.validation.blessed


def test_change_threshold_without_baseline_is_skipped_not_failed(table):
    change = ma.MetricThreshold(
        change_threshold=ma.GenericChangeThreshold(
            direction=ma.MetricDirection.HIGHER_IS_BETTER, absolute=0.0
        )
    )
    spec = ma.MetricsSpec(metrics=(ma.MetricConfig(class_name="AUC", threshold=change),))
    result = ma.run_model_analysis(config(metrics_specs=(spec,)), table)
    (outcome,) = result.validation.outcomes
    assert outcome.status is ma.ThresholdStatus.SKIPPED
    assert result.validation.blessed


def test_empty_and_small_slices_are_reported_not_dropped(table):
    cfg = config(
        slicing_specs=(
            ma.SlicingSpec(),
            ma.SlicingSpec(feature_values={"payment_type": "Bitcoin"}),
            ma.SlicingSpec(feature_keys=("payment_type", "hour")),
        ),
        options=ma.Options(min_slice_size=70),
    )
    result = ma.run_model_analysis(cfg, table)
    empty = result.get((("payment_type", "Bitcoin"),))
    assert empty.example_count == 0
    assert empty.metrics == {}
    assert "empty slice" in empty.note
    small = [s for s in result.slices if len(s.slice_key) == 2 and s.example_count < 70]
    assert small
    assert all(s.metrics == {} and "min_slice_size" in s.note for s in small)


def test_bootstrap_confidence_intervals_bracket_the_value(table):
    cfg = config(
        options=ma.Options(compute_confidence_intervals=True), slicing_specs=(ma.SlicingSpec(),)
    )
    overall = ma.run_model_analysis(cfg, table).get()
    lo, hi = overall.confidence_intervals["auc"]
    assert lo < overall.metrics["auc"] < hi
    assert hi - lo < 0.1


@pytest.mark.parametrize(
    ("model_spec", "message"),
    [
        ({"label_key": "nope", "prediction_key": "pred"}, "label_key 'nope' is not in the data"),
        (
            {"label_key": "label", "prediction_key": "nope"},
            "prediction_key 'nope' is not in the data",
        ),
    ],
)
def test_unknown_keys_are_clear_errors(table, model_spec, message):
    with pytest.raises(ma.EvalInputError, match=message):
        ma.run_model_analysis(config(model_specs=(ma.ModelSpec(**model_spec),)), table)


def test_nan_predictions_are_a_clear_error(table):
    pred = table.column("pred").to_numpy().copy()
    pred[5] = np.nan
    bad = table.set_column(table.schema.get_field_index("pred"), "pred", pa.array(pred))
    with pytest.raises(ma.EvalInputError, match=r"1 NaN predictions .*first at row 5"):
        ma.run_model_analysis(config(), bad)


def test_threshold_on_unknown_metric_fails_before_any_work():
    spec = ma.MetricsSpec(
        metrics=(ma.MetricConfig(class_name="AUC"),),
        thresholds={
            "acu": ma.MetricThreshold(value_threshold=ma.GenericValueThreshold(lower_bound=0.5))
        },
    )
    with pytest.raises(ma.EvalConfigError, match=r"unknown metric 'acu'.*\['auc'\]"):
        ma.SlicedMetricsCombiner(config(metrics_specs=(spec,)))


def test_missing_slicing_feature_is_a_clear_error(table):
    cfg = config(slicing_specs=(ma.SlicingSpec(feature_keys=("colour",)),))
    with pytest.raises(ma.EvalInputError, match="slicing features \\['colour'\\]"):
        ma.run_model_analysis(cfg, table)


def test_pandas_frame_via_arrow(table):
    df: pd.DataFrame = table.select(["label", "pred", "weight", "payment_type", "hour"]).to_pandas()
    result = ma.run_model_analysis(config(), pa.Table.from_pandas(df, preserve_index=False))
    assert result.get().metrics["example_count"] == N


@settings(max_examples=10, deadline=None)
@given(cuts=st.lists(st.integers(1, N - 1), max_size=4, unique=True), seed=st.integers(0, 99))
def test_combiner_partials_merged_in_any_order_equal_one_pass(table, cuts, seed):
    cfg = config(
        metrics_specs=(metrics_spec("ExampleCount", "AUC", "Precision"),),
        slicing_specs=(ma.SlicingSpec(), ma.SlicingSpec(feature_keys=("payment_type",))),
    )
    combiner = ma.SlicedMetricsCombiner(cfg)
    batch = table.combine_chunks().to_batches()[0]
    whole = combiner.extract_output(
        combiner.add_input(combiner.create_accumulator(), ma.prepare_batch(batch, cfg, {}))
    )
    bounds = [0, *sorted(cuts), N]
    parts = [
        combiner.add_input(
            combiner.create_accumulator(), ma.prepare_batch(batch.slice(a, b - a), cfg, {})
        )
        for a, b in itertools.pairwise(bounds)
    ]
    order = np.random.default_rng(seed).permutation(len(parts))
    merged = combiner.extract_output(combiner.merge_accumulators([parts[i] for i in order]))
    expected = {(s.slice_key, s.model_name): s.metrics for s in whole.slices}
    got = {(s.slice_key, s.model_name): s.metrics for s in merged.slices}
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        for name, value in values.items():
            np.testing.assert_allclose(got[key][name], value, rtol=1e-9, equal_nan=True)


def test_bad_input_in_beam_surfaces_as_the_same_clear_error():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    table = pa.table({"label": [0, 1, 1], "pred": [0.1, 0.8, 0.6]})
    cfg = config(
        model_specs=(ma.ModelSpec(label_key="lbl", prediction_key="pred"),),
        slicing_specs=(ma.SlicingSpec(),),
    )
    with (
        pytest.raises(ma.EvalInputError, match=r"label_key 'lbl' is not in the data"),
        TestPipeline(runner="FnApiRunner") as p,
    ):
        _ = p | beam.Create(table.to_batches()) | ma.EvaluateSlicedMetrics(cfg)
