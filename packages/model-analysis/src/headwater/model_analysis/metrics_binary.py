"""Binary-classification metrics: confusion counts at thresholds, AUC, calibration, flip rates.

Labels are in [0, 1] (a fractional label counts `label * weight` as positive and the rest as
negative); a prediction counts as positive when it is strictly greater than the threshold.

Threshold metrics (Precision, Recall, ...) are exact: one sort per batch, confusion counts at
the configured thresholds by binary search. AUC and CalibrationPlot use a histogram of the
predictions over `num_thresholds` equal-width buckets of [0, 1] (TFMA uses 10,000): pairs of
a positive and a negative example that fall in the same bucket count as ties (1/2), so the
AUC differs from the exact one by at most `0.5 * sum_b pos_b * neg_b / (P * N)`; `AUC(
with_error_bound=True)` reports that bound as `<name>_error_bound`. Predictions outside
[0, 1] land in the first / last bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from headwater.model_analysis.errors import EvalConfigError, EvalInputError
from headwater.model_analysis.metric import (
    Metric,
    MetricInputs,
    MetricValue,
    as_binary_labels,
    as_scores,
    safe_div,
    wdot,
)

__all__ = [
    "AUC",
    "AUCPrecisionRecall",
    "BinaryAccuracy",
    "BinaryCrossEntropy",
    "Calibration",
    "CalibrationPlot",
    "ConfusionMatrixAtThresholds",
    "ExampleCount",
    "F1Score",
    "FairnessIndicators",
    "FalseNegativeRate",
    "FalseNegatives",
    "FalsePositiveRate",
    "FalsePositives",
    "MeanLabel",
    "MeanPrediction",
    "NegToNegFlipRate",
    "NegToPosFlipRate",
    "PosToNegFlipRate",
    "PosToPosFlipRate",
    "Precision",
    "Recall",
    "Specificity",
    "SymmetricFlipRate",
    "TrueNegatives",
    "TruePositives",
    "WeightedExampleCount",
]


class _SumMetric(Metric):
    """A metric whose accumulator is a fixed vector of weighted sums."""

    size = 1

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(self.size, dtype=np.float64)

    def add_input(self, accumulator: np.ndarray, inputs: MetricInputs) -> np.ndarray:
        accumulator += self.sums(inputs)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        out = self.create_accumulator()
        for acc in accumulators:
            out += acc
        return out

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        """This batch's contribution to the sums."""
        raise NotImplementedError

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        return {self.name: float(self.result(accumulator))}

    def result(self, sums: np.ndarray) -> float:
        """The metric from the sums."""
        raise NotImplementedError


class ExampleCount(_SumMetric):
    """Number of examples (unweighted)."""

    default_name = "example_count"

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        return np.array([float(len(inputs))])

    def result(self, sums: np.ndarray) -> float:
        return float(sums[0])


class WeightedExampleCount(_SumMetric):
    """Sum of example weights."""

    default_name = "weighted_example_count"

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        return np.array([float(np.sum(inputs.weights, dtype=np.float64))])

    def result(self, sums: np.ndarray) -> float:
        return float(sums[0])


class MeanLabel(_SumMetric):
    """Weighted mean of the label."""

    default_name = "mean_label"
    size = 2

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        y = np.asarray(inputs.labels, np.float64).reshape(len(inputs), -1)[:, 0]
        w = inputs.weights
        return np.array([w.sum(dtype=np.float64), wdot(w, y)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


class MeanPrediction(_SumMetric):
    """Weighted mean of the prediction."""

    default_name = "mean_prediction"
    size = 2

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        p = as_scores(inputs.predictions)
        w = inputs.weights
        return np.array([w.sum(dtype=np.float64), wdot(w, p)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


class Calibration(_SumMetric):
    """Weighted mean prediction / weighted mean label (1.0 is perfectly calibrated)."""

    default_name = "calibration"
    size = 2

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        y = np.asarray(inputs.labels, np.float64).reshape(len(inputs), -1)[:, 0]
        p = as_scores(inputs.predictions)
        return np.array([wdot(inputs.weights, p), wdot(inputs.weights, y)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[0], sums[1]))


class BinaryCrossEntropy(_SumMetric):
    """Weighted mean of -(y log p + (1 - y) log(1 - p)), p clipped to [eps, 1 - eps]."""

    default_name = "binary_crossentropy"
    size = 2

    def __init__(self, name: str | None = None, epsilon: float = 1e-7) -> None:
        super().__init__(name)
        self.epsilon = epsilon

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        y = as_binary_labels(inputs.labels)
        p = np.clip(as_scores(inputs.predictions), self.epsilon, 1.0 - self.epsilon)
        loss = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
        return np.array([inputs.weights.sum(dtype=np.float64), wdot(inputs.weights, loss)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


# ---- confusion counts at explicit thresholds ---------------------------------------------------


def confusion_at_thresholds(
    labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Weighted [tp, fp, tn, fn] per threshold, shape (T, 4); positive means prediction > t."""
    y = as_binary_labels(labels)
    p = as_scores(predictions)
    pos_w = weights * y
    neg_w = weights - pos_w
    if len(thresholds) <= 16:  # a few thresholds: comparisons beat a sort
        predicted = (p[None, :] > thresholds[:, None]).astype(np.float64)
        tp = np.einsum("ti,i->t", predicted, pos_w)
        fp = np.einsum("ti,i->t", predicted, neg_w)
        fn = np.einsum("ti,i->t", 1.0 - predicted, pos_w)  # not sum - tp: no cancellation
        tn = np.einsum("ti,i->t", 1.0 - predicted, neg_w)
        return np.stack([tp, fp, tn, fn], axis=1)
    order = np.argsort(p, kind="stable")
    p_sorted = p[order]
    cum_pos = np.concatenate([[0.0], np.cumsum(pos_w[order])])
    cum_neg = np.concatenate([[0.0], np.cumsum(neg_w[order])])
    idx = np.searchsorted(p_sorted, thresholds, side="right")  # rows with p <= t
    fn, tn = cum_pos[idx], cum_neg[idx]
    tp, fp = cum_pos[-1] - fn, cum_neg[-1] - tn
    return np.stack([tp, fp, tn, fn], axis=1)


_GROUPED_CELLS = 1 << 14
"""At most this many (slice, bucket) cells per grouped bincount (128 KiB of float64, under
malloc's mmap threshold: the counts reuse heap memory instead of faulting in fresh pages);
more slices go in rounds, a histogram wider than this one slice at a time."""


def grouped_bincounts(
    bounds: np.ndarray, buckets: np.ndarray, weights: Sequence[np.ndarray], size: int
) -> list[list[np.ndarray]]:
    """For each array `w` of `weights`, one array per slice i:
    `np.bincount(buckets[lo:hi], w[lo:hi], minlength=size)` with lo, hi = bounds[i], bounds[i+1].

    One bincount over (slice, bucket) cells for as many slices as `_GROUPED_CELLS` allows,
    instead of one per slice; each cell adds its rows in the same (row) order as the per-slice
    bincount, so the sums are bit-identical to it.
    """
    groups = len(bounds) - 1
    out: list[list[np.ndarray]] = [[] for _ in weights]
    step = max(1, _GROUPED_CELLS // size)
    for g0 in range(0, groups, step):
        g1 = min(groups, g0 + step)
        lo, hi = int(bounds[g0]), int(bounds[g1])
        if g1 - g0 == 1:
            cells = buckets[lo:hi]
        else:
            ids = np.repeat(np.arange(g1 - g0, dtype=np.int64), np.diff(bounds[g0 : g1 + 1]))
            cells = ids * size + buckets[lo:hi]
        for per_slice, w in zip(out, weights, strict=True):
            counts = np.bincount(cells, weights=w[lo:hi], minlength=(g1 - g0) * size)
            per_slice.extend(counts.reshape(g1 - g0, size))
    return out


def _confusion_by_slice(
    inputs: MetricInputs, bounds: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Weighted [tp, fp, tn, fn] per slice and threshold, shape (slices, T, 4): one slice as
    `confusion_at_thresholds`, several by two grouped bincounts per threshold."""
    if len(bounds) == 2:
        m = confusion_at_thresholds(inputs.labels, inputs.predictions, inputs.weights, thresholds)
        return m[None]
    y = as_binary_labels(inputs.labels)
    p = as_scores(inputs.predictions)
    pos_w = inputs.weights * y
    neg_w = inputs.weights - pos_w
    counts = np.empty((len(bounds) - 1, len(thresholds), 4), dtype=np.float64)
    for t, threshold in enumerate(thresholds):
        predicted = (p > threshold).astype(np.int64)  # bucket 1: predicted positive
        pos, neg = (np.stack(c) for c in grouped_bincounts(bounds, predicted, (pos_w, neg_w), 2))
        counts[:, t] = np.stack([pos[:, 1], neg[:, 1], neg[:, 0], pos[:, 0]], axis=1)
    return counts


def _threshold_label(t: float) -> str:
    return f"{t:g}"


class _AtThresholds(_SumMetric):
    """Confusion counts at explicit thresholds; subclasses turn them into rates."""

    default_thresholds: tuple[float, ...] = (0.5,)

    def __init__(self, name: str | None = None, thresholds: Sequence[float] | None = None) -> None:
        super().__init__(name)
        ts = self.default_thresholds if thresholds is None else tuple(thresholds)
        if isinstance(ts, int | float):
            ts = (float(ts),)
        if not ts:
            raise EvalConfigError(f"{type(self).__name__}: thresholds must not be empty")
        self.thresholds = np.asarray([float(t) for t in ts], dtype=np.float64)
        self.size = 4 * len(self.thresholds)

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        m = confusion_at_thresholds(
            inputs.labels, inputs.predictions, inputs.weights, self.thresholds
        )
        return m.reshape(-1)

    def add_grouped_inputs(
        self, accumulators: list[Any], inputs: MetricInputs, bounds: np.ndarray
    ) -> list[Any]:
        """Confusion counts of every slice, computed once for all the threshold metrics folded
        on `inputs` with the same thresholds (many thresholds: `add_input` per slice)."""
        if len(self.thresholds) > 16:
            return super().add_grouped_inputs(accumulators, inputs, bounds)
        key = ("confusion", self.thresholds.tobytes(), bounds.tobytes())
        counts = inputs.derived(key, lambda: _confusion_by_slice(inputs, bounds, self.thresholds))
        out = list(accumulators)
        for i, acc in enumerate(out):
            acc += counts[i].reshape(-1)
        return out

    def matrix(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tp, fp, tn, fn), each of shape (T,)."""
        m = sums.reshape(-1, 4)
        return m[:, 0], m[:, 1], m[:, 2], m[:, 3]

    def rate(self, sums: np.ndarray) -> np.ndarray:
        """The metric at every threshold."""
        raise NotImplementedError

    def output_names(self) -> tuple[str, ...]:
        if len(self.thresholds) == 1:
            return (self.name,)
        return tuple(f"{self.name}@{_threshold_label(t)}" for t in self.thresholds)

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        values = np.atleast_1d(self.rate(accumulator))
        return {n: float(v) for n, v in zip(self.output_names(), values, strict=True)}


class Precision(_AtThresholds):
    """TP / (TP + FP) at each threshold (default 0.5)."""

    default_name = "precision"

    def rate(self, sums: np.ndarray) -> np.ndarray:
        tp, fp, _, _ = self.matrix(sums)
        return np.asarray(safe_div(tp, tp + fp))


class Recall(_AtThresholds):
    """TP / (TP + FN) at each threshold (default 0.5)."""

    default_name = "recall"

    def rate(self, sums: np.ndarray) -> np.ndarray:
        tp, _, _, fn = self.matrix(sums)
        return np.asarray(safe_div(tp, tp + fn))


class BinaryAccuracy(_AtThresholds):
    """(TP + TN) / all at each threshold (default 0.5)."""

    default_name = "binary_accuracy"

    def rate(self, sums: np.ndarray) -> np.ndarray:
        tp, fp, tn, fn = self.matrix(sums)
        return np.asarray(safe_div(tp + tn, tp + fp + tn + fn))


class F1Score(_AtThresholds):
    """2 TP / (2 TP + FP + FN) at each threshold (default 0.5)."""

    default_name = "f1_score"

    def rate(self, sums: np.ndarray) -> np.ndarray:
        tp, fp, _, fn = self.matrix(sums)
        return np.asarray(safe_div(2 * tp, 2 * tp + fp + fn))


class Specificity(_AtThresholds):
    """TN / (TN + FP) at each threshold (default 0.5)."""

    default_name = "specificity"

    def rate(self, sums: np.ndarray) -> np.ndarray:
        _, fp, tn, _ = self.matrix(sums)
        return np.asarray(safe_div(tn, tn + fp))


class FalsePositiveRate(_AtThresholds):
    """FP / (FP + TN) at each threshold (default 0.5)."""

    default_name = "false_positive_rate"

    def rate(self, sums: np.ndarray) -> np.ndarray:
        _, fp, tn, _ = self.matrix(sums)
        return np.asarray(safe_div(fp, fp + tn))


class FalseNegativeRate(_AtThresholds):
    """FN / (FN + TP) at each threshold (default 0.5)."""

    default_name = "false_negative_rate"

    def rate(self, sums: np.ndarray) -> np.ndarray:
        tp, _, _, fn = self.matrix(sums)
        return np.asarray(safe_div(fn, fn + tp))


class _MatrixCell(_AtThresholds):
    """One cell of the weighted confusion matrix (TP, FP, TN, FN) at each threshold."""

    cell = 0

    def rate(self, sums: np.ndarray) -> np.ndarray:
        return self.matrix(sums)[self.cell]


class TruePositives(_MatrixCell):
    """Weighted true positives at each threshold."""

    default_name = "true_positives"
    cell = 0


class FalsePositives(_MatrixCell):
    """Weighted false positives at each threshold."""

    default_name = "false_positives"
    cell = 1


class TrueNegatives(_MatrixCell):
    """Weighted true negatives at each threshold."""

    default_name = "true_negatives"
    cell = 2


class FalseNegatives(_MatrixCell):
    """Weighted false negatives at each threshold."""

    default_name = "false_negatives"
    cell = 3


class ConfusionMatrixAtThresholds(_AtThresholds):
    """The weighted confusion matrix at each threshold, as one structured value."""

    default_name = "confusion_matrix_at_thresholds"

    def output_names(self) -> tuple[str, ...]:
        return (self.name,)

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        tp, fp, tn, fn = self.matrix(accumulator)
        return {
            self.name: {
                "thresholds": self.thresholds.tolist(),
                "true_positives": tp.tolist(),
                "false_positives": fp.tolist(),
                "true_negatives": tn.tolist(),
                "false_negatives": fn.tolist(),
                "precision": np.asarray(safe_div(tp, tp + fp)).tolist(),
                "recall": np.asarray(safe_div(tp, tp + fn)).tolist(),
            }
        }


class FairnessIndicators(_AtThresholds):
    """Per-slice rates at thresholds, as TFMA's Fairness Indicators: TPR, FPR, TNR, FNR,
    positive/negative rate, false discovery and false omission rates."""

    default_name = "fairness_indicators_metrics"
    default_thresholds = (0.1, 0.3, 0.5, 0.7, 0.9)
    rates = (
        "true_positive_rate",
        "false_positive_rate",
        "true_negative_rate",
        "false_negative_rate",
        "positive_rate",
        "negative_rate",
        "false_discovery_rate",
        "false_omission_rate",
    )

    def output_names(self) -> tuple[str, ...]:
        return tuple(
            f"{self.name}/{r}@{_threshold_label(t)}" for t in self.thresholds for r in self.rates
        )

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        tp, fp, tn, fn = self.matrix(accumulator)
        total = tp + fp + tn + fn
        table = {
            "true_positive_rate": safe_div(tp, tp + fn),
            "false_positive_rate": safe_div(fp, fp + tn),
            "true_negative_rate": safe_div(tn, tn + fp),
            "false_negative_rate": safe_div(fn, fn + tp),
            "positive_rate": safe_div(tp + fp, total),
            "negative_rate": safe_div(tn + fn, total),
            "false_discovery_rate": safe_div(fp, fp + tp),
            "false_omission_rate": safe_div(fn, fn + tn),
        }
        out: dict[str, MetricValue] = {}
        for i, t in enumerate(self.thresholds):
            for r in self.rates:
                out[f"{self.name}/{r}@{_threshold_label(t)}"] = float(np.atleast_1d(table[r])[i])
        return out


# ---- histogram metrics ----------------------------------------------------------------------


class _Histogram(Metric):
    """Weighted positives / negatives per prediction bucket: shape (2, num_buckets)."""

    def __init__(self, name: str | None = None, num_thresholds: int = 10000) -> None:
        super().__init__(name)
        if num_thresholds < 2:
            raise EvalConfigError(f"{type(self).__name__}: num_thresholds must be >= 2")
        self.num_buckets = int(num_thresholds)

    def create_accumulator(self) -> np.ndarray:
        return np.zeros((2, self.num_buckets), dtype=np.float64)

    def add_input(self, accumulator: np.ndarray, inputs: MetricInputs) -> np.ndarray:
        y = as_binary_labels(inputs.labels)
        p = as_scores(inputs.predictions)
        b = np.clip((p * self.num_buckets).astype(np.int64), 0, self.num_buckets - 1)
        pos_w = inputs.weights * y
        accumulator[0] += np.bincount(b, weights=pos_w, minlength=self.num_buckets)
        accumulator[1] += np.bincount(b, weights=inputs.weights - pos_w, minlength=self.num_buckets)
        return accumulator

    def add_grouped_inputs(
        self, accumulators: list[Any], inputs: MetricInputs, bounds: np.ndarray
    ) -> list[Any]:
        """Every slice's histogram from one grouped bincount (bit-identical to `add_input`)."""
        y = as_binary_labels(inputs.labels)
        p = as_scores(inputs.predictions)
        b = np.clip((p * self.num_buckets).astype(np.int64), 0, self.num_buckets - 1)
        pos_w = inputs.weights * y
        weights = (pos_w, inputs.weights - pos_w)
        pos, neg = grouped_bincounts(bounds, b, weights, self.num_buckets)
        out = list(accumulators)
        for i, acc in enumerate(out):
            acc[0] += pos[i]
            acc[1] += neg[i]
        return out

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        out = self.create_accumulator()
        for acc in accumulators:
            out += acc
        return out


def roc_auc_from_histogram(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """(AUC, error bound) from per-bucket weighted positives and negatives."""
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return float("nan"), float("nan")
    pos_above = np.cumsum(pos[::-1])[::-1] - pos  # positives in strictly higher buckets
    auc = float(wdot(neg, pos_above + 0.5 * pos) / (total_pos * total_neg))
    bound = float(0.5 * wdot(pos, neg) / (total_pos * total_neg))
    return auc, bound


def pr_auc_from_histogram(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under precision-recall, interpolated between bucket boundaries (Davis & Goadrich:
    TP is linear in predicted positives along a segment, precision integrated in closed form)."""
    total_pos = pos.sum()
    if total_pos <= 0:
        return float("nan")
    # Boundary j (0..B): predicted positive = buckets >= j. j = 0 is "everything positive".
    tp = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])
    fp = np.concatenate([np.cumsum(neg[::-1])[::-1], [0.0]])
    pp = tp + fp
    dtp = tp[:-1] - tp[1:]
    dpp = pp[:-1] - pp[1:]
    moving = dpp > 0
    slope = np.where(moving, dtp / np.where(moving, dpp, 1.0), 0.0)
    intercept = tp[1:] - slope * pp[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(
            (pp[1:] > 0) & (pp[:-1] > 0), np.log(pp[:-1] / np.where(pp[1:] > 0, pp[1:], 1.0)), 0.0
        )
    area = slope * (dtp + intercept * log_ratio)
    return float(np.sum(area[moving]) / total_pos)


class AUC(_Histogram):
    """Area under the ROC curve (or PR with curve="PR") from a prediction histogram."""

    default_name = "auc"

    def __init__(
        self,
        name: str | None = None,
        num_thresholds: int = 10000,
        curve: str = "ROC",
        with_error_bound: bool = False,
    ) -> None:
        if curve not in ("ROC", "PR"):
            raise EvalConfigError(f"AUC: curve must be 'ROC' or 'PR', found {curve!r}")
        self.curve = curve
        if curve == "PR" and name is None and type(self) is AUC:
            name = "auc_precision_recall"
        super().__init__(name, num_thresholds)
        self.with_error_bound = with_error_bound and curve == "ROC"

    def output_names(self) -> tuple[str, ...]:
        if self.with_error_bound:
            return (self.name, f"{self.name}_error_bound")
        return (self.name,)

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        if self.curve == "PR":
            return {self.name: pr_auc_from_histogram(accumulator[0], accumulator[1])}
        auc, bound = roc_auc_from_histogram(accumulator[0], accumulator[1])
        out: dict[str, MetricValue] = {self.name: auc}
        if self.with_error_bound:
            out[f"{self.name}_error_bound"] = bound
        return out


class AUCPrecisionRecall(AUC):
    """Area under the precision-recall curve (interpolated), from a prediction histogram."""

    default_name = "auc_precision_recall"

    def __init__(self, name: str | None = None, num_thresholds: int = 10000) -> None:
        super().__init__(name, num_thresholds, curve="PR")


class CalibrationPlot(Metric):
    """Per prediction bucket: weighted examples, labels and predictions (TFMA: 1000 buckets).

    Buckets are [i/n, (i+1)/n) plus an underflow (< 0) and an overflow (> 1) bucket; only
    non-empty buckets are output, as parallel lists.
    """

    default_name = "calibration_plot"

    def __init__(self, name: str | None = None, num_buckets: int = 1000) -> None:
        super().__init__(name)
        if num_buckets < 1:
            raise EvalConfigError("CalibrationPlot: num_buckets must be >= 1")
        self.num_buckets = int(num_buckets)

    def create_accumulator(self) -> np.ndarray:
        return np.zeros((3, self.num_buckets + 2), dtype=np.float64)  # + under/overflow

    def add_input(self, accumulator: np.ndarray, inputs: MetricInputs) -> np.ndarray:
        y = np.asarray(inputs.labels, np.float64).reshape(len(inputs), -1)[:, 0]
        p = as_scores(inputs.predictions)
        n = self.num_buckets
        b = np.floor(p * n).astype(np.int64) + 1
        b = np.where(p == 1.0, n, np.clip(b, 0, n + 1))
        w = inputs.weights
        size = n + 2
        accumulator[0] += np.bincount(b, weights=w, minlength=size)
        accumulator[1] += np.bincount(b, weights=w * y, minlength=size)
        accumulator[2] += np.bincount(b, weights=w * p, minlength=size)
        return accumulator

    def add_grouped_inputs(
        self, accumulators: list[Any], inputs: MetricInputs, bounds: np.ndarray
    ) -> list[Any]:
        """Every slice's buckets from one grouped bincount (bit-identical to `add_input`)."""
        y = np.asarray(inputs.labels, np.float64).reshape(len(inputs), -1)[:, 0]
        p = as_scores(inputs.predictions)
        n = self.num_buckets
        b = np.floor(p * n).astype(np.int64) + 1
        b = np.where(p == 1.0, n, np.clip(b, 0, n + 1))
        w = inputs.weights
        sums = grouped_bincounts(bounds, b, (w, w * y, w * p), n + 2)
        out = list(accumulators)
        for i, acc in enumerate(out):
            for row, per_slice in enumerate(sums):
                acc[row] += per_slice[i]
        return out

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        out = self.create_accumulator()
        for acc in accumulators:
            out += acc
        return out

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        n = self.num_buckets
        edges = np.concatenate([[-np.inf], np.arange(n + 1) / n, [np.inf]])
        used = np.flatnonzero(accumulator[0])
        return {
            self.name: {
                "num_buckets": n,
                "lower_threshold": edges[used].tolist(),
                "upper_threshold": edges[used + 1].tolist(),
                "weighted_examples": accumulator[0, used].tolist(),
                "total_weighted_label": accumulator[1, used].tolist(),
                "total_weighted_prediction": accumulator[2, used].tolist(),
            }
        }


# ---- flip rates: candidate vs baseline on the same examples ---------------------------------


class _FlipRate(_SumMetric):
    """Weighted share of examples whose thresholded prediction moves between models."""

    needs_baseline = True
    size = 5  # total, neg->neg, neg->pos, pos->neg, pos->pos

    def __init__(self, name: str | None = None, threshold: float = 0.5) -> None:
        super().__init__(name)
        self.threshold = float(threshold)

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        if inputs.baseline_predictions is None:
            raise EvalInputError(f"{self.name}: flip rates need baseline predictions")
        cand = as_scores(inputs.predictions) > self.threshold
        base = as_scores(inputs.baseline_predictions, "baseline predictions") > self.threshold
        w = inputs.weights
        return np.array(
            [
                w.sum(dtype=np.float64),
                w[~base & ~cand].sum(),
                w[~base & cand].sum(),
                w[base & ~cand].sum(),
                w[base & cand].sum(),
            ]
        )

    column = 0

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[self.column], sums[0]))


class SymmetricFlipRate(_FlipRate):
    """Share of examples whose decision flips either way between baseline and candidate."""

    default_name = "symmetric_flip_rate"

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[2] + sums[3], sums[0]))


class NegToNegFlipRate(_FlipRate):
    """Share negative under both baseline and candidate."""

    default_name = "neg_to_neg_flip_rate"
    column = 1


class NegToPosFlipRate(_FlipRate):
    """Share negative under the baseline and positive under the candidate."""

    default_name = "neg_to_pos_flip_rate"
    column = 2


class PosToNegFlipRate(_FlipRate):
    """Share positive under the baseline and negative under the candidate."""

    default_name = "pos_to_neg_flip_rate"
    column = 3


class PosToPosFlipRate(_FlipRate):
    """Share positive under both baseline and candidate."""

    default_name = "pos_to_pos_flip_rate"
    column = 4
