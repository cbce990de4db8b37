"""Checks of one canary answer against the signature that produced it.

Beyond TFX's "the request succeeded": every declared output is present, has the signature's
dtype (over JSON, its kind: number, integer, string, bool) and shape (known dimensions equal,
the batch dimension equal to the examples sent), and holds no NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from headwater.infra_validator.requests import CanaryRequest
from headwater.io import SignatureSpec, TensorSpec

__all__ = ["check_answer"]

# Kinds a JSON answer may hold for each declared dtype kind (JSON writes 1.0 as 1 sometimes).
_JSON_KINDS = {"f": "fi", "i": "i", "u": "iu", "b": "b"}


def check_answer(
    request: CanaryRequest,
    signature: SignatureSpec,
    outputs: Mapping[str, np.ndarray],
    *,
    exact_dtypes: bool = True,
) -> str | None:
    """What is wrong with the answer to `request`, or None when it is as the signature declares."""
    if request.kind == "classify":
        return _check_rows(request, outputs, ("classes", "scores"), nan_in=("scores",))
    if request.kind == "regress":
        return _check_rows(request, outputs, ("outputs",), nan_in=("outputs",))
    if set(outputs) == {""} and len(signature.outputs) == 1:  # REST: a lone output is unnamed
        outputs = {next(iter(signature.outputs)): outputs[""]}
    for name, spec in signature.outputs.items():
        if name not in outputs:
            return f"output {name!r} is missing from the answer (it has {sorted(outputs)})"
        problem = _check_tensor(spec, np.asarray(outputs[name]), request.batch_size, exact_dtypes)
        if problem is not None:
            return f"output {name!r}: {problem}"
    return None


def _check_tensor(
    spec: TensorSpec, array: np.ndarray, batch_size: int, exact_dtypes: bool
) -> str | None:
    declared = "object" if spec.is_string else spec.dtype
    if spec.is_string:
        if array.dtype.kind not in "OSU":
            return f"dtype {array.dtype}, the signature declares string ({spec.tf_dtype})"
    elif exact_dtypes:
        if array.dtype != np.dtype(declared):
            return f"dtype {array.dtype}, the signature declares {declared} ({spec.tf_dtype})"
    else:
        kind = np.dtype(declared).kind
        if array.size and array.dtype.kind not in _JSON_KINDS.get(kind, kind):
            return f"values of kind {array.dtype}, the signature declares {declared}"
    if spec.shape is not None:
        if array.ndim != len(spec.shape):
            return f"shape {array.shape}, the signature declares {spec.shape}"
        for axis, (got, want) in enumerate(zip(array.shape, spec.shape, strict=True)):
            expected = batch_size if (axis == 0 and want is None) else want
            if expected is not None and got != expected:
                return (
                    f"shape {array.shape}, the signature declares {spec.shape} "
                    f"for {batch_size} example(s)"
                )
    if array.dtype.kind == "f" and np.isnan(array).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(array))[0])
        return f"NaN in the answer (first at index {where}, {int(np.isnan(array).sum())} in all)"
    return None


def _check_rows(
    request: CanaryRequest,
    outputs: Mapping[str, np.ndarray],
    names: tuple[str, ...],
    *,
    nan_in: tuple[str, ...],
) -> str | None:
    for name in names:
        array = np.asarray(outputs.get(name, np.empty(0)))
        if array.ndim == 0 or array.shape[0] != request.batch_size:
            return (
                f"{request.kind} answered {0 if array.ndim == 0 else array.shape[0]} result(s) "
                f"for {request.batch_size} example(s)"
            )
        if name in nan_in:
            if array.dtype.kind not in "fi":
                return f"{request.kind} {name} are {array.dtype}, expected numbers"
            if array.dtype.kind == "f" and np.isnan(array).any():
                return f"NaN in the {request.kind} {name}: {array.tolist()}"
    return None
