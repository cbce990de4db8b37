"""Every metric against scikit-learn or an independent numpy computation, with weights."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import headwater.model_analysis as ma
from headwater.model_analysis.binarize import build_metrics
from headwater.model_analysis.metric import Metric, MetricInputs


def run(metric: Metric, labels, predictions, weights, baseline=None, chunks: int = 3) -> dict:
    """Feed in `chunks` batches, merge, extract: the way the combiner uses a metric."""
    accs = []
    for idx in np.array_split(np.arange(len(weights)), chunks):
        acc = metric.create_accumulator()
        base = None if baseline is None else baseline[idx]
        accs.append(
            metric.add_input(acc, MetricInputs(labels[idx], predictions[idx], weights[idx], base))
        )
    return metric.extract_output(metric.merge_accumulators(accs))


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(7)
    n = 3000
    y = rng.integers(0, 2, n).astype(np.float64)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0.0, 1.0)
    w = rng.uniform(0.2, 3.0, n)
    return y, p, w


@pytest.fixture(scope="module")
def multiclass():
    rng = np.random.default_rng(11)
    n, k = 2000, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    w = rng.uniform(0.5, 2.0, n)
    return y, p, w


def test_counts_and_means_match_numpy(binary):
    y, p, w = binary
    assert run(ma.ExampleCount(), y, p, w) == {"example_count": 3000.0}
    assert run(ma.WeightedExampleCount(), y, p, w)["weighted_example_count"] == pytest.approx(
        w.sum()
    )
    assert run(ma.MeanLabel(), y, p, w)["mean_label"] == pytest.approx(np.average(y, weights=w))
    assert run(ma.MeanPrediction(), y, p, w)["mean_prediction"] == pytest.approx(
        np.average(p, weights=w)
    )
    assert run(ma.Calibration(), y, p, w)["calibration"] == pytest.approx(
        np.dot(w, p) / np.dot(w, y)
    )


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_threshold_metrics_match_sklearn(binary, threshold):
    y, p, w = binary
    pred = (p > threshold).astype(int)
    kw = {"thresholds": [threshold]}
    checks = {
        ma.Precision(**kw): skm.precision_score(y, pred, sample_weight=w),
        ma.Recall(**kw): skm.recall_score(y, pred, sample_weight=w),
        ma.BinaryAccuracy(**kw): skm.accuracy_score(y, pred, sample_weight=w),
        ma.F1Score(**kw): skm.f1_score(y, pred, sample_weight=w),
        ma.Specificity(**kw): skm.recall_score(y, pred, pos_label=0, sample_weight=w),
        ma.FalsePositiveRate(**kw): 1 - skm.recall_score(y, pred, pos_label=0, sample_weight=w),
        ma.FalseNegativeRate(**kw): 1 - skm.recall_score(y, pred, sample_weight=w),
    }
    for metric, expected in checks.items():
        assert run(metric, y, p, w)[metric.name] == pytest.approx(expected, rel=1e-9), metric


def test_confusion_matrix_at_thresholds_matches_sklearn(binary):
    y, p, w = binary
    ts = [0.25, 0.5, 0.75]
    m = ma.ConfusionMatrixAtThresholds(thresholds=ts)
    out = run(m, y, p, w)["confusion_matrix_at_thresholds"]
    for i, t in enumerate(ts):
        tn, fp, fn, tp = skm.confusion_matrix(y, p > t, sample_weight=w).ravel()
        got = [
            out[k][i]
            for k in ("true_negatives", "false_positives", "false_negatives", "true_positives")
        ]
        np.testing.assert_allclose(got, [tn, fp, fn, tp])
    # Many thresholds take the sort path; it must agree with the comparison path.
    many = np.linspace(0, 1, 41)
    out_many = run(ma.TruePositives(thresholds=many), y, p, w)
    for t in (0.25, 0.5, 0.75):
        assert out_many[f"true_positives@{t:g}"] == pytest.approx(w[(p > t) & (y == 1)].sum())


def test_multiple_thresholds_are_named_with_at(binary):
    y, p, w = binary
    out = run(ma.Precision(thresholds=[0.3, 0.5]), y, p, w)
    assert sorted(out) == ["precision@0.3", "precision@0.5"]


def test_roc_auc_matches_sklearn_within_the_stated_bound(binary):
    y, p, w = binary
    out = run(ma.AUC(with_error_bound=True), y, p, w)
    exact = skm.roc_auc_score(y, p, sample_weight=w)
    assert abs(out["auc"] - exact) <= out["auc_error_bound"] + 1e-12
    assert out["auc_error_bound"] < 1e-3
    # Coarse buckets: bigger error, still within the bound.
    coarse = run(ma.AUC(num_thresholds=20, with_error_bound=True), y, p, w)
    assert abs(coarse["auc"] - exact) <= coarse["auc_error_bound"] + 1e-12
    assert coarse["auc_error_bound"] > out["auc_error_bound"]


def test_roc_auc_is_exact_when_scores_sit_in_distinct_buckets():
    rng = np.random.default_rng(3)
    p = (rng.permutation(500) + 0.5) / 1000  # one example per bucket of 1000
    y = (rng.random(500) < p).astype(float)
    w = np.ones(500)
    out = run(ma.AUC(num_thresholds=1000, with_error_bound=True), y, p, w)
    assert out["auc_error_bound"] == 0.0
    assert out["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def _pr_auc_reference(y, p, w, buckets):
    """Davis-Goadrich interpolation written as a plain loop over bucket boundaries."""
    b = np.clip((p * buckets).astype(int), 0, buckets - 1)
    total_pos = float(np.sum(w * y))
    area = 0.0
    for j in range(buckets):  # segment between boundary j and j + 1
        hi = b >= j
        lo = b >= j + 1
        tp0, tp1 = np.sum((w * y)[hi]), np.sum((w * y)[lo])
        pp0, pp1 = np.sum(w[hi]), np.sum(w[lo])
        if pp0 - pp1 <= 0:
            continue
        slope = (tp0 - tp1) / (pp0 - pp1)
        intercept = tp1 - slope * pp1
        log_ratio = np.log(pp0 / pp1) if pp1 > 0 else 0.0
        area += slope * ((tp0 - tp1) + intercept * log_ratio)
    return area / total_pos


def test_pr_auc_matches_an_independent_interpolation_and_sklearn_roughly(binary):
    y, p, w = binary
    got = run(ma.AUCPrecisionRecall(num_thresholds=200), y, p, w)["auc_precision_recall"]
    assert got == pytest.approx(_pr_auc_reference(y, p, w, 200), rel=1e-9)
    fine = run(ma.AUC(curve="PR"), y, p, w)["auc_precision_recall"]
    assert fine == pytest.approx(skm.average_precision_score(y, p, sample_weight=w), abs=0.01)


def test_calibration_plot_buckets_match_numpy(binary):
    y, p, w = binary
    plot = run(ma.CalibrationPlot(num_buckets=10), y, p, w)["calibration_plot"]
    idx = np.minimum((p * 10).astype(int), 9)
    expected_w = np.bincount(idx, weights=w, minlength=10)
    expected_y = np.bincount(idx, weights=w * y, minlength=10)
    got_w = dict(zip(plot["lower_threshold"], plot["weighted_examples"], strict=True))
    got_y = dict(zip(plot["lower_threshold"], plot["total_weighted_label"], strict=True))
    for i in range(10):
        assert got_w[i / 10] == pytest.approx(expected_w[i])
        assert got_y[i / 10] == pytest.approx(expected_y[i])
    assert sum(plot["total_weighted_prediction"]) == pytest.approx(np.dot(w, p))


def test_binary_cross_entropy_matches_sklearn(binary):
    y, p, w = binary
    q = np.clip(p, 0.01, 0.99)
    got = run(ma.BinaryCrossEntropy(), y, q, w)["binary_crossentropy"]
    assert got == pytest.approx(skm.log_loss(y, q, sample_weight=w), rel=1e-9)


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(5)
    y = rng.normal(3.0, 1.0, 1500)
    p = y + rng.normal(0, 0.5, 1500)
    w = rng.uniform(0.1, 2.0, 1500)
    assert run(ma.MeanSquaredError(), y, p, w)["mean_squared_error"] == pytest.approx(
        skm.mean_squared_error(y, p, sample_weight=w)
    )
    assert run(ma.RootMeanSquaredError(), y, p, w)["root_mean_squared_error"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, p, sample_weight=w))
    )
    assert run(ma.MeanAbsoluteError(), y, p, w)["mean_absolute_error"] == pytest.approx(
        skm.mean_absolute_error(y, p, sample_weight=w)
    )
    mape = run(ma.MeanAbsolutePercentageError(), y, p, w)["mean_absolute_percentage_error"]
    assert mape == pytest.approx(100 * skm.mean_absolute_percentage_error(y, p, sample_weight=w))
    r2 = run(ma.SquaredPearsonCorrelation(), y, p, w)["squared_pearson_correlation"]
    cov = np.cov(y, p, aweights=w)
    assert r2 == pytest.approx(cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]))
    unweighted = run(ma.SquaredPearsonCorrelation(), y, p, np.ones_like(w))
    assert unweighted["squared_pearson_correlation"] == pytest.approx(np.corrcoef(y, p)[0, 1] ** 2)


def test_multiclass_metrics_match_sklearn(multiclass):
    y, p, w = multiclass
    assert run(ma.CategoricalCrossEntropy(), y, p, w)["categorical_crossentropy"] == pytest.approx(
        skm.log_loss(y, p, sample_weight=w)
    )
    onehot = np.eye(4)[y]
    assert run(ma.CategoricalCrossEntropy(), onehot, p, w)[
        "categorical_crossentropy"
    ] == pytest.approx(skm.log_loss(y, p, sample_weight=w))
    acc = run(ma.SparseCategoricalAccuracy(), y, p, w)["sparse_categorical_accuracy"]
    assert acc == pytest.approx(skm.accuracy_score(y, p.argmax(axis=1), sample_weight=w))
    cm = run(ma.MultiClassConfusionMatrix(), y, p, w)["multi_class_confusion_matrix"]
    np.testing.assert_allclose(
        cm["matrix"], skm.confusion_matrix(y, p.argmax(axis=1), sample_weight=w)
    )


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_recall_and_precision_match_sklearn(multiclass, k):
    y, p, w = multiclass
    recall = run(ma.RecallAtK(top_k=k), y, p, w)[f"recall/top_k={k}"]
    expected = skm.top_k_accuracy_score(y, p, k=k, sample_weight=w)
    assert recall == pytest.approx(expected)
    precision = run(ma.PrecisionAtK(top_k=k), y, p, w)[f"precision/top_k={k}"]
    assert precision == pytest.approx(expected / k)  # one label per example


@pytest.mark.parametrize("k", [None, 3])
def test_ndcg_matches_sklearn(k):
    rng = np.random.default_rng(9)
    gains = rng.integers(0, 4, size=(400, 6)).astype(float)
    scores = rng.random((400, 6))
    w = rng.uniform(0.5, 2.0, 400)
    got = run(ma.NDCG(top_k=k), gains, scores, w)
    name = "ndcg" if k is None else f"ndcg@{k}"
    assert got[name] == pytest.approx(skm.ndcg_score(gains, scores, k=k, sample_weight=w))


def test_fairness_indicators_match_numpy(binary):
    y, p, w = binary
    out = run(ma.FairnessIndicators(thresholds=[0.5]), y, p, w)
    pos = p > 0.5
    tp, fp = w[pos & (y == 1)].sum(), w[pos & (y == 0)].sum()
    tn, fn = w[~pos & (y == 0)].sum(), w[~pos & (y == 1)].sum()
    prefix = "fairness_indicators_metrics/"
    assert out[prefix + "false_positive_rate@0.5"] == pytest.approx(fp / (fp + tn))
    assert out[prefix + "false_negative_rate@0.5"] == pytest.approx(fn / (fn + tp))
    assert out[prefix + "positive_rate@0.5"] == pytest.approx((tp + fp) / w.sum())
    assert out[prefix + "false_discovery_rate@0.5"] == pytest.approx(fp / (fp + tp))
    assert out[prefix + "false_omission_rate@0.5"] == pytest.approx(fn / (fn + tn))
    assert len(out) == 8


def test_flip_rates_match_numpy(binary):
    y, p, w = binary
    base = np.clip(p + np.random.default_rng(1).normal(0, 0.2, len(p)), 0, 1)
    c, b = p > 0.5, base > 0.5
    expected = {
        "symmetric_flip_rate": w[c != b].sum() / w.sum(),
        "neg_to_pos_flip_rate": w[~b & c].sum() / w.sum(),
        "pos_to_neg_flip_rate": w[b & ~c].sum() / w.sum(),
        "neg_to_neg_flip_rate": w[~b & ~c].sum() / w.sum(),
        "pos_to_pos_flip_rate": w[b & c].sum() / w.sum(),
    }
    for cls in (
        ma.SymmetricFlipRate,
        ma.NegToPosFlipRate,
        ma.PosToNegFlipRate,
        ma.NegToNegFlipRate,
        ma.PosToPosFlipRate,
    ):
        metric = cls()
        assert run(metric, y, p, w, baseline=base)[metric.name] == pytest.approx(
            expected[metric.name]
        )


def _spec(class_name, **options):
    return ma.MetricsSpec(metrics=(ma.MetricConfig(class_name=class_name),), **options)


def test_binarized_and_averaged_auc_match_sklearn(multiclass):
    y, p, w = multiclass
    onehot = np.eye(4)[y]
    (per_class,) = build_metrics(_spec("AUC", binarize=ma.BinarizationOptions(class_ids=(2,))))
    got = run(per_class, y, p, w)["auc/class_id=2"]
    assert got == pytest.approx(skm.roc_auc_score(onehot[:, 2], p[:, 2], sample_weight=w), abs=1e-3)
    (micro,) = build_metrics(_spec("AUC", aggregate=ma.AggregationOptions(micro_average=True)))
    assert run(micro, y, p, w)["auc/micro"] == pytest.approx(
        skm.roc_auc_score(onehot, p, average="micro", sample_weight=w), abs=1e-3
    )
    (macro,) = build_metrics(_spec("AUC", aggregate=ma.AggregationOptions(macro_average=True)))
    assert run(macro, y, p, w)["auc/macro"] == pytest.approx(
        skm.roc_auc_score(onehot, p, average="macro", sample_weight=w), abs=1e-3
    )
    ones = np.ones_like(w)
    (weighted,) = build_metrics(
        _spec("AUC", aggregate=ma.AggregationOptions(weighted_macro_average=True))
    )
    assert run(weighted, y, p, ones)["auc/weighted_macro"] == pytest.approx(
        skm.roc_auc_score(onehot, p, average="weighted"), abs=1e-3
    )
    (prec,) = build_metrics(
        _spec(
            "Precision",
            aggregate=ma.AggregationOptions(macro_average=True),
            binarize=ma.BinarizationOptions(class_ids=(0, 1, 2, 3)),
        )
    )[-1:]
    pred = p > 0.5
    expected = np.mean(
        [skm.precision_score(onehot[:, c], pred[:, c], sample_weight=w) for c in range(4)]
    )
    assert run(prec, y, p, w)["precision/macro"] == pytest.approx(expected)


def test_custom_metric_by_subclassing_is_found_by_class_name():
    class MaxPrediction(Metric):
        default_name = "max_prediction"

        def create_accumulator(self):
            return -np.inf

        def add_input(self, accumulator, inputs):
            return max(accumulator, float(np.max(inputs.predictions, initial=-np.inf)))

        def merge_accumulators(self, accumulators):
            return max(accumulators, default=-np.inf)

        def extract_output(self, accumulator):
            return {self.name: accumulator}

    (metric,) = build_metrics(_spec("MaxPrediction"))
    p = np.array([0.1, 0.9, 0.4])
    assert run(metric, np.zeros(3), p, np.ones(3)) == {"max_prediction": 0.9}


def test_unknown_metric_and_bad_options_are_clear_errors():
    with pytest.raises(ma.EvalConfigError, match="unknown metric class_name 'Nope'"):
        build_metrics(_spec("Nope"))
    bad = ma.MetricsSpec(metrics=(ma.MetricConfig(class_name="AUC", config={"bins": 3}),))
    with pytest.raises(ma.EvalConfigError, match="accepted keys"):
        build_metrics(bad)


MERGEABLE = [
    ma.ExampleCount(),
    ma.MeanLabel(),
    ma.Precision(thresholds=[0.2, 0.6]),
    ma.AUC(),
    ma.AUC(curve="PR"),
    ma.CalibrationPlot(num_buckets=20),
    ma.BinaryCrossEntropy(),
    ma.MeanSquaredError(),
    ma.SquaredPearsonCorrelation(),
]


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.floats(0.01, 0.99), st.floats(0.1, 5.0)),
        min_size=1,
        max_size=60,
    ),
    cuts=st.lists(st.integers(0, 60), max_size=5),
    seed=st.integers(0, 1000),
)
def test_merge_order_and_grouping_do_not_change_results(data, cuts, seed):
    arr = np.array(data, dtype=np.float64)
    y, p, w = arr[:, 0], arr[:, 1], arr[:, 2]
    bounds = sorted({0, len(y), *(c for c in cuts if c < len(y))})
    parts = [np.arange(a, b) for a, b in itertools.pairwise(bounds)]
    order = np.random.default_rng(seed).permutation(len(parts))
    for metric in MERGEABLE:
        one = metric.extract_output(
            metric.add_input(metric.create_accumulator(), MetricInputs(y, p, w))
        )
        accs = [
            metric.add_input(metric.create_accumulator(), MetricInputs(y[i], p[i], w[i]))
            for i in parts
        ]
        merged = metric.extract_output(metric.merge_accumulators([accs[i] for i in order]))
        assert merged.keys() == one.keys()
        for k, v in one.items():
            if isinstance(v, dict):
                for field, values in v.items():
                    np.testing.assert_allclose(merged[k][field], values, rtol=1e-9)
            else:
                np.testing.assert_allclose(merged[k], v, rtol=1e-9, equal_nan=True)
