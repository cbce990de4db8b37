"""The plain in-memory driver: analyze and transform an iterable of RecordBatches, no Beam.

It uses the same tracing, combiners and saved graph as the Beam transforms in
`headwater.transform.beam`, so both give the same result (a parity test checks it).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.io import read_ahead
from headwater.transform.analysis import PhaseCombiner, finalize
from headwater.transform.features import feature_spec
from headwater.transform.graph import PreprocessingFn, TracedGraph, trace
from headwater.transform.output import TransformOutput
from headwater.transform.saved_transform import (
    TRANSFORM_FN_DIR,
    SavedTransformRunner,
    save_transform_function,
)

logger = logging.getLogger(__name__)

RawMetadata = Any
"""A tensorflow-metadata Schema, a feature-spec dict, or an object with `.schema`."""


def raw_schema_of(raw_metadata: Any) -> schema_pb2.Schema | None:
    """The tensorflow-metadata Schema behind raw metadata (None for a plain feature spec)."""
    schema = getattr(raw_metadata, "schema", raw_metadata)
    return schema if isinstance(schema, schema_pb2.Schema) else None


def spec_of(raw_metadata: Any) -> dict[str, Any]:
    """Feature spec of a Schema, a feature-spec dict, or a DatasetMetadata-like object."""
    return feature_spec(getattr(raw_metadata, "schema", raw_metadata))


def run_analysis(traced: TracedGraph, passes: Any, vocab_dir: str) -> dict[str, Any]:
    """Run every analysis pass; `passes()` returns a fresh iterator over the batches."""
    results: dict[str, Any] = {}
    for level in range(traced.num_levels):
        nodes = traced.level_nodes(level)
        runner = traced.phase_runner(level, results)
        combiner = PhaseCombiner(nodes)
        acc = combiner.create_accumulator()
        rows = 0
        for fetched, num_rows in read_ahead(map(runner.run_counted, passes())):
            acc = combiner.add_input(acc, fetched)
            rows += num_rows
        logger.info("analysis pass %d: %d analyzers over %d rows", level, len(nodes), rows)
        results.update(finalize(nodes, combiner.extract_output(acc), vocab_dir))
    return results


def analyze_dataset(
    batches: Iterable[pa.RecordBatch],
    raw_metadata: RawMetadata,
    preprocessing_fn: PreprocessingFn,
    output_dir: str,
    *,
    temp_dir: str | None = None,
) -> TransformOutput:
    """Analyze `batches` and write the transform graph to `output_dir` (TFT layout).

    Example:
        tft_output = analyze_dataset(read_csv("data.csv"), schema, preprocessing_fn, "out/")
    """
    traced = trace(preprocessing_fn, spec_of(raw_metadata))
    data: Iterable[pa.RecordBatch] = batches
    if traced.num_levels > 1 and iter(batches) is batches:
        data = list(batches)  # several passes over a one-shot iterator
    tmp = tempfile.mkdtemp(dir=temp_dir, prefix="headwater-transform-")
    function = None
    try:
        results = run_analysis(traced, lambda: iter(data), os.path.join(tmp, "vocabularies"))
        function = save_transform_function(traced, results, output_dir, raw_schema_of(raw_metadata))
    finally:
        if function is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # the traced function reads its vocabularies there: removed with it
            weakref.finalize(function, shutil.rmtree, tmp, True)
    output = TransformOutput(output_dir)
    output.analyzed_function = function
    return output


def transform_dataset(
    batches: Iterable[pa.RecordBatch],
    transform_output: TransformOutput | str,
    raw_metadata: RawMetadata | None = None,
) -> Iterator[pa.RecordBatch]:
    """Apply a saved transform graph to raw batches, batch by batch."""
    out = (
        transform_output
        if isinstance(transform_output, TransformOutput)
        else TransformOutput(transform_output)
    )
    spec = spec_of(raw_metadata) if raw_metadata is not None else out.raw_feature_spec()
    runner = SavedTransformRunner(
        os.path.join(out.transform_output_dir, TRANSFORM_FN_DIR), spec, out.analyzed_function
    )
    yield from read_ahead(map(runner.run, batches))


def analyze_and_transform_dataset(
    batches: Iterable[pa.RecordBatch],
    raw_metadata: RawMetadata,
    preprocessing_fn: PreprocessingFn,
    output_dir: str,
    *,
    temp_dir: str | None = None,
) -> tuple[list[pa.RecordBatch], TransformOutput]:
    """Analyze `batches`, save the graph, and transform the same batches with it."""
    data = batches if iter(batches) is not batches else list(batches)
    out = analyze_dataset(data, raw_metadata, preprocessing_fn, output_dir, temp_dir=temp_dir)
    return list(transform_dataset(data, out, raw_metadata)), out
