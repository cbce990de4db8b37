"""TFMA's evaluation config with TFMA's arguments, for a TFX pipeline file's `tfma.EvalConfig`.

`import tensorflow_model_analysis as tfma` becomes
`from headwater.orchestration.tfx_v1 import tfma`; the objects keep TFMA's field names
(wrapped values such as `lower_bound={'value': 0.6}` included) and become a
`headwater.model_analysis.EvalConfig` in the Evaluator. `ModelSpec.preprocessing_function_names`
is honoured by the tfx_v1 Evaluator: those signatures of the model run over the examples first
and their outputs join the features (so a label made by the transform graph can be read).
Fields Headwater's evaluation lacks are rejected by name.
"""

from __future__ import annotations

import enum
from typing import Any

from headwater.orchestration.tfx_v1._message import REPEATED, Message, fields


class MetricDirection(enum.IntEnum):
    """Which way a metric improves (TFMA's enum values)."""

    UNKNOWN = 0
    LOWER_IS_BETTER = 1
    HIGHER_IS_BETTER = 2


class ModelSpec(Message):
    """One model: signature, label, prediction and weight keys, baseline or not."""

    FIELDS = fields(
        name=None,
        signature_name=None,
        label_key=None,
        prediction_key=None,
        example_weight_key=None,
        is_baseline=None,
        preprocessing_function_names=REPEATED,
    )


class SlicingSpec(Message):
    """A slice family: overall, per value of `feature_keys`, or fixed `feature_values`."""

    FIELDS = fields(feature_keys=REPEATED, feature_values=None)


class GenericValueThreshold(Message):
    """Bounds of a metric's value."""

    FIELDS = fields(lower_bound=None, upper_bound=None)


class GenericChangeThreshold(Message):
    """Bounds of a metric's change against the baseline."""

    FIELDS = fields(direction=None, absolute=None, relative=None)


class MetricThreshold(Message):
    """A value and/or change threshold."""

    FIELDS = fields(value_threshold=None, change_threshold=None)


class MetricConfig(Message):
    """One metric by class name, with its config and threshold."""

    FIELDS = fields(class_name=None, module=None, config=None, threshold=None)


class MetricsSpec(Message):
    """Metrics for some models, with thresholds by metric name."""

    FIELDS = fields(metrics=REPEATED, model_names=REPEATED, thresholds=None)


class Options(Message):
    """Run options; `include_default_metrics={'value': False}` drops a Keras model's compiled
    loss and metrics."""

    FIELDS = fields(
        include_default_metrics=None, compute_confidence_intervals=None, min_slice_size=None
    )


class EvalConfig(Message):
    """Models, slices, metrics and options of an evaluation."""

    FIELDS = fields(
        model_specs=REPEATED, slicing_specs=REPEATED, metrics_specs=REPEATED, options=None
    )


def to_headwater(config: EvalConfig) -> tuple[Any, list[str]]:
    """The `headwater.model_analysis.EvalConfig`, and the candidate's preprocessing signatures."""
    import headwater.model_analysis as ma

    data = config.to_dict()
    names: list[str] = []
    for spec in data.get("model_specs", []):
        found = spec.pop("preprocessing_function_names", [])
        if not spec.get("is_baseline"):
            names = list(found)
    return ma.EvalConfig.from_dict(data), names


__all__ = [
    "EvalConfig",
    "GenericChangeThreshold",
    "GenericValueThreshold",
    "MetricConfig",
    "MetricDirection",
    "MetricThreshold",
    "MetricsSpec",
    "ModelSpec",
    "Options",
    "SlicingSpec",
    "to_headwater",
]
