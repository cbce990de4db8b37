"""`EvalConfig`: what to evaluate, per slice, and the thresholds a candidate must meet.

The field names are TFMA's (`model_specs`, `slicing_specs`, `metrics_specs`, `options`),
so a TFMA/TFX `eval_config` written as JSON or YAML loads unchanged: keys may be
snake_case or camelCase (protobuf JSON), and wrapped scalars (`{"value": 0.5}`) unwrap.
Everything is a frozen dataclass validated on construction.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.model_analysis.errors import EvalConfigError

__all__ = [
    "AggregationOptions",
    "BinarizationOptions",
    "ConfidenceIntervalOptions",
    "EvalConfig",
    "GenericChangeThreshold",
    "GenericValueThreshold",
    "MetricConfig",
    "MetricDirection",
    "MetricThreshold",
    "MetricsSpec",
    "ModelSpec",
    "Options",
    "PerSliceMetricThreshold",
    "SlicingSpec",
    "as_eval_config",
    "load_eval_config",
    "resolve_model_specs",
]


class MetricDirection(enum.Enum):
    """Which way a metric improves, for change thresholds against the baseline."""

    HIGHER_IS_BETTER = "HIGHER_IS_BETTER"
    LOWER_IS_BETTER = "LOWER_IS_BETTER"


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One model: where its labels, predictions and weights are, and whether it is the baseline."""

    name: str = ""
    """Model name; empty for a single-model evaluation ("" is the candidate)."""
    label_key: str = ""
    prediction_key: str = ""
    """Output of the signature (or, with no model, a column of the data) holding predictions."""
    example_weight_key: str = ""
    signature_name: str = "serving_default"
    is_baseline: bool = False


@dataclass(frozen=True, kw_only=True)
class SlicingSpec:
    """A slice family: overall (empty), one slice per value of `feature_keys` (a cross when
    several), or only the examples whose features equal `feature_values`."""

    feature_keys: tuple[str, ...] = ()
    feature_values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_keys", tuple(self.feature_keys))
        object.__setattr__(
            self, "feature_values", {k: str(v) for k, v in dict(self.feature_values).items()}
        )
        overlap = set(self.feature_keys) & set(self.feature_values)
        if overlap:
            raise EvalConfigError(
                f"SlicingSpec: {sorted(overlap)} is in both feature_keys and feature_values; "
                "name each feature once"
            )

    @property
    def is_overall(self) -> bool:
        """True for the empty spec, which is the whole dataset."""
        return not self.feature_keys and not self.feature_values

    @property
    def columns(self) -> tuple[str, ...]:
        """Every feature this spec reads, in slice-key order."""
        return (*self.feature_keys, *self.feature_values)


@dataclass(frozen=True, kw_only=True)
class GenericValueThreshold:
    """The metric must lie in [lower_bound, upper_bound] (unset bounds are infinite)."""

    lower_bound: float | None = None
    upper_bound: float | None = None

    def __post_init__(self) -> None:
        if self.lower_bound is None and self.upper_bound is None:
            raise EvalConfigError("GenericValueThreshold needs lower_bound or upper_bound")
        if (
            self.lower_bound is not None
            and self.upper_bound is not None
            and self.lower_bound > self.upper_bound
        ):
            raise EvalConfigError(
                f"GenericValueThreshold: lower_bound {self.lower_bound} > upper_bound "
                f"{self.upper_bound}"
            )


@dataclass(frozen=True, kw_only=True)
class GenericChangeThreshold:
    """Candidate vs baseline: with HIGHER_IS_BETTER, pass iff `candidate - baseline >= absolute`
    and `(candidate - baseline) / baseline >= relative`; LOWER_IS_BETTER flips both to `<=`."""

    direction: MetricDirection
    absolute: float | None = None
    relative: float | None = None

    def __post_init__(self) -> None:
        if self.absolute is None and self.relative is None:
            raise EvalConfigError("GenericChangeThreshold needs absolute or relative")


@dataclass(frozen=True, kw_only=True)
class MetricThreshold:
    """A value threshold, a change threshold, or both."""

    value_threshold: GenericValueThreshold | None = None
    change_threshold: GenericChangeThreshold | None = None

    def __post_init__(self) -> None:
        if self.value_threshold is None and self.change_threshold is None:
            raise EvalConfigError("MetricThreshold needs value_threshold or change_threshold")


@dataclass(frozen=True, kw_only=True)
class PerSliceMetricThreshold:
    """A threshold that applies to the slices matching `slicing_specs`."""

    slicing_specs: tuple[SlicingSpec, ...]
    threshold: MetricThreshold


@dataclass(frozen=True, kw_only=True)
class MetricConfig:
    """A metric by class name, with its constructor options in `config`."""

    class_name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of the metric class, e.g. {"thresholds": [0.3, 0.5]}; a JSON string
    (TFMA's form) is accepted too."""
    module: str = ""
    """Module defining a custom metric class, imported before lookup."""
    threshold: MetricThreshold | None = None
    """Applies to the overall slice (as in TFMA)."""
    per_slice_thresholds: tuple[PerSliceMetricThreshold, ...] = ()

    def __post_init__(self) -> None:
        cfg: Any = self.config
        if isinstance(cfg, str):
            try:
                cfg = json.loads(cfg) if cfg.strip() else {}
            except json.JSONDecodeError as exc:
                raise EvalConfigError(
                    f"MetricConfig {self.class_name!r}: config is not valid JSON: {exc}"
                ) from exc
        if not isinstance(cfg, Mapping):
            raise EvalConfigError(
                f"MetricConfig {self.class_name!r}: config must be a mapping, found "
                f"{type(cfg).__name__}"
            )
        object.__setattr__(self, "config", dict(cfg))


@dataclass(frozen=True, kw_only=True)
class BinarizationOptions:
    """Turn a multi-class problem into binary ones: one per class id / top-k / k-th class."""

    class_ids: tuple[int, ...] = ()
    top_k_list: tuple[int, ...] = ()
    k_list: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AggregationOptions:
    """Aggregate a binary metric over classes: micro, macro, or label-frequency-weighted macro."""

    micro_average: bool = False
    macro_average: bool = False
    weighted_macro_average: bool = False
    class_weights: Mapping[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        chosen = [self.micro_average, self.macro_average, self.weighted_macro_average]
        if sum(chosen) > 1:
            raise EvalConfigError(
                "AggregationOptions: choose one of micro_average, macro_average, "
                "weighted_macro_average"
            )
        object.__setattr__(
            self, "class_weights", {int(k): float(v) for k, v in self.class_weights.items()}
        )


@dataclass(frozen=True, kw_only=True)
class MetricsSpec:
    """A group of metrics for some models, optionally binarized or aggregated over classes."""

    metrics: tuple[MetricConfig, ...] = ()
    model_names: tuple[str, ...] = ()
    """Models these metrics are computed for; empty means every model."""
    binarize: BinarizationOptions | None = None
    aggregate: AggregationOptions | None = None
    thresholds: Mapping[str, MetricThreshold] = field(default_factory=dict)
    """Thresholds by metric output name (overall slice)."""
    per_slice_thresholds: Mapping[str, tuple[PerSliceMetricThreshold, ...]] = field(
        default_factory=dict
    )


@dataclass(frozen=True, kw_only=True)
class ConfidenceIntervalOptions:
    """Poisson bootstrap: each example reweighted by Poisson(1) draws in every resample."""

    method: str = "POISSON_BOOTSTRAP"
    num_bootstrap_samples: int = 20
    confidence_level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method != "POISSON_BOOTSTRAP":
            raise EvalConfigError(
                f"confidence_intervals.method: only POISSON_BOOTSTRAP is supported, found "
                f"{self.method!r}"
            )
        if self.num_bootstrap_samples < 2:
            raise EvalConfigError("confidence_intervals.num_bootstrap_samples must be >= 2")
        if not 0.0 < self.confidence_level < 1.0:
            raise EvalConfigError("confidence_intervals.confidence_level must be in (0, 1)")


@dataclass(frozen=True, kw_only=True)
class Options:
    """Run options: default metrics, bootstrap confidence intervals, the smallest slice reported."""

    include_default_metrics: bool = True
    """Also evaluate the loss and metrics a Keras model was compiled with (TFMA's option of the
    same name); False evaluates only `metrics_specs`."""
    compute_confidence_intervals: bool = False
    confidence_intervals: ConfidenceIntervalOptions = field(
        default_factory=ConfidenceIntervalOptions
    )
    min_slice_size: int = 1
    """Slices with fewer (unweighted) examples are reported without metrics."""

    def __post_init__(self) -> None:
        if self.min_slice_size < 1:
            raise EvalConfigError(f"min_slice_size must be >= 1, found {self.min_slice_size}")


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """Models, slices, metrics and thresholds of one evaluation.

    Example:
        config = EvalConfig(
            model_specs=(ModelSpec(label_key="big_tipper"),),
            slicing_specs=(SlicingSpec(), SlicingSpec(feature_keys=("payment_type",))),
            metrics_specs=(MetricsSpec(metrics=(MetricConfig(class_name="AUC"),)),),
        )
    """

    model_specs: tuple[ModelSpec, ...] = (ModelSpec(),)
    slicing_specs: tuple[SlicingSpec, ...] = (SlicingSpec(),)
    metrics_specs: tuple[MetricsSpec, ...] = ()
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        for name in ("model_specs", "slicing_specs", "metrics_specs"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.model_specs:
            raise EvalConfigError("EvalConfig.model_specs: at least one model spec is needed")
        if not self.slicing_specs:
            object.__setattr__(self, "slicing_specs", (SlicingSpec(),))
        names = [m.name for m in self.model_specs]
        if len(set(names)) != len(names):
            raise EvalConfigError(f"EvalConfig.model_specs: model names repeat: {names}")
        baselines = [m.name for m in self.model_specs if m.is_baseline]
        if len(baselines) > 1:
            raise EvalConfigError(f"EvalConfig: more than one baseline model: {baselines}")
        if len(self.model_specs) > 1 and any(not n for n in names):
            raise EvalConfigError("EvalConfig: with several models, every model spec needs a name")
        for spec in self.metrics_specs:
            unknown = set(spec.model_names) - set(names)
            if unknown:
                raise EvalConfigError(
                    f"MetricsSpec.model_names {sorted(unknown)} not among model_specs {names}"
                )

    @property
    def candidate(self) -> ModelSpec:
        """The first model that is not the baseline."""
        return next(m for m in self.model_specs if not m.is_baseline)

    @property
    def baseline(self) -> ModelSpec | None:
        """The baseline model spec, if any."""
        return next((m for m in self.model_specs if m.is_baseline), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (snake_case keys), the inverse of `from_dict`."""
        return typing.cast(dict[str, Any], _to_plain(self))

    def to_json(self) -> str:
        """JSON text of `to_dict()`."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalConfig:
        """Build from a dict (snake_case or TFMA's camelCase protobuf-JSON keys)."""
        return typing.cast(EvalConfig, _from_plain(cls, data, "EvalConfig"))

    @classmethod
    def from_json(cls, text: str) -> EvalConfig:
        """Parse JSON text (TFX's `eval_config.json` included)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EvalConfigError(f"EvalConfig JSON is not valid: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_yaml(cls, text: str) -> EvalConfig:
        """Parse YAML text."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EvalConfigError(f"EvalConfig YAML is not valid: {exc}") from exc
        if not isinstance(data, Mapping):
            raise EvalConfigError(f"EvalConfig YAML must be a mapping, found {type(data).__name__}")
        return cls.from_dict(data)


def load_eval_config(path: str | Path) -> EvalConfig:
    """Read an `EvalConfig` from a .json, .yaml or .yml file."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"eval config file not found: {p}") from exc
    try:
        if p.suffix in (".yaml", ".yml"):
            return EvalConfig.from_yaml(text)
        return EvalConfig.from_json(text)
    except EvalConfigError as exc:
        raise EvalConfigError(f"{p}: {exc}") from exc


def as_eval_config(value: EvalConfig | Mapping[str, Any] | str | Path | None) -> EvalConfig:
    """An `EvalConfig` from itself, a dict, JSON/YAML text, or a .json/.yaml file path."""
    if isinstance(value, EvalConfig):
        return value
    if value is None:
        raise EvalConfigError("an eval_config is required (EvalConfig, dict, JSON/YAML or path)")
    if isinstance(value, Mapping):
        return EvalConfig.from_dict(value)
    text = str(value)
    if isinstance(value, Path) or ("\n" not in text and text.endswith((".json", ".yaml", ".yml"))):
        return load_eval_config(text)
    return (
        EvalConfig.from_json(text) if text.lstrip().startswith("{") else EvalConfig.from_yaml(text)
    )


def resolve_model_specs(config: EvalConfig, *, has_baseline: bool) -> EvalConfig:
    """The config for a run with or without a baseline model (TFMA's defaults).

    With a baseline and a single model spec, the spec becomes "candidate" plus a copy
    "baseline" (is_baseline). Without one, baseline specs are dropped, so change thresholds
    are reported as skipped (the first run of a pipeline has nothing to compare with).
    """
    if has_baseline:
        if config.baseline is not None:
            return config
        if len(config.model_specs) != 1:
            raise EvalConfigError(
                "a baseline model was given but no model spec is marked is_baseline and there "
                f"are {len(config.model_specs)} model specs; mark one is_baseline"
            )
        (spec,) = config.model_specs
        specs: tuple[ModelSpec, ...] = (
            dataclasses.replace(spec, name="candidate"),
            dataclasses.replace(spec, name="baseline", is_baseline=True),
        )
        rename = {spec.name: "candidate"}
    else:
        if config.baseline is None:
            return config
        specs = tuple(m for m in config.model_specs if not m.is_baseline)
        rename = {}
    kept = {m.name for m in specs}
    metrics_specs = tuple(
        dataclasses.replace(
            ms,
            model_names=tuple(
                dict.fromkeys(rename.get(n, n) for n in ms.model_names if rename.get(n, n) in kept)
            ),
        )
        for ms in config.metrics_specs
    )
    return dataclasses.replace(config, model_specs=specs, metrics_specs=metrics_specs)


# ---- generic plain <-> dataclass conversion -------------------------------------------------


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(tp: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return _from_plain(args[0], data, where)
    if tp is Any:
        return data
    if isinstance(data, Mapping) and set(data) == {"value"} and tp in (float, int, bool, str):
        data = data["value"]  # protobuf wrapper types written as {"value": x}
    if dataclasses.is_dataclass(tp):
        return _dataclass_from_plain(tp, data, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(data)
        except ValueError as exc:
            allowed = [m.value for m in tp]
            raise EvalConfigError(f"{where}: expected one of {allowed}, found {data!r}") from exc
    if origin is tuple:
        if not isinstance(data, list | tuple):
            raise EvalConfigError(f"{where}: expected a list, found {type(data).__name__}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_from_plain(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin in (Mapping, dict):
        key_tp, val_tp = typing.get_args(tp)
        if isinstance(data, str) and val_tp is Any:
            return data  # MetricConfig.config as TFMA's JSON string, parsed on construction
        if not isinstance(data, Mapping):
            raise EvalConfigError(f"{where}: expected a mapping, found {type(data).__name__}")
        return {
            _from_plain(key_tp, k, f"{where} key"): _from_plain(val_tp, v, f"{where}[{k!r}]")
            for k, v in data.items()
        }
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            raise EvalConfigError(f"{where}: expected a number, found {data!r}")
        try:
            return float(data)
        except ValueError as exc:
            raise EvalConfigError(f"{where}: expected a number, found {data!r}") from exc
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise EvalConfigError(f"{where}: expected an integer, found {data!r}")
        try:
            return int(data)
        except ValueError as exc:
            raise EvalConfigError(f"{where}: expected an integer, found {data!r}") from exc
    if tp is bool:
        if not isinstance(data, bool):
            raise EvalConfigError(f"{where}: expected true/false, found {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise EvalConfigError(f"{where}: expected a string, found {data!r}")
        return data
    return data


def _dataclass_from_plain(cls: Any, data: Any, where: str) -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise EvalConfigError(f"{where}: expected a mapping, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _snake(str(raw_key))
        if key not in names:
            raise EvalConfigError(
                f"{where}: unknown field {raw_key!r}; known fields: {sorted(names)}"
            )
        kwargs[key] = _from_plain(hints[key], value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except EvalConfigError as exc:
        raise EvalConfigError(f"{where}: {exc}") from exc
    except TypeError as exc:
        raise EvalConfigError(f"{where}: {exc}") from exc
