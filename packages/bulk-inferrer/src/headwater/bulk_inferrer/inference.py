"""One batch of examples through a model's signatures: the work both drivers share.

`Inferrer` checks once that the signatures fit together (one predict, classify or regress
signature, or several classify/regress heads over the same serialized tf.Examples), then
turns each Arrow RecordBatch into an `InferenceBatch`: the examples, the tensors fed, and every
signature's outputs, checked for row count and NaN. A `SerializedBatch` (records as read beside
decoded columns) feeds a serialized-tf.Example signature its records as they are, not
re-encoded from columns. `run_bulk_inference` is the plain
in-process driver; `RunBulkInference` (headwater.bulk_inferrer.beam) runs the same `Inferrer`
inside Beam's RunInference.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from headwater.bulk_inferrer.config import ModelSpec
from headwater.bulk_inferrer.errors import InferenceOutputError, InferenceSpecError
from headwater.io import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    LoadedModel,
    ModelHandler,
    ModelLoadError,
    SerializedBatch,
    SignatureSpec,
    signature_feeds,
)

__all__ = ["InferenceBatch", "Inferrer", "LogKind", "columns_to_decode", "run_bulk_inference"]

LogKind = str
"""Which PredictionLog a run writes: "predict", "classify", "regress" or "multi_inference"."""

_KINDS = {PREDICT_METHOD: "predict", CLASSIFY_METHOD: "classify", REGRESS_METHOD: "regress"}


@dataclass(frozen=True)
class InferenceBatch:
    """A batch of examples with what was fed to the model and what every signature returned."""

    examples: pa.RecordBatch
    """The input rows (columns as read)."""
    feeds: Mapping[str, np.ndarray]
    """The tensors fed (serialized tf.Examples for example signatures), one row per example."""
    outputs: Mapping[str, Mapping[str, np.ndarray]]
    """Signature name -> output name -> array whose first axis is the rows."""
    signatures: tuple[SignatureSpec, ...]
    """The signatures run, in the order of the spec."""
    kind: LogKind

    @property
    def num_rows(self) -> int:
        """Rows in the batch."""
        return self.examples.num_rows


class Inferrer:
    """A loaded model with its chosen signatures checked; `infer` runs one batch through them."""

    def __init__(self, model: LoadedModel, spec: ModelSpec) -> None:
        self.model, self.spec = model, spec
        available = model.signatures
        for name in spec.signature_names:
            if name not in available:
                raise ModelLoadError(
                    f"model {model.path}: no signature {name!r}; signatures are {sorted(available)}"
                )
        self.signatures = tuple(available[name] for name in spec.signature_names)
        self.kind = _log_kind(model.path, self.signatures)

    def columns_to_decode(self, keep_columns: Sequence[str] = ()) -> list[str] | None:
        """What `read_serialized_examples(columns=...)` should decode for this model."""
        return columns_to_decode(self.signatures, keep_columns)

    def infer(self, batch: pa.RecordBatch | SerializedBatch) -> InferenceBatch:
        """Run every signature on `batch` (in chunks of spec.batch_size rows concatenated)."""
        if batch.num_rows > self.spec.batch_size:
            parts = [
                self._infer_chunk(batch.slice(start, self.spec.batch_size))
                for start in range(0, batch.num_rows, self.spec.batch_size)
            ]
            return _concatenate(_examples_of(batch), parts)
        return self._infer_chunk(batch)

    def infer_chunks(self, batch: pa.RecordBatch | SerializedBatch) -> Iterator[InferenceBatch]:
        """`batch` in InferenceBatches of at most spec.batch_size rows, run one at a time.

        A caller that writes one chunk while the next runs (write_inference_outputs) overlaps
        the model with the writing; empty batches yield nothing.
        """
        for start in range(0, batch.num_rows, self.spec.batch_size):
            yield self._infer_chunk(batch.slice(start, self.spec.batch_size))

    def _infer_chunk(self, batch: pa.RecordBatch | SerializedBatch) -> InferenceBatch:
        first = self.signatures[0]
        examples = _examples_of(batch)
        feeds: Mapping[str, np.ndarray]
        if isinstance(batch, SerializedBatch) and first.takes_serialized_examples:
            feeds = {next(iter(first.inputs)): batch.records}
        else:
            feeds = signature_feeds(first, examples, model=f"model {self.model.path}")
        outputs: dict[str, dict[str, np.ndarray]] = {}
        for signature in self.signatures:
            # Heads of a multi-head model take the same serialized tf.Examples.
            result = self.model.run(signature.name, feeds)
            _check_outputs(self.model.path, signature.name, result, batch.num_rows)
            outputs[signature.name] = result
        return InferenceBatch(examples, feeds, outputs, self.signatures, self.kind)


def columns_to_decode(
    signatures: Sequence[SignatureSpec], keep_columns: Sequence[str] = ()
) -> list[str] | None:
    """The columns to decode from serialized tf.Examples read for `signatures`.

    Signatures over serialized tf.Examples are fed the records as read, so only the kept
    columns are decoded (none for PredictionLogs alone); a raw-feature signature takes its
    inputs from columns, so every feature is decoded (None), and a missing one is reported
    against the signature's input.
    """
    if signatures and signatures[0].takes_serialized_examples:
        return list(keep_columns)
    return None


def _examples_of(batch: pa.RecordBatch | SerializedBatch) -> pa.RecordBatch:
    return batch.examples if isinstance(batch, SerializedBatch) else batch


def _log_kind(path: str, signatures: tuple[SignatureSpec, ...]) -> LogKind:
    """The PredictionLog kind of these signatures, or InferenceSpecError saying why none fits."""
    if len(signatures) == 1:
        signature = signatures[0]
        kind = _KINDS.get(signature.method_name)
        if kind is None:
            raise InferenceSpecError(
                f"model {path}: signature {signature.name!r} has method "
                f"{signature.method_name!r}; supported are {sorted(_KINDS)}"
            )
        if kind != "predict" and not signature.takes_serialized_examples:
            raise InferenceSpecError(
                f"model {path}: {kind} signature {signature.name!r} must take one string "
                f"input of serialized tf.Examples, it takes {sorted(signature.inputs)}"
            )
        _check_heads(path, signature, kind)
        return kind
    for signature in signatures:
        kind = _KINDS.get(signature.method_name)
        if kind not in ("classify", "regress") or not signature.takes_serialized_examples:
            raise InferenceSpecError(
                f"model {path}: several signatures {[s.name for s in signatures]} make a "
                f"multi-inference run, which takes only classify/regress signatures over "
                f"serialized tf.Examples; {signature.name!r} is {signature.method_name!r} "
                f"with inputs {sorted(signature.inputs)}"
            )
        _check_heads(path, signature, kind)
    return "multi_inference"


def _check_heads(path: str, signature: SignatureSpec, kind: LogKind) -> None:
    """Classify signatures output classes and/or scores; regress signatures output outputs."""
    outputs = set(signature.outputs)
    if kind == "classify" and not outputs & {"classes", "scores"}:
        raise InferenceSpecError(
            f"model {path}: classify signature {signature.name!r} outputs {sorted(outputs)}; "
            "expected 'classes' and/or 'scores'"
        )
    if kind == "regress" and "outputs" not in outputs:
        raise InferenceSpecError(
            f"model {path}: regress signature {signature.name!r} outputs {sorted(outputs)}; "
            "expected 'outputs'"
        )


def _check_outputs(
    path: str, signature: str, outputs: Mapping[str, np.ndarray], num_rows: int
) -> None:
    """Every output has one row per example and no NaN (a NaN prediction is never logged)."""
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != num_rows:
            raise InferenceOutputError(
                f"model {path}: signature {signature!r} output {name!r} has shape "
                f"{array.shape}; expected {num_rows} rows first"
            )
        if array.dtype.kind in "fc":
            bad = np.isnan(array)
            if bad.any():
                rows = bad.reshape(num_rows, -1).any(axis=1)
                raise InferenceOutputError(
                    f"model {path}: signature {signature!r} output {name!r} is NaN in "
                    f"{int(rows.sum())} of {num_rows} rows of a batch (first: row "
                    f"{int(np.argmax(rows))}); nothing was written"
                )


def _concatenate(batch: pa.RecordBatch, parts: list[InferenceBatch]) -> InferenceBatch:
    """One InferenceBatch from the chunks of `batch`."""
    first = parts[0]
    feeds = {name: np.concatenate([p.feeds[name] for p in parts]) for name in first.feeds}
    outputs = {
        signature: {
            name: np.concatenate([p.outputs[signature][name] for p in parts]) for name in result
        }
        for signature, result in first.outputs.items()
    }
    return InferenceBatch(batch, feeds, outputs, first.signatures, first.kind)


def run_bulk_inference(
    model_handler: ModelHandler,
    batches: Iterable[pa.RecordBatch | SerializedBatch],
    spec: ModelSpec | None = None,
) -> Iterator[InferenceBatch]:
    """Plain in-process inference: load the model once, yield InferenceBatches in input order.

    Each input batch yields InferenceBatches of at most `spec.batch_size` rows. Batches of
    `read_serialized_examples` feed a serialized-tf.Example signature the records as read.

    Example:
        handler = SavedModelHandler("model/Format-Serving")
        for result in run_bulk_inference(handler, read_tfrecord("examples/*.gz")):
            ...
    """
    inferrer = Inferrer(model_handler.load_model(), spec or ModelSpec())
    for batch in batches:
        yield from inferrer.infer_chunks(batch)
