"""`StatsOptions`: what statistics to compute, with TFDV's meaning and defaults.

Also the two seams users plug into: a slice function (a RecordBatch in, (slice name, rows)
pairs out) and a custom statistics generator (an accumulator shaped like a Beam CombineFn
whose output, a `DatasetFeatureStatistics`, is merged feature by feature into ours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

__all__ = ["SliceFunction", "StatsGenerator", "StatsOptions"]

SliceFunction = Callable[[pa.RecordBatch], Iterable[tuple[str, pa.RecordBatch]]]
"""Splits a batch into named slices; a row may fall into several slices or none."""


@runtime_checkable
class StatsGenerator(Protocol):
    """A custom statistics generator, shaped like a Beam CombineFn over RecordBatches.

    `extract_output` returns a `DatasetFeatureStatistics`; its features are merged into the
    built-in statistics by path (new features are appended).
    """

    name: str

    def create_accumulator(self) -> Any:
        """A fresh, empty accumulator."""
        ...

    def add_input(self, accumulator: Any, batch: pa.RecordBatch) -> Any:
        """Folds one batch into `accumulator` and returns it."""
        ...

    def merge_accumulators(self, accumulators: Iterable[Any]) -> Any:
        """One accumulator holding all of `accumulators`."""
        ...

    def extract_output(self, accumulator: Any) -> statistics_pb2.DatasetFeatureStatistics:
        """The statistics this generator adds."""
        ...


@dataclass(frozen=True, kw_only=True)
class StatsOptions:
    """Options for `generate_statistics` and `GenerateStatistics`."""

    feature_allowlist: Sequence[str] | None = None
    """Compute statistics only for these features (None: every column)."""
    schema: schema_pb2.Schema | None = None
    """Types from this schema instead of inference (categorical ints get string stats)."""
    weight_feature: str | None = None
    """A numeric, univalent, never-missing feature weighting each example."""
    label_feature: str | None = None
    """A categorical label: adds the lift of each string (or categorical) feature value."""
    sample_rate: float = 1.0
    """Fraction of examples kept, in (0, 1]; sampling is seeded per batch content."""
    sample_seed: int = 0
    """Seed for sampling, so runs repeat."""
    slice_functions: Sequence[SliceFunction] = ()
    """Each yields (slice name, rows); one dataset per slice beside 'All Examples'."""
    generators: Sequence[StatsGenerator] = ()
    """Custom statistics generators run beside the built-in ones."""
    num_top_values: int = 20
    """Most frequent values kept per string feature."""
    frequency_threshold: int = 1
    """A top value must occur at least this often."""
    weighted_frequency_threshold: float = 1.0
    """A weighted top value must have at least this total weight."""
    num_rank_histogram_buckets: int = 1000
    """Buckets of the rank histogram of string features."""
    num_histogram_buckets: int = 10
    """Buckets of the equal-width histogram of numeric features."""
    num_quantiles_histogram_buckets: int = 10
    """Buckets of the quantiles histogram of numeric features."""
    num_values_histogram_buckets: int = 10
    """Buckets of the quantiles histogram of values per example."""
    epsilon: float = 0.01
    """Rank error bound of the quantile sketches, as a fraction of the total weight."""
    exact_unique_limit: int = 1 << 17
    """Distinct values per feature counted exactly before switching to sketches."""

    def __post_init__(self) -> None:
        if not 0.0 < self.sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], got {self.sample_rate!r}")
        if not 0.0 < self.epsilon < 1.0:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon!r}")
        for name in (
            "num_top_values",
            "num_rank_histogram_buckets",
            "num_histogram_buckets",
            "num_quantiles_histogram_buckets",
            "num_values_histogram_buckets",
            "exact_unique_limit",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.feature_allowlist, str):
            raise TypeError("feature_allowlist must be a sequence of names, not one string")
        if self.schema is not None and not isinstance(self.schema, schema_pb2.Schema):
            raise TypeError(
                f"schema must be a tensorflow_metadata Schema, got {type(self.schema).__name__}"
            )
        for generator in self.generators:
            if not isinstance(generator, StatsGenerator):
                raise TypeError(
                    f"generator {generator!r} lacks name / create_accumulator / add_input / "
                    "merge_accumulators / extract_output"
                )
