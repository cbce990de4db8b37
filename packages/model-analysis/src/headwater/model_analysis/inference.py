"""Batched predictions from a SavedModel signature, the only module that imports TensorFlow.

A signature with a single string input is fed serialized tf.Examples (encoded from the
Arrow batch by `headwater.io.encode_examples`); any other signature is fed the columns
named by its inputs ("raw features"). The prediction is the output named by
`ModelSpec.prediction_key`, or the only output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from headwater.model_analysis.config import EvalConfig, ModelSpec
from headwater.model_analysis.errors import EvalInputError, ModelLoadError

__all__ = ["ModelPredictor", "load_predictors", "predict_batch"]

logger = logging.getLogger(__name__)


class ModelPredictor:
    """One SavedModel signature, called on Arrow batches in chunks of `chunk_size` rows."""

    def __init__(self, path: str | os.PathLike[str], spec: ModelSpec, chunk_size: int = 16384):
        import tensorflow as tf

        self.path, self.spec, self.chunk_size = str(path), spec, chunk_size
        if not os.path.isdir(self.path):
            raise ModelLoadError(f"model {spec.name!r}: no SavedModel directory at {self.path}")
        try:
            loaded = tf.saved_model.load(self.path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"model {spec.name!r}: cannot load {self.path}: {exc}") from exc
        self._loaded = loaded  # keeps the signature's variables alive
        signatures = dict(loaded.signatures)
        if spec.signature_name not in signatures:
            raise ModelLoadError(
                f"model {spec.name!r} at {self.path}: no signature {spec.signature_name!r}; "
                f"signatures are {sorted(signatures)}"
            )
        self._fn = signatures[spec.signature_name]
        self.inputs: dict[str, Any] = dict(self._fn.structured_input_signature[1])
        outputs = dict(self._fn.structured_outputs)
        if spec.prediction_key:
            if spec.prediction_key not in outputs:
                raise ModelLoadError(
                    f"model {spec.name!r}: signature {spec.signature_name!r} has no output "
                    f"{spec.prediction_key!r}; outputs are {sorted(outputs)}"
                )
            self.output = spec.prediction_key
        elif len(outputs) == 1:
            self.output = next(iter(outputs))
        else:
            raise ModelLoadError(
                f"model {spec.name!r}: signature {spec.signature_name!r} has several outputs "
                f"{sorted(outputs)}; set ModelSpec.prediction_key"
            )
        only = next(iter(self.inputs.values())) if len(self.inputs) == 1 else None
        self.serialized = only is not None and only.dtype == tf.string and only.shape.rank == 1

    def predict(self, batch: pa.RecordBatch) -> np.ndarray:
        """Predictions for every row of `batch`, float64, (n,) or (n, k)."""
        parts = [
            self._predict_chunk(batch.slice(start, self.chunk_size))
            for start in range(0, batch.num_rows, self.chunk_size)
        ]
        if not parts:
            return np.zeros((0,), dtype=np.float64)
        out = np.concatenate(parts, axis=0).astype(np.float64, copy=False)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def _predict_chunk(self, batch: pa.RecordBatch) -> np.ndarray:
        import tensorflow as tf

        if self.serialized:
            from headwater.io import encode_examples

            name = next(iter(self.inputs))
            records = encode_examples(batch)
            feed = {name: tf.constant(records, dtype=tf.string)}
        else:
            feed = {name: self._tensor(batch, name, spec) for name, spec in self.inputs.items()}
        result = self._fn(**feed)
        return np.asarray(result[self.output])

    def _tensor(self, batch: pa.RecordBatch, name: str, spec: Any) -> Any:
        import tensorflow as tf

        index = batch.schema.get_field_index(name)
        if index < 0:
            raise EvalInputError(
                f"model {self.spec.name!r}: signature input {name!r} is not a column of the "
                f"data; columns are {batch.schema.names}"
            )
        column = batch.column(index)
        if column.null_count:
            raise EvalInputError(
                f"model {self.spec.name!r}: input {name!r} has {column.null_count} missing "
                "values; fill them or serve serialized tf.Examples"
            )
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            values = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
        else:
            values = column.to_numpy(zero_copy_only=False)
        if spec.dtype == tf.string:
            tensor = tf.constant(values.astype(object), dtype=tf.string)
        else:
            tensor = tf.constant(values, dtype=spec.dtype)
        rank = spec.shape.rank
        if rank is not None and rank == 2 and tensor.shape.rank == 1:
            tensor = tf.reshape(tensor, (-1, 1))
        return tensor


def load_predictors(
    config: EvalConfig, model_paths: Mapping[str, str | os.PathLike[str]]
) -> dict[str, ModelPredictor]:
    """A predictor per model in `model_paths` (keyed by ModelSpec.name); others use columns."""
    specs = {m.name: m for m in config.model_specs}
    unknown = set(model_paths) - set(specs)
    if unknown:
        raise ModelLoadError(
            f"model_paths names {sorted(unknown)} that are not in model_specs {sorted(specs)}"
        )
    return {name: ModelPredictor(path, specs[name]) for name, path in model_paths.items()}


def predict_batch(
    batch: pa.RecordBatch, predictors: Mapping[str, ModelPredictor]
) -> dict[str, np.ndarray]:
    """Every model's predictions on `batch` (candidate and baseline in the same pass)."""
    return {name: p.predict(batch) for name, p in predictors.items()}
