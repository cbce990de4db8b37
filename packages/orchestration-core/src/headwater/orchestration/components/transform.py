"""Transform: analyze Examples with a user's preprocessing_fn; save the graph, transform splits.

Writes the TransformGraph in TFT's layout (`transform_fn/`, `transformed_metadata/`,
`metadata/`) and, with `materialize`, the transformed splits as gzip TFRecords of tf.Example
(`Split-<name>/transformed_examples-*.gz`), as TFX's Transform does. Unless `disable_statistics`,
it also writes TFX's statistics outputs with headwater.data_validation, in the same Beam
pipeline: `FeatureStats.pb` of the analyzed data and its `schema.pbtxt` (pre-transform), and of
the transformed splits with the transformed schema and their `SchemaDiff.pb` (post-transform).
Inputs too small to repay Beam's start-up (`prefer_beam`) run the library's in-memory twins
instead: the same combiners, graph and files, without building a Beam pipeline.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from headwater.orchestration.artifacts import (
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    Schema,
    Split,
    TransformCache,
    TransformGraph,
)
from headwater.orchestration.context import beam_pipeline, prefer_beam
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.example_files import FORMAT_PARQUET
from headwater.orchestration.training.user_code import load_user_fn

TRANSFORMED_EXAMPLES_PREFIX = "transformed_examples"


@dataclass(frozen=True, kw_only=True)
class SplitsConfig:
    """Splits to analyze and splits to transform (TFX's SplitsConfig)."""

    analyze: tuple[str, ...] = ("train",)
    transform: tuple[str, ...] = ()
    """Splits to transform; empty means every split of the examples."""

    def __post_init__(self) -> None:
        if not self.analyze:
            raise ValueError("SplitsConfig.analyze needs at least one split")


def _with_custom_config(fn: Any, custom_config: dict[str, Any] | None) -> Any:
    """TFX calls `preprocessing_fn(inputs, custom_config)` when the function takes two args."""
    if len(inspect.signature(fn).parameters) < 2:
        return fn

    @functools.wraps(fn)
    def call(inputs: Any) -> Any:
        return fn(inputs, custom_config or {})

    return call


@component
def Transform(
    examples: InputArtifact[Examples],
    schema: InputArtifact[Schema],
    transform_graph: OutputArtifact[TransformGraph],
    transformed_examples: OutputArtifact[Examples],
    pre_transform_schema: OutputArtifact[Schema],
    pre_transform_stats: OutputArtifact[ExampleStatistics],
    post_transform_schema: OutputArtifact[Schema],
    post_transform_stats: OutputArtifact[ExampleStatistics],
    post_transform_anomalies: OutputArtifact[ExampleAnomalies],
    updated_analyzer_cache: OutputArtifact[TransformCache],
    analyzer_cache: InputArtifact[TransformCache] | None = None,
    module_file: Parameter[str | None] = None,
    preprocessing_fn: Parameter[str | None] = None,
    splits_config: Parameter[SplitsConfig] = SplitsConfig(),
    materialize: Parameter[bool] = True,
    custom_config: Parameter[dict[str, Any] | None] = None,
    disable_statistics: Parameter[bool] = False,
    disable_analyzer_cache: Parameter[bool] = False,
) -> None:
    """Analyze `splits_config.analyze` with `preprocessing_fn` from `module_file` (or the
    dotted path `preprocessing_fn`), save the transform graph, and transform the splits.

    Statistics outputs (TFX's names and files, at the artifact's root) are left empty with
    `disable_statistics`. First-pass analyzer accumulators are cached per span, version and
    split in `updated_analyzer_cache` (carrying over `analyzer_cache`), so a later run over a
    span seen before does not re-analyze it; `disable_analyzer_cache` turns this off."""
    import headwater.transform as tft

    fn = _with_custom_config(
        load_user_fn(module_file, "preprocessing_fn", preprocessing_fn), custom_config
    )
    raw_schema = schema.read()
    by_name = {split.name: split for split in examples.splits()}
    missing = [name for name in splits_config.analyze if name not in by_name]
    if missing:
        raise ValueError(
            f"Transform: splits_config.analyze names {missing}, examples have {sorted(by_name)}"
        )
    to_transform = (
        [by_name[name] for name in splits_config.transform]
        if splits_config.transform
        else list(by_name.values())
    )
    parquet = examples.payload_format == FORMAT_PARQUET
    stats = None
    if not disable_statistics:
        stats = _StatsOutputs(
            raw_schema,
            pre_transform_schema.uri,
            pre_transform_stats.uri,
            post_transform_schema.uri,
            post_transform_stats.uri,
            post_transform_anomalies.uri,
        )
    cache_dir = None
    if not disable_analyzer_cache:
        cache_dir = updated_analyzer_cache.uri
        if analyzer_cache is not None and os.path.isdir(analyzer_cache.uri):
            shutil.copytree(analyzer_cache.uri, cache_dir, dirs_exist_ok=True)
    work = tempfile.mkdtemp(prefix="headwater-transform-")
    analyze = [by_name[n] for n in splits_config.analyze]
    transform = to_transform if materialize or stats else []
    files = [f for split in (*analyze, *transform) for f in split.files]
    run = _run_beam if prefer_beam(files) else _run_in_memory
    try:
        run(
            tft,
            fn,
            raw_schema,
            analyze,
            transform,
            parquet,
            transform_graph.uri,
            transformed_examples if materialize else None,
            work,
            stats,
            cache_dir,
            _cache_key_prefix(examples),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cache_key_prefix(examples: Any) -> str:
    """Analyzer cache key of the examples' data: its span and version (TFX keys by span)."""
    return f"span-{examples.span or 0}-version-{examples.version or 0}"


@dataclass(frozen=True)
class _StatsOutputs:
    """Where the statistics outputs go (artifact directories), and the raw schema."""

    raw_schema: Any
    pre_schema: str
    pre_stats: str
    post_schema: str
    post_stats: str
    post_anomalies: str

    def write_pre(self, stats: Any) -> None:
        """Pre-transform: statistics of the analyzed data and the raw schema (TFX's files)."""
        import headwater.data_validation as dv

        dv.write_stats_binary(stats, os.path.join(self.pre_stats, ExampleStatistics.FILE_NAME))
        dv.write_schema_text(self.raw_schema, os.path.join(self.pre_schema, Schema.FILE_NAME))

    def write_post(self, stats: Any, graph_uri: str) -> None:
        """Post-transform: statistics, the transformed schema, and anomalies against it."""
        import headwater.data_validation as dv

        schema = dv.load_schema_text(
            os.path.join(graph_uri, "transformed_metadata", Schema.FILE_NAME)
        )
        dv.write_stats_binary(stats, os.path.join(self.post_stats, ExampleStatistics.FILE_NAME))
        dv.write_schema_text(schema, os.path.join(self.post_schema, Schema.FILE_NAME))
        anomalies = dv.validate_statistics(stats, schema)
        path = os.path.join(self.post_anomalies, ExampleAnomalies.FILE_NAME)
        with open(path, "wb") as f:
            f.write(anomalies.SerializeToString(deterministic=True))


def _run_beam(
    tft: Any,
    fn: Any,
    raw_schema: Any,
    analyze: list[Split],
    transform: list[Split],
    parquet: bool,
    graph_uri: str,
    transformed_examples: Any,
    work: str,
    stats: _StatsOutputs | None,
    cache_dir: str | None,
    cache_key: str,
) -> None:
    """One Beam pipeline: analyze, save the graph, transform and write each split (and the
    statistics of the analyzed and the transformed data)."""
    import apache_beam as beam

    import headwater.data_validation as dv
    import headwater.io as hio

    def read(split: Split) -> Any:
        return hio.ReadParquet(split.uri) if parquet else hio.ReadTFRecord(split.uri)

    with beam_pipeline() as pipeline, tft.Context(temp_dir=work):
        raw = {
            f"{cache_key}-split-{split.name}": pipeline
            | f"ReadAnalyze[{split.name}]" >> read(split)
            for split in analyze
            if split.files
        }
        if not raw:
            raise ValueError(f"Transform: no data files in splits {[s.name for s in analyze]}")
        flat = list(raw.values()) | "FlattenAnalyze" >> beam.Flatten()
        if cache_dir is None:
            transform_fn = (flat, raw_schema) | "Analyze" >> tft.AnalyzeDataset(fn, graph_uri)
        else:
            transform_fn = (raw, raw_schema) | "Analyze" >> tft.AnalyzeDatasetsWithCache(
                fn, cache_dir, graph_uri
            )
        if stats is not None:
            _ = (
                tuple(raw.values())
                | "PreTransformStats" >> dv.GenerateStatistics()
                | "WritePreTransformStats" >> beam.Map(stats.write_pre)
            )
        outputs = []
        for split in transform:
            if transformed_examples is not None:
                transformed_examples.split_uri(split.name)
            if not split.files:
                continue
            batches = pipeline | f"ReadTransform[{split.name}]" >> read(split)
            transformed, _ = ((batches, raw_schema), transform_fn) | (
                f"Transform[{split.name}]" >> tft.TransformDataset()
            )
            outputs.append(transformed)
            if transformed_examples is not None:
                out = os.path.join(
                    transformed_examples.split_uri(split.name), TRANSFORMED_EXAMPLES_PREFIX
                )
                _ = transformed | f"Write[{split.name}]" >> hio.WriteTFRecord(out)
        if stats is not None and outputs:
            # Statistics per split, merged: a Flatten of the transformed rows would be held in
            # memory whole by the FnApiRunner (docs/scaling.md).
            _ = (
                tuple(outputs)
                | "PostTransformStats" >> dv.GenerateStatistics()
                | "WritePostTransformStats" >> beam.Map(stats.write_post, graph_uri)
            )


def _run_in_memory(
    tft: Any,
    fn: Any,
    raw_schema: Any,
    analyze: list[Split],
    transform: list[Split],
    parquet: bool,
    graph_uri: str,
    transformed_examples: Any,
    work: str,
    stats: _StatsOutputs | None,
    cache_dir: str | None,
    cache_key: str,
) -> None:
    """`_run_beam`'s twin for a small input: the same analysis, graph, transformed files and
    statistics, computed in this process without Beam (whose start-up dominates small data)."""
    import headwater.data_validation as dv
    import headwater.io as hio

    del parquet  # read_batches reads either payload
    raw = {f"{cache_key}-split-{split.name}": split for split in analyze if split.files}
    if not raw:
        raise ValueError(f"Transform: no data files in splits {[s.name for s in analyze]}")
    if cache_dir is None:
        analyzed = [batch for split in raw.values() for batch in split.read_batches()]
        tft.analyze_dataset(analyzed, raw_schema, fn, graph_uri, temp_dir=work)
    else:
        tft.analyze_datasets_with_cache(
            {key: split.read_batches for key, split in raw.items()},
            raw_schema,
            fn,
            graph_uri,
            cache_dir=cache_dir,
            temp_dir=work,
        )
    if stats is not None:
        stats.write_pre(_statistics(dv, [split.read_batches() for split in raw.values()]))
    output = tft.TransformOutput(graph_uri)
    transformed_by_split: dict[str, list[Any]] = {}
    for split in transform:
        if transformed_examples is not None:
            transformed_examples.split_uri(split.name)
        if not split.files:
            continue
        transformed = list(tft.transform_dataset(split.read_batches(), output, raw_schema))
        transformed_by_split[split.name] = transformed
        if transformed_examples is not None:
            out = os.path.join(
                transformed_examples.split_uri(split.name), TRANSFORMED_EXAMPLES_PREFIX
            )
            hio.write_tfrecord(transformed, out)
    if stats is not None and transformed_by_split:
        post = _statistics(dv, list(transformed_by_split.values()))
        stats.write_post(post, graph_uri)


def _statistics(dv: Any, splits: list[Any]) -> Any:
    """Statistics of several splits' batches as GenerateStatistics computes them on Beam: one
    accumulator per split, batch by batch, then merged. (Beam merges in whatever order its
    bundles finish, so float sums of several splits may differ in their last bits.)"""
    combiner = dv.StatisticsCombiner()
    accumulators = []
    for batches in splits:
        acc = combiner.create_accumulator()
        for batch in batches:
            acc = combiner.add_input(acc, batch)
        accumulators.append(acc)
    return combiner.extract_output(combiner.merge_accumulators(accumulators))
