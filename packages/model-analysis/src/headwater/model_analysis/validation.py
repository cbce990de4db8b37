"""Thresholds checked against the sliced metrics, and the blessing rule.

The rule: a candidate is blessed iff no threshold outcome is FAILED. Every threshold on
every matching slice yields one outcome (metric, slice, model, value, bound, status,
reason). A change threshold with no baseline model is SKIPPED (the first run of a
pipeline has nothing to compare with); a NaN value or an empty slice FAILS. With no
thresholds at all the candidate is blessed, and the result says so.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.model_analysis.config import (
    EvalConfig,
    GenericChangeThreshold,
    GenericValueThreshold,
    MetricDirection,
    MetricThreshold,
    SlicingSpec,
)
from headwater.model_analysis.errors import EvalConfigError
from headwater.model_analysis.slicing import SliceKey, slice_key_str

__all__ = [
    "ThresholdOutcome",
    "ThresholdStatus",
    "ValidationResult",
    "collect_thresholds",
    "validate_metrics",
    "write_blessing",
]


class ThresholdStatus(enum.Enum):
    """Outcome of one threshold on one slice."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True, kw_only=True)
class ThresholdOutcome:
    """One threshold checked on one slice of one model."""

    metric_name: str
    slice_key: SliceKey
    model_name: str
    kind: str
    """"value" or "change"."""
    value: float | None
    baseline_value: float | None
    bound: Mapping[str, Any]
    status: ThresholdStatus
    reason: str

    @property
    def slice_name(self) -> str:
        """The slice as "Overall" or "feature=value"."""
        return slice_key_str(self.slice_key)


@dataclass(frozen=True, kw_only=True)
class ValidationResult:
    """All threshold outcomes and the blessing decision (blessed iff none FAILED)."""

    validation_ok: bool
    outcomes: tuple[ThresholdOutcome, ...] = ()
    reason: str = ""
    missing_slices: tuple[str, ...] = field(default=())

    @property
    def blessed(self) -> bool:
        """Same as `validation_ok`."""
        return self.validation_ok

    @property
    def failures(self) -> tuple[ThresholdOutcome, ...]:
        """The FAILED outcomes."""
        return tuple(o for o in self.outcomes if o.status is ThresholdStatus.FAILED)


@dataclass(frozen=True)
class _Threshold:
    metric_name: str
    model_names: tuple[str, ...]
    slicing_specs: tuple[SlicingSpec, ...]
    threshold: MetricThreshold


def collect_thresholds(
    config: EvalConfig, output_names: Mapping[int, Sequence[tuple[str, ...]]]
) -> list[_Threshold]:
    """Every threshold of `config`, resolved to metric output names.

    `output_names[i][j]` are the output names of metric j of metrics spec i. A threshold on a
    name no metric produces raises `EvalConfigError` naming it and the known names.
    """
    candidates = tuple(m.name for m in config.model_specs if not m.is_baseline)
    overall: tuple[SlicingSpec, ...] = (SlicingSpec(),)
    out: list[_Threshold] = []
    for i, spec in enumerate(config.metrics_specs):
        models = tuple(n for n in (spec.model_names or candidates) if n in candidates)
        known = [n for names in output_names.get(i, ()) for n in names]
        for j, mc in enumerate(spec.metrics):
            names = output_names[i][j] if i in output_names and j < len(output_names[i]) else ()
            pairs: list[tuple[tuple[SlicingSpec, ...], MetricThreshold]] = []
            if mc.threshold is not None:
                pairs.append((overall, mc.threshold))
            pairs += [(p.slicing_specs, p.threshold) for p in mc.per_slice_thresholds]
            for specs, threshold in pairs:
                out.extend(_Threshold(n, models, specs, threshold) for n in names)
        items: list[tuple[str, tuple[SlicingSpec, ...], MetricThreshold]] = [
            (name, overall, t) for name, t in spec.thresholds.items()
        ]
        items += [
            (name, p.slicing_specs, p.threshold)
            for name, ps in spec.per_slice_thresholds.items()
            for p in ps
        ]
        for name, specs, threshold in items:
            if name not in known:
                raise EvalConfigError(
                    f"threshold on unknown metric {name!r} in metrics_specs[{i}]; metrics "
                    f"computed there: {known}"
                )
            out.append(_Threshold(name, models, specs, threshold))
    return out


def _matches(spec: SlicingSpec, key: SliceKey) -> bool:
    if spec.is_overall:
        return key == ()
    keys = dict(key)
    if set(keys) != set(spec.columns):
        return False
    return all(str(keys[k]) == v for k, v in spec.feature_values.items())


def _value_check(value: float, t: GenericValueThreshold) -> tuple[bool, str]:
    lo = -math.inf if t.lower_bound is None else t.lower_bound
    hi = math.inf if t.upper_bound is None else t.upper_bound
    ok = lo <= value <= hi
    return ok, f"{value:.6g} {'in' if ok else 'not in'} [{lo:g}, {hi:g}]"


def _change_check(value: float, base: float, t: GenericChangeThreshold) -> tuple[bool, str]:
    diff = value - base
    if base != 0:
        ratio = diff / abs(base)
    elif diff == 0:
        ratio = 0.0
    else:
        ratio = math.copysign(math.inf, diff)
    higher = t.direction is MetricDirection.HIGHER_IS_BETTER
    checks: list[str] = []
    ok = True
    if t.absolute is not None:
        good = diff >= t.absolute if higher else diff <= t.absolute
        ok &= good
        checks.append(f"diff {diff:+.6g} {'>=' if higher else '<='} {t.absolute:g}: {good}")
    if t.relative is not None:
        good = ratio >= t.relative if higher else ratio <= t.relative
        ok &= good
        checks.append(f"relative {ratio:+.6g} {'>=' if higher else '<='} {t.relative:g}: {good}")
    return ok, f"candidate {value:.6g} vs baseline {base:.6g}: " + "; ".join(checks)


def validate_metrics(
    config: EvalConfig,
    thresholds: Sequence[_Threshold],
    metrics: Mapping[tuple[SliceKey, str], Mapping[str, float]],
    notes: Mapping[tuple[SliceKey, str], str],
) -> ValidationResult:
    """Check every threshold on every matching slice; `metrics[(slice, model)]` are scalars."""
    if not thresholds:
        return ValidationResult(
            validation_ok=True,
            reason="no thresholds configured: blessed by default (blessed iff every "
            "threshold passes; with none, nothing fails)",
        )
    baseline = config.baseline
    outcomes: list[ThresholdOutcome] = []
    missing: list[str] = []
    for th in thresholds:
        for model in th.model_names:
            keys = [k for (k, m) in metrics if m == model]
            for spec in th.slicing_specs:
                matched = [k for k in keys if _matches(spec, k)]
                if not matched:
                    missing.append(f"{th.metric_name} on {spec.columns or 'Overall'}")
                for key in matched:
                    base_name = baseline.name if baseline is not None else None
                    outcomes.extend(_check(th, key, model, base_name, metrics, notes))
    failed = [o for o in outcomes if o.status is ThresholdStatus.FAILED]
    if failed:
        reason = f"NOT blessed: {len(failed)} of {len(outcomes)} threshold checks failed"
    else:
        skipped = sum(o.status is ThresholdStatus.SKIPPED for o in outcomes)
        reason = f"blessed: all {len(outcomes) - skipped} threshold checks passed"
        if skipped:
            reason += f" ({skipped} skipped)"
    return ValidationResult(
        validation_ok=not failed,
        outcomes=tuple(outcomes),
        reason=reason,
        missing_slices=tuple(dict.fromkeys(missing)),
    )


def _check(
    th: _Threshold,
    key: SliceKey,
    model: str,
    baseline: str | None,
    metrics: Mapping[tuple[SliceKey, str], Mapping[str, float]],
    notes: Mapping[tuple[SliceKey, str], str],
) -> list[ThresholdOutcome]:
    values = metrics[(key, model)]
    note = notes.get((key, model), "")
    value = values.get(th.metric_name)
    out: list[ThresholdOutcome] = []
    t = th.threshold
    if t.value_threshold is not None:
        bound = {
            "lower_bound": t.value_threshold.lower_bound,
            "upper_bound": t.value_threshold.upper_bound,
        }
        if value is None and note.startswith("omitted"):
            status, why = ThresholdStatus.SKIPPED, note
        elif value is None or math.isnan(value):
            status, why = ThresholdStatus.FAILED, note or f"{th.metric_name} is undefined (NaN)"
        else:
            ok, why = _value_check(value, t.value_threshold)
            status = ThresholdStatus.PASSED if ok else ThresholdStatus.FAILED
        out.append(
            ThresholdOutcome(
                metric_name=th.metric_name,
                slice_key=key,
                model_name=model,
                kind="value",
                value=value,
                baseline_value=None,
                bound=bound,
                status=status,
                reason=why,
            )
        )
    if t.change_threshold is not None:
        c = t.change_threshold
        change_bound: dict[str, Any] = {
            "direction": c.direction.value,
            "absolute": c.absolute,
            "relative": c.relative,
        }
        base = None
        if baseline is None:
            status, why = ThresholdStatus.SKIPPED, "no baseline model: change threshold skipped"
        else:
            base = metrics.get((key, baseline), {}).get(th.metric_name)
            if value is None or math.isnan(value):
                status, why = ThresholdStatus.FAILED, note or "candidate value is undefined (NaN)"
            elif base is None or math.isnan(base):
                status, why = ThresholdStatus.FAILED, "baseline value is undefined (NaN)"
            else:
                ok, why = _change_check(value, base, c)
                status = ThresholdStatus.PASSED if ok else ThresholdStatus.FAILED
        out.append(
            ThresholdOutcome(
                metric_name=th.metric_name,
                slice_key=key,
                model_name=model,
                kind="change",
                value=value,
                baseline_value=base,
                bound=change_bound,
                status=status,
                reason=why,
            )
        )
    return out


BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"


def write_blessing(directory: str | os.PathLike[str], validation: ValidationResult) -> str:
    """Write TFX's `BLESSED` or `NOT_BLESSED` marker in `directory`; its text says why.

    TFX readers test only for the file's existence; the reason inside is for people.
    Returns the file name written.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    name = BLESSED_FILE if validation.validation_ok else NOT_BLESSED_FILE
    lines = [validation.reason]
    lines += [f"FAILED {o.metric_name} on {o.slice_name}: {o.reason}" for o in validation.failures]
    (out / name).write_text("\n".join(lines) + "\n")
    return name
