"""Read-only views of one dataset's and one feature's statistics, as validation needs them.

Schema inference, validation and drift all ask the same questions of a
`FeatureNameStatistics` (how many examples have it, its value counts, its string values
with counts, its histograms); this module answers them once, TFDV's way, so the callers
never touch the proto's nesting directly.
"""

from __future__ import annotations

import math

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from headwater.data_validation.schema_errors import InvalidStatisticsError

Stats = statistics_pb2.FeatureNameStatistics

#: Statistics type → the schema type that holds it (TFDV's mapping; STRING is stored as BYTES).
SCHEMA_TYPE_OF = {
    Stats.INT: schema_pb2.INT,
    Stats.FLOAT: schema_pb2.FLOAT,
    Stats.STRING: schema_pb2.BYTES,
    Stats.BYTES: schema_pb2.BYTES,
    Stats.STRUCT: schema_pb2.STRUCT,
}


def feature_name(stats: statistics_pb2.FeatureNameStatistics) -> str:
    """The feature's name: `path` steps joined with '.', or the legacy `name` field."""
    if stats.path.step:
        return ".".join(stats.path.step)
    return stats.name


def select_dataset(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, what: str = "statistics"
) -> statistics_pb2.DatasetFeatureStatistics:
    """The one unsliced dataset of `statistics` (TFDV validates exactly one)."""
    if not isinstance(statistics, statistics_pb2.DatasetFeatureStatisticsList):
        raise InvalidStatisticsError(
            f"{what}: expected a DatasetFeatureStatisticsList, found {type(statistics).__name__}"
        )
    datasets = list(statistics.datasets)
    if len(datasets) == 1:
        return datasets[0]
    if not datasets:
        raise InvalidStatisticsError(f"{what}: expected one dataset, found none")
    unsliced = [d for d in datasets if d.name in ("", "All Examples")]
    if len(unsliced) == 1:
        return unsliced[0]
    names = ", ".join(repr(d.name) for d in datasets)
    raise InvalidStatisticsError(
        f"{what}: expected one dataset (or one named 'All Examples'), found {len(datasets)}: "
        f"{names}"
    )


class FeatureView:
    """One feature's statistics, with the dataset's example count beside it."""

    __slots__ = ("_counts", "common", "num_examples", "stats")

    def __init__(self, stats: statistics_pb2.FeatureNameStatistics, num_examples: float) -> None:
        self.stats = stats
        self.num_examples = num_examples
        self.common = common_stats_of(stats)
        """The common statistics, wherever the type keeps them."""
        self._counts: dict[str, float] | None = None

    @property
    def name(self) -> str:
        """The feature name."""
        return feature_name(self.stats)

    @property
    def type(self) -> int:
        """The statistics type (FeatureNameStatistics.Type)."""
        return int(self.stats.type)

    @property
    def type_name(self) -> str:
        """The statistics type's name, e.g. 'STRING'."""
        return str(Stats.Type.Name(self.stats.type))

    @property
    def schema_type(self) -> int:
        """The schema FeatureType that holds this data."""
        return SCHEMA_TYPE_OF.get(self.stats.type, schema_pb2.TYPE_UNKNOWN)

    @property
    def num_present(self) -> float:
        """Examples in which the feature is present (num_non_missing)."""
        return float(self.common.num_non_missing)

    @property
    def num_missing(self) -> float:
        """Examples in which the feature is missing."""
        recorded = float(self.common.num_missing)
        return recorded if recorded else max(self.num_examples - self.num_present, 0.0)

    @property
    def min_num_values(self) -> int:
        """Fewest values in an example that has the feature."""
        return int(self.common.min_num_values)

    @property
    def max_num_values(self) -> int:
        """Most values in an example that has the feature."""
        return int(self.common.max_num_values)

    @property
    def tot_num_values(self) -> int:
        """Values over all examples."""
        return int(self.common.tot_num_values)

    @property
    def nestedness(self) -> int:
        """Nesting levels of the values (1 for a flat list)."""
        return max(1, len(self.common.presence_and_valency_stats))

    @property
    def has_num_stats(self) -> bool:
        """Whether numeric statistics were computed."""
        return self.stats.HasField("num_stats")

    @property
    def num_stats(self) -> statistics_pb2.NumericStatistics:
        """Numeric statistics (empty if absent)."""
        return self.stats.num_stats

    @property
    def num_nan(self) -> int:
        """NaN values, from the numeric histograms (TFDV keeps the count there)."""
        return max((int(h.num_nan) for h in self.stats.num_stats.histograms), default=0)

    @property
    def has_inf(self) -> bool:
        """Whether the numeric min or max is infinite."""
        ns = self.stats.num_stats
        return math.isinf(ns.min) or math.isinf(ns.max)

    def histogram(
        self, kind: int = statistics_pb2.Histogram.STANDARD
    ) -> statistics_pb2.Histogram | None:
        """The numeric histogram of `kind` (STANDARD or QUANTILES), or None."""
        for hist in self.stats.num_stats.histograms:
            if hist.type == kind:
                return hist
        return None

    @property
    def unique(self) -> int | None:
        """Distinct values (string or bytes statistics), or None if not counted."""
        if self.stats.HasField("string_stats"):
            return int(self.stats.string_stats.unique)
        if self.stats.HasField("bytes_stats") and self.stats.bytes_stats.unique:
            return int(self.stats.bytes_stats.unique)
        return None

    @property
    def invalid_utf8_count(self) -> int:
        """Values that are not valid UTF-8."""
        return int(self.stats.string_stats.invalid_utf8_count)

    def string_counts(self) -> dict[str, float]:
        """Each string value with its count: the rank histogram, else the top values."""
        if self._counts is None:
            self._counts = self._string_counts()
        return dict(self._counts)

    def _string_counts(self) -> dict[str, float]:
        ss = self.stats.string_stats
        counts: dict[str, float] = {}
        if ss.rank_histogram.buckets:
            for bucket in ss.rank_histogram.buckets:
                counts[bucket.label] = counts.get(bucket.label, 0.0) + bucket.sample_count
        else:
            for top in ss.top_values:
                counts[top.value] = counts.get(top.value, 0.0) + top.frequency
        return counts

    @property
    def string_values_complete(self) -> bool:
        """Whether `string_counts` lists every distinct value (else it is a truncated top-k)."""
        unique = self.unique
        return unique is not None and len(self.string_counts()) >= unique


def common_stats_of(stats: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    """The common statistics of a feature, whichever kind of statistics it holds."""
    which = stats.WhichOneof("stats")
    if which == "num_stats":
        return stats.num_stats.common_stats
    if which == "string_stats":
        return stats.string_stats.common_stats
    if which == "bytes_stats":
        return stats.bytes_stats.common_stats
    if which == "struct_stats":
        return stats.struct_stats.common_stats
    return statistics_pb2.CommonStatistics()


def feature_views(dataset: statistics_pb2.DatasetFeatureStatistics) -> dict[str, FeatureView]:
    """Every feature of `dataset` by name, in order."""
    n = float(dataset.num_examples)
    return {feature_name(f): FeatureView(f, n) for f in dataset.features}
