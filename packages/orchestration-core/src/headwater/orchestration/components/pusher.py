"""Pusher: copy a blessed model into a TF Serving directory (`base/<version>/`), as TFX's does."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

from headwater.orchestration.artifacts import (
    Examples,
    InfraBlessing,
    Model,
    ModelBlessing,
    PushedModel,
)
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component

SERVING_MODEL_DIR = "Format-Serving"
PARITY_EXAMPLES = 100
"""Examples (from the `eval` split, else the first) the TFLite/TF.js twins are checked on."""


def base_directory_of(push_destination: str | Mapping[str, Any]) -> str:
    """The base directory of a push destination: a path, or TFX's PushDestination as a dict
    (`{"filesystem": {"base_directory": ...}}`)."""
    if isinstance(push_destination, str):
        return push_destination
    if isinstance(push_destination, Mapping):
        filesystem = push_destination.get("filesystem")
        if isinstance(filesystem, Mapping) and isinstance(filesystem.get("base_directory"), str):
            return filesystem["base_directory"]
    raise ValueError(
        "push_destination must be a directory path or URL or "
        f'{{"filesystem": {{"base_directory": path}}}}, got {push_destination!r}'
    )


def _parity_examples(examples: Examples | None) -> Any:
    """The first PARITY_EXAMPLES rows of the eval split (else the first split), or None."""
    if examples is None:
        return None
    splits = examples.splits()
    if not splits:
        return None
    split = next((s for s in splits if s.name == "eval"), splits[0])
    for batch in split.read_batches(batch_size=PARITY_EXAMPLES):
        return batch.slice(0, PARITY_EXAMPLES)
    return None


def _not_blessed_by(
    model_blessing: ModelBlessing | None, infra_blessing: InfraBlessing | None
) -> str | None:
    """Why the model must not be pushed, or None. TFX's rule: custom property `blessed` == 1."""
    for name, blessing in (("model", model_blessing), ("infra", infra_blessing)):
        if blessing is not None and blessing.custom_properties.get("blessed") != 1:
            return f"not blessed by {name} validation ({blessing.uri})"
    return None


@component
def Pusher(
    model: InputArtifact[Model],
    pushed_model: OutputArtifact[PushedModel],
    push_destination: Parameter[str | Mapping[str, Any]],
    model_blessing: InputArtifact[ModelBlessing] | None = None,
    infra_blessing: InputArtifact[InfraBlessing] | None = None,
    examples: InputArtifact[Examples] | None = None,
    targets: Parameter[list[Any] | tuple[Any, ...]] = ("saved_model",),
    retention: Parameter[Mapping[str, Any] | None] = None,
) -> None:
    """Push `model`'s SavedModel to `push_destination` if every blessing given says blessed.

    The model lands atomically in `base_directory/<version>/` (Unix time, always above the
    newest version there), where TF Serving picks it up, and is archived in `pushed_model`.
    `pushed_model` gets TFX's custom properties: `pushed` 1 or 0, `pushed_destination`,
    `pushed_version`. Not blessed: nothing is copied, `pushed` is 0 and the file `NOT_PUSHED`
    says why. With no blessing input the model is pushed unvalidated (as in TFX).

    `push_destination` may be an fsspec URL (s3://, gs://); a dict may add `storage_options`.
    `targets` adds converted twins ("tflite", "tfjs", or dicts such as {"format": "tflite",
    "quantization": "float16"}), each checked for parity on `examples` first: all are
    published or none, and each target's format, location, version and parity figures
    become custom properties (`tflite_max_abs_diff`, ...). `retention` holds
    headwater.pusher.RetentionPolicy fields (`keep_newest`, `pinned_versions`,
    `model_config_file`).
    """
    from headwater.pusher import Destination, RetentionPolicy, push_targets

    base_directory = base_directory_of(push_destination)
    storage_options = (
        push_destination.get("storage_options", {}) if isinstance(push_destination, Mapping) else {}
    )
    reason = _not_blessed_by(model_blessing, infra_blessing)
    if reason is not None:
        pushed_model.custom_properties["pushed"] = 0
        with open(os.path.join(pushed_model.uri, "NOT_PUSHED"), "w") as f:
            f.write(f"Model {model.uri} was not pushed: {reason}.\n")
        return
    serving = os.path.join(model.uri, SERVING_MODEL_DIR)
    report = push_targets(
        serving,
        Destination(url=base_directory, storage_options=storage_options),
        targets=list(targets),
        examples=_parity_examples(examples),
        retention=RetentionPolicy(**retention) if retention else None,
    )
    for result in report.results:
        pushed_model.custom_properties.update(result.properties())
    if not report.pushed:
        pushed_model.custom_properties["pushed"] = 0
        pushed_model.custom_properties["reason"] = report.reason
        with open(os.path.join(pushed_model.uri, "NOT_PUSHED"), "w") as f:
            f.write(f"Model {model.uri} was not pushed: {report.reason}.\n")
        return
    shutil.copytree(serving, pushed_model.uri, dirs_exist_ok=True)
    main = next((r for r in report.results if r.format == "saved_model"), report.results[0])
    pushed_model.custom_properties["pushed"] = 1
    pushed_model.custom_properties["pushed_destination"] = main.location
    pushed_model.custom_properties["pushed_version"] = main.version
