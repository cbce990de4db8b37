"""Dataset statistics, schema inference, anomalies, drift and skew, without TensorFlow.

Example:
    stats = generate_statistics_from_csv("data/*.csv")
"""

from typing import TYPE_CHECKING, Any

from headwater.data_validation.anomalies_gate import AnomaliesFoundError, raise_for_anomalies
from headwater.data_validation.anomalies_view import AnomaliesView, visualize_anomalies
from headwater.data_validation.combiner import DEFAULT_SLICE_KEY, StatisticsCombiner
from headwater.data_validation.drift import (
    Comparator,
    DriftResult,
    FeatureDistances,
    feature_distances,
)
from headwater.data_validation.example_validation import (
    AnomalousExample,
    ExampleValidationResult,
    validate_examples,
    validate_examples_in_csv,
    validate_examples_in_tfrecord,
)
from headwater.data_validation.options import SliceFunction, StatsGenerator, StatsOptions
from headwater.data_validation.schema import (
    exclude_from_environment,
    get_comparators,
    get_domain,
    get_feature,
    include_in_environment,
    is_deprecated,
    load_schema,
    load_schema_text,
    set_deprecated,
    set_domain,
    set_drift_comparator,
    set_environments,
    set_presence,
    set_skew_comparator,
    set_value_count,
    write_schema_text,
)
from headwater.data_validation.schema_errors import InvalidStatisticsError, SchemaError
from headwater.data_validation.schema_inference import infer_schema
from headwater.data_validation.schema_view import SchemaView, visualize_schema
from headwater.data_validation.slicing import get_feature_value_slicer
from headwater.data_validation.statistics import (
    generate_statistics,
    generate_statistics_from_csv,
    generate_statistics_from_dataframe,
    generate_statistics_from_parquet,
    generate_statistics_from_tfrecord,
)
from headwater.data_validation.statistics_view import StatisticsView, visualize_statistics
from headwater.data_validation.stats_errors import StatisticsError
from headwater.data_validation.stats_io import (
    load_statistics,
    load_stats_binary,
    load_stats_text,
    write_stats_binary,
    write_stats_text,
)
from headwater.data_validation.tfdv_functions import (
    display_anomalies,
    display_schema,
    get_slice_stats,
    get_statistics_html,
    load_anomalies_text,
    write_anomalies_text,
)
from headwater.data_validation.validation import (
    SchemaChange,
    ValidationReport,
    check_statistics,
    update_schema,
    validate_statistics,
)

if TYPE_CHECKING:
    from headwater.data_validation.statistics_beam import GenerateStatistics


def __getattr__(name: str) -> Any:
    """Imports the Beam transforms on first use (Beam takes seconds to import)."""
    if name == "GenerateStatistics":
        from headwater.data_validation.statistics_beam import GenerateStatistics

        return GenerateStatistics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_SLICE_KEY",
    "AnomaliesFoundError",
    "AnomaliesView",
    "AnomalousExample",
    "Comparator",
    "DriftResult",
    "ExampleValidationResult",
    "FeatureDistances",
    "GenerateStatistics",
    "InvalidStatisticsError",
    "SchemaChange",
    "SchemaError",
    "SchemaView",
    "SliceFunction",
    "StatisticsCombiner",
    "StatisticsError",
    "StatisticsView",
    "StatsGenerator",
    "StatsOptions",
    "ValidationReport",
    "check_statistics",
    "display_anomalies",
    "display_schema",
    "exclude_from_environment",
    "feature_distances",
    "generate_statistics",
    "generate_statistics_from_csv",
    "generate_statistics_from_dataframe",
    "generate_statistics_from_parquet",
    "generate_statistics_from_tfrecord",
    "get_comparators",
    "get_domain",
    "get_feature",
    "get_feature_value_slicer",
    "get_slice_stats",
    "get_statistics_html",
    "include_in_environment",
    "infer_schema",
    "is_deprecated",
    "load_anomalies_text",
    "load_schema",
    "load_schema_text",
    "load_statistics",
    "load_stats_binary",
    "load_stats_text",
    "raise_for_anomalies",
    "set_deprecated",
    "set_domain",
    "set_drift_comparator",
    "set_environments",
    "set_presence",
    "set_skew_comparator",
    "set_value_count",
    "update_schema",
    "validate_examples",
    "validate_examples_in_csv",
    "validate_examples_in_tfrecord",
    "validate_statistics",
    "visualize_anomalies",
    "visualize_schema",
    "visualize_statistics",
    "write_anomalies_text",
    "write_schema_text",
    "write_stats_binary",
    "write_stats_text",
]
