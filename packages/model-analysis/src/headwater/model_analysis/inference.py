"""Batched predictions from a SavedModel signature, through headwater.io's model-running seam.

TensorFlow is the extra `headwater-model-analysis[tensorflow]`: without it, loading a model raises
`MissingExtraError` naming the extra; evaluating a prediction column never imports it.

The model is loaded by `headwater.io.SavedModelHandler` and its inputs are built by
`headwater.io.signature_feeds`: a signature with a single string input is fed serialized
tf.Examples (the records as read when the caller has them, else encoded from the Arrow batch),
any other signature the columns named by its inputs ("raw features"). The prediction is the
output named by `ModelSpec.prediction_key`, or the only output.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from headwater.io import ModelInputError, SignatureSpec, TensorSpec, signature_feeds
from headwater.io import ModelLoadError as SeamLoadError
from headwater.io.extras import missing_extra
from headwater.model_analysis.config import EvalConfig, ModelSpec
from headwater.model_analysis.errors import EvalInputError, ModelLoadError

__all__ = ["ModelPredictor", "load_predictors", "predict_batch"]

logger = logging.getLogger(__name__)


class ModelPredictor:
    """One SavedModel signature, called on Arrow batches in chunks of `chunk_size` rows."""

    def __init__(self, path: str | os.PathLike[str], spec: ModelSpec, chunk_size: int = 16384):
        from headwater.io import SavedModelHandler

        self.path, self.spec, self.chunk_size = str(path), spec, chunk_size
        if not os.path.isdir(self.path):
            raise ModelLoadError(f"model {spec.name!r}: no SavedModel directory at {self.path}")
        try:
            handler = SavedModelHandler(self.path, signature_names=(spec.signature_name,))
            self._model = handler.load_model()
        except SeamLoadError as exc:
            raise ModelLoadError(f"model {spec.name!r}: {exc}") from exc
        except ModuleNotFoundError as exc:
            raise missing_extra(
                exc,
                "tensorflow",
                "headwater-model-analysis[tensorflow]",
                f"evaluating model {spec.name!r} (a SavedModel at {self.path})",
            ) from exc
        self.signature: SignatureSpec = self._model.signatures[spec.signature_name]
        self.inputs: dict[str, TensorSpec] = dict(self.signature.inputs)
        outputs = self.signature.outputs
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
        self.serialized = self.signature.takes_serialized_examples

    def predict(self, batch: pa.RecordBatch, records: np.ndarray | None = None) -> np.ndarray:
        """Predictions for every row of `batch`, float64, (n,) or (n, k).

        `records` (an object array of the rows' serialized tf.Examples, as read) goes straight
        to a signature over serialized examples, instead of encoding the columns again.
        """
        if records is not None and len(records) != batch.num_rows:
            raise ValueError(f"{len(records)} records beside {batch.num_rows} rows")
        size = self.chunk_size
        feed = records if self.serialized else None
        parts = [
            self._predict_chunk(
                batch.slice(start, size), None if feed is None else feed[start : start + size]
            )
            for start in range(0, batch.num_rows, size)
        ]
        if not parts:
            return np.zeros((0,), dtype=np.float64)
        out = np.concatenate(parts, axis=0).astype(np.float64, copy=False)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def _predict_chunk(self, batch: pa.RecordBatch, records: np.ndarray | None) -> np.ndarray:
        try:
            if records is not None:
                feeds = {next(iter(self.inputs)): records}
            else:
                feeds = signature_feeds(self.signature, batch, model=f"model {self.spec.name!r}")
            result = self._model.run(self.spec.signature_name, feeds)
        except ModelInputError as exc:
            raise EvalInputError(str(exc)) from exc
        return np.asarray(result[self.output])


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
    batch: pa.RecordBatch,
    predictors: Mapping[str, ModelPredictor],
    records: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every model's predictions on `batch` (candidate and baseline in the same pass); `records`
    as in `ModelPredictor.predict`."""
    return {name: p.predict(batch, records) for name, p in predictors.items()}
