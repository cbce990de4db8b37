"""ExampleGen as a Beam pipeline: the same splits and files as the plain path, at scale.

Each input file is read by a headwater.io source, batches are hash-split by the same
`assign_splits` as the plain path, and each split is written by headwater.io's sink as
`Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz` (or Parquet), on the pipeline's runner.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from headwater.orchestration.context import beam_pipeline
from headwater.orchestration.example_files import FORMAT_PARQUET, check_payload_format
from headwater.orchestration.example_gen import (
    OutputConfig,
    ResolvedInput,
    as_output_config,
    check_partition_feature,
    output_split_names,
    record_properties,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from headwater.orchestration.artifacts import Examples


def _record_batch_type() -> type:
    """pyarrow.RecordBatch, imported when a pipeline is built (pyarrow is not needed before)."""
    import pyarrow as pa

    return pa.RecordBatch


def _assign(batch: pa.RecordBatch, ratios: Mapping[str, int], key: str | None) -> Iterator[Any]:
    """Tagged parts of one batch, one per split with rows."""
    import apache_beam as beam

    import headwater.io as hio

    check_partition_feature(batch, key)
    for name, part in hio.assign_splits(batch, ratios, key=key).items():
        if part.num_rows:
            yield beam.pvalue.TaggedOutput(name, part)


def write_examples_beam(
    examples: Examples,
    resolved: ResolvedInput,
    make_source: Callable[[str], Any],
    *,
    output_config: OutputConfig | Mapping[str, int] | None,
    payload_format: str,
    num_shards: int = 1,
    make_parts_source: Callable[[str, Mapping[str, int]], Any] | None = None,
) -> None:
    """Read, split and write `examples` in one Beam pipeline (see the module docstring).

    A hash split reads each file with `make_parts_source(path, ratios)` (a transform whose result
    is indexed by split name) when given and no partition feature is set.
    """
    import apache_beam as beam

    import headwater.io as hio

    check_payload_format(payload_format)
    names = output_split_names(resolved, output_config)
    prefix = "data_parquet" if payload_format == FORMAT_PARQUET else "data_tfrecord"

    def sink(name: str) -> Any:
        path = os.path.join(examples.split_uri(name), prefix)
        if payload_format == FORMAT_PARQUET:
            return hio.WriteParquet(path, num_shards=num_shards)
        return hio.WriteTFRecord(path, num_shards=num_shards, compression="gzip")

    def read(p: Any, label: str, paths: list[str]) -> Any:
        reads = [p | f"Read{label}[{i}]" >> make_source(path) for i, path in enumerate(paths)]
        return reads | f"Flatten{label}" >> beam.Flatten()

    with beam_pipeline() as p:
        if len(resolved.files) == 1:
            out = as_output_config(output_config)
            ratios = {k: int(v) for k, v in out.splits.items()}
            [paths] = resolved.files.values()
            if make_parts_source is not None and out.partition_feature is None:
                per_file = [
                    p | f"ReadParts[{i}]" >> make_parts_source(path, ratios)
                    for i, path in enumerate(paths)
                ]
                for name in names:
                    split = [parts[name] for parts in per_file]
                    merged = split | f"Flatten[{name}]" >> beam.Flatten()
                    _ = merged | f"Write[{name}]" >> sink(name)
            else:
                parts = read(p, "", paths) | "Split" >> beam.FlatMap(
                    _assign, ratios, out.partition_feature
                ).with_outputs(*names)
                for name in names:
                    # Tagged outputs carry no type: without one Beam pickles whole batches to
                    # sample their sizes instead of using headwater.io's RecordBatchCoder.
                    parts[name].element_type = _record_batch_type()
                    _ = parts[name] | f"Write[{name}]" >> sink(name)
        else:
            for name, paths in resolved.files.items():
                _ = read(p, f"[{name}]", paths) | f"Write[{name}]" >> sink(name)
    record_properties(examples, resolved, names, payload_format)
