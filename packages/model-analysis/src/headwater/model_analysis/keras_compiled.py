"""The loss and metrics a Keras model was compiled with, evaluated per slice as TFMA does.

TFMA evaluates a Keras model's compiled loss (as `loss`) and compiled metrics (under their Keras
names, e.g. `auc`) in every slice unless `options.include_default_metrics` is false. Headwater
reads the compile settings from the SavedModel's `keras_metadata.pb` (written by tf.keras /
tf_keras `model.save`), without importing TensorFlow: the file is a `SavedMetadata` message
(`repeated SavedObject nodes = 1`; a node's `node_path = 3` and JSON `metadata = 5`), and the
root node's JSON holds `training_config` (`loss`, `metrics`, `weighted_metrics`).

Semantics follow Keras: the loss is `sum(weight * loss) / example_count` (Keras's
sum-over-batch-size reduction); `metrics` ignore example weights, `weighted_metrics` use them.
A Keras 3 export (`model.export`) records no compile settings, so nothing is added for it.
A loss or metric Headwater has no equivalent for is named in a warning and skipped.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from headwater.model_analysis.metric import Metric, MetricInputs, MetricValue, safe_div
from headwater.model_analysis.metrics_binary import (
    AUC,
    BinaryAccuracy,
    BinaryCrossEntropy,
    Precision,
    Recall,
)
from headwater.model_analysis.metrics_multiclass import (
    CategoricalAccuracy,
    CategoricalCrossEntropy,
    SparseCategoricalAccuracy,
)
from headwater.model_analysis.metrics_regression import (
    MeanAbsoluteError,
    MeanSquaredError,
    RootMeanSquaredError,
)

__all__ = ["compiled_metrics", "read_training_config"]

logger = logging.getLogger(__name__)

_LOSSES: dict[str, type[Metric]] = {
    "binary_crossentropy": BinaryCrossEntropy,
    "BinaryCrossentropy": BinaryCrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy,
    "CategoricalCrossentropy": CategoricalCrossEntropy,
    "sparse_categorical_crossentropy": CategoricalCrossEntropy,
    "SparseCategoricalCrossentropy": CategoricalCrossEntropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "MeanSquaredError": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "MeanAbsoluteError": MeanAbsoluteError,
}

_METRICS: dict[str, type[Metric]] = {
    "AUC": AUC,
    "auc": AUC,
    "BinaryAccuracy": BinaryAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "Precision": Precision,
    "precision": Precision,
    "Recall": Recall,
    "recall": Recall,
    "CategoricalAccuracy": CategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "SparseCategoricalAccuracy": SparseCategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "BinaryCrossentropy": BinaryCrossEntropy,
    "binary_crossentropy": BinaryCrossEntropy,
    "MeanSquaredError": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "MeanAbsoluteError": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "RootMeanSquaredError": RootMeanSquaredError,
}

# Keras config keys each metric takes over (others at their Keras defaults are ignored).
_KEPT_OPTIONS = {"AUC": ("curve",), "Precision": ("thresholds",), "Recall": ("thresholds",)}
_UNSUPPORTED_OPTIONS = ("top_k", "class_id", "multi_label", "from_logits", "label_smoothing")


# -- reading keras_metadata.pb ------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterable[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message; length-delimited values as bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield number, wire, value


def read_training_config(model_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The `training_config` recorded in `model_dir/keras_metadata.pb`, or None if the model
    records none (not a tf.keras SavedModel, or saved uncompiled)."""
    path = os.path.join(os.fspath(model_dir), "keras_metadata.pb")
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        data = f.read()
    try:
        for number, wire, node in _fields(data):
            if number != 1 or wire != 2:
                continue
            parts = {n: v for n, w, v in _fields(node) if w == 2 and n in (3, 5)}
            if parts.get(3) == b"root":
                meta = json.loads(parts.get(5, b"{}").decode("utf-8"))
                config = meta.get("training_config") if isinstance(meta, dict) else None
                return config if isinstance(config, dict) else None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        logger.warning("%s: cannot read the Keras compile settings (%s); skipping them", path, exc)
    return None


# -- Keras semantics ----------------------------------------------------------------------------


class _KerasLoss(Metric):
    """`sum(weight * loss) / example_count`: Keras's loss reduction (sum over batch size)."""

    def __init__(self, inner: Metric) -> None:
        super().__init__("loss")
        self.inner = inner

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(2, dtype=np.float64)

    def add_input(self, accumulator: np.ndarray, inputs: MetricInputs) -> np.ndarray:
        weighted_sum = self.inner.sums(inputs)[1]  # type: ignore[attr-defined]
        accumulator += np.array([len(inputs.weights), weighted_sum])
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]) -> np.ndarray:
        out = self.create_accumulator()
        for acc in accumulators:
            out += acc
        return out

    def extract_output(self, accumulator: np.ndarray) -> dict[str, MetricValue]:
        return {self.name: float(safe_div(accumulator[1], accumulator[0]))}


class _Unweighted(Metric):
    """`inner` with every example weight 1 (Keras `metrics`, as opposed to `weighted_metrics`)."""

    def __init__(self, inner: Metric) -> None:
        super().__init__(inner.name)
        self.inner = inner

    def create_accumulator(self) -> Any:
        return self.inner.create_accumulator()

    def add_input(self, accumulator: Any, inputs: MetricInputs) -> Any:
        ones = np.ones(len(inputs.weights), dtype=np.float64)
        return self.inner.add_input(accumulator, replace(inputs, weights=ones))

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        return self.inner.merge_accumulators(accumulators)

    def output_names(self) -> tuple[str, ...]:
        return self.inner.output_names()

    def extract_output(self, accumulator: Any) -> dict[str, MetricValue]:
        return self.inner.extract_output(accumulator)


def _single_output(value: Any) -> Any:
    """The one output's entry of a per-output list/dict; raises for several outputs."""
    if isinstance(value, Mapping) and "class_name" not in value:
        if len(value) != 1:
            raise ValueError(f"several outputs {sorted(value)}")
        return next(iter(value.values()))
    return value


def _loss_name(loss: Any) -> str:
    if isinstance(loss, Mapping):
        return str(loss.get("class_name", ""))
    return str(loss)


def _metric_entries(value: Any) -> list[Any]:
    value = _single_output(value)
    if value is None:
        return []
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], list):
            return list(value[0])  # tf_keras writes one list per output
        if any(isinstance(v, list) for v in value):
            raise ValueError("several outputs")
        return list(value)
    return [value]


def _make_metric(entry: Any, loss_name: str) -> Metric:
    if isinstance(entry, str):
        name = entry
        if entry in ("accuracy", "acc"):
            if "sparse" in loss_name.lower():
                return SparseCategoricalAccuracy(name=name)
            if "categorical" in loss_name.lower():
                return CategoricalAccuracy(name=name)
            return BinaryAccuracy(name=name)
        cls = _METRICS.get(entry)
        if cls is None:
            raise KeyError(entry)
        return cls(name=name)
    class_name = str(entry.get("class_name", ""))
    config = dict(entry.get("config") or {})
    name = str(config.get("name") or class_name)
    if class_name == "MeanMetricWrapper":  # a metric given by function, e.g. "accuracy"
        class_name = str(config.get("fn", class_name))
    cls = _METRICS.get(class_name)
    if cls is None:
        raise KeyError(class_name)
    bad = [k for k in _UNSUPPORTED_OPTIONS if config.get(k) not in (None, False, 0.0)]
    if bad:
        raise KeyError(f"{class_name} with {', '.join(f'{k}={config[k]!r}' for k in bad)}")
    kwargs = {
        k: config[k] for k in _KEPT_OPTIONS.get(cls.__name__, ()) if config.get(k) is not None
    }
    if cls.__name__ == "BinaryAccuracy" and config.get("threshold") is not None:
        kwargs["thresholds"] = [float(config["threshold"])]
    return cls(name=name, **kwargs)


def compiled_metrics(training_config: Mapping[str, Any], where: str) -> list[Metric]:
    """Headwater metrics for a Keras `training_config`: `loss`, then the metrics by Keras name.

    `where` names the model in warnings about what cannot be evaluated.
    """
    out: list[Metric] = []
    try:
        loss = _single_output(training_config.get("loss"))
    except ValueError as exc:
        logger.warning("%s: compiled loss not evaluated: %s", where, exc)
        loss = None
    loss_name = _loss_name(loss) if loss is not None else ""
    if loss is not None:
        cls = _LOSSES.get(loss_name)
        config = loss.get("config", {}) if isinstance(loss, Mapping) else {}
        bad = [k for k in _UNSUPPORTED_OPTIONS if (config or {}).get(k) not in (None, False, 0.0)]
        if cls is None or bad:
            what = loss_name if cls is None else f"{loss_name} with {bad}"
            logger.warning(
                "%s: compiled loss %r has no Headwater equivalent; `loss` is not evaluated "
                "(supported: %s)",
                where,
                what,
                ", ".join(sorted({k for k in _LOSSES if k.islower()})),
            )
        else:
            out.append(_KerasLoss(cls()))
    for key, weighted in (("metrics", False), ("weighted_metrics", True)):
        try:
            entries = _metric_entries(training_config.get(key))
        except ValueError as exc:
            logger.warning("%s: compiled %s not evaluated: %s", where, key, exc)
            continue
        for entry in entries:
            try:
                metric = _make_metric(entry, loss_name)
            except (KeyError, TypeError) as exc:
                logger.warning(
                    "%s: compiled metric %s has no Headwater equivalent; it is not evaluated",
                    where,
                    exc,
                )
                continue
            out.append(metric if weighted else _Unweighted(metric))
    return out
