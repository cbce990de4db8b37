"""InfraValidator: canary the trained model on a real model server before it is pushed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from headwater.infra_validator import RequestSpec, ServingSpec, ValidationSpec
from headwater.orchestration.artifacts import Examples, InfraBlessing, Model
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component

SERVING_MODEL_DIR = "Format-Serving"


@component
def InfraValidator(
    model: InputArtifact[Model],
    blessing: OutputArtifact[InfraBlessing],
    examples: InputArtifact[Examples] | None = None,
    serving_spec: Parameter[ServingSpec | Mapping[str, Any] | str | None] = None,
    validation_spec: Parameter[ValidationSpec | Mapping[str, Any] | str | None] = None,
    request_spec: Parameter[RequestSpec | Mapping[str, Any] | str | None] = None,
) -> None:
    """Start a model server on `model`, wait for it, send canary requests, bless or not.

    The specs are TFX's (objects, dicts or TFX's JSON); without `request_spec` the model is only
    loaded (LOAD_ONLY), with it requests are built from `examples`' `split_name` split (the
    first split by default). `blessing` gets TFX's `INFRA_BLESSED` / `INFRA_NOT_BLESSED` file,
    the readable report (`infra_validation_report.txt`) and the result as JSON; custom
    properties `blessed` (1/0, TFX's, what the Pusher reads), `blessing_status`, `failed_step`
    and the latency p50/p99 in ms.
    """
    import headwater.infra_validator as iv

    requests = iv.as_request_spec(request_spec)
    source = None
    if requests is not None:
        if examples is None:
            raise ValueError("InfraValidator: request_spec (LOAD_AND_QUERY) needs examples")
        splits = examples.splits()
        if not splits:
            raise ValueError(f"InfraValidator: {examples!r} has no split to build requests from")
        split = examples.split(requests.split_name) if requests.split_name else splits[0]
        source = split.read_batches(batch_size=requests.num_examples)
    serving = os.path.join(model.uri, SERVING_MODEL_DIR)
    result = iv.validate_model(
        serving if os.path.isdir(serving) else model.uri,
        examples=source,
        serving_spec=serving_spec,
        validation_spec=validation_spec,
        request_spec=requests,
    )
    iv.write_blessing(result, blessing.uri)
    blessing.custom_properties["blessed"] = int(result.blessed)
    blessing.custom_properties["blessing_status"] = (
        iv.BLESSED_FILE if result.blessed else iv.NOT_BLESSED_FILE
    )
    blessing.custom_properties["failed_step"] = result.failed_step or ""
    for name, value in (("p50", result.latency_p50_ms), ("p99", result.latency_p99_ms)):
        if value is not None:
            blessing.custom_properties[f"latency_{name}_ms"] = value
    for step, seconds in result.step_seconds().items():
        blessing.custom_properties[f"{step}_seconds"] = round(seconds, 3)
