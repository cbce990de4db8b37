"""Regression metrics as weighted sums: MSE, MAE, MAPE, RMSE, squared Pearson correlation."""

from __future__ import annotations

import numpy as np

from headwater.model_analysis.metric import MetricInputs, as_scores, safe_div, wdot
from headwater.model_analysis.metrics_binary import _SumMetric

__all__ = [
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "RootMeanSquaredError",
    "SquaredPearsonCorrelation",
]


def _label_pred(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    y = as_scores(inputs.labels, "labels")
    p = as_scores(inputs.predictions)
    return y, p


class MeanSquaredError(_SumMetric):
    """Weighted mean of (label - prediction)^2."""

    default_name = "mean_squared_error"
    size = 2

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        y, p = _label_pred(inputs)
        w = inputs.weights
        return np.array([w.sum(dtype=np.float64), wdot(w, (y - p) ** 2)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


class RootMeanSquaredError(MeanSquaredError):
    """Square root of the weighted mean squared error."""

    default_name = "root_mean_squared_error"

    def result(self, sums: np.ndarray) -> float:
        return float(np.sqrt(safe_div(sums[1], sums[0])))


class MeanAbsoluteError(_SumMetric):
    """Weighted mean of |label - prediction|."""

    default_name = "mean_absolute_error"
    size = 2

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        y, p = _label_pred(inputs)
        w = inputs.weights
        return np.array([w.sum(dtype=np.float64), wdot(w, np.abs(y - p))])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


class MeanAbsolutePercentageError(_SumMetric):
    """100 * weighted mean of |label - prediction| / max(|label|, epsilon) (Keras' form)."""

    default_name = "mean_absolute_percentage_error"
    size = 2

    def __init__(self, name: str | None = None, epsilon: float = 1e-7) -> None:
        super().__init__(name)
        self.epsilon = epsilon

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        y, p = _label_pred(inputs)
        w = inputs.weights
        ape = np.abs(y - p) / np.maximum(np.abs(y), self.epsilon)
        return np.array([w.sum(dtype=np.float64), 100.0 * wdot(w, ape)])

    def result(self, sums: np.ndarray) -> float:
        return float(safe_div(sums[1], sums[0]))


class SquaredPearsonCorrelation(_SumMetric):
    """Weighted squared Pearson correlation between label and prediction (r^2)."""

    default_name = "squared_pearson_correlation"
    size = 6  # sum w, w y, w p, w y^2, w p^2, w y p

    def sums(self, inputs: MetricInputs) -> np.ndarray:
        y, p = _label_pred(inputs)
        w = inputs.weights
        return np.array(
            [
                w.sum(dtype=np.float64),
                wdot(w, y),
                wdot(w, p),
                wdot(w, y * y),
                wdot(w, p * p),
                wdot(w, y * p),
            ]
        )

    def result(self, sums: np.ndarray) -> float:
        sw, sy, sp, syy, spp, syp = sums
        if sw <= 0:
            return float("nan")
        cov = syp / sw - (sy / sw) * (sp / sw)
        var_y = _variance(syy / sw, sy / sw)
        var_p = _variance(spp / sw, sp / sw)
        return float(safe_div(cov * cov, var_y * var_p))


def _variance(mean_square: float, mean: float) -> float:
    """E[x^2] - E[x]^2, or 0 when that is within rounding of zero (x constant).

    The difference of two nearly equal sums keeps only rounding noise for a constant x, and that
    noise depends on how the sums were split and merged; 0 makes r^2 NaN (undefined) in every case.
    """
    value = mean_square - mean * mean
    return 0.0 if value <= 1e-12 * abs(mean_square) else value
