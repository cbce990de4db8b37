"""Warm-up of a freshly loaded version: it becomes AVAILABLE only after this succeeded.

When the version holds TF Serving's `assets.extra/tf_serving_warmup_requests` (a TFRecord file
of PredictionLog records), every logged Predict, Classify, Regress or MultiInference request is
replayed against the new model and any failure fails the load. Without that file one synthetic
batch of one example runs through the default signature, so a model that cannot run at all is
never reported AVAILABLE; every other signature then runs once too (a failure there is logged,
not fatal), so no first request pays for tracing.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from headwater.io.model_seam import LoadedModel, ModelInputError, SignatureSpec
from headwater.model_server.errors import ServingError
from headwater.model_server.example_input import serialized_examples
from headwater.model_server.operations import (
    DEFAULT_SIGNATURE,
    check_inputs,
    classify_outputs,
    examples_feed,
    find_signature,
    regress_outputs,
)
from headwater.model_server.tensors import tensor_proto_to_ndarray

__all__ = ["WARMUP_FILE", "warm_up"]

_LOG = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
"""Where TF Serving looks for warm-up requests inside a version directory."""


def _read_records(path: str) -> list[bytes]:
    from headwater.io.tfrecord_files import iter_record_chunks

    records: list[bytes] = []
    for buf, starts, ends, _index in iter_record_chunks(path):
        records.extend(bytes(buf[s:e]) for s, e in zip(starts.tolist(), ends.tolist(), strict=True))
    return records


def _replay_examples(model: LoadedModel, request: object, api: str) -> None:
    spec = find_signature(model, request.model_spec.signature_name)  # type: ignore[attr-defined]
    examples = serialized_examples(request.input)  # type: ignore[attr-defined]
    outputs = model.run(spec.name, examples_feed(spec, examples, api=api))
    if api == "classify":
        classify_outputs(spec, outputs, len(examples))
    else:
        regress_outputs(spec, outputs, len(examples))


def _replay(model: LoadedModel, record: bytes) -> None:
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog.FromString(record)
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        spec = find_signature(model, request.model_spec.signature_name)
        feeds = {k: tensor_proto_to_ndarray(v, name=k) for k, v in request.inputs.items()}
        model.run(spec.name, check_inputs(spec, feeds))
    elif kind == "classify_log":
        _replay_examples(model, log.classify_log.request, "classify")
    elif kind == "regress_log":
        _replay_examples(model, log.regress_log.request, "regress")
    elif kind == "multi_inference_log":
        request = log.multi_inference_log.request
        for task in request.tasks:
            api = "classify" if task.method_name.endswith("classify") else "regress"
            spec = find_signature(model, task.model_spec.signature_name)
            examples = serialized_examples(request.input)
            model.run(spec.name, examples_feed(spec, examples, api=api))
    else:
        raise ServingError("UNIMPLEMENTED", f"warm-up record of type {kind!r} is not supported")


def _synthetic_feed(spec: SignatureSpec) -> dict[str, np.ndarray]:
    feeds = {}
    for name, tensor in spec.inputs.items():
        shape = (1,) if tensor.shape is None else tuple(1 if d is None else d for d in tensor.shape)
        if tensor.is_string:
            array = np.empty(shape, dtype=object)
            array[...] = b""
        else:
            array = np.zeros(shape, dtype=tensor.dtype)
        feeds[name] = array
    return feeds


def warm_up(model: LoadedModel, version_dir: str) -> int:
    """Run the version's warm-up requests (or a synthetic call per signature); returns how many."""
    path = os.path.join(version_dir, WARMUP_FILE)
    if os.path.isfile(path):
        records = _read_records(path)
        for i, record in enumerate(records):
            try:
                _replay(model, record)
            except Exception as exc:
                raise ServingError(
                    "INVALID_ARGUMENT", f"warm-up request {i} of {path} failed: {exc}"
                ) from exc
        return len(records)
    if not model.signatures:
        raise ServingError("FAILED_PRECONDITION", f"{version_dir}: the model has no signatures")
    default = (
        DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in model.signatures else sorted(model.signatures)[0]
    )
    _synthetic_call(model, default, version_dir)
    # Every other signature is traced and run once too, so that its first request is not the one
    # paying for it; one that fails here is logged and still served (TF Serving loads it too).
    for name in sorted(set(model.signatures) - {default}):
        try:
            _synthetic_call(model, name, version_dir)
        except Exception as exc:
            _LOG.warning("synthetic warm-up of %s signature %r failed: %s", version_dir, name, exc)
    return len(model.signatures)


def _synthetic_call(model: LoadedModel, name: str, version_dir: str) -> None:
    try:
        model.run(name, _synthetic_feed(model.signatures[name]))
    except ModelInputError as exc:
        # The model ran and rejected all-zero / empty inputs (a parse or a check op): it runs.
        _LOG.debug(
            "synthetic warm-up of %s signature %r rejected its inputs (the model runs): %s",
            version_dir,
            name,
            exc,
        )
