"""`ExtractEvaluateAndWriteResults`: the Beam driver of the same sliced-metrics combiner.

Example (FnApiRunner: in-process; Beam's DirectRunner first tries Prism, which fetches a binary
and listens on all interfaces):
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = (p | ReadTFRecord("eval/*.gz")
               | ExtractEvaluateAndWriteResults(config, model_paths={"": model_dir},
                                                output_path=out_dir))
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
import pyarrow as pa

from headwater.io import filesystems
from headwater.model_analysis.config import EvalConfig
from headwater.model_analysis.evaluate import PreparedBatch, SlicedMetricsCombiner, prepare_batch
from headwater.model_analysis.results import EvalResult, write_eval_result

__all__ = ["EvaluateSlicedMetrics", "ExtractEvaluateAndWriteResults"]


class _PredictAndPrepare(beam.DoFn):
    """Runs every model on a batch (models loaded once per worker in `setup`)."""

    def __init__(self, config: EvalConfig, model_paths: Mapping[str, str]) -> None:
        self._config, self._model_paths = config, dict(model_paths)
        self._predictors: dict[str, Any] = {}
        self._examples = beam.metrics.Metrics.counter("model_analysis", "examples")

    def setup(self) -> None:
        if self._model_paths:
            from headwater.model_analysis.inference import load_predictors

            self._predictors = load_predictors(self._config, self._model_paths)

    def process(self, batch: pa.RecordBatch) -> Iterator[PreparedBatch]:
        if batch.num_rows == 0:
            return
        predictions = {name: p.predict(batch) for name, p in self._predictors.items()}
        self._examples.inc(batch.num_rows)
        yield prepare_batch(batch, self._config, predictions)


class _SlicedMetricsCombineFn(beam.CombineFn):
    """`SlicedMetricsCombiner` as a Beam CombineFn."""

    def __init__(self, config: EvalConfig, model_paths: Mapping[str, str]) -> None:
        self._combiner = SlicedMetricsCombiner(config, model_paths)

    def create_accumulator(self) -> Any:
        return self._combiner.create_accumulator()

    def add_input(self, accumulator: Any, element: PreparedBatch) -> Any:
        return self._combiner.add_input(accumulator, element)

    def merge_accumulators(self, accumulators: Any) -> Any:
        return self._combiner.merge_accumulators(accumulators)

    def extract_output(self, accumulator: Any) -> EvalResult:
        return self._combiner.extract_output(accumulator)


class EvaluateSlicedMetrics(beam.PTransform):
    """PCollection[RecordBatch] -> PCollection[EvalResult] (one element), nothing written."""

    def __init__(
        self,
        eval_config: EvalConfig,
        model_paths: Mapping[str, str | os.PathLike[str]] | None = None,
    ) -> None:
        super().__init__()
        SlicedMetricsCombiner(eval_config)  # fail on a bad config at construction
        self._config = eval_config
        self._model_paths = {k: os.fspath(v) for k, v in (model_paths or {}).items()}

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return (
            batches
            | "PredictAndPrepare" >> beam.ParDo(_PredictAndPrepare(self._config, self._model_paths))
            | "SlicedMetrics"
            >> beam.CombineGlobally(_SlicedMetricsCombineFn(self._config, self._model_paths))
        )


class ExtractEvaluateAndWriteResults(beam.PTransform):
    """Predict, compute sliced metrics, validate and write the result files to `output_path`.

    Returns the PCollection holding the one `EvalResult` (after it is written).
    """

    def __init__(
        self,
        eval_config: EvalConfig,
        output_path: str | os.PathLike[str],
        model_paths: Mapping[str, str | os.PathLike[str]] | None = None,
    ) -> None:
        super().__init__()
        self._evaluate = EvaluateSlicedMetrics(eval_config, model_paths)
        self._output_path = os.fspath(output_path)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        output_path = self._output_path

        def write(result: EvalResult) -> EvalResult:
            # A URL output (s3://, gs://) goes through Beam's FileSystems, with the pipeline's
            # options, like headwater.io's sinks.
            with filesystems.using_beam():
                write_eval_result(result, output_path)
            return result

        return batches | "Evaluate" >> self._evaluate | "WriteResults" >> beam.Map(write)
