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
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pyarrow as pa

from headwater.io import ReadAhead, read_ahead
from headwater.model_analysis.config import EvalConfig
from headwater.model_analysis.errors import EvalInputError
from headwater.model_analysis.evaluate import SlicedMetricsCombiner, input_columns, prepare_batch
from headwater.model_analysis.results import EvalResult, write_eval_result

if TYPE_CHECKING:
    from headwater.model_analysis.inference import ModelPredictor

_Batches: TypeAlias = Generator[tuple[pa.RecordBatch, "np.ndarray | None"], None, None]
_Predicted: TypeAlias = Generator[tuple[pa.RecordBatch, "dict[str, np.ndarray]"], None, None]

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
    baseline are predicted on the same batches. When `data` names TFRecord files and every
    model takes serialized tf.Examples, the records go to the models as read, and only the
    columns the metrics and slices need are decoded.
    """
    combiner = SlicedMetricsCombiner(eval_config, model_paths)  # checks the config before any work
    records = (
        list(model_paths or ())
        if _models_take_records(eval_config, model_paths, data, file_format)
        else None
    )
    # Files are read and decoded on a background thread (up to three batches ahead), which
    # starts now: the first batches are ready when the models have loaded.
    source: _Batches | ReadAhead[tuple[pa.RecordBatch, np.ndarray | None]]
    source = _read(eval_config, data, records, file_format, batch_size)
    if isinstance(data, str | os.PathLike):
        source = read_ahead(source, depth=3, name="headwater-model-analysis-read")
    predicted: _Predicted | ReadAhead[tuple[pa.RecordBatch, dict[str, np.ndarray]]] | None = None
    try:
        predictors: dict[str, ModelPredictor] = {}
        if model_paths:
            from headwater.model_analysis.inference import load_predictors

            predictors = load_predictors(eval_config, model_paths)
        predict_s = [0.0]
        predicted = _predict(source, predictors, predict_s)
        if predictors:  # the models run up to two batches ahead of the metrics, on another thread
            predicted = read_ahead(predicted, depth=2, name="headwater-model-analysis-predict")
        accumulator = combiner.create_accumulator()
        metrics_s = 0.0
        rows = 0
        for batch, predictions in predicted:
            t1 = time.perf_counter()
            prepared = prepare_batch(batch, eval_config, predictions)
            accumulator = combiner.add_input(accumulator, prepared)
            metrics_s += time.perf_counter() - t1
            rows += batch.num_rows
    finally:
        if predicted is not None:
            predicted.close()
        source.close()
    t3 = time.perf_counter()
    result = combiner.extract_output(accumulator)
    metrics_s += time.perf_counter() - t3
    logger.info(
        "evaluated %d examples: inference %.2f s, metrics %.2f s", rows, predict_s[0], metrics_s
    )
    if output_path is not None:
        write_eval_result(result, output_path)
    _release_in_background(predictors)
    return result


def _release_in_background(predictors: dict[str, ModelPredictor]) -> None:
    """Drop the last references to the loaded models on another thread: TensorFlow takes a
    good part of a second to tear down a SavedModel's functions, which is not the evaluation.
    The thread is not a daemon, so the interpreter waits for it before it exits."""
    if not predictors:
        return
    models = list(predictors.values())
    predictors.clear()
    threading.Thread(target=models.clear, name="headwater-model-analysis-release").start()


def _predict(
    source: Iterator[tuple[pa.RecordBatch, np.ndarray | None]],
    predictors: Mapping[str, ModelPredictor],
    seconds: list[float],
) -> _Predicted:
    """(batch, predictions per model) for each non-empty batch of `source`; the time the
    models take is added to `seconds[0]`."""
    for batch, records in source:
        if batch.num_rows == 0:
            continue
        start = time.perf_counter()
        predictions = {name: p.predict(batch, records) for name, p in predictors.items()}
        seconds[0] += time.perf_counter() - start
        yield batch, predictions


def _models_take_records(
    config: EvalConfig,
    model_paths: Mapping[str, str | os.PathLike[str]] | None,
    data: Data,
    file_format: str | None,
) -> bool:
    """True when `data` names TFRecord files and every model's signature takes serialized
    tf.Examples (read from saved_model.pb, without TensorFlow): the records then go to the
    models as read."""
    if not model_paths or not isinstance(data, str | os.PathLike):
        return False
    if (file_format or _guess_format(os.fspath(data))) != "tfrecords":
        return False
    from headwater.io import ModelLoadError, read_signatures

    specs = {m.name: m for m in config.model_specs}
    for name, path in model_paths.items():
        if name not in specs:
            return False  # load_predictors says what is wrong
        try:
            signature = read_signatures(path).get(specs[name].signature_name)
        except ModelLoadError:
            return False
        if signature is None or not signature.takes_serialized_examples:
            return False
    return True


def _read(
    config: EvalConfig,
    data: Data,
    records: Sequence[str] | None,
    file_format: str | None,
    batch_size: int,
) -> _Batches:
    """(columns, serialized records or None) per batch of `data`. With `records` (the models
    that are fed them), only the columns the metrics and slices read are decoded."""
    if records is not None:
        import headwater.io as hio

        # Cut as read_tfrecord cuts the batches, so that the metrics match the decoded path's;
        # an input the examples lack (an optional slice or weight) is left out, as there.
        for batch in hio.read_serialized_examples(
            os.fspath(data),  # type: ignore[arg-type]
            columns=input_columns(config, records),
            batch_size=batch_size,
            absent="omit",
            exact_batches=True,
            ahead=0,  # run_model_analysis reads the whole of _read ahead
        ):
            yield batch.examples, batch.records
        return
    for batch in iter_batches(data, file_format=file_format, batch_size=batch_size):
        yield batch, None
