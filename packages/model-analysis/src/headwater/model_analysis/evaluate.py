"""Sliced metrics in one pass: the combiner shared by the plain and the Beam drivers.

    batch (Arrow) --predict--> predictions per model --prepare_batch--> PreparedBatch
    PreparedBatch --SlicedMetricsCombiner.add_input--> {slice: {model: [metric accumulators]}}
    merge_accumulators (any order, any grouping) --> extract_output --> EvalResult

`run_model_analysis` runs the loop in memory; `ExtractEvaluateAndWriteResults` (beam.py)
runs the same combiner in a Beam `CombineGlobally`.
"""

from __future__ import annotations

import itertools
import logging
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from headwater.model_analysis.binarize import build_metrics
from headwater.model_analysis.config import EvalConfig, MetricsSpec
from headwater.model_analysis.errors import EvalConfigError, EvalInputError
from headwater.model_analysis.metric import Metric, MetricInputs
from headwater.model_analysis.results import EvalResult, SliceMetrics
from headwater.model_analysis.slicing import (
    SliceKey,
    slice_groups,
    slice_key_str,
    slice_partitions,
)
from headwater.model_analysis.validation import collect_thresholds, validate_metrics

__all__ = [
    "PreparedBatch",
    "SlicedMetricsCombiner",
    "column_values",
    "input_columns",
    "prepare_batch",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedBatch:
    """What the combiner consumes: slicing columns, labels, weights, predictions per model."""

    slice_columns: pa.RecordBatch
    labels: np.ndarray
    weights: np.ndarray
    predictions: Mapping[str, np.ndarray]


def column_values(batch: pa.RecordBatch, name: str, what: str) -> np.ndarray:
    """Column `name` as float64: (n,) for a flat column, (n, k) for equal-length lists."""
    index = batch.schema.get_field_index(name)
    if index < 0:
        raise EvalInputError(
            f"{what} {name!r} is not in the data; columns are {batch.schema.names}"
        )
    column = batch.column(index)
    if column.null_count:
        first = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise EvalInputError(
            f"{what} {name!r}: {column.null_count} of {len(column)} values are missing "
            f"(first at row {first} of the batch)"
        )
    t = column.type
    try:
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            lengths = set(column.value_lengths().to_pylist())
            if len(lengths) != 1:
                raise EvalInputError(
                    f"{what} {name!r}: lists must all have one length, found {sorted(lengths)}"
                )
            flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
            return flat.reshape(len(column), lengths.pop())
        return column.to_numpy(zero_copy_only=False).astype(np.float64)
    except (ValueError, TypeError, pa.ArrowInvalid) as exc:
        raise EvalInputError(f"{what} {name!r}: expected numbers, found {t}: {exc}") from exc


def _check_predictions(model: str, values: np.ndarray) -> np.ndarray:
    bad = np.isnan(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
        raise EvalInputError(
            f"model {model or '(candidate)'!r}: {len(rows)} NaN predictions in a batch of "
            f"{len(values)} (first at row {rows[0]}); check the model's inputs for missing values"
        )
    return values


def input_columns(config: EvalConfig, predicted: Iterable[str]) -> list[str]:
    """The columns `prepare_batch` reads when the models named in `predicted` are run: label,
    weight, the `prediction_key` columns of the other models, and the slicing features."""
    done = set(predicted)
    names = [config.candidate.label_key, config.candidate.example_weight_key]
    names += [m.prediction_key for m in config.model_specs if m.name not in done]
    names += [c for s in config.slicing_specs for c in s.columns]
    return [n for n in dict.fromkeys(names) if n]


def prepare_batch(
    batch: pa.RecordBatch, config: EvalConfig, predictions: Mapping[str, np.ndarray]
) -> PreparedBatch:
    """Labels, weights, predictions (given, or read from `prediction_key` columns) and the
    slicing columns of one batch, checked: missing keys and NaN predictions raise clearly."""
    cand = config.candidate
    if not cand.label_key:
        raise EvalConfigError("ModelSpec.label_key is empty: name the label column")
    labels = column_values(batch, cand.label_key, "label_key")
    if cand.example_weight_key:
        weights = column_values(batch, cand.example_weight_key, "example_weight_key")
    else:
        weights = np.ones(batch.num_rows, dtype=np.float64)
    preds: dict[str, np.ndarray] = {}
    for spec in config.model_specs:
        if spec.name in predictions:
            values = np.asarray(predictions[spec.name], dtype=np.float64)
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
        elif spec.prediction_key:
            values = column_values(batch, spec.prediction_key, "prediction_key")
        else:
            raise EvalConfigError(
                f"model {spec.name or '(candidate)'!r}: no model given and no prediction_key "
                "column named"
            )
        if len(values) != batch.num_rows:
            raise EvalInputError(
                f"model {spec.name!r}: {len(values)} predictions for {batch.num_rows} examples"
            )
        preds[spec.name] = _check_predictions(spec.name, values)
    names = list(dict.fromkeys(c for s in config.slicing_specs for c in s.columns))
    missing = [c for c in names if c not in batch.schema.names]
    if missing:
        raise EvalInputError(
            f"slicing features {missing} are not in the data; columns are {batch.schema.names}"
        )
    return PreparedBatch(batch.select(names), labels, weights, preds)


class SlicedMetricsCombiner:
    """Per-slice, per-model metric accumulators; mergeable, so Beam can run it on many workers.

    The accumulator maps slice key -> [example count, weight sum, {model: [metric accs]},
    {model: [[metric accs] per bootstrap sample]}].
    """

    def __init__(
        self,
        config: EvalConfig,
        model_paths: Mapping[str, str | os.PathLike[str]] | None = None,
    ) -> None:
        self.config = config
        baseline = config.baseline
        self.models = [m.name for m in config.model_specs]
        self.metrics: dict[str, list[Metric]] = {m: [] for m in self.models}
        compiled: dict[str, list[Metric]] = {}
        if config.options.include_default_metrics:
            compiled = _compiled_metrics(model_paths or {}, set(self.models))
        for spec in config.metrics_specs:
            for model in spec.model_names or self.models:
                is_base = baseline is not None and model == baseline.name
                for metric in build_metrics(spec):
                    if metric.needs_baseline and (is_base or baseline is None):
                        continue
                    self.metrics[model].append(metric)
        for model, extra in compiled.items():
            # As in TFMA, a metric of the eval config replaces the model's one of the same name.
            taken = {n for m in self.metrics[model] for n in m.output_names()}
            kept = [m for m in extra if not taken & set(m.output_names())]
            self.metrics[model][:0] = kept
        for model, metrics in self.metrics.items():
            names = [n for m in metrics for n in m.output_names()]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise EvalConfigError(
                    f"model {model!r}: metrics {dupes} are computed twice; give one a `name`"
                )
        self.thresholds = collect_thresholds(config, _output_names(config.metrics_specs))
        ci = config.options.confidence_intervals
        self.samples = (
            ci.num_bootstrap_samples if config.options.compute_confidence_intervals else 0
        )

    # -- CombineFn interface ------------------------------------------------------------------

    def create_accumulator(self) -> dict[SliceKey, list[Any]]:
        """No slices seen yet."""
        return {}

    def _new_slot(self) -> list[Any]:
        accs = {m: [x.create_accumulator() for x in self.metrics[m]] for m in self.models}
        boot = {
            m: [[x.create_accumulator() for x in self.metrics[m]] for _ in range(self.samples)]
            for m in self.models
        }
        return [0, 0.0, accs, boot]

    def add_input(
        self, accumulator: dict[SliceKey, list[Any]], batch: PreparedBatch
    ) -> dict[SliceKey, list[Any]]:
        """Fold one prepared batch into every slice it touches.

        The inputs of each slicing spec are gathered once and every metric folds all of the
        spec's slices in one call (`Metric.add_grouped_inputs`); with bootstrap samples, slice
        by slice."""
        if self.samples:
            return self._add_input_by_slice(accumulator, batch)
        baseline = self.config.baseline
        base_preds = None if baseline is None else batch.predictions[baseline.name]
        for keys, rows, bounds in slice_partitions(batch.slice_columns, self.config.slicing_specs):
            slots = []
            for key in keys:
                slot = accumulator.get(key)
                if slot is None:
                    slot = accumulator[key] = self._new_slot()
                slots.append(slot)
            labels = batch.labels if rows is None else batch.labels[rows]
            weights = batch.weights if rows is None else batch.weights[rows]
            for slot, (lo, hi) in zip(slots, itertools.pairwise(bounds.tolist()), strict=True):
                slot[0] += hi - lo
                slot[1] += float(weights[lo:hi].sum())
            for model in self.models:
                preds = batch.predictions[model]
                base = None
                if base_preds is not None and baseline is not None and model != baseline.name:
                    base = base_preds if rows is None else base_preds[rows]
                inputs = MetricInputs(labels, preds if rows is None else preds[rows], weights, base)
                for i, metric in enumerate(self.metrics[model]):
                    accs = [slot[2][model][i] for slot in slots]
                    accs = metric.add_grouped_inputs(accs, inputs, bounds)
                    for slot, acc in zip(slots, accs, strict=True):
                        slot[2][model][i] = acc
        return accumulator

    def _add_input_by_slice(
        self, accumulator: dict[SliceKey, list[Any]], batch: PreparedBatch
    ) -> dict[SliceKey, list[Any]]:
        baseline = self.config.baseline
        base_preds = None if baseline is None else batch.predictions[baseline.name]
        for key, rows in slice_groups(batch.slice_columns, self.config.slicing_specs):
            slot = accumulator.get(key)
            if slot is None:
                slot = accumulator[key] = self._new_slot()
            labels = batch.labels if rows is None else batch.labels[rows]
            weights = batch.weights if rows is None else batch.weights[rows]
            slot[0] += len(weights)
            slot[1] += float(weights.sum())
            draws = self._draws(key, labels) if self.samples else None
            for model in self.models:
                preds = batch.predictions[model]
                base = None
                if base_preds is not None and baseline is not None and model != baseline.name:
                    base = base_preds if rows is None else base_preds[rows]
                inputs = MetricInputs(labels, preds if rows is None else preds[rows], weights, base)
                accs = slot[2][model]
                for i, metric in enumerate(self.metrics[model]):
                    accs[i] = metric.add_input(accs[i], inputs)
                if draws is not None:
                    for s, sample_accs in enumerate(slot[3][model]):
                        resampled = replace(inputs, weights=weights * draws[s])
                        for i, metric in enumerate(self.metrics[model]):
                            sample_accs[i] = metric.add_input(sample_accs[i], resampled)
        return accumulator

    def _draws(self, key: SliceKey, labels: np.ndarray) -> np.ndarray:
        """Poisson(1) resampling weights, seeded by the slice and the batch content."""
        seed = zlib.crc32(repr(key).encode() + labels.tobytes())
        seed ^= self.config.options.confidence_intervals.seed
        rng = np.random.default_rng(seed)
        return rng.poisson(1.0, size=(self.samples, len(labels))).astype(np.float64)

    def merge_accumulators(
        self, accumulators: Iterable[dict[SliceKey, list[Any]]]
    ) -> dict[SliceKey, list[Any]]:
        """One accumulator holding every slice of every input."""
        grouped: dict[SliceKey, list[list[Any]]] = {}
        for acc in accumulators:
            for key, slot in acc.items():
                grouped.setdefault(key, []).append(slot)
        out: dict[SliceKey, list[Any]] = {}
        for key, slots in grouped.items():
            if len(slots) == 1:
                out[key] = slots[0]
                continue
            accs = {
                m: [
                    metric.merge_accumulators([s[2][m][i] for s in slots])
                    for i, metric in enumerate(self.metrics[m])
                ]
                for m in self.models
            }
            boot = {
                m: [
                    [
                        metric.merge_accumulators([s[3][m][b][i] for s in slots])
                        for i, metric in enumerate(self.metrics[m])
                    ]
                    for b in range(self.samples)
                ]
                for m in self.models
            }
            out[key] = [sum(s[0] for s in slots), sum(s[1] for s in slots), accs, boot]
        return out

    def extract_output(self, accumulator: dict[SliceKey, list[Any]]) -> EvalResult:
        """Metrics per slice and model, the empty slices asked for, and the validation."""
        options = self.config.options
        slices: list[SliceMetrics] = []
        keys = sorted(accumulator, key=lambda k: (len(k), slice_key_str(k)))
        for key in keys:
            count, weighted, accs, boot = accumulator[key]
            for model in self.models:
                if count < options.min_slice_size:
                    note = f"omitted: {count} examples < min_slice_size {options.min_slice_size}"
                    slices.append(
                        SliceMetrics(
                            slice_key=key,
                            model_name=model,
                            example_count=count,
                            weighted_example_count=weighted,
                            note=note,
                        )
                    )
                    continue
                values = self._outputs(model, accs[model])
                scalars = {k: float(v) for k, v in values.items() if not isinstance(v, dict)}
                plots = {k: v for k, v in values.items() if isinstance(v, dict)}
                intervals = self._intervals(model, boot[model], scalars)
                slices.append(
                    SliceMetrics(
                        slice_key=key,
                        model_name=model,
                        example_count=count,
                        weighted_example_count=weighted,
                        metrics=scalars,
                        plots=plots,
                        confidence_intervals=intervals,
                    )
                )
        slices.extend(self._empty_slices(set(accumulator)))
        table = {(s.slice_key, s.model_name): s.metrics for s in slices}
        notes = {(s.slice_key, s.model_name): s.note for s in slices if s.note}
        validation = validate_metrics(self.config, self.thresholds, table, notes)
        return EvalResult(eval_config=self.config, slices=tuple(slices), validation=validation)

    # -- helpers --------------------------------------------------------------------------------

    def _outputs(self, model: str, accs: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for metric, acc in zip(self.metrics[model], accs, strict=True):
            out.update(metric.extract_output(acc))
        return out

    def _intervals(
        self, model: str, samples: list[list[Any]], scalars: Mapping[str, float]
    ) -> dict[str, tuple[float, float]]:
        if not samples:
            return {}
        per_sample = [self._outputs(model, accs) for accs in samples]
        alpha = (1.0 - self.config.options.confidence_intervals.confidence_level) / 2.0
        out: dict[str, tuple[float, float]] = {}
        for name in scalars:
            vals = np.array([float(s[name]) for s in per_sample])
            vals = vals[~np.isnan(vals)]
            if vals.size:
                lo, hi = np.quantile(vals, [alpha, 1.0 - alpha])
                out[name] = (float(lo), float(hi))
        return out

    def _empty_slices(self, seen: set[SliceKey]) -> Iterator[SliceMetrics]:
        wanted: list[SliceKey] = []
        for spec in self.config.slicing_specs:
            if spec.is_overall:
                wanted.append(())
            elif not spec.feature_keys:
                wanted.append(tuple(spec.feature_values.items()))
        seen_text = {tuple((k, str(v)) for k, v in key) for key in seen}
        for key in dict.fromkeys(wanted):
            if tuple((k, str(v)) for k, v in key) in seen_text:
                continue
            for model in self.models:
                yield SliceMetrics(
                    slice_key=key,
                    model_name=model,
                    example_count=0,
                    weighted_example_count=0.0,
                    note="empty slice: no examples match",
                )


def _compiled_metrics(
    model_paths: Mapping[str, str | os.PathLike[str]], models: set[str]
) -> dict[str, list[Metric]]:
    """The compiled Keras loss and metrics of each model in `model_paths` that records them."""
    from headwater.model_analysis.keras_compiled import compiled_metrics, read_training_config

    out: dict[str, list[Metric]] = {}
    for name, path in model_paths.items():
        if name not in models:
            continue
        training_config = read_training_config(path)
        if training_config is not None:
            out[name] = compiled_metrics(training_config, f"model {name!r} ({os.fspath(path)})")
    return out


def _output_names(specs: tuple[MetricsSpec, ...]) -> dict[int, list[tuple[str, ...]]]:
    """Output names per metrics spec, per metric config (thresholds are matched on them)."""
    out: dict[int, list[tuple[str, ...]]] = {}
    for i, spec in enumerate(specs):
        out[i] = [
            tuple(n for m in build_metrics(replace(spec, metrics=(mc,))) for n in m.output_names())
            for mc in spec.metrics
        ]
    return out
