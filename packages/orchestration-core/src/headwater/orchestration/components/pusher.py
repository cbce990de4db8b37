"""Pusher: copy a blessed model into a TF Serving directory (`base/<version>/`), as TFX's does."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

from headwater.orchestration.artifacts import InfraBlessing, Model, ModelBlessing, PushedModel
from headwater.orchestration.dsl import InputArtifact, OutputArtifact, Parameter, component

SERVING_MODEL_DIR = "Format-Serving"


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
        "push_destination must be a directory path or "
        f'{{"filesystem": {{"base_directory": path}}}}, got {push_destination!r}'
    )


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
) -> None:
    """Push `model`'s SavedModel to `push_destination` if every blessing given says blessed.

    The model lands atomically in `base_directory/<version>/` (Unix time, always above the
    newest version there), where TF Serving picks it up, and is archived in `pushed_model`.
    `pushed_model` gets TFX's custom properties: `pushed` 1 or 0, `pushed_destination`,
    `pushed_version`. Not blessed: nothing is copied, `pushed` is 0 and the file `NOT_PUSHED`
    says why. With no blessing input the model is pushed unvalidated (as in TFX).
    """
    from headwater.pusher import push_model

    base_directory = base_directory_of(push_destination)
    reason = _not_blessed_by(model_blessing, infra_blessing)
    if reason is not None:
        pushed_model.custom_properties["pushed"] = 0
        with open(os.path.join(pushed_model.uri, "NOT_PUSHED"), "w") as f:
            f.write(f"Model {model.uri} was not pushed: {reason}.\n")
        return
    serving = os.path.join(model.uri, SERVING_MODEL_DIR)
    result = push_model(serving, base_directory)
    shutil.copytree(serving, pushed_model.uri, dirs_exist_ok=True)
    pushed_model.custom_properties["pushed"] = 1
    pushed_model.custom_properties["pushed_destination"] = result.destination
    pushed_model.custom_properties["pushed_version"] = result.version
