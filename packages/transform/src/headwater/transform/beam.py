"""Beam transforms under TFT's names: AnalyzeDataset, AnalyzeAndTransformDataset, ...

Datasets are `(PCollection[pa.RecordBatch], raw_metadata)` pairs, raw_metadata being a
tensorflow-metadata Schema or a feature-spec dict. The preprocessing_fn is traced when the
pipeline is built, so a bad function fails before any Beam work. Each analyzer nesting level is
one pass: a ParDo fetching the analyzers' inputs batch by batch, a CombineGlobally reducing them
with the shared combiners, and a Map writing vocabularies; the transform graph is then saved and
applied by a ParDo that loads it.

Example (FnApiRunner: in-process; Beam's DirectRunner first tries Prism, which fetches a binary
and listens on all interfaces):
    with beam.Pipeline(runner="FnApiRunner") as p, Context(temp_dir="/tmp/tft"):
        batches = p | ReadCsv("data.csv")
        (transformed, metadata), transform_fn = (
            (batches, schema) | AnalyzeAndTransformDataset(preprocessing_fn))
        _ = transform_fn | WriteTransformFn("out/transform_graph")
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from typing import Any, ClassVar

import apache_beam as beam
import pyarrow as pa

from headwater.io import filesystems
from headwater.io.beam_io import CombineGloballyWithDefault
from headwater.transform.analysis import PhaseCombiner, finalize
from headwater.transform.cache import (
    graph_fingerprint,
    key_file,
    load_accumulators,
    store_accumulators,
)
from headwater.transform.features import DatasetMetadata
from headwater.transform.graph import GraphRunner, PreprocessingFn, TracedGraph, trace
from headwater.transform.impl import raw_schema_of, spec_of
from headwater.transform.saved_transform import (
    TRANSFORM_FN_DIR,
    SavedTransformRunner,
    save_transform,
)


class Context:
    """Where Beam analysis writes temporary files (TFT's `tft_beam.Context`).

    Example:
        with Context(temp_dir="/tmp/work"):
            transform_fn = (batches, schema) | AnalyzeDataset(preprocessing_fn)
    """

    _stack: ClassVar[list[str]] = []

    def __init__(self, temp_dir: str | None = None) -> None:
        self.temp_dir = temp_dir

    def __enter__(self) -> Context:
        Context._stack.append(self.temp_dir or tempfile.gettempdir())
        return self

    def __exit__(self, *exc: object) -> None:
        Context._stack.pop()

    @classmethod
    def get_temp_dir(cls) -> str:
        return cls._stack[-1] if cls._stack else tempfile.gettempdir()


class _DatasetTransform(beam.PTransform):
    """A PTransform over `(batches, raw_metadata)` tuples: only PCollections are inputs, the
    metadata (a Schema or feature-spec dict) is passed through as is, as TFT does."""

    def _extract_input_pvalues(self, pvalueish: Any) -> Any:
        found: list[Any] = []

        def walk(value: Any) -> None:
            if isinstance(value, beam.pvalue.PValue):
                found.append(value)
            elif type(value) is tuple:
                for item in value:
                    walk(item)

        walk(pvalueish)
        return pvalueish, {str(i): v for i, v in enumerate(found)}


class _FetchAnalyzerInputs(beam.DoFn):
    """Run one pass's graph over each batch, emitting the analyzers' input arrays."""

    def __init__(self, traced: TracedGraph, level: int) -> None:
        self._traced = traced
        self._level = level
        self._runner: GraphRunner | None = None

    def process(self, batch: pa.RecordBatch, results: dict[str, Any]) -> Any:
        if self._runner is None:
            self._runner = self._traced.phase_runner(self._level, results)
        yield self._runner.run(batch)


def _finalize(
    outputs: list[Any], nodes: list[Any], vocab_dir: str, previous: dict[str, Any]
) -> dict[str, Any]:
    """A level's analyzer results (vocabulary files written) merged into the earlier levels'."""
    return {**previous, **finalize(nodes, outputs, vocab_dir)}


def _save(results: dict[str, Any], traced: TracedGraph, output_dir: str, raw_schema: Any) -> str:
    return save_transform(traced, results, output_dir, raw_schema)


def _finalize_and_save(
    outputs: list[Any],
    nodes: list[Any],
    vocab_dir: str,
    previous: dict[str, Any],
    traced: TracedGraph,
    output_dir: str,
    raw_schema: Any,
) -> str:
    """The last level's results, then the transform graph saved with every level's."""
    return _save(_finalize(outputs, nodes, vocab_dir, previous), traced, output_dir, raw_schema)


def _analysis_levels(
    traced: TracedGraph,
    level_outputs: Any,
    work: str,
    output_dir: str,
    raw_schema: Any,
    pipeline: beam.Pipeline,
) -> beam.PCollection:
    """Publish each level's reduced outputs and save the graph: a singleton of its directory.

    `level_outputs(level, previous)` is the PCollection of the level's extracted outputs, given
    the earlier levels' results (`{}` for the first level, else a singleton side input). The
    last level's results go straight into the save (no separate merge step), so a one-level
    graph is one fetch, one combine and one Map.
    """
    vocab_dir = os.path.join(work, "vocabularies")
    if traced.num_levels == 0:
        results = pipeline | "NoResults" >> beam.Create([{}])
        return results | "SaveTransformFn" >> beam.Map(_save, traced, output_dir, raw_schema)
    previous: Any = {}
    for level in range(traced.num_levels):
        nodes = traced.level_nodes(level)
        outputs = level_outputs(level, previous)
        if level == traced.num_levels - 1:
            return outputs | "SaveTransformFn" >> beam.Map(
                _finalize_and_save, nodes, vocab_dir, previous, traced, output_dir, raw_schema
            )
        results = outputs | f"WriteResults[{level}]" >> beam.Map(
            _finalize, nodes, vocab_dir, previous
        )
        previous = beam.pvalue.AsSingleton(results)
    raise AssertionError("unreachable")


class AnalyzeDataset(_DatasetTransform):
    """Analyze `(batches, raw_metadata)`; output a singleton PCollection of the directory
    holding transform_fn/ and transformed_metadata/ (the transform_fn)."""

    def __init__(
        self,
        preprocessing_fn: PreprocessingFn,
        output_dir: str | None = None,
        _traced: TracedGraph | None = None,
    ) -> None:
        super().__init__()
        self._fn = preprocessing_fn
        self._output_dir = output_dir
        self._traced = _traced

    def expand(self, dataset: Any) -> Any:
        batches, raw_metadata = dataset
        traced = self._traced or trace(self._fn, spec_of(raw_metadata))
        work = os.path.join(Context.get_temp_dir(), f"headwater-transform-{uuid.uuid4().hex}")
        output_dir = self._output_dir or os.path.join(work, "transform_output")

        def level_outputs(level: int, previous: Any) -> beam.PCollection:
            fetched = batches | f"AnalyzerInputs[{level}]" >> beam.ParDo(
                _FetchAnalyzerInputs(traced, level), previous
            )
            return fetched | f"Reduce[{level}]" >> CombineGloballyWithDefault(
                _PhaseCombineFn(traced.level_nodes(level))
            )

        return _analysis_levels(
            traced, level_outputs, work, output_dir, raw_schema_of(raw_metadata), batches.pipeline
        )


class _PhaseCombineFn(PhaseCombiner, beam.CombineFn):
    """`PhaseCombiner` as a Beam CombineFn (the plain path uses `PhaseCombiner` without Beam)."""


class _AccumulateOnly(beam.CombineFn):
    """A pass's combiner whose output is its accumulator (to cache it)."""

    def __init__(self, nodes: list[Any]) -> None:
        super().__init__()
        self._combiner = PhaseCombiner(nodes)

    def create_accumulator(self) -> Any:
        return self._combiner.create_accumulator()

    def add_input(self, acc: Any, fetched: Any) -> Any:
        return self._combiner.add_input(acc, fetched)

    def merge_accumulators(self, accs: Any) -> Any:
        return self._combiner.merge_accumulators(accs)

    def extract_output(self, acc: Any) -> Any:
        return acc


class _MergeAndExtract(beam.CombineFn):
    """Merge accumulators (cached or fresh) and extract the pass's outputs."""

    def __init__(self, nodes: list[Any]) -> None:
        super().__init__()
        self._combiner = PhaseCombiner(nodes)

    def create_accumulator(self) -> Any:
        return self._combiner.create_accumulator()

    def add_input(self, acc: Any, other: Any) -> Any:
        return self._combiner.merge_accumulators([acc, other])

    def merge_accumulators(self, accs: Any) -> Any:
        return self._combiner.merge_accumulators(accs)

    def extract_output(self, acc: Any) -> Any:
        return self._combiner.extract_output(acc)


class AnalyzeDatasetsWithCache(beam.PTransform):
    """Analyze `({key: batches}, raw_metadata)`, reusing each key's cached first-pass
    accumulators from `cache_dir` and caching the new ones (TFT's analyzer cache; see
    `headwater.transform.cache`). Outputs the transform_fn directory, as AnalyzeDataset.

    Example:
        spans = {"span-1": p | "R1" >> ReadCsv("s1.csv"), "span-2": p | "R2" >> ReadCsv("s2.csv")}
        transform_fn = (spans, schema) | AnalyzeDatasetsWithCache(preprocessing_fn, "cache/")
    """

    def __init__(
        self, preprocessing_fn: PreprocessingFn, cache_dir: str, output_dir: str | None = None
    ) -> None:
        super().__init__()
        self._fn = preprocessing_fn
        self._cache_dir = cache_dir
        self._output_dir = output_dir

    def _extract_input_pvalues(self, pvalueish: Any) -> Any:
        datasets, _ = pvalueish
        return pvalueish, {str(i): v for i, v in enumerate(datasets.values())}

    def expand(self, inputs: Any) -> Any:
        datasets, raw_metadata = inputs
        traced = trace(self._fn, spec_of(raw_metadata))
        fingerprint = graph_fingerprint(traced)
        pipeline = next(iter(datasets.values())).pipeline
        work = os.path.join(Context.get_temp_dir(), f"headwater-transform-{uuid.uuid4().hex}")
        output_dir = self._output_dir or os.path.join(work, "transform_output")
        everything = list(datasets.values()) | "FlattenDatasets" >> beam.Flatten()

        def level_outputs(level: int, previous: Any) -> beam.PCollection:
            nodes = traced.level_nodes(level)
            if level > 0:
                fetched = everything | f"AnalyzerInputs[{level}]" >> beam.ParDo(
                    _FetchAnalyzerInputs(traced, level), previous
                )
                return fetched | f"Reduce[{level}]" >> CombineGloballyWithDefault(
                    _PhaseCombineFn(nodes)
                )
            accs = []
            for i, (key, batches) in enumerate(datasets.items()):
                path = key_file(self._cache_dir, fingerprint, key)
                if os.path.exists(path):
                    acc = (
                        pipeline
                        | f"CachedPath[{i}]" >> beam.Create([path])
                        | f"LoadCache[{i}]" >> beam.Map(load_accumulators)
                    )
                else:
                    acc = (
                        batches
                        | f"AnalyzerInputs[0][{i}]"
                        >> beam.ParDo(_FetchAnalyzerInputs(traced, 0), previous)
                        | f"Accumulate[{i}]" >> CombineGloballyWithDefault(_AccumulateOnly(nodes))
                        | f"StoreCache[{i}]" >> beam.Map(store_accumulators, path)
                    )
                accs.append(acc)
            return (
                accs
                | "FlattenAccumulators" >> beam.Flatten()
                | "Reduce[0]" >> CombineGloballyWithDefault(_MergeAndExtract(nodes))
            )

        return _analysis_levels(
            traced, level_outputs, work, output_dir, raw_schema_of(raw_metadata), pipeline
        )


class _ApplyTransform(beam.DoFn):
    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self._runner: SavedTransformRunner | None = None
        self._source: str | None = None
        self._local: Any = None  # a URL's local copy (a TransformOutput), kept while in use

    def process(self, batch: pa.RecordBatch, transform_dir: str) -> Any:
        if self._runner is None or self._source != transform_dir:
            path = os.path.join(transform_dir, TRANSFORM_FN_DIR)
            self._local = None
            if filesystems.is_url(transform_dir):
                from headwater.transform.output import TransformOutput

                self._local = TransformOutput(transform_dir)
                path = self._local.transform_savedmodel_dir
            self._runner = SavedTransformRunner(path, self._spec)
            self._source = transform_dir
        yield self._runner.run(batch)


class TransformDataset(_DatasetTransform):
    """Apply a transform_fn to `((batches, raw_metadata), transform_fn)`; output
    `(transformed batches, transformed DatasetMetadata)`. The metadata is known when transform_fn
    is a directory path; for a deferred transform_fn (a PCollection) it is None."""

    def expand(self, inputs: Any) -> Any:
        (batches, raw_metadata), transform_fn = inputs
        spec = spec_of(raw_metadata)
        side = (
            beam.pvalue.AsSingleton(transform_fn)
            if isinstance(transform_fn, beam.pvalue.PCollection)
            else transform_fn
        )
        transformed = batches | "Transform" >> beam.ParDo(_ApplyTransform(spec), side)
        if isinstance(transform_fn, str):  # the saved graph is there already: read its schema
            from headwater.transform.output import TransformOutput

            return transformed, DatasetMetadata(TransformOutput(transform_fn).transformed_schema)
        return transformed, None


class AnalyzeAndTransformDataset(_DatasetTransform):
    """Analyze a dataset and transform it with the result:
    `((transformed batches, transformed DatasetMetadata), transform_fn)`.

    The metadata's `.schema` is the transformed Schema (as TFT's); it also reads as the
    transformed feature spec (a mapping)."""

    def __init__(self, preprocessing_fn: PreprocessingFn, output_dir: str | None = None) -> None:
        super().__init__()
        self._fn = preprocessing_fn
        self._output_dir = output_dir

    def expand(self, dataset: Any) -> Any:
        batches, raw_metadata = dataset
        traced = trace(self._fn, spec_of(raw_metadata))
        transform_fn = dataset | "Analyze" >> AnalyzeDataset(self._fn, self._output_dir, traced)
        transformed, _ = ((batches, raw_metadata), transform_fn) | "Transform" >> TransformDataset()
        metadata = DatasetMetadata.from_feature_spec(dict(traced.output_feature_spec))
        return (transformed, metadata), transform_fn


def _copy_output(src: str, dst: str) -> str:
    if src == dst or (
        not filesystems.is_url(src)
        and not filesystems.is_url(dst)
        and os.path.abspath(src) == os.path.abspath(dst)
    ):
        return dst
    if filesystems.is_url(src) or filesystems.is_url(dst):
        # A URL on either side: through a local copy, each file published whole.
        local = tempfile.mkdtemp(prefix="headwater-transform-fn-")
        try:
            if filesystems.is_url(src):
                filesystems.download_tree(src, local)
            else:
                shutil.copytree(src, local, dirs_exist_ok=True)
            if filesystems.is_url(dst):
                filesystems.upload_tree(local, dst)
            else:
                _copy_output(local, dst)
        finally:
            shutil.rmtree(local, ignore_errors=True)
        return dst
    os.makedirs(dst, exist_ok=True)
    for sub in os.listdir(src):
        target = os.path.join(dst, sub)
        if os.path.isdir(target):
            shutil.rmtree(target)
        shutil.copytree(os.path.join(src, sub), target)
    return dst


class WriteTransformFn(beam.PTransform):
    """Copy a transform_fn (transform_fn/, transformed_metadata/, metadata/) to `path`."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def expand(self, transform_fn: Any) -> Any:
        return transform_fn | "Copy" >> beam.Map(_copy_output, self._path)
