"""The one base every metric subclasses, and the registry that finds metrics by class name.

A metric is a mergeable accumulator over batches (numpy arrays, never rows):

    acc = metric.create_accumulator()
    acc = metric.add_input(acc, MetricInputs(labels, predictions, weights))   # per batch
    acc = metric.merge_accumulators([acc, other])                             # across workers
    metric.extract_output(acc)  -> {"auc": 0.81}

The same object runs in the plain loop and inside a Beam `CombineFn`, so both drivers give
identical results. A subclass is registered under its class name (so `MetricConfig(class_name=
"MyMetric", config={...})` finds it, the config becoming constructor keyword arguments).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from headwater.model_analysis.errors import EvalConfigError, EvalInputError

__all__ = [
    "Metric",
    "MetricInputs",
    "MetricValue",
    "metric_class",
    "registered_metrics",
    "wdot",
]

MetricValue = float | dict[str, Any]
"""A scalar, or a JSON-able structure (a plot, a confusion matrix)."""

_REGISTRY: dict[str, type[Metric]] = {}
_T = TypeVar("_T")


@dataclass(frozen=True)
class MetricInputs:
    """One batch: labels, predictions and example weights as aligned numpy arrays.

    `labels` and `predictions` are shape (n,) for binary/regression, (n, k) for multi-class
    (labels may also be sparse class ids, shape (n,)). `baseline_predictions` is set for
    metrics that compare candidate and baseline on the same examples (flip rates).
    """

    labels: np.ndarray
    predictions: np.ndarray
    weights: np.ndarray
    baseline_predictions: np.ndarray | None = None
    _derived: dict[Hashable, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return int(self.weights.shape[0])

    def derived(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """`compute()`, once per `key` for these inputs: metrics folded on the same inputs
        share per-row work (confusion counts at the same thresholds)."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def rows(self, lo: int, hi: int) -> MetricInputs:
        """The rows lo..hi-1 of every array (views, no copy)."""
        base = None if self.baseline_predictions is None else self.baseline_predictions[lo:hi]
        return MetricInputs(self.labels[lo:hi], self.predictions[lo:hi], self.weights[lo:hi], base)

    def take(self, rows: np.ndarray) -> MetricInputs:
        """The rows `rows` (an index array) of every array."""
        base = None if self.baseline_predictions is None else self.baseline_predictions[rows]
        return MetricInputs(self.labels[rows], self.predictions[rows], self.weights[rows], base)


class Metric(ABC):
    """Base of every metric: a mergeable accumulator over batches of `MetricInputs`.

    Subclass it and implement the four methods; `default_name` is the output name (TFMA's,
    e.g. "auc"), overridable per instance with `name=`. `extract_output` returns a dict of
    output name to value, so one metric may emit several values (precision@0.3, @0.5...).
    Accumulators must be picklable plain values (numpy arrays, tuples, dicts).
    """

    default_name: ClassVar[str] = ""
    needs_baseline: ClassVar[bool] = False
    """True for metrics comparing candidate and baseline predictions (flip rates)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.default_name or type(self).__name__

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls) and not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    @abstractmethod
    def create_accumulator(self) -> Any:
        """A fresh, empty accumulator."""

    @abstractmethod
    def add_input(self, accumulator: Any, inputs: MetricInputs) -> Any:
        """Fold one batch into `accumulator` (may mutate it) and return it."""

    @abstractmethod
    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        """One accumulator equal to having seen every batch of `accumulators`."""

    def add_grouped_inputs(
        self, accumulators: list[Any], inputs: MetricInputs, bounds: np.ndarray
    ) -> list[Any]:
        """Fold the rows `bounds[i]:bounds[i + 1]` of `inputs` into `accumulators[i]`, for
        every i (one slice each), and return the accumulators.

        The default calls `add_input` once per slice on views of `inputs`; a metric overrides
        it to do its per-row work once for all slices (a single grouped `np.bincount`), with
        the same result as the loop.
        """
        out = list(accumulators)
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds.tolist())):
            out[i] = self.add_input(out[i], inputs.rows(lo, hi))
        return out

    @abstractmethod
    def extract_output(self, accumulator: Any) -> dict[str, MetricValue]:
        """Output name -> value."""

    def output_names(self) -> tuple[str, ...]:
        """Names `extract_output` produces (used to check thresholds before running)."""
        return (self.name,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def registered_metrics() -> Mapping[str, type[Metric]]:
    """Every metric class known by name (built-ins and imported subclasses)."""
    return dict(_REGISTRY)


def metric_class(class_name: str, module: str = "") -> type[Metric]:
    """The metric class registered as `class_name`, importing `module` first if given."""
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise EvalConfigError(
                f"MetricConfig {class_name!r}: cannot import module {module!r}: {exc}"
            ) from exc
    try:
        return _REGISTRY[class_name]
    except KeyError as exc:
        raise EvalConfigError(
            f"unknown metric class_name {class_name!r}; known: {sorted(_REGISTRY)} "
            "(a custom metric subclasses headwater.model_analysis.Metric; set `module` to "
            "the module defining it)"
        ) from exc


def as_binary_labels(labels: np.ndarray, what: str = "labels") -> np.ndarray:
    """Labels of a binary problem as float64 of shape (n,), checking they lie in [0, 1]."""
    y = np.asarray(labels, dtype=np.float64).reshape(len(labels), -1)
    if y.shape[1] != 1:
        raise EvalInputError(
            f"{what}: a binary metric needs one label per example, found shape {labels.shape}; "
            "binarize multi-class labels with MetricsSpec.binarize or aggregate"
        )
    y = y[:, 0]
    if y.size and (np.nanmin(y) < 0.0 or np.nanmax(y) > 1.0):
        raise EvalInputError(
            f"{what}: binary labels must lie in [0, 1], found values in "
            f"[{np.nanmin(y)}, {np.nanmax(y)}]"
        )
    return y


def as_scores(predictions: np.ndarray, what: str = "predictions") -> np.ndarray:
    """Predictions of a binary/regression problem as float64 of shape (n,)."""
    p = np.asarray(predictions, dtype=np.float64).reshape(len(predictions), -1)
    if p.shape[1] != 1:
        raise EvalInputError(
            f"{what}: this metric needs one prediction per example, found shape "
            f"{predictions.shape}; binarize multi-class predictions with MetricsSpec.binarize"
        )
    return p[:, 0]


def wdot(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of a * b over one axis, without BLAS (whose threads stall on a busy machine)."""
    return float(np.einsum("i,i->", a, b))


def safe_div(num: np.ndarray | float, den: np.ndarray | float) -> Any:
    """num / den with NaN where den == 0 (a metric with no support is undefined, not 0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
    return out if out.ndim else float(out)
