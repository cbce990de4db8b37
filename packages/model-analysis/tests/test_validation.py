"""Threshold semantics (TFMA's): value bounds, change thresholds in both directions."""

from __future__ import annotations

import pytest

import headwater.model_analysis as ma
from headwater.model_analysis.validation import collect_thresholds, validate_metrics

MODELS = (
    ma.ModelSpec(name="candidate", label_key="y"),
    ma.ModelSpec(name="baseline", label_key="y", is_baseline=True),
)


def check(threshold: ma.MetricThreshold, candidate: float, baseline: float) -> ma.ThresholdStatus:
    config = ma.EvalConfig(
        model_specs=MODELS,
        metrics_specs=(
            ma.MetricsSpec(
                metrics=(ma.MetricConfig(class_name="MeanSquaredError", threshold=threshold),)
            ),
        ),
    )
    thresholds = collect_thresholds(config, {0: [("mean_squared_error",)]})
    metrics = {
        ((), "candidate"): {"mean_squared_error": candidate},
        ((), "baseline"): {"mean_squared_error": baseline},
    }
    (outcome,) = validate_metrics(config, thresholds, metrics, {}).outcomes
    return outcome.status


def change(direction: str, **bounds: float) -> ma.MetricThreshold:
    return ma.MetricThreshold(
        change_threshold=ma.GenericChangeThreshold(
            direction=ma.MetricDirection(direction), **bounds
        )
    )


P, F = ma.ThresholdStatus.PASSED, ma.ThresholdStatus.FAILED


@pytest.mark.parametrize(
    ("threshold", "candidate", "baseline", "status"),
    [
        (ma.MetricThreshold(value_threshold=ma.GenericValueThreshold(lower_bound=0.5)), 0.5, 0, P),
        (ma.MetricThreshold(value_threshold=ma.GenericValueThreshold(upper_bound=0.2)), 0.3, 0, F),
        (change("HIGHER_IS_BETTER", absolute=-1e-10), 0.80, 0.80, P),
        (change("HIGHER_IS_BETTER", absolute=-1e-10), 0.79, 0.80, F),
        (change("HIGHER_IS_BETTER", absolute=0.01), 0.805, 0.80, F),
        (change("HIGHER_IS_BETTER", relative=0.1), 0.90, 0.80, P),  # +12.5 %
        (change("HIGHER_IS_BETTER", relative=0.2), 0.90, 0.80, F),
        (change("LOWER_IS_BETTER", absolute=0.0), 0.30, 0.35, P),
        (change("LOWER_IS_BETTER", absolute=0.0), 0.36, 0.35, F),
        (change("LOWER_IS_BETTER", relative=-0.1), 0.30, 0.35, P),  # -14 %
        (change("LOWER_IS_BETTER", absolute=0.0, relative=-0.5), 0.30, 0.35, F),  # both must pass
        (change("HIGHER_IS_BETTER", absolute=0.0), float("nan"), 0.35, F),
    ],
)
def test_threshold_outcomes(threshold, candidate, baseline, status):
    assert check(threshold, candidate, baseline) is status
