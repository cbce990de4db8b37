"""Predict, classify and regress on numpy, shared by the gRPC and REST front ends.

The front ends turn their wire format into numpy feeds (or serialized tf.Examples), call these
functions with a `LoadedModel` from the manager, and turn the results back. Inputs are checked
against the signature here, before any batching, so that one bad request never fails a batch it
would have shared with others: an unknown or missing name, a dtype that cannot be cast without
loss, or a shape that does not fit is an INVALID_ARGUMENT that says which input and what was
expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from headwater.io.model_seam import (
    CLASSIFY_METHOD,
    REGRESS_METHOD,
    LoadedModel,
    SignatureSpec,
    TensorSpec,
)
from headwater.model_server.errors import ServingError

__all__ = [
    "DEFAULT_SIGNATURE",
    "ClassifyResult",
    "check_inputs",
    "classify_outputs",
    "examples_feed",
    "find_signature",
    "regress_outputs",
]

DEFAULT_SIGNATURE = "serving_default"
"""The signature used when a request names none (TF Serving's default)."""


def find_signature(model: LoadedModel, name: str, *, model_name: str = "") -> SignatureSpec:
    """The signature `name` (default when empty) or FAILED_PRECONDITION naming the ones served."""
    name = name or DEFAULT_SIGNATURE
    spec = model.signatures.get(name)
    if spec is None:
        raise ServingError(
            "FAILED_PRECONDITION",
            f'Serving signature key "{name}" not found in model {model_name!r}; '
            f"signatures: {sorted(model.signatures)}",
        )
    return spec


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def _cast(name: str, array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.is_string:
        if array.dtype.kind == "O":
            return array
        if array.dtype.kind == "S":
            return array.astype(object)
        if array.dtype.kind == "U":
            out = np.empty(array.shape, dtype=object)
            out.reshape(-1)[:] = [s.encode("utf-8") for s in array.reshape(-1)]
            return out
        raise ServingError(
            "INVALID_ARGUMENT",
            f"input {name!r} expects strings (DT_STRING), got {array.dtype.name} values",
        )
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    kind = array.dtype.kind
    if kind in ("O", "S", "U"):
        raise ServingError(
            "INVALID_ARGUMENT", f"input {name!r} expects {spec.dtype} numbers, got strings"
        )
    if target.kind == "b" and kind != "b":
        raise ServingError(
            "INVALID_ARGUMENT", f"input {name!r} expects bool, got {array.dtype.name} values"
        )
    fractional = kind == "f" and target.kind in ("i", "u")
    if fractional and (not np.all(np.isfinite(array)) or not np.all(np.mod(array, 1) == 0)):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"input {name!r} expects integers ({spec.dtype}), got fractional numbers",
        )
    if target.kind in ("i", "u") and kind in ("i", "u"):
        info = np.iinfo(target)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ServingError(
                "INVALID_ARGUMENT", f"input {name!r}: values out of range for {spec.dtype}"
            )
    return array.astype(target)


def check_inputs(spec: SignatureSpec, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inputs cast to the signature's dtypes, or INVALID_ARGUMENT naming what does not fit."""
    expected = sorted(spec.inputs)
    unknown = sorted(set(inputs) - set(spec.inputs))
    if unknown:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"input tensor alias not found in signature {spec.name!r}: {', '.join(unknown)}. "
            f"Inputs expected to be in the set {{{', '.join(expected)}}}.",
        )
    missing = sorted(set(spec.inputs) - set(inputs))
    if missing:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"signature {spec.name!r} is missing inputs: {', '.join(missing)}. "
            f"Inputs expected: {{{', '.join(expected)}}}.",
        )
    out = {}
    for name, array in inputs.items():
        tensor = spec.inputs[name]
        array = _cast(
            name, np.asarray(array) if not isinstance(array, np.ndarray) else array, tensor
        )
        if tensor.shape is not None:
            fits = len(tensor.shape) == array.ndim and all(
                d is None or d == a for d, a in zip(tensor.shape, array.shape, strict=True)
            )
            if not fits:
                raise ServingError(
                    "INVALID_ARGUMENT",
                    f"input {name!r} of signature {spec.name!r} expects shape "
                    f"{_shape_text(tensor.shape)} ({tensor.dtype}), got {list(array.shape)}",
                )
        out[name] = array
    return out


def examples_feed(
    spec: SignatureSpec, serialized: Sequence[bytes], *, api: str
) -> dict[str, np.ndarray]:
    """The feed of a classify/regress signature: its one string input holds serialized Examples."""
    if api == "classify":
        method = CLASSIFY_METHOD
    elif api == "regress":
        method = REGRESS_METHOD
    else:
        raise ValueError(f"api must be classify or regress, got {api!r}")
    if spec.method_name != method and not spec.takes_serialized_examples:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Expected {api} signature method_name to be {method}. Was: {spec.method_name} "
            f"(signature {spec.name!r} does not take serialized tf.Examples either)",
        )
    if len(spec.inputs) != 1:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"{api} signature {spec.name!r} must have exactly one input, has {sorted(spec.inputs)}",
        )
    if not serialized:
        raise ServingError("INVALID_ARGUMENT", "Invalid argument: Input is empty.")
    name = next(iter(spec.inputs))
    array = np.empty(len(serialized), dtype=object)
    array[:] = list(serialized)
    return {name: array}


@dataclass(frozen=True)
class ClassifyResult:
    """Per example: (label, score) pairs in the model's order; label b"" when it has none."""

    classes: list[list[tuple[bytes, float]]]


def _per_example(array: np.ndarray, n: int, what: str) -> np.ndarray:
    if array.ndim == 1:
        array = array.reshape(n, 1) if array.shape[0] == n else array
    if array.ndim != 2 or array.shape[0] != n:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Expected {what} tensor of shape [batch_size, num_classes] with batch_size {n}, "
            f"got {list(array.shape)}",
        )
    return array


def classify_outputs(
    spec: SignatureSpec, outputs: Mapping[str, np.ndarray], n: int
) -> ClassifyResult:
    """TF Serving's classification results from a signature's "classes" and "scores" outputs.

    A predict signature with one float output of shape [batch, k] counts as scores without labels.
    """
    classes = outputs.get("classes")
    scores = outputs.get("scores")
    if classes is None and scores is None:
        floats = [v for v in outputs.values() if np.asarray(v).dtype.kind == "f"]
        if len(outputs) == 1 and len(floats) == 1:
            scores = floats[0]
        else:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"signature {spec.name!r} has neither a 'classes' nor a 'scores' output "
                f"(outputs: {sorted(outputs)})",
            )
    class_rows = _per_example(np.asarray(classes), n, "classes") if classes is not None else None
    score_rows = (
        _per_example(np.asarray(scores, dtype=np.float64), n, "scores")
        if scores is not None
        else None
    )
    if class_rows is not None and score_rows is not None and class_rows.shape != score_rows.shape:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"classes {list(class_rows.shape)} and scores {list(score_rows.shape)} differ in shape",
        )
    result = []
    for i in range(n):
        width = (class_rows if class_rows is not None else score_rows).shape[1]  # type: ignore[union-attr]
        row = []
        for j in range(width):
            label = class_rows[i, j] if class_rows is not None else b""
            if isinstance(label, str):
                label = label.encode("utf-8")
            score = float(score_rows[i, j]) if score_rows is not None else 0.0
            row.append((bytes(label), score))
        result.append(row)
    return ClassifyResult(result)


def regress_outputs(spec: SignatureSpec, outputs: Mapping[str, np.ndarray], n: int) -> list[float]:
    """One value per example from a regression signature's "outputs" (or only) output."""
    value = outputs.get("outputs")
    if value is None:
        if len(outputs) != 1:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"signature {spec.name!r} has no 'outputs' output (outputs: {sorted(outputs)})",
            )
        value = next(iter(outputs.values()))
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (n,) or array.dtype.kind not in ("f", "i", "u"):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Expected output tensor of shape [batch_size] or [batch_size, 1] with batch_size {n}, "
            f"got {list(array.shape)} {array.dtype.name}",
        )
    return [float(v) for v in array]
