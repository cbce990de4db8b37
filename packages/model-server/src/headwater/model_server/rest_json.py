"""TF Serving's REST JSON ⇄ numpy: row (`instances`) and columnar (`inputs`) formats, b64, Examples.

Follows TF Serving's REST API document: a request holds `instances` (a list, one entry per
example: a value for a single-input signature, or an object of named inputs) or `inputs` (a
value, or an object of named inputs, each batched already); `{"b64": "..."}` stands for binary
strings; output strings whose name ends in `_bytes` go back as `{"b64": ...}`. Classify and
regress requests hold `examples` (and an optional `context`) as feature objects that become
tf.Examples.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from headwater.io.model_seam import SignatureSpec
from headwater.model_server.errors import ServingError

__all__ = [
    "decode_body",
    "examples_from_json",
    "predict_feeds",
    "predict_response",
]


def decode_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body, or INVALID_ARGUMENT saying where parsing failed."""
    try:
        value = json.loads(body)
    except UnicodeDecodeError as exc:
        raise ServingError(
            "INVALID_ARGUMENT", f"JSON Parse error: body is not UTF-8: {exc}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ServingError(
            "INVALID_ARGUMENT", f"JSON Parse error: {exc.msg} at offset: {exc.pos}"
        ) from exc
    if not isinstance(value, dict):
        raise ServingError(
            "INVALID_ARGUMENT",
            f"JSON Value: {body[:80]!r} Is not object: the body must be a JSON object",
        )
    return value


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _b64(value: Any, name: str) -> bytes:
    data = value["b64"]
    if not isinstance(data, str):
        raise ServingError("INVALID_ARGUMENT", f"input {name!r}: 'b64' must hold a string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ServingError(
            "INVALID_ARGUMENT", f"input {name!r}: Unable to base64 decode: {exc}"
        ) from exc


def _strings(value: Any, name: str) -> Any:
    if isinstance(value, list):
        return [_strings(v, name) for v in value]
    if _is_b64(value):
        return _b64(value, name)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ServingError(
        "INVALID_ARGUMENT", f"input {name!r} expects strings, got {type(value).__name__} {value!r}"
    )


def _array(value: Any, name: str, is_string: bool) -> np.ndarray:
    if is_string:
        value = _strings(value, name)
        try:
            shaped = np.array(value, dtype=object)
            if shaped.ndim and any(not isinstance(v, bytes) for v in shaped.reshape(-1)):
                raise ValueError("ragged")
        except ValueError as exc:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"input {name!r}: lists of different lengths (a tensor must be rectangular)",
            ) from exc
        return shaped
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"input {name!r}: lists of different lengths (a tensor must be rectangular)",
        ) from exc
    if array.dtype.kind == "O":
        raise ServingError(
            "INVALID_ARGUMENT",
            f"input {name!r}: expected a rectangular list of numbers, got objects, strings "
            "mixed with numbers, or lists of different lengths",
        )
    return array


def predict_feeds(
    body: Mapping[str, Any], spec: SignatureSpec
) -> tuple[dict[str, np.ndarray], bool]:
    """(feeds, row format?) of a :predict body, as numpy arrays named like the signature inputs."""
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances == has_inputs:
        raise ServingError(
            "INVALID_ARGUMENT",
            "Missing 'inputs' or 'instances' key"
            if not has_instances
            else "Not formatted correctly expecting only one of 'inputs' or 'instances' keys "
            "exclusively",
        )
    strings = {k: t.is_string for k, t in spec.inputs.items()}
    only = next(iter(spec.inputs)) if len(spec.inputs) == 1 else None
    if has_inputs:
        value = body["inputs"]
        if isinstance(value, dict) and not _is_b64(value):
            return {k: _array(v, k, strings.get(k, False)) for k, v in value.items()}, False
        if only is None:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"'inputs' must be an object naming each input: signature {spec.name!r} has "
                f"inputs {sorted(spec.inputs)}",
            )
        return {only: _array(value, only, strings[only])}, False
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise ServingError(
            "INVALID_ARGUMENT", "'instances' must be a non-empty list, one entry per example"
        )
    named = [isinstance(i, dict) and not _is_b64(i) for i in instances]
    if any(named) and not all(named):
        raise ServingError(
            "INVALID_ARGUMENT",
            "instances mix objects of named inputs and bare values: use one form for all",
        )
    if not named[0]:
        if only is None:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"each instance must be an object naming the inputs {sorted(spec.inputs)} "
                f"of signature {spec.name!r}",
            )
        return {only: _array(instances, only, strings[only])}, True
    keys = set(instances[0])
    for i, instance in enumerate(instances):
        if set(instance) != keys:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"instance {i} names inputs {sorted(instance)}, instance 0 names {sorted(keys)}: "
                "every instance must name the same inputs",
            )
    return {
        k: _array([inst[k] for inst in instances], k, strings.get(k, False)) for k in keys
    }, True


def _json_value(array: np.ndarray, name: str) -> Any:
    if array.dtype.kind in ("O", "S"):
        as_b64 = name.endswith("_bytes")

        def convert(v: Any) -> Any:
            if isinstance(v, bytes):
                if as_b64:
                    return {"b64": base64.b64encode(v).decode("ascii")}
                try:
                    return v.decode("utf-8")
                except UnicodeDecodeError:
                    return {"b64": base64.b64encode(v).decode("ascii")}
            return v

        flat = [convert(v) for v in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    return array.tolist()


def predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """TF Serving's :predict answer: {"predictions": [...]} (rows) or {"outputs": ...} (columns)."""
    if not row_format:
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return {"outputs": _json_value(value, name)}
        return {"outputs": {k: _json_value(v, k) for k, v in outputs.items()}}
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise ServingError(
            "INVALID_ARGUMENT",
            f"outputs of different batch sizes {sizes} cannot be answered in the row format; "
            "send 'inputs' (columnar) instead",
        )
    if len(outputs) == 1:
        ((name, value),) = outputs.items()
        return {"predictions": _json_value(value, name)}
    columns = {k: _json_value(v, k) for k, v in outputs.items()}
    n = int(next(iter(sizes.values())) or 0)
    return {"predictions": [{k: c[i] for k, c in columns.items()} for i in range(n)]}


def _feature(value: Any, name: str) -> Any:
    from tensorflow.core.example import feature_pb2

    values = value if isinstance(value, list) else [value]
    if not values:
        return feature_pb2.Feature()
    if all(isinstance(v, str) or _is_b64(v) for v in values):
        return feature_pb2.Feature(
            bytes_list=feature_pb2.BytesList(
                value=[_b64(v, name) if _is_b64(v) else v.encode("utf-8") for v in values]
            )
        )
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=values))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        if not all(math.isfinite(v) for v in values):
            raise ServingError("INVALID_ARGUMENT", f"feature {name!r}: non-finite number")
        return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=values))
    raise ServingError(
        "INVALID_ARGUMENT",
        f'feature {name!r}: expected numbers, strings or {{"b64": ...}} (one kind per feature), '
        f"got {value!r}",
    )


def _example(features: Any, where: str) -> Any:
    from tensorflow.core.example import example_pb2

    if not isinstance(features, dict):
        raise ServingError(
            "INVALID_ARGUMENT", f"{where} must be an object of features, got {features!r}"
        )
    example = example_pb2.Example()
    for name, value in features.items():
        example.features.feature[name].CopyFrom(_feature(value, name))
    return example


def examples_from_json(body: Mapping[str, Any]) -> list[bytes]:
    """Serialized tf.Examples of a :classify / :regress body (`context` merged into each)."""
    examples = body.get("examples")
    if not isinstance(examples, list) or not examples:
        raise ServingError(
            "INVALID_ARGUMENT", "Missing 'examples' key: a non-empty list of feature objects"
        )
    context = b""
    if "context" in body:
        context = _example(body["context"], "'context'").SerializeToString()
    return [
        context + _example(e, f"example {i}").SerializeToString() for i, e in enumerate(examples)
    ]
