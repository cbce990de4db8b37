"""ImportExampleGen: TFRecord of tf.Example (gzip or not) or Parquet files into Examples."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from headwater.orchestration.artifacts import Examples
from headwater.orchestration.context import parallel_beam_requested
from headwater.orchestration.dsl import OutputArtifact, Parameter, component
from headwater.orchestration.example_files import FORMAT_PARQUET, FORMAT_TF_EXAMPLE
from headwater.orchestration.example_gen import (
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
def ImportExampleGen(
    examples: OutputArtifact[Examples],
    input_base: Parameter[str],
    input_config: Parameter[InputConfig | Mapping[str, str] | str | None] = None,
    output_config: Parameter[OutputConfig | Mapping[str, int] | None] = None,
    range_config: Parameter[RangeConfig | None] = None,
    input_format: Parameter[str | None] = None,
    payload_format: Parameter[str | None] = None,
    use_beam: Parameter[bool] = False,
    num_shards: Parameter[int] = 1,
) -> None:
    """Import tf.Example TFRecords or Parquet files; output in `payload_format` (default: input's).

    `input_format` (FORMAT_TF_EXAMPLE or FORMAT_PARQUET) defaults to what the file names say:
    `.parquet` is Parquet, anything else TFRecord of tf.Example. `use_beam` runs it as a Beam
    pipeline on the pipeline's runner (`num_shards` per split), as do beam_pipeline_args asking
    for parallel Beam (a non-local runner, several direct workers).
    """
    import headwater.io as hio

    resolved = resolve_input(input_base, as_input_config(input_config), range_config)
    first = next(path for paths in resolved.files.values() for path in paths)
    detected = FORMAT_PARQUET if first.endswith(".parquet") else FORMAT_TF_EXAMPLE
    fmt = input_format or detected

    # TFRecords are split as TFX splits them: by the hash of each record, not of decoded rows.
    tfrecord = fmt != FORMAT_PARQUET
    if use_beam or parallel_beam_requested():
        write_examples_beam(
            examples,
            resolved,
            lambda path: hio.ReadTFRecord(path) if tfrecord else hio.ReadParquet(path),
            output_config=output_config,
            payload_format=payload_format or fmt,
            num_shards=num_shards,
            make_parts_source=hio.ReadTFRecordParts if tfrecord else None,
        )
        return

    def read(path: str) -> Iterator[Any]:
        if fmt == FORMAT_PARQUET:
            return iter(hio.read_parquet(path))
        return iter(hio.read_tfrecord(path))

    write_examples(
        examples,
        resolved,
        read,
        output_config=output_config,
        payload_format=payload_format or fmt,
        read_parts=hio.read_tfrecord_parts if tfrecord else None,
    )
