"""StatisticsGen: per-split statistics of Examples (TFX's `FeatureStats.pb`) and an HTML view."""

from __future__ import annotations

import os
from typing import Any

from headwater.orchestration.artifacts import Examples, ExampleStatistics, Schema, Split
from headwater.orchestration.context import beam_pipeline, prefer_beam
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component
from headwater.orchestration.example_files import FORMAT_PARQUET

VIEW_FILE = "FeatureStats.html"
"""The HTML view written beside each split's FeatureStats.pb."""


@component
def StatisticsGen(
    examples: InputArtifact[Examples],
    statistics: OutputArtifact[ExampleStatistics],
    schema: InputArtifact[Schema] | None = None,
    exclude_splits: Parameter[list[str] | None] = None,
) -> None:
    """Statistics for every split of `examples` (but `exclude_splits`), computed with Beam.

    Inputs too small to repay Beam's start-up run the same combiner in memory (`prefer_beam`).

    Writes `Split-<name>/FeatureStats.pb` (a binary DatasetFeatureStatisticsList, as TFX) and
    `Split-<name>/FeatureStats.html` beside it. With `schema`, feature types come from it.
    """
    import headwater.data_validation as dv

    options = dv.StatsOptions(schema=dv.load_schema(schema.uri) if schema is not None else None)
    splits = examples.splits(exclude=exclude_splits or ())
    outputs = {split.name: statistics.split_uri(split.name) for split in splits}
    with_files = [split for split in splits if split.files]
    if prefer_beam([f for split in with_files for f in split.files]):
        _run_beam(with_files, examples.payload_format == FORMAT_PARQUET, options, outputs)
    else:  # small input on the DirectRunner: the same combiner without Beam's start-up
        for split in with_files:
            stats = dv.generate_statistics(split.read_batches(), options)
            dv.write_stats_binary(
                stats, os.path.join(outputs[split.name], ExampleStatistics.FILE_NAME)
            )
    for directory in outputs.values():
        path = os.path.join(directory, ExampleStatistics.FILE_NAME)
        if not os.path.exists(path):  # a split without data files: zero examples
            dv.write_stats_binary(dv.generate_statistics([], options), path)
        dv.visualize_statistics(dv.load_stats_binary(path), path=os.path.join(directory, VIEW_FILE))


def _run_beam(splits: list[Split], parquet: bool, options: Any, outputs: dict[str, str]) -> None:
    """One Beam pipeline reading every split and writing its statistics file."""
    import apache_beam as beam

    import headwater.data_validation as dv
    import headwater.io as hio

    def write(stats: Any, directory: str) -> None:
        dv.write_stats_binary(stats, os.path.join(directory, ExampleStatistics.FILE_NAME))

    with beam_pipeline() as pipeline:
        for split in splits:
            read = hio.ReadParquet(split.uri) if parquet else hio.ReadTFRecord(split.uri)
            _ = (
                pipeline
                | f"Read[{split.name}]" >> read
                | f"Stats[{split.name}]" >> dv.GenerateStatistics(options)
                | f"Write[{split.name}]" >> beam.Map(write, outputs[split.name])
            )
