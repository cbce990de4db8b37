"""`StatisticsCombiner`: the one accumulator behind the plain and the Beam statistics paths.

It has the shape of a Beam `CombineFn` (create_accumulator / add_input / merge_accumulators /
compact / extract_output) over Arrow RecordBatches, without importing Beam: the plain path
runs it in a loop and `GenerateStatistics` wraps it. The accumulator maps a slice name to
that slice's example counts, per-feature partial statistics and custom generator states.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from headwater.data_validation._arrow_numpy import from_numpy, to_numpy
from headwater.data_validation.feature_stats import (
    FLOAT,
    INT,
    STRING,
    FeaturePartial,
    update_feature,
)
from headwater.data_validation.lift import LiftGenerator
from headwater.data_validation.options import StatsGenerator, StatsOptions
from headwater.data_validation.stats_errors import StatisticsError
from headwater.data_validation.stats_proto import feature_statistics

__all__ = ["DEFAULT_SLICE_KEY", "SliceAccumulator", "StatisticsCombiner"]

DEFAULT_SLICE_KEY = "All Examples"
"""TFDV's name of the dataset holding every example when slicing is on."""

_PARALLEL_MIN_ROWS = 8192
"""Batches with fewer rows update their features on one thread (a thread costs ~0.1 ms)."""

_Task = tuple[FeaturePartial, str, pa.Array | pa.ChunkedArray, np.ndarray | None]

_SCHEMA_TYPES = {schema_pb2.INT: INT, schema_pb2.FLOAT: FLOAT, schema_pb2.BYTES: STRING}


@dataclass(slots=True)
class SliceAccumulator:
    """Partial statistics of one slice."""

    num_examples: int = 0
    weighted_num_examples: float = 0.0
    features: dict[str, FeaturePartial] = field(default_factory=dict)
    custom: list[Any] = field(default_factory=list)


Accumulator = dict[str, SliceAccumulator]


class StatisticsCombiner:
    """Per-feature statistics of RecordBatches, one dataset per slice; mergeable."""

    def __init__(self, options: StatsOptions | None = None, *, threads: int = 1) -> None:
        """`threads` > 1 updates the features of a large batch on that many threads at once
        (the numpy and Arrow kernels release the GIL); the results do not depend on it."""
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        self._options = options or StatsOptions()
        self._threads = threads
        schema = self._options.schema
        self._types: dict[str, int] = {}
        self._categorical: set[str] = set()
        self._bytes: set[str] = set()
        if schema is not None:
            for feature in schema.feature:
                if feature.type in _SCHEMA_TYPES:
                    self._types[feature.name] = _SCHEMA_TYPES[feature.type]
                if _is_categorical_numeric(feature):
                    self._categorical.add(feature.name)
                if feature.WhichOneof("domain_info") == "image_domain":
                    self._bytes.add(feature.name)
        allow = self._options.feature_allowlist
        self._allow = None if allow is None else set(allow)
        self._generators: list[StatsGenerator] = list(self._options.generators)
        if self._options.label_feature is not None:
            self._generators.append(
                LiftGenerator(
                    self._options.label_feature,
                    self._categorical,
                    self._options.exact_unique_limit,
                )
            )

    @property
    def options(self) -> StatsOptions:
        """The options this combiner was built with."""
        return self._options

    def create_accumulator(self) -> Accumulator:
        """An empty accumulator."""
        return {}

    def _slice(self, accumulator: Accumulator, key: str) -> SliceAccumulator:
        state = accumulator.get(key)
        if state is None:
            state = SliceAccumulator(custom=[g.create_accumulator() for g in self._generators])
            accumulator[key] = state
        return state

    def add_input(self, accumulator: Accumulator, batch: pa.RecordBatch) -> Accumulator:
        """Folds one RecordBatch (all its slices) into `accumulator`."""
        if isinstance(batch, pa.Table):
            for part in batch.to_batches():
                self.add_input(accumulator, part)
            return accumulator
        if not isinstance(batch, pa.RecordBatch):
            raise TypeError(f"statistics take pyarrow RecordBatches, got {type(batch).__name__}")
        _check_names(batch.schema.names)
        options = self._options
        if options.sample_rate < 1.0 and batch.num_rows:
            batch = batch.filter(from_numpy(self._sample_mask(batch)))
        self._add_slice(self._slice(accumulator, DEFAULT_SLICE_KEY), batch)
        for slice_fn in options.slice_functions:
            for key, rows in slice_fn(batch):
                self._add_slice(self._slice(accumulator, str(key)), rows)
        return accumulator

    def add_table(self, accumulator: Accumulator, table: pa.Table) -> Accumulator:
        """Folds `table` in as ONE batch: what `add_input` gives for its rows joined into one
        RecordBatch, without joining them first (each feature joins its own column, on the
        worker threads). With sampling, slices or custom generators it is joined first."""
        options = self._options
        if options.sample_rate < 1.0 or options.slice_functions or self._generators:
            batches = table.combine_chunks().to_batches()
            if not batches:
                batches = [pa.RecordBatch.from_pylist([], schema=table.schema)]
            return self.add_input(accumulator, batches[0])
        _check_names(table.schema.names)
        self._add_slice(self._slice(accumulator, DEFAULT_SLICE_KEY), table)
        return accumulator

    def _sample_mask(self, batch: pa.RecordBatch) -> np.ndarray:
        seed = zlib.crc32(str(batch.num_rows).encode())
        if batch.num_columns:
            for buffer in batch.column(0).buffers():
                if buffer is not None:
                    seed = zlib.crc32(memoryview(buffer)[: 1 << 16], seed)
        rng = np.random.default_rng([self._options.sample_seed, seed])
        return rng.random(batch.num_rows) < self._options.sample_rate

    def _weights(self, batch: pa.RecordBatch | pa.Table) -> np.ndarray | None:
        name = self._options.weight_feature
        if name is None:
            return None
        if name not in batch.schema.names:
            raise StatisticsError(
                f"weight feature {name!r} is not in the batch (columns: {batch.schema.names})"
            )
        column = batch.column(name)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            lengths = to_numpy(pc.list_value_length(column))
            if column.null_count or not np.all(lengths == 1):
                raise StatisticsError(
                    f"weight feature {name!r} must have exactly one value per example"
                )
            column = pc.list_flatten(column)
        if column.null_count:
            raise StatisticsError(
                f"weight feature {name!r} is missing in {column.null_count} example(s); "
                "every example needs a weight"
            )
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise StatisticsError(f"weight feature {name!r} must be numeric, found {column.type}")
        return to_numpy(column).astype(np.float64)

    def _add_slice(self, state: SliceAccumulator, batch: pa.RecordBatch | pa.Table) -> None:
        weights = self._weights(batch)
        state.num_examples += batch.num_rows
        if weights is not None:
            state.weighted_num_examples += float(weights.sum())
        tasks = []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if self._allow is not None and name not in self._allow:
                continue
            partial = state.features.get(name)
            if partial is None:
                partial = FeaturePartial()
                state.features[name] = partial
            tasks.append((partial, name, column, weights))
        self._run(tasks, batch.num_rows)
        state.custom = [
            generator.add_input(custom, batch)
            for generator, custom in zip(self._generators, state.custom, strict=True)
        ]

    def _run(self, tasks: list[_Task], num_rows: int) -> None:
        """Every task, on up to `threads` threads for large batches; the first error (in column
        order) is raised after all have run."""
        threads = min(self._threads, len(tasks))
        if threads <= 1 or num_rows < _PARALLEL_MIN_ROWS:
            for task in tasks:
                self._update(task)
            return
        errors: list[BaseException | None] = [None] * len(tasks)
        counter = itertools.count()  # next() on it is atomic under the GIL

        def work() -> None:
            while (i := next(counter)) < len(tasks):
                try:
                    self._update(tasks[i])
                except BaseException as exc:  # re-raised below, in column order
                    errors[i] = exc

        helpers = [
            threading.Thread(target=work, name="headwater-stats", daemon=True)
            for _ in range(threads - 1)
        ]
        for helper in helpers:
            helper.start()
        work()
        for helper in helpers:
            helper.join()
        for error in errors:
            if error is not None:
                raise error

    def _update(self, task: _Task) -> None:
        partial, name, column, weights = task
        try:
            update_feature(
                partial,
                name,
                column,
                weights,
                forced_type=self._types.get(name),
                categorical=name in self._categorical,
                epsilon=self._options.epsilon,
                exact_limit=self._options.exact_unique_limit,
            )
        except pa.ArrowException as exc:
            raise StatisticsError(
                f"feature {name!r} ({column.type}): cannot compute statistics: {exc}"
            ) from exc

    def merge_accumulators(self, accumulators: Iterable[Accumulator]) -> Accumulator:
        """One accumulator holding all of `accumulators` (the first one is reused)."""
        iterator = iter(accumulators)
        result = next(iterator, None)
        if result is None:
            return self.create_accumulator()
        for accumulator in iterator:
            for key, state in accumulator.items():
                target = result.get(key)
                if target is None:
                    result[key] = state
                    continue
                target.num_examples += state.num_examples
                target.weighted_num_examples += state.weighted_num_examples
                for name, partial in state.features.items():
                    existing = target.features.get(name)
                    if existing is None:
                        target.features[name] = partial
                    else:
                        existing.merge(name, partial)
                target.custom = [
                    generator.merge_accumulators([mine, theirs])
                    for generator, mine, theirs in zip(
                        self._generators, target.custom, state.custom, strict=True
                    )
                ]
        return result

    def compact(self, accumulator: Accumulator) -> Accumulator:
        """The accumulator as is (sketches stay compact as they go)."""
        return accumulator

    def extract_output(
        self, accumulator: Accumulator
    ) -> statistics_pb2.DatasetFeatureStatisticsList:
        """A `DatasetFeatureStatisticsList`: one dataset, or 'All Examples' then each slice."""
        result = statistics_pb2.DatasetFeatureStatisticsList()
        sliced = bool(self._options.slice_functions)
        keys = [DEFAULT_SLICE_KEY, *sorted(k for k in accumulator if k != DEFAULT_SLICE_KEY)]
        for key in keys:
            state = accumulator.get(key) or self._slice(accumulator, key)
            dataset = result.datasets.add()
            if sliced:
                dataset.name = key
            self._fill_dataset(dataset, state)
        return result

    def _fill_dataset(
        self, dataset: statistics_pb2.DatasetFeatureStatistics, state: SliceAccumulator
    ) -> None:
        options = self._options
        weighted = options.weight_feature is not None
        dataset.num_examples = state.num_examples
        if weighted:
            dataset.weighted_num_examples = state.weighted_num_examples
        for name in sorted(state.features):
            dataset.features.append(
                feature_statistics(
                    name,
                    state.features[name],
                    num_examples=state.num_examples,
                    weighted_num_examples=state.weighted_num_examples if weighted else None,
                    is_bytes=name in self._bytes,
                    options=options,
                )
            )
        for generator, custom in zip(self._generators, state.custom, strict=True):
            _merge_custom(dataset, generator.extract_output(custom))


def _check_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise StatisticsError(
            f"features {repeated} appear more than once in the batch's columns {names}; "
            "expected each feature once"
        )


def _merge_custom(
    dataset: statistics_pb2.DatasetFeatureStatistics,
    extra: statistics_pb2.DatasetFeatureStatistics,
) -> None:
    by_path = {tuple(f.path.step) or (f.name,): f for f in dataset.features}
    for feature in extra.features:
        key = tuple(feature.path.step) or (feature.name,)
        existing = by_path.get(key)
        if existing is None:
            dataset.features.append(feature)
        else:
            existing.MergeFrom(feature)
    dataset.cross_features.extend(extra.cross_features)


def _is_categorical_numeric(feature: schema_pb2.Feature) -> bool:
    if feature.type == schema_pb2.INT:
        return (feature.HasField("int_domain") and feature.int_domain.is_categorical) or (
            feature.WhichOneof("domain_info") in ("bool_domain", "natural_language_domain")
        )
    if feature.type == schema_pb2.FLOAT:
        return feature.HasField("float_domain") and feature.float_domain.is_categorical
    return False
