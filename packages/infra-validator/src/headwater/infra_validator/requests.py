"""Canary requests built from examples and the served model's signatures (the model seam's
SignatureSpec), one example per request as TFX sends them.

A signature's method name picks the call: Predict feeds raw features by input name, or the
serialized tf.Example when the only input is a string vector (the seam's `signature_feeds`);
Classify and Regress send the tf.Example. Requests are protocol-neutral; the gRPC and REST
clients encode them.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

import headwater.io as hio
from headwater.infra_validator.errors import RequestBuildError
from headwater.io import (
    CLASSIFY_METHOD,
    PREDICT_METHOD,
    REGRESS_METHOD,
    ModelInputError,
    SignatureSpec,
    signature_feeds,
)

__all__ = ["CanaryRequest", "ExampleSource", "build_requests", "take_examples"]

ExampleSource: TypeAlias = (
    pa.RecordBatch | pa.Table | Iterable[pa.RecordBatch] | str | os.PathLike[str]
)
"""Examples as Arrow, or a split directory / file pattern of TFRecord (tf.Example) or Parquet."""

_METHODS = (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD)


@dataclass(frozen=True)
class CanaryRequest:
    """One request: a signature, its method, and the example it carries (inputs or tf.Example)."""

    signature_name: str
    method_name: str
    example_index: int
    """Row of the examples the request was built from."""
    inputs: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Predict: one array per signature input, batch of one."""
    examples: tuple[bytes, ...] = ()
    """Classify / Regress: serialized tf.Examples."""
    features: tuple[Mapping[str, Any], ...] = ()
    """The same examples as TF Serving's REST JSON features."""

    @property
    def kind(self) -> str:
        """ "predict", "classify" or "regress" (TF Serving's call and REST verb)."""
        return {CLASSIFY_METHOD: "classify", REGRESS_METHOD: "regress"}.get(
            self.method_name, "predict"
        )

    @property
    def batch_size(self) -> int:
        """Examples in the request."""
        if self.kind != "predict":
            return len(self.examples)
        first = next(iter(self.inputs.values()), None)
        return 1 if first is None or first.ndim == 0 else int(first.shape[0])

    def rest_body(self) -> dict[str, Any]:
        """The request as TF Serving's REST JSON body (columnar `inputs` for Predict)."""
        if self.kind == "predict":
            return {
                "signature_name": self.signature_name,
                "inputs": {
                    name: _b64_value(array.tolist()) if array.dtype == object else array.tolist()
                    for name, array in self.inputs.items()
                },
            }
        return {"signature_name": self.signature_name, "examples": list(self.features)}

    def describe(self, limit: int = 2000) -> str:
        """A readable form for the report: the call and its REST JSON body."""
        text = f"{self.kind} {self.signature_name!r} (example {self.example_index}): "
        text += json.dumps(self.rest_body(), sort_keys=True)
        return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _b64_value(value: Any) -> Any:
    """Bytes as {"b64": ...} always (binary tensors such as serialized tf.Examples)."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_b64_value(v) for v in value]
    return value


def take_examples(examples: ExampleSource, num_examples: int) -> pa.RecordBatch:
    """The first `num_examples` rows of `examples` as one RecordBatch."""
    if isinstance(examples, str | os.PathLike):
        path = os.fspath(examples)
        files = (
            [os.path.join(path, f) for f in sorted(os.listdir(path))] if os.path.isdir(path) else []
        )
        parquet = path.endswith(".parquet") or any(f.endswith(".parquet") for f in files)
        source: Iterable[pa.RecordBatch] = (
            hio.read_parquet(path, batch_size=num_examples)
            if parquet
            else hio.read_tfrecord(path, batch_size=num_examples)
        )
    elif isinstance(examples, pa.Table):
        source = examples.to_batches(max_chunksize=num_examples)
    elif isinstance(examples, pa.RecordBatch):
        source = [examples]
    else:
        source = examples
    taken: list[pa.RecordBatch] = []
    count = 0
    for batch in source:
        if count >= num_examples:
            break
        part = batch.slice(0, num_examples - count)
        if part.num_rows:
            taken.append(part)
            count += part.num_rows
    if not taken:
        raise RequestBuildError(f"no examples to build canary requests from ({examples!r})")
    if len(taken) == 1:
        return taken[0]
    return pa.Table.from_batches(taken).combine_chunks().to_batches()[0]


def build_requests(
    signatures: Mapping[str, SignatureSpec],
    signature_names: Sequence[str],
    rows: pa.RecordBatch,
) -> list[CanaryRequest]:
    """One request per row per signature named, in that order; RequestBuildError names what is
    missing (a signature, a feature, a value)."""
    serialized = hio.encode_examples(rows)
    features = [_features_json(row) for row in rows.to_pylist()]
    requests: list[CanaryRequest] = []
    for name in signature_names:
        signature = signatures.get(name)
        if signature is None:
            served = ", ".join(sorted(signatures)) or "none"
            raise RequestBuildError(
                f"the served model has no signature {name!r} (its signatures: {served}); "
                "fix RequestSpec.tensorflow_serving.signature_names"
            )
        method = signature.method_name or PREDICT_METHOD
        if method not in _METHODS:
            raise RequestBuildError(
                f"signature {name!r} has method {method!r}; expected one of {_METHODS}"
            )
        for index in range(rows.num_rows):
            if method != PREDICT_METHOD:
                requests.append(
                    CanaryRequest(
                        name,
                        method,
                        index,
                        examples=(serialized[index],),
                        features=(features[index],),
                    )
                )
            else:
                try:
                    inputs = signature_feeds(signature, rows.slice(index, 1), model="served model")
                except ModelInputError as exc:
                    raise RequestBuildError(f"example {index}: {exc}") from exc
                requests.append(CanaryRequest(name, method, index, inputs=inputs))
    return requests


def _features_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _json_value(value) for name, value in row.items() if value is not None}
