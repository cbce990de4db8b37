"""`run_model_analysis`: the plain in-memory driver of the sliced-metrics combiner.

Example:
    result = run_model_analysis(
        config, "data/eval/*.tfrecord.gz", model_paths={"": "serving_model/"},
        output_path="eval_out/",
    )
    result.get().metrics["auc"], result.validation.blessed
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

import pyarrow as pa

from headwater.model_analysis.config import EvalConfig
from headwater.model_analysis.errors import EvalInputError
from headwater.model_analysis.evaluate import SlicedMetricsCombiner, prepare_batch
from headwater.model_analysis.results import EvalResult, write_eval_result

__all__ = ["Data", "iter_batches", "run_model_analysis"]

logger = logging.getLogger(__name__)

Data: TypeAlias = str | os.PathLike[str] | pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch]
"""A file pattern (tf.Example TFRecord, CSV or Parquet, by extension or `file_format`),
an Arrow table or batch, or an iterable of batches."""


def iter_batches(
    data: Data, *, file_format: str | None = None, batch_size: int = 65536
) -> Iterator[pa.RecordBatch]:
    """Arrow batches from any `Data`; files are read with `headwater.io`."""
    if isinstance(data, pa.RecordBatch):
        yield data
        return
    if isinstance(data, pa.Table):
        yield from data.to_batches(max_chunksize=batch_size)
        return
    if isinstance(data, str | os.PathLike):
        import headwater.io as hio

        pattern = os.fspath(data)
        fmt = file_format or _guess_format(pattern)
        if fmt == "tfrecords":
            yield from hio.read_tfrecord(pattern, batch_size=batch_size)
        elif fmt == "csv":
            yield from hio.read_csv(pattern, batch_size=batch_size)
        elif fmt == "parquet":
            yield from hio.read_parquet(pattern, batch_size=batch_size)
        else:
            raise EvalInputError(
                f"{pattern}: unknown file_format {fmt!r}; use 'tfrecords', 'csv' or 'parquet'"
            )
        return
    for batch in data:
        if not isinstance(batch, pa.RecordBatch):
            raise EvalInputError(
                f"data must yield pyarrow RecordBatches, found {type(batch).__name__}"
            )
        yield batch


def _guess_format(pattern: str) -> str:
    name = pattern.lower()
    if ".csv" in name:
        return "csv"
    if ".parquet" in name:
        return "parquet"
    return "tfrecords"


def run_model_analysis(
    eval_config: EvalConfig,
    data: Data,
    *,
    model_paths: Mapping[str, str | os.PathLike[str]] | None = None,
    output_path: str | os.PathLike[str] | None = None,
    file_format: str | None = None,
    batch_size: int = 65536,
) -> EvalResult:
    """Evaluate per slice in one pass over `data`, optionally writing the result files.

    `model_paths` maps ModelSpec.name (\"\" for a single model) to a SavedModel directory;
    models not in it take predictions from their `prediction_key` column. Candidate and
    baseline are predicted on the same batches.
    """
    combiner = SlicedMetricsCombiner(eval_config, model_paths)  # checks the config before any work
    predictors = {}
    if model_paths:
        from headwater.model_analysis.inference import load_predictors

        predictors = load_predictors(eval_config, model_paths)
    accumulator = combiner.create_accumulator()
    predict_s = metrics_s = 0.0
    rows = 0
    for batch in iter_batches(data, file_format=file_format, batch_size=batch_size):
        if batch.num_rows == 0:
            continue
        t0 = time.perf_counter()
        predictions = {name: p.predict(batch) for name, p in predictors.items()}
        t1 = time.perf_counter()
        prepared = prepare_batch(batch, eval_config, predictions)
        accumulator = combiner.add_input(accumulator, prepared)
        t2 = time.perf_counter()
        predict_s, metrics_s, rows = predict_s + t1 - t0, metrics_s + t2 - t1, rows + batch.num_rows
    t3 = time.perf_counter()
    result = combiner.extract_output(accumulator)
    metrics_s += time.perf_counter() - t3
    logger.info(
        "evaluated %d examples: inference %.2f s, metrics %.2f s", rows, predict_s, metrics_s
    )
    if output_path is not None:
        write_eval_result(result, output_path)
    return result
