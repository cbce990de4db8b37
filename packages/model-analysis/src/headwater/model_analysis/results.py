"""`EvalResult`: metrics per slice and model, the validation outcome, and their files.

Written to an output directory (the ModelEvaluation artifact's URI) as JSON, one file per
kind as TFMA splits them: `headwater_eval_config.json`, `headwater_metrics.json` (scalars and
confidence intervals per slice), `headwater_plots.json` (structured values: calibration,
confusion matrices), `headwater_validations.json` (every threshold outcome and the blessing
decision). NaN is written as null (and infinities too). `load_eval_result(path)` reads them back
(and the unprefixed names older Headwater versions wrote). Beside them go TFMA's own files
(`eval_config.json`, `metrics-*.tfrecord`, `plots-*.tfrecord`, `validations-*.tfrecord`, see
`headwater.model_analysis.tfma_files`), so `tfma.load_eval_result(path)` and
`tfma.load_validation_result(path)` read the result; the JSON files carry the `headwater_`
prefix because TFMA globs `metrics*`, `plots*` and `validations*`.
"""

from __future__ import annotations

import json
import math
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.io import filesystems, write_atomic
from headwater.model_analysis.config import EvalConfig
from headwater.model_analysis.slicing import SliceKey, SliceValue, slice_key_str
from headwater.model_analysis.tfma_files import has_tfma_files, read_tfma_files, write_tfma_files
from headwater.model_analysis.validation import (
    ThresholdOutcome,
    ThresholdStatus,
    ValidationResult,
)

__all__ = ["EvalResult", "SliceMetrics", "load_eval_result", "write_eval_result"]

FORMAT = "headwater.model_analysis/v1"
METRICS_FILE, PLOTS_FILE = "headwater_metrics.json", "headwater_plots.json"
VALIDATIONS_FILE, CONFIG_FILE = "headwater_validations.json", "headwater_eval_config.json"
_OLD_NAMES = {
    METRICS_FILE: "metrics.json",
    PLOTS_FILE: "plots.json",
    VALIDATIONS_FILE: "validations.json",
    CONFIG_FILE: "eval_config.json",
}
"""Where Headwater before TFMA's files kept the same JSON; still read."""


@dataclass(frozen=True, kw_only=True)
class SliceMetrics:
    """Metrics of one model on one slice."""

    slice_key: SliceKey
    model_name: str
    example_count: int
    weighted_example_count: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    plots: Mapping[str, Any] = field(default_factory=dict)
    confidence_intervals: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """Metric name -> (lower, upper) bootstrap bounds."""
    note: str = ""
    """Why metrics are missing: an empty slice, or one below `min_slice_size`."""

    @property
    def slice_name(self) -> str:
        """ "Overall" or "feature=value,..."."""
        return slice_key_str(self.slice_key)


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """Everything one evaluation produced."""

    eval_config: EvalConfig
    slices: tuple[SliceMetrics, ...]
    validation: ValidationResult

    def get(self, slice_key: SliceKey = (), model_name: str | None = None) -> SliceMetrics:
        """Metrics of one slice (default overall) for one model (default the candidate)."""
        model = self.eval_config.candidate.name if model_name is None else model_name
        wanted = tuple((k, str(v)) for k, v in slice_key)
        for s in self.slices:
            if s.model_name == model and tuple((k, str(v)) for k, v in s.slice_key) == wanted:
                return s
        raise KeyError(f"no slice {slice_key_str(slice_key)!r} for model {model!r}")

    @property
    def slice_keys(self) -> list[SliceKey]:
        """Distinct slice keys, in result order."""
        return list(dict.fromkeys(s.slice_key for s in self.slices))

    @property
    def slicing_metrics(self) -> list[tuple[SliceKey, Mapping[str, float]]]:
        """TFMA-style (slice key, candidate metrics) pairs."""
        cand = self.eval_config.candidate.name
        return [(s.slice_key, s.metrics) for s in self.slices if s.model_name == cand]

    def to_html(self) -> str:
        """A self-contained HTML report (tables, plots, validation)."""
        from headwater.model_analysis.report import render_html

        return render_html(self)

    def _repr_html_(self) -> str:
        return self.to_html()


def _clean(v: Any) -> Any:
    """NaN and infinities -> None (JSON has neither); fast on long float lists."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        # A finite sum of numbers means each is finite (an inf or NaN would make the sum
        # inf or NaN); containers, strings and None make `sum` raise and take the slow path.
        try:
            finite = math.isfinite(sum(v))
        except (TypeError, OverflowError):
            finite = False
        if finite:
            return list(v)
        if all(type(x) is float for x in v):
            return [x if x - x == 0.0 else None for x in v]
        return [_clean(x) for x in v]
    return v


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _write_json(path: str, data: Any) -> None:
    text = json.dumps(_clean(data), allow_nan=False, separators=(",", ":"))
    write_atomic(path, text.encode("utf-8"))


def _key_json(key: SliceKey) -> list[list[SliceValue | str]]:
    return [[k, v] for k, v in key]


def _key_from_json(data: list[list[Any]]) -> SliceKey:
    return tuple((str(k), v) for k, v in data)


def write_eval_result(result: EvalResult, output_path: str | os.PathLike[str]) -> Path | str:
    """Write `result` as the four JSON files under `output_path` (created if needed).

    `output_path` may be a URL (`s3://bucket/eval`): each file is then published through
    `headwater.io.filesystems` (uploaded under a temporary key, copied into place). Returns the
    directory (a Path, or the URL).
    """
    out = os.fspath(output_path)
    if not filesystems.is_url(out):
        Path(out).mkdir(parents=True, exist_ok=True)
    head = {"format": FORMAT}
    common = [
        {
            "slice_key": _key_json(s.slice_key),
            "slice_name": s.slice_name,
            "model_name": s.model_name,
            "example_count": s.example_count,
            "weighted_example_count": s.weighted_example_count,
        }
        for s in result.slices
    ]
    metrics = [
        {
            **c,
            "metrics": dict(s.metrics),
            "note": s.note,
            "confidence_intervals": {k: list(v) for k, v in s.confidence_intervals.items()},
        }
        for c, s in zip(common, result.slices, strict=True)
    ]
    plots = [
        {**c, "plots": dict(s.plots)} for c, s in zip(common, result.slices, strict=True) if s.plots
    ]
    v = result.validation
    validations = {
        "validation_ok": v.validation_ok,
        "reason": v.reason,
        "missing_slices": list(v.missing_slices),
        "outcomes": [
            {
                "metric_name": o.metric_name,
                "slice_key": _key_json(o.slice_key),
                "slice_name": o.slice_name,
                "model_name": o.model_name,
                "kind": o.kind,
                "value": o.value,
                "baseline_value": o.baseline_value,
                "bound": dict(o.bound),
                "status": o.status.value,
                "reason": o.reason,
            }
            for o in v.outcomes
        ],
    }
    _write_json(filesystems.join(out, CONFIG_FILE), result.eval_config.to_dict())
    _write_json(filesystems.join(out, METRICS_FILE), {**head, "slices": metrics})
    _write_json(filesystems.join(out, PLOTS_FILE), {**head, "slices": plots})
    _write_json(filesystems.join(out, VALIDATIONS_FILE), {**head, **validations})
    write_tfma_files(result, out)
    return out if filesystems.is_url(out) else Path(out)


def _is_file(path: str) -> bool:
    return filesystems.exists(path) if filesystems.is_url(path) else os.path.isfile(path)


def load_eval_result(output_path: str | os.PathLike[str]) -> EvalResult:
    """Read back what `write_eval_result` (or the Evaluator) wrote under `output_path`."""
    out = os.fspath(output_path)

    def path(name: str) -> str:
        new = filesystems.join(out, name)
        old = filesystems.join(out, _OLD_NAMES.get(name, name))
        return new if _is_file(new) or not _is_file(old) else old

    config_file = CONFIG_FILE
    missing = [n for n in (config_file, METRICS_FILE, VALIDATIONS_FILE) if not _is_file(path(n))]
    if missing and has_tfma_files(out):  # written by TFMA / TFX's Evaluator
        return typing.cast(EvalResult, read_tfma_files(out))
    if missing:
        raise FileNotFoundError(f"{out}: not an evaluation result, missing {missing}")
    config_data = json.loads(filesystems.read_bytes(path(config_file)))
    if "evalConfig" in config_data:  # TFMA's EvalRun wrapper
        config_data = config_data["evalConfig"]
    config = EvalConfig.from_dict(config_data)
    metrics = json.loads(filesystems.read_bytes(path(METRICS_FILE)))
    plots_path = path(PLOTS_FILE)
    plots = (
        json.loads(filesystems.read_bytes(plots_path)) if _is_file(plots_path) else {"slices": []}
    )
    plot_by_key = {
        (json.dumps(p["slice_key"]), p["model_name"]): p["plots"] for p in plots["slices"]
    }
    slices = tuple(
        SliceMetrics(
            slice_key=_key_from_json(m["slice_key"]),
            model_name=m["model_name"],
            example_count=int(m["example_count"]),
            weighted_example_count=float(m["weighted_example_count"]),
            metrics={k: _nan(x) for k, x in m["metrics"].items()},
            plots=plot_by_key.get((json.dumps(m["slice_key"]), m["model_name"]), {}),
            confidence_intervals={
                k: (_nan(a), _nan(b)) for k, (a, b) in m["confidence_intervals"].items()
            },
            note=m.get("note", ""),
        )
        for m in metrics["slices"]
    )
    v = json.loads(filesystems.read_bytes(path(VALIDATIONS_FILE)))
    validation = ValidationResult(
        validation_ok=bool(v["validation_ok"]),
        reason=v["reason"],
        missing_slices=tuple(v.get("missing_slices", ())),
        outcomes=tuple(
            ThresholdOutcome(
                metric_name=o["metric_name"],
                slice_key=_key_from_json(o["slice_key"]),
                model_name=o["model_name"],
                kind=o["kind"],
                value=o["value"],
                baseline_value=o["baseline_value"],
                bound=o["bound"],
                status=ThresholdStatus(o["status"]),
                reason=o["reason"],
            )
            for o in v["outcomes"]
        ),
    )
    return EvalResult(eval_config=config, slices=slices, validation=validation)
