"""Validate statistics against a schema: TFDV's `Anomalies`, each with the fix that accepts it.

`validate_statistics` returns tensorflow-metadata's `Anomalies` as TFDV fills it (one
`AnomalyInfo` per feature keyed by its name, reasons with their `AnomalyInfo.Type`, TFDV's
texts, `drift_skew_info` measurements, `dataset_anomaly_info`). Each anomaly's description
ends with "Suggested fix: ..." — the schema edits that would accept the data — and its
`diff_regions` show the feature's text before and after them. `check_statistics` returns the
same anomalies with the fixes as data (`SchemaChange`s), the drift / skew measurements
(`DriftResult`s) and the fixed schema; `update_schema` is that fixed schema.

Example:
    anomalies = validate_statistics(stats, schema, environment="SERVING")
    report = check_statistics(stats, schema, previous_statistics=yesterday)
    schema = report.fixed_schema    # accept everything seen, after review
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from headwater.data_validation import _domain_checks, _feature_checks
from headwater.data_validation._anomaly_proto import anomaly_info
from headwater.data_validation._findings import Findings, SchemaChange, fmt6
from headwater.data_validation._stats_view import FeatureView, feature_views, select_dataset
from headwater.data_validation.drift import (
    Comparator,
    DriftResult,
    NotComparableError,
    comparators_of,
    measure,
    set_comparator,
)
from headwater.data_validation.schema import in_environment, is_deprecated, is_required
from headwater.data_validation.schema_errors import SchemaError
from headwater.data_validation.schema_inference import infer_feature

__all__ = [
    "SchemaChange",
    "ValidationReport",
    "check_statistics",
    "update_schema",
    "validate_statistics",
]

T = anomalies_pb2.AnomalyInfo
Severity = anomalies_pb2.AnomalyInfo.Severity
_MEASUREMENT_TYPE = {
    "l_infinity": anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY,
    "jensen_shannon_divergence": anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE,
    "normalized_abs_difference": (
        anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE
    ),
}
_METRIC_TEXT = {
    "l_infinity": ("Linfty distance", T.COMPARATOR_L_INFTY_HIGH),
    "jensen_shannon_divergence": (
        "approximate Jensen-Shannon divergence",
        T.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
    ),
    "normalized_abs_difference": (
        "normalized absolute difference",
        T.COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH,
    ),
    "psi": ("population stability index", T.CUSTOM_VALIDATION),
    "ks": ("Kolmogorov-Smirnov statistic", T.CUSTOM_VALIDATION),
    "wasserstein": ("normalized Wasserstein distance", T.CUSTOM_VALIDATION),
}
# (treatment, control) names, as TFDV words them.
_CONTEXT = {"drift": ("current", "previous"), "skew": ("training", "serving")}


@dataclass(frozen=True)
class ValidationReport:
    """Anomalies, the schema edits that would accept the data, and every drift / skew value."""

    anomalies: anomalies_pb2.Anomalies
    changes: Mapping[str, tuple[SchemaChange, ...]]
    """Per anomaly key (feature name; '' for the dataset), the suggested schema edits."""
    drift: tuple[DriftResult, ...]
    """Every comparator measured, anomalous or not."""
    fixed_schema: schema_pb2.Schema = field(repr=False)
    """The schema with every suggested edit applied."""

    def _repr_html_(self) -> str:
        from headwater.data_validation.anomalies_view import visualize_anomalies

        return visualize_anomalies(self)._repr_html_()


def validate_statistics(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    environment: str | None = None,
    previous_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    serving_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    *,
    previous_version_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    severity_overrides: Mapping[int, int] | None = None,
) -> anomalies_pb2.Anomalies:
    """Anomalies of `statistics` against `schema` (and drift / skew against the baselines).

    Example:
        anomalies = validate_statistics(stats, schema, previous_statistics=yesterday)
    """
    return check_statistics(
        statistics,
        schema,
        environment,
        previous_statistics,
        serving_statistics,
        previous_version_statistics=previous_version_statistics,
        severity_overrides=severity_overrides,
    ).anomalies


def update_schema(
    schema: schema_pb2.Schema,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    infer_feature_shape: bool = False,
    max_string_domain_size: int = 100,
    environment: str | None = None,
) -> schema_pb2.Schema:
    """A copy of `schema` relaxed just enough to accept `statistics` (new features added).

    `infer_feature_shape` and `max_string_domain_size` apply to the features added, as in
    `infer_schema`.
    """
    run = _prepare(statistics, schema, environment, None, None, None)
    run.infer_feature_shape = infer_feature_shape
    run.max_string_domain_size = max_string_domain_size
    return _execute(run, statistics, None, None).fixed_schema


def check_statistics(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    environment: str | None = None,
    previous_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    serving_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    *,
    previous_version_statistics: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    severity_overrides: Mapping[int, int] | None = None,
) -> ValidationReport:
    """Like `validate_statistics`, with the fixes as `SchemaChange`s and the fixed schema."""
    run = _prepare(
        statistics,
        schema,
        environment,
        previous_statistics,
        serving_statistics,
        severity_overrides,
    )
    return _execute(run, statistics, previous_statistics, previous_version_statistics)


def _prepare(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    environment: str | None,
    previous_statistics: statistics_pb2.DatasetFeatureStatisticsList | None,
    serving_statistics: statistics_pb2.DatasetFeatureStatisticsList | None,
    severity_overrides: Mapping[int, int] | None,
) -> _Run:
    if not isinstance(schema, schema_pb2.Schema):
        raise SchemaError(f"schema: expected a Schema proto, found {type(schema).__name__}")
    select_dataset(statistics, "statistics")
    if environment is not None and not _environment_known(schema, environment):
        raise SchemaError(
            f"environment {environment!r} is not in the schema (default_environment: "
            f"{list(schema.default_environment)})"
        )
    baselines = {
        "drift": _views_of(previous_statistics, "previous_statistics"),
        "skew": _views_of(serving_statistics, "serving_statistics"),
    }
    return _Run(schema, environment, baselines, dict(severity_overrides or {}))


def _execute(
    run: _Run,
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    previous_statistics: statistics_pb2.DatasetFeatureStatisticsList | None,
    previous_version_statistics: statistics_pb2.DatasetFeatureStatisticsList | None,
) -> ValidationReport:
    dataset = select_dataset(statistics, "statistics")
    views = feature_views(dataset)
    run.check_schema_level()
    for feature in run.schema.feature:
        run.check_feature(feature, views.get(feature.name))
    for name, view in views.items():
        if name not in run.schema_names and len(view.stats.path.step) <= 1:
            run.new_column(view)
    run.check_serving_columns(views)
    run.check_dataset(dataset, previous_statistics, previous_version_statistics)
    return run.report()


def _environment_known(schema: schema_pb2.Schema, environment: str) -> bool:
    if environment in schema.default_environment:
        return True
    return any(
        environment in f.in_environment or environment in f.not_in_environment
        for f in schema.feature
    )


def _views_of(
    statistics: statistics_pb2.DatasetFeatureStatisticsList | None, what: str
) -> dict[str, FeatureView] | None:
    if statistics is None:
        return None
    return feature_views(select_dataset(statistics, what))


class _Run:
    """One validation: the fixed schema under construction and the findings per key."""

    def __init__(
        self,
        schema: schema_pb2.Schema,
        environment: str | None,
        baselines: dict[str, dict[str, FeatureView] | None],
        severity_overrides: dict[int, int],
    ) -> None:
        self.schema = schema
        self.fixed = schema_pb2.Schema()
        self.fixed.CopyFrom(schema)
        self.environment = environment
        self.baselines = baselines
        self.severity_overrides = severity_overrides
        self.findings: dict[str, Findings] = {}
        self.originals: dict[str, schema_pb2.Feature] = {}
        self.drift: list[DriftResult] = []
        self.drift_info: dict[str, anomalies_pb2.DriftSkewInfo] = {}
        self.schema_names: set[str] = set()
        self.dataset = Findings("", schema_pb2.Feature())
        self.infer_feature_shape = False
        self.max_string_domain_size = 100
        self._fixed_by_name: dict[str, schema_pb2.Feature] = {}
        for index, feature in enumerate(self.fixed.feature):
            self._fixed_by_name.setdefault(feature.name or f"<feature {index}>", feature)

    def _findings(self, name: str, feature: schema_pb2.Feature) -> Findings:
        if name not in self.findings:
            self.findings[name] = Findings(name, feature)
        return self.findings[name]

    def check_schema_level(self) -> None:
        """Duplicate names, references to unknown features, contradictory dataset constraints."""
        seen: set[str] = set()
        for index, feature in enumerate(self.schema.feature):
            key = feature.name or f"<feature {index}>"
            if not feature.name:
                f = self._findings(key, self._fixed_by_name[key])
                f.add(
                    T.FEATURE_MISSING_NAME,
                    "unspecified name (maybe meant to be the empty string): find name rather "
                    "than deprecating.",
                )
                f.deprecate()
            elif feature.name in seen:
                f = self._findings(key, self._fixed_by_name[key])
                f.add(
                    T.INVALID_SCHEMA_SPECIFICATION,
                    "Duplicate feature",
                    f"The schema defines feature {key} more than once; only the first is used.",
                )
            seen.add(feature.name)
        names = seen
        for sparse in self.schema.sparse_feature:
            refs = [i.name for i in sparse.index_feature] + [sparse.value_feature.name]
            self._unknown_refs(sparse.name, "sparse_feature", refs, names)
        for weighted in self.schema.weighted_feature:
            refs = [".".join(weighted.feature.step), ".".join(weighted.weight_feature.step)]
            self._unknown_refs(weighted.name, "weighted_feature", refs, names)
        dc = self.schema.dataset_constraints
        if (
            dc.HasField("min_examples_count")
            and dc.HasField("max_examples_count")
            and dc.max_examples_count < dc.min_examples_count
        ):
            self.dataset.add(
                T.INVALID_SCHEMA_SPECIFICATION,
                "Contradictory dataset constraints",
                f"dataset_constraints: max_examples_count {dc.max_examples_count} is below "
                f"min_examples_count {dc.min_examples_count}.",
            )
            self.fixed.dataset_constraints.max_examples_count = dc.min_examples_count
            self.dataset.record(
                "dataset_constraints.max_examples_count",
                dc.max_examples_count,
                dc.min_examples_count,
            )

    def _unknown_refs(self, name: str, what: str, refs: list[str], names: set[str]) -> None:
        unknown = [r for r in refs if r and r not in names]
        if unknown:
            f = self._findings(name, schema_pb2.Feature(name=name))
            f.add(
                T.INVALID_SCHEMA_SPECIFICATION,
                f"{what} refers to unknown features",
                f"{what} {name} refers to feature(s) {', '.join(unknown)}, which the schema "
                "does not define.",
            )

    def check_feature(self, original: schema_pb2.Feature, view: FeatureView | None) -> None:
        """Every check of one schema feature against its statistics (None if absent)."""
        name = original.name
        if not name or name in self.schema_names:
            return
        self.schema_names.add(name)
        if is_deprecated(original):
            return
        working = self._fixed_by_name[name]
        self.originals[name] = original
        f = self._findings(name, working)
        if not _feature_checks.check_schema_entry(f, self.fixed, view):
            return
        if view is None:
            self._absent(f, working)
            return
        if view.num_present == 0:
            if is_required(self.fixed, working, self.environment):
                f.add(
                    T.FEATURE_TYPE_NOT_PRESENT,
                    "Column dropped",
                    "The feature was not present in any examples.",
                )
                self._accept_absence(f)
            return
        if not in_environment(self.fixed, working, self.environment):
            env = self.environment
            f.add(
                T.SCHEMA_NEW_COLUMN,
                "Column missing in environment",
                f"New column {name} found in data but not in the environment {env} in the schema.",
            )
            if env in working.not_in_environment:
                working.not_in_environment.remove(env)
                f.record("not_in_environment", env, None)
            if not in_environment(self.fixed, working, env):
                working.in_environment.append(env)
                f.record("in_environment", None, env)
        _feature_checks.check_value_counts(f, view)
        if working.HasField("presence"):
            _feature_checks.check_presence(f, view)
        if _feature_checks.check_type(f, view):
            _feature_checks.check_binary_domain(f, view)
            schema_domain = None
            if working.WhichOneof("domain_info") == "domain":
                schema_domain = next(
                    (d for d in self.fixed.string_domain if d.name == working.domain), None
                )
            _domain_checks.check_domain(f, view, schema_domain)
        if working.HasField("unique_constraints"):
            _domain_checks.check_unique(f, view)
        for kind in ("drift", "skew"):
            self._compare(f, original, view, kind)

    def _absent(self, f: Findings, working: schema_pb2.Feature) -> None:
        if is_required(self.fixed, working, self.environment):
            f.add(T.SCHEMA_MISSING_COLUMN, "Column dropped", "Column is completely missing")
            self._accept_absence(f)
        for kind, baseline in self.baselines.items():
            if baseline is not None and f.name in baseline and comparators_of(working, kind):
                treatment, control = _CONTEXT[kind]
                f.add(
                    T.COMPARATOR_TREATMENT_DATA_MISSING,
                    "Treatment data missing",
                    f"The {treatment} statistics have no feature {f.name} to compare with the "
                    f"{control} statistics.",
                )

    def _accept_absence(self, f: Findings) -> None:
        """The fix for a required feature that is absent: leave the environment, or deprecate."""
        if self.environment is not None:
            f.feature.not_in_environment.append(self.environment)
            f.record("not_in_environment", None, self.environment)
        else:
            f.deprecate()

    def _compare(
        self, f: Findings, original: schema_pb2.Feature, view: FeatureView, kind: str
    ) -> None:
        baseline = self.baselines[kind]
        if baseline is None:
            return
        comparators = comparators_of(original, kind)
        if not comparators:
            return
        treatment, control = _CONTEXT[kind]
        other = baseline.get(f.name)
        if other is None or other.num_present == 0:
            f.add(
                T.COMPARATOR_CONTROL_DATA_MISSING,
                "Control data missing",
                f"The {control} statistics have no feature {f.name} to compare with.",
            )
            return
        for comparator in comparators:
            self._measure(f, view, other, kind, comparator, treatment, control)

    def _measure(
        self,
        f: Findings,
        view: FeatureView,
        other: FeatureView,
        kind: str,
        comparator: Comparator,
        treatment: str,
        control: str,
    ) -> None:
        label, anomaly_type = _METRIC_TEXT[comparator.metric]
        try:
            value, detail = measure(comparator.metric, view, other)
        except NotComparableError as exc:
            f.add(
                T.STATS_NOT_AVAILABLE,
                "Statistics not available",
                f"The {label} between {treatment} and {control} cannot be computed: {exc}.",
            )
            return
        result = DriftResult(
            f.name,
            kind,
            comparator.metric,
            value,
            comparator.threshold,
            view.num_present,
            other.num_present,
            detail,
        )
        self.drift.append(result)
        info = self.drift_info.get(f.name)
        if info is None:
            info = self.drift_info[f.name] = anomalies_pb2.DriftSkewInfo()
            info.path.step.append(f.name)
        measurements = info.drift_measurements if kind == "drift" else info.skew_measurements
        measurements.add(
            type=_MEASUREMENT_TYPE.get(comparator.metric, 0),
            value=value,
            threshold=comparator.threshold,
        )
        if not result.anomalous:
            return
        sizes = (
            f" Sample sizes: {treatment} {view.num_present:g}, {control} "
            f"{other.num_present:g} examples with the feature."
        )
        f.add(
            anomaly_type,
            f"High {label} between {treatment} and {control}",
            f"The {label} between {treatment} and {control} is {fmt6(value)} (up to six "
            f"significant digits), above the threshold {fmt6(comparator.threshold)}."
            + (f" {detail}" if detail else "")
            + sizes,
        )
        set_comparator(f.feature, kind, Comparator(comparator.metric, value))
        f.record(f"{kind}_comparator.{comparator.metric}.threshold", comparator.threshold, value)

    def new_column(self, view: FeatureView) -> None:
        """A feature in the data but not in the schema; the fix adds it as inferred."""
        added = infer_feature(
            view,
            self.fixed,
            infer_feature_shape=self.infer_feature_shape,
            max_string_domain_size=self.max_string_domain_size,
        )
        f = self._findings(view.name, added)
        f.add(T.SCHEMA_NEW_COLUMN, "New column", "New column (column in data but not in schema)")
        f.record("feature", None, added)

    def check_serving_columns(self, views: dict[str, FeatureView]) -> None:
        """Features of the training data that the serving data lacks though SERVING expects them."""
        serving = self.baselines["skew"]
        if serving is None:
            return
        env = "SERVING" if "SERVING" in self.schema.default_environment else None
        for feature in self.schema.feature:
            name = feature.name
            view = views.get(name)
            if not name or view is None or view.num_present == 0 or is_deprecated(feature):
                continue
            other = serving.get(name)
            if (other is None or other.num_present == 0) and in_environment(
                self.schema, feature, env
            ):
                f = self._findings(name, self._fixed_by_name[name])
                f.add(
                    T.SCHEMA_TRAINING_SERVING_SKEW,
                    "Training/Serving skew",
                    f"Feature {name} is in the training data but not in the serving data.",
                )
                if "SERVING" not in f.feature.not_in_environment:
                    f.feature.not_in_environment.append("SERVING")
                    f.record("not_in_environment", None, "SERVING")

    def check_dataset(
        self,
        dataset: statistics_pb2.DatasetFeatureStatistics,
        previous: statistics_pb2.DatasetFeatureStatisticsList | None,
        previous_version: statistics_pb2.DatasetFeatureStatisticsList | None,
    ) -> None:
        """Example counts: empty span, min / max counts, ratio to the previous span or version."""
        n = dataset.num_examples
        d = self.dataset
        if n == 0:
            d.add(T.NO_DATA_IN_SPAN, "No data in span", "The statistics hold no examples.")
        dc = self.schema.dataset_constraints
        fixed_dc = self.fixed.dataset_constraints
        if dc.HasField("min_examples_count") and n < dc.min_examples_count:
            d.add(
                T.DATASET_LOW_NUM_EXAMPLES,
                "Low num examples in dataset.",
                f"The dataset has {n} examples, which is fewer than expected.",
            )
            fixed_dc.min_examples_count = n
            d.record("dataset_constraints.min_examples_count", dc.min_examples_count, n)
        if dc.HasField("max_examples_count") and n > dc.max_examples_count:
            d.add(
                T.DATASET_HIGH_NUM_EXAMPLES,
                "High num examples in dataset.",
                f"The dataset has {n} examples, which is more than expected.",
            )
            fixed_dc.max_examples_count = n
            d.record("dataset_constraints.max_examples_count", dc.max_examples_count, n)
        for stats, field_name, what in (
            (previous, "num_examples_drift_comparator", "the previous span"),
            (previous_version, "num_examples_version_comparator", "the previous version"),
        ):
            if stats is None or not dc.HasField(field_name) or n <= 0:
                continue
            base = select_dataset(stats).num_examples
            if base <= 0:
                continue
            ratio = n / base
            comparator = getattr(dc, field_name)
            for bound, low in (("min_fraction_threshold", True), ("max_fraction_threshold", False)):
                if not comparator.HasField(bound):
                    continue
                threshold = getattr(comparator, bound)
                if (low and ratio < threshold) or (not low and ratio > threshold):
                    word = "Low" if low else "High"
                    d.add(
                        T.COMPARATOR_LOW_NUM_EXAMPLES if low else T.COMPARATOR_HIGH_NUM_EXAMPLES,
                        f"{word} num examples in current dataset versus {what}.",
                        f"The ratio of num examples in the current dataset versus {what} is "
                        f"{fmt6(ratio)} (up to six significant digits), which is "
                        f"{'below' if low else 'above'} the threshold {fmt6(threshold)}.",
                    )
                    setattr(getattr(fixed_dc, field_name), bound, ratio)
                    d.record(f"dataset_constraints.{field_name}.{bound}", threshold, ratio)

    def report(self) -> ValidationReport:
        """The Anomalies proto and the report around it."""
        anomalies = anomalies_pb2.Anomalies()
        anomalies.baseline.CopyFrom(self.schema)
        anomalies.anomaly_name_format = anomalies_pb2.Anomalies.SERIALIZED_PATH
        changes: dict[str, tuple[SchemaChange, ...]] = {}
        for name, f in self.findings.items():
            if f.reasons:
                anomalies.anomaly_info[name].CopyFrom(
                    anomaly_info(name, f, self.originals.get(name), self.severity_overrides)
                )
                changes[name] = tuple(f.changes)
        if self.dataset.reasons:
            anomalies.dataset_anomaly_info.CopyFrom(
                anomaly_info("", self.dataset, None, self.severity_overrides)
            )
            changes[""] = tuple(self.dataset.changes)
            if any(r.type == T.NO_DATA_IN_SPAN for r in self.dataset.reasons):
                anomalies.data_missing = True
        for info in self.drift_info.values():
            anomalies.drift_skew_info.append(info)
        return ValidationReport(anomalies, changes, tuple(self.drift), self.fixed)
