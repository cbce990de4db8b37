"""Metrics from a `MetricsSpec`: instantiation, binarization per class, micro / macro averages.

A binary metric on a multi-class model is computed per class id (`binarize.class_ids`,
named `<metric>/class_id=<c>`), or aggregated over classes (`aggregate`): micro flattens
every (example, class) pair into one binary problem (`<metric>/micro`), macro averages the
per-class values (`<metric>/macro`), weighted macro weights them by `class_weights` or by
each class's weighted label count (`<metric>/weighted_macro`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from headwater.model_analysis.config import MetricConfig, MetricsSpec
from headwater.model_analysis.errors import EvalConfigError
from headwater.model_analysis.metric import Metric, MetricInputs, MetricValue, metric_class, wdot
from headwater.model_analysis.metrics_multiclass import (
    PrecisionAtK,
    RecallAtK,
    class_scores,
    one_hot,
)

__all__ = ["Binarized", "MacroAveraged", "MicroAveraged", "build_metrics", "make_metric"]


def _binarize(inputs: MetricInputs, class_id: int) -> MetricInputs:
    scores = class_scores(inputs.predictions)
    if class_id >= scores.shape[1]:
        raise EvalConfigError(
            f"binarize.class_ids: class {class_id} out of range for {scores.shape[1]} classes"
        )
    labels = one_hot(inputs.labels, scores.shape[1])[:, class_id]
    return MetricInputs(labels, scores[:, class_id], inputs.weights)


class Binarized(Metric):
    """`inner` on the one-vs-rest problem of `class_id`."""

    def __init__(self, inner: Metric, class_id: int) -> None:
        super().__init__(f"{inner.name}/class_id={class_id}")
        self.inner, self.class_id = inner, int(class_id)

    def create_accumulator(self) -> Any:
        return self.inner.create_accumulator()

    def add_input(self, accumulator: Any, inputs: MetricInputs) -> Any:
        return self.inner.add_input(accumulator, _binarize(inputs, self.class_id))

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        return self.inner.merge_accumulators(accumulators)

    def output_names(self) -> tuple[str, ...]:
        return tuple(f"{n}/class_id={self.class_id}" for n in self.inner.output_names())

    def extract_output(self, accumulator: Any) -> dict[str, MetricValue]:
        out = self.inner.extract_output(accumulator)
        return {f"{k}/class_id={self.class_id}": v for k, v in out.items()}


class MicroAveraged(Metric):
    """`inner` on every (example, class) pair flattened into one binary problem."""

    def __init__(self, inner: Metric) -> None:
        super().__init__(f"{inner.name}/micro")
        self.inner = inner

    def create_accumulator(self) -> Any:
        return self.inner.create_accumulator()

    def add_input(self, accumulator: Any, inputs: MetricInputs) -> Any:
        scores = class_scores(inputs.predictions)
        k = scores.shape[1]
        labels = one_hot(inputs.labels, k).reshape(-1)
        weights = np.repeat(inputs.weights, k)
        return self.inner.add_input(accumulator, MetricInputs(labels, scores.reshape(-1), weights))

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        return self.inner.merge_accumulators(accumulators)

    def output_names(self) -> tuple[str, ...]:
        return tuple(f"{n}/micro" for n in self.inner.output_names())

    def extract_output(self, accumulator: Any) -> dict[str, MetricValue]:
        return {f"{k}/micro": v for k, v in self.inner.extract_output(accumulator).items()}


class MacroAveraged(Metric):
    """Mean over classes of `inner` one-vs-rest (weighted by class weights if `weighted`)."""

    def __init__(
        self,
        make_inner: Callable[[], Metric],
        class_ids: tuple[int, ...] = (),
        weighted: bool = False,
        class_weights: Mapping[int, float] | None = None,
    ) -> None:
        self.inner = make_inner()
        self.suffix = "weighted_macro" if weighted else "macro"
        super().__init__(f"{self.inner.name}/{self.suffix}")
        self.class_ids, self.weighted = tuple(class_ids), weighted
        self.class_weights = dict(class_weights or {})

    def create_accumulator(self) -> dict[int, Any]:
        return {}  # class id -> (inner accumulator, weighted label count)

    def add_input(self, accumulator: dict[int, Any], inputs: MetricInputs) -> dict[int, Any]:
        k = class_scores(inputs.predictions).shape[1]
        labels = one_hot(inputs.labels, k)
        for c in self.class_ids or range(k):
            acc, count = accumulator.get(c) or (self.inner.create_accumulator(), 0.0)
            acc = self.inner.add_input(acc, _binarize(inputs, c))
            accumulator[c] = (acc, count + wdot(inputs.weights, labels[:, c]))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict[int, Any]]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for accs in accumulators:
            for c, (acc, count) in accs.items():
                if c in out:
                    merged = self.inner.merge_accumulators([out[c][0], acc])
                    out[c] = (merged, out[c][1] + count)
                else:
                    out[c] = (self.inner.merge_accumulators([acc]), count)
        return out

    def output_names(self) -> tuple[str, ...]:
        return tuple(f"{n}/{self.suffix}" for n in self.inner.output_names())

    def extract_output(self, accumulator: dict[int, Any]) -> dict[str, MetricValue]:
        classes = sorted(accumulator)
        per_class = [self.inner.extract_output(accumulator[c][0]) for c in classes]
        if self.weighted:
            w = np.array(
                [self.class_weights.get(c, accumulator[c][1]) for c in classes], dtype=np.float64
            )
        else:
            w = np.ones(len(classes))
        out: dict[str, MetricValue] = {}
        for name in self.inner.output_names():
            vals = np.array([float(pc[name]) for pc in per_class])  # type: ignore[arg-type]
            keep = ~np.isnan(vals) & (w > 0)
            total = w[keep].sum()
            out[f"{name}/{self.suffix}"] = (
                wdot(vals[keep], w[keep]) / total if total > 0 else float("nan")
            )
        return out


def make_metric(config: MetricConfig) -> Metric:
    """One metric from its `MetricConfig` (config entries become keyword arguments)."""
    cls = metric_class(config.class_name, config.module)
    kwargs = dict(config.config)
    if config.class_name in ("Precision", "Recall") and "top_k" in kwargs:
        cls = PrecisionAtK if config.class_name == "Precision" else RecallAtK
        kwargs.pop("thresholds", None)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        params = [p for p in inspect.signature(cls).parameters if p != "self"]
        raise EvalConfigError(
            f"MetricConfig {config.class_name!r}: config {kwargs} does not fit: {exc}; "
            f"accepted keys: {params}"
        ) from exc
    return cls(**kwargs)


def build_metrics(spec: MetricsSpec) -> list[Metric]:
    """Every metric of `spec`, binarized / aggregated as it asks."""
    out: list[Metric] = []
    for config in spec.metrics:
        base = make_metric(config)
        if spec.binarize is not None:
            for c in spec.binarize.class_ids:
                out.append(Binarized(make_metric(config), c))
            for k in spec.binarize.top_k_list:
                if config.class_name not in ("Precision", "Recall"):
                    raise EvalConfigError(
                        f"binarize.top_k_list is supported for Precision and Recall, not "
                        f"{config.class_name!r}"
                    )
                out.append(
                    PrecisionAtK(top_k=k)
                    if config.class_name == "Precision"
                    else RecallAtK(top_k=k)
                )
            if spec.binarize.k_list:
                raise EvalConfigError("binarize.k_list is not supported yet")
        agg = spec.aggregate
        if agg is not None and agg.micro_average:
            out.append(MicroAveraged(base))
        elif agg is not None and (agg.macro_average or agg.weighted_macro_average):
            class_ids = spec.binarize.class_ids if spec.binarize else ()
            out.append(
                MacroAveraged(
                    lambda config=config: make_metric(config),  # type: ignore[misc]
                    class_ids,
                    weighted=agg.weighted_macro_average,
                    class_weights=agg.class_weights,
                )
            )
        elif spec.binarize is None:
            out.append(base)
    return out
