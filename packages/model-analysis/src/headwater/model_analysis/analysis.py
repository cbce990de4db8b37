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
import queue
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import numpy as np
import pyarrow as pa

from headwater.model_analysis.config import EvalConfig
from headwater.model_analysis.errors import EvalInputError
from headwater.model_analysis.evaluate import SlicedMetricsCombiner, input_columns, prepare_batch
from headwater.model_analysis.results import EvalResult, write_eval_result

if TYPE_CHECKING:
    from headwater.model_analysis.inference import ModelPredictor

T = TypeVar("T")
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
    # Files are read and decoded on a background thread (a batch or two ahead, bounded), which
    # starts now: the first batches are ready when the models have loaded.
    source: _Batches | _Prefetched[tuple[pa.RecordBatch, np.ndarray | None]]
    source = _read(eval_config, data, records, file_format, batch_size)
    if isinstance(data, str | os.PathLike):
        source = _Prefetched(source)
    predicted: _Predicted | _Prefetched[tuple[pa.RecordBatch, dict[str, np.ndarray]]] | None = None
    try:
        predictors: dict[str, ModelPredictor] = {}
        if model_paths:
            from headwater.model_analysis.inference import load_predictors

            predictors = load_predictors(eval_config, model_paths)
        predict_s = [0.0]
        predicted = _predict(source, predictors, predict_s)
        if predictors:  # the models run a batch ahead of the metrics, on another thread
            predicted = _Prefetched(predicted, depth=1)
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
        names = input_columns(config, records)
        yield from _records_and_columns(os.fspath(data), names, batch_size)  # type: ignore[arg-type]
        return
    for batch in iter_batches(data, file_format=file_format, batch_size=batch_size):
        yield batch, None


class _Prefetched(Iterator[T]):
    """The items of `items`, produced on a background thread started at construction, up to
    `depth` ahead; an exception there is raised here, in order. `close` stops the thread."""

    def __init__(self, items: Generator[T, None, None], depth: int = 2) -> None:
        self._items = items
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._produce, name="headwater-model-analysis-read", daemon=True
        )
        self._thread.start()

    def _put(self, kind: str, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put("item", item):
                    return
            self._put("end", None)
        except BaseException as exc:  # handed to the consumer, who raises it
            self._put("error", exc)
        finally:
            self._items.close()

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == "item":
            return value
        self.close()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop reading ahead and wait for the thread."""
        self._done = True
        self._stop.set()
        self._thread.join()


def _records_and_columns(
    pattern: str, names: list[str], batch_size: int
) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """The records of TFRecord file(s) as read, beside the columns `names` decoded from them.

    Batches are cut as `headwater.io.read_tfrecord` cuts them (`batch_size` rows, across files),
    and the columns' types are inferred from the first batch and kept, as there.
    """
    import headwater.io as hio
    from headwater.io.example_codec import decode_framed
    from headwater.io.tfrecord_files import iter_record_chunks

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    pinned: pa.Schema | None = None
    pending: list[tuple[pa.RecordBatch, np.ndarray]] = []
    pending_rows = 0
    for path in hio.resolve_files(pattern):
        for buf, starts, ends, index in iter_record_chunks(path):
            for lo in range(0, len(starts), batch_size):
                s, e = starts[lo : lo + batch_size], ends[lo : lo + batch_size]
                base = index + lo
                if pinned is None:
                    batch = decode_framed(buf, s, e, None, names=names, path=path, record_base=base)
                    pinned = batch.schema
                else:
                    batch = decode_framed(buf, s, e, pinned, path=path, record_base=base)
                records = np.empty(len(s), dtype=object)
                records[:] = [buf[a:b] for a, b in zip(s.tolist(), e.tolist(), strict=True)]
                while batch.num_rows:
                    take = min(batch.num_rows, batch_size - pending_rows)
                    if take == batch_size:
                        yield batch, records
                        break
                    pending.append((batch.slice(0, take), records[:take]))
                    pending_rows += take
                    if pending_rows == batch_size:
                        yield _concat(pending)
                        pending, pending_rows = [], 0
                    batch, records = batch.slice(take), records[take:]
    if pending:
        yield _concat(pending)


def _concat(parts: list[tuple[pa.RecordBatch, np.ndarray]]) -> tuple[pa.RecordBatch, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return pa.concat_batches([b for b, _ in parts]), np.concatenate([r for _, r in parts])
