"""Multi-class and ranking metrics: cross-entropy, accuracy, confusion matrix, top-k, NDCG.

Predictions are (n, k) class scores. Labels are sparse class ids (n,) or one-hot /
multi-hot (n, k); `one_hot` converts between them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from headwater.model_analysis.errors import EvalConfigError, EvalInputError
from headwater.model_analysis.metric import Metric, MetricInputs, MetricValue, safe_div, wdot
from headwater.model_analysis.metrics_binary import _SumMetric

__all__ = [
    "NDCG",
    "CategoricalAccuracy",
    "CategoricalCrossEntropy",
    "MultiClassConfusionMatrix",
    "MultiClassConfusionMatrixPlot",
    "PrecisionAtK",
    "RecallAtK",
    "SparseCategoricalAccuracy",
    "one_hot",
]


def class_scores(predictions: np.ndarray) -> np.ndarray:
    """Predictions as float64 (n, k), k >= 2; a (n,) or (n, 1) binary score becomes [1-p, p]."""
    p = np.asarray(predictions, dtype=np.float64)
    p = p.reshape(len(p), -1)
    if p.shape[1] == 1:
        p = np.concatenate([1.0 - p, p], axis=1)
    return p


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Sparse class ids (n,) -> one-hot float64 (n, num_classes); (n, k) labels pass through."""
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == num_classes:
        return y.astype(np.float64)
    ids = y.reshape(-1).astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise EvalInputError(
            f"labels: class ids must be in [0, {num_classes}), found values in "
            f"[{ids.min()}, {ids.max()}]"
        )
    out = np.zeros((len(ids), num_classes), dtype=np.float64)
    out[np.arange(len(ids)), ids] = 1.0
    return out


def _sparse_ids(labels: np.ndarray) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    return y.reshape(-1).astype(np.int64)


class CategoricalCrossEntropy(_SumMetric):
    """Weighted mean of -sum_c y_c log p_c (predictions normalized per row, clipped to eps)."""

    default_name = "categorical_crossentropy"
    size = 2

    def __init__(self, name: str | None = None, epsilon: float = 1e-7) -> None:
        super().__init__(name)
        self.epsilon = epsilon

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        p = class_scores(inputs.predictions)
        p = p / p.sum(axis=1, keepdims=True)
        p = np.clip(p, self.epsilon, 1.0 - self.epsilon)
        y = one_hot(inputs.labels, p.shape[1])
        loss = -np.sum(y * np.log(p), axis=1)
        return np.array([inputs.weights.sum(dtype=np.float64), wdot(inputs.weights, loss)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


class SparseCategoricalAccuracy(_SumMetric):
    """Weighted share of examples whose highest-scoring class is the label."""

    default_name = "sparse_categorical_accuracy"
    size = 2

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        hit = np.argmax(class_scores(inputs.predictions), axis=1) == _sparse_ids(inputs.labels)
        return np.array([inputs.weights.sum(dtype=np.float64), inputs.weights[hit].sum()])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


class CategoricalAccuracy(SparseCategoricalAccuracy):
    """As SparseCategoricalAccuracy, for one-hot labels."""

    default_name = "categorical_accuracy"


class MultiClassConfusionMatrixPlot(Metric):
    """Weighted counts of (actual class, predicted class = argmax), as a k x k matrix."""

    default_name = "multi_class_confusion_matrix_plot"

    def create_accumulator(self) -> np.ndarray:
        return np.zeros((0, 0), dtype=np.float64)

    @staticmethod
    def _pad(m: np.ndarray, k: int) -> np.ndarray:
        if m.shape[0] >= k:
            return m
        out = np.zeros((k, k), dtype=np.float64)
        out[: m.shape[0], : m.shape[1]] = m
        return out

    def add_input(self, accumulator: np.ndarray, inputs: MetricInputs) -> np.ndarray:
        scores = class_scores(inputs.predictions)
        actual = _sparse_ids(inputs.labels)
        predicted = np.argmax(scores, axis=1)
        k = max(scores.shape[1], int(actual.max(initial=-1)) + 1, accumulator.shape[0])
        counts = np.bincount(actual * k + predicted, weights=inputs.weights, minlength=k * k)
        return self._pad(accumulator, k) + counts.reshape(k, k)

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        accs = list(accumulators)
        k = max((a.shape[0] for a in accs), default=0)
        out = np.zeros((k, k), dtype=np.float64)
        for a in accs:
            out += self._pad(a, k)
        return out

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        return {
            self.name: {
                "num_classes": int(accumulator.shape[0]),
                "matrix": accumulator.tolist(),
                "axes": "rows are actual classes, columns predicted (argmax)",
            }
        }


class MultiClassConfusionMatrix(MultiClassConfusionMatrixPlot):
    """Alias of MultiClassConfusionMatrixPlot under a shorter name."""

    default_name = "multi_class_confusion_matrix"


class _TopK(_SumMetric):
    """Counts of labels among the k highest-scoring classes: [tp, predicted, actual]."""

    size = 3

    def __init__(self, name: str | None = None, top_k: int = 1) -> None:
        if top_k < 1:
            raise EvalConfigError(f"{type(self).__name__}: top_k must be >= 1, found {top_k}")
        self.top_k = int(top_k)
        super().__init__(name or f"{self.default_name}/top_k={self.top_k}")

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        scores = class_scores(inputs.predictions)
        k = min(self.top_k, scores.shape[1])
        y = one_hot(inputs.labels, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        hits = np.take_along_axis(y, top, axis=1).sum(axis=1)
        w = inputs.weights
        return np.array([wdot(w, hits), w.sum(dtype=np.float64) * k, wdot(w, y.sum(axis=1))])


class PrecisionAtK(_TopK):
    """Weighted share of the top-k predicted classes that are labels (micro over classes)."""

    default_name = "precision"

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[0], sums[1]))


class RecallAtK(_TopK):
    """Weighted share of labels found among the top-k predicted classes."""

    default_name = "recall"

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[0], sums[2]))


class NDCG(_SumMetric):
    """Weighted mean NDCG@k over rows; each row ranks its k items by prediction, with graded
    relevance labels (n, items). Rows with no relevant item score 0 (as scikit-learn)."""

    default_name = "ndcg"
    size = 2

    def __init__(self, name: str | None = None, top_k: int | None = None) -> None:
        self.top_k = top_k
        super().__init__(name or (f"ndcg@{top_k}" if top_k else None))

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        scores = np.asarray(inputs.predictions, dtype=np.float64)
        gains = np.asarray(inputs.labels, dtype=np.float64)
        if scores.ndim != 2 or gains.shape != scores.shape:
            raise EvalInputError(
                f"{self.name}: needs (rows, items) predictions and relevance labels of the "
                f"same shape, found {scores.shape} and {gains.shape}"
            )
        k = scores.shape[1] if self.top_k is None else min(self.top_k, scores.shape[1])
        discount = 1.0 / np.log2(np.arange(2, k + 2))
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        dcg = np.einsum("ij,j->i", np.take_along_axis(gains, order, axis=1), discount)
        ideal = np.einsum("ij,j->i", -np.sort(-gains, axis=1)[:, :k], discount)
        ndcg = np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0)
        return np.array([inputs.weights.sum(dtype=np.float64), wdot(inputs.weights, ndcg)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))
