"""CsvExampleGen: CSV files into Examples (TFRecord of tf.Example gzip, or Parquet), split."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from headwater.orchestration.artifacts import Examples
from headwater.orchestration.context import parallel_beam_requested
from headwater.orchestration.dsl import OutputArtifact, Parameter, component
from headwater.orchestration.example_gen import (
    FORMAT_TF_EXAMPLE,
    InputConfig,
    OutputConfig,
    RangeConfig,
    as_input_config,
    input_fingerprint,
    resolve_input,
    write_examples,
)
from headwater.orchestration.example_gen_beam import write_examples_beam


@component(fingerprint=input_fingerprint)
def CsvExampleGen(
    examples: OutputArtifact[Examples],
    input_base: Parameter[str],
    input_config: Parameter[InputConfig | Mapping[str, str] | str | None] = None,
    output_config: Parameter[OutputConfig | Mapping[str, int] | None] = None,
    range_config: Parameter[RangeConfig | None] = None,
    payload_format: Parameter[str] = FORMAT_TF_EXAMPLE,
    skip_bad_rows: Parameter[bool] = False,
    use_beam: Parameter[bool] = False,
    num_shards: Parameter[int] = 1,
) -> None:
    """Read the CSV files under `input_base` (latest span by default) and write split Examples.

    `use_beam` runs it as a Beam pipeline on the pipeline's runner (`num_shards` per split), as
    do beam_pipeline_args asking for parallel Beam (a non-local runner, several direct workers);
    the plain path (default) streams in this process, shards of 250k rows.
    """
    import headwater.io as hio

    def read(path: str) -> Iterator[Any]:
        return iter(hio.read_csv(path, skip_bad_rows=skip_bad_rows))

    resolved = resolve_input(input_base, as_input_config(input_config), range_config)
    if use_beam or parallel_beam_requested():
        write_examples_beam(
            examples,
            resolved,
            lambda path: hio.ReadCsv(path, skip_bad_rows=skip_bad_rows),
            output_config=output_config,
            payload_format=payload_format,
            num_shards=num_shards,
        )
        return
    write_examples(
        examples, resolved, read, output_config=output_config, payload_format=payload_format
    )
