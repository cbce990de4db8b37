"""Server configuration: models, version policies, labels and batching, from flags or TF protos.

`ModelConfig` and `BatchingOptions` are frozen dataclasses; `parse_model_config_file` reads TF
Serving's ModelServerConfig text proto (`--model_config_file`) and `parse_batching_parameters`
its BatchingParameters text proto (`--batching_parameters_file`), so an existing TF Serving
deployment's files work unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headwater.model_server.errors import ServerConfigError

__all__ = [
    "BatchingOptions",
    "ModelConfig",
    "VersionPolicy",
    "model_configs_from_proto",
    "parse_batching_parameters",
    "parse_model_config_file",
]


@dataclass(frozen=True, kw_only=True)
class VersionPolicy:
    """Which versions under a base path are served: TF Serving's latest N, specific or all."""

    kind: str = "latest"
    """"latest", "specific" or "all"."""
    num_versions: int = 1
    """For "latest": how many of the highest versions are served."""
    versions: tuple[int, ...] = ()
    """For "specific": the versions served."""

    def __post_init__(self) -> None:
        if self.kind not in ("latest", "specific", "all"):
            raise ServerConfigError(
                f"version policy must be latest, specific or all, got {self.kind!r}"
            )
        if self.kind == "latest" and self.num_versions < 1:
            raise ServerConfigError(f"latest num_versions must be >= 1, got {self.num_versions}")
        if self.kind == "specific" and not self.versions:
            raise ServerConfigError("specific version policy needs at least one version")

    def select(self, on_disk: Sequence[int]) -> set[int]:
        """The versions among `on_disk` this policy wants served."""
        if self.kind == "all":
            return set(on_disk)
        if self.kind == "specific":
            return set(on_disk) & set(self.versions)
        return set(sorted(on_disk)[-self.num_versions :])


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """One served model: its name, base path (holding numbered version directories) and policy."""

    name: str
    base_path: str
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    version_labels: Mapping[str, int] = field(default_factory=dict)
    """Label -> version, as in TF Serving's ModelConfig.version_labels."""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ServerConfigError(f"model name must be non-empty without '/', got {self.name!r}")
        if not self.base_path:
            raise ServerConfigError(f"model {self.name!r} needs a base_path")


@dataclass(frozen=True, kw_only=True)
class BatchingOptions:
    """Server-side batching: TF Serving's BatchingParameters, its defaults for unset fields."""

    max_batch_size: int = 1000
    """Most examples in one model call."""
    batch_timeout_micros: int = 0
    """How long a batch may wait to fill up before it runs anyway."""
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    """How many batches may run at once."""
    max_enqueued_batches: int = 100
    """Batches that may wait; past that a request is refused with UNAVAILABLE."""
    allowed_batch_sizes: tuple[int, ...] = ()
    """When set, a batch is padded up to the next of these sizes (last must be max_batch_size)."""

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "num_batch_threads", "max_enqueued_batches"):
            if getattr(self, name) < 1:
                raise ServerConfigError(f"batching {name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ServerConfigError(
                f"batching batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}"
            )
        sizes = self.allowed_batch_sizes
        if sizes:
            if list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
                raise ServerConfigError(
                    f"allowed_batch_sizes must be increasing positive sizes, got {list(sizes)}"
                )
            if sizes[-1] != self.max_batch_size:
                raise ServerConfigError(
                    f"the last allowed_batch_sizes entry ({sizes[-1]}) must equal "
                    f"max_batch_size ({self.max_batch_size})"
                )


def _policy_from_proto(policy: Any) -> VersionPolicy:
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy(kind="all")
    if which == "specific":
        return VersionPolicy(
            kind="specific", versions=tuple(int(v) for v in policy.specific.versions)
        )
    if which == "latest":
        return VersionPolicy(kind="latest", num_versions=policy.latest.num_versions or 1)
    return VersionPolicy()


def model_configs_from_proto(config: Any) -> list[ModelConfig]:
    """ModelConfigs from a tensorflow.serving.ModelServerConfig message."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ServerConfigError("custom_model_config is not supported; use model_config_list")
    models = []
    for entry in config.model_config_list.config:
        if entry.model_platform not in ("", "tensorflow"):
            raise ServerConfigError(
                f"model {entry.name!r}: model_platform must be 'tensorflow', "
                f"got {entry.model_platform!r}"
            )
        models.append(
            ModelConfig(
                name=entry.name,
                base_path=entry.base_path,
                version_policy=_policy_from_proto(entry.model_version_policy),
                version_labels={k: int(v) for k, v in entry.version_labels.items()},
            )
        )
    names = [m.name for m in models]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ServerConfigError(f"model names must be unique, repeated: {duplicated}")
    return models


def parse_model_config_file(path: str) -> list[ModelConfig]:
    """ModelConfigs from a ModelServerConfig text proto file (TF Serving's --model_config_file)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ServerConfigError(f"cannot read --model_config_file {path}: {exc}") from exc
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ServerConfigError(f"{path}: not a ModelServerConfig text proto: {exc}") from exc
    return model_configs_from_proto(config)


_BATCHING_FIELDS = {
    # name: (field number, wrapped message type or None for a plain repeated int64 / bool)
    "max_batch_size": (1, "Int64Value"),
    "batch_timeout_micros": (2, "Int64Value"),
    "max_enqueued_batches": (3, "Int64Value"),
    "num_batch_threads": (4, "Int64Value"),
    "thread_pool_name": (5, "StringValue"),
    "allowed_batch_sizes": (6, None),
    "pad_variable_length_inputs": (7, "bool"),
}


def _batching_message_class() -> Any:
    """BatchingParameters (not shipped in tensorflow-serving-api) built from its field list."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(
        name="headwater_batching_parameters.proto",
        package="tensorflow.serving",
        dependency=["google/protobuf/wrappers.proto"],
        syntax="proto3",
    )
    message = proto.message_type.add(name="BatchingParameters")
    fdp = descriptor_pb2.FieldDescriptorProto
    for name, (number, kind) in _BATCHING_FIELDS.items():
        if kind is None:
            message.field.add(
                name=name, number=number, type=fdp.TYPE_INT64, label=fdp.LABEL_REPEATED
            )
        elif kind == "bool":
            message.field.add(
                name=name, number=number, type=fdp.TYPE_BOOL, label=fdp.LABEL_OPTIONAL
            )
        else:
            message.field.add(
                name=name,
                number=number,
                type=fdp.TYPE_MESSAGE,
                label=fdp.LABEL_OPTIONAL,
                type_name=f".google.protobuf.{kind}",
            )
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


def parse_batching_parameters(
    text: str, *, source: str = "<batching parameters>"
) -> BatchingOptions:
    """BatchingOptions from a BatchingParameters text proto; unset fields keep defaults."""
    from google.protobuf import text_format

    message = _batching_message_class()()
    try:
        text_format.Parse(text, message, allow_unknown_field=True)
    except text_format.ParseError as exc:
        raise ServerConfigError(f"{source}: not a BatchingParameters text proto: {exc}") from exc
    values: dict[str, Any] = {}
    for name in (
        "max_batch_size",
        "batch_timeout_micros",
        "max_enqueued_batches",
        "num_batch_threads",
    ):
        if message.HasField(name):
            values[name] = int(getattr(message, name).value)
    if message.allowed_batch_sizes:
        values["allowed_batch_sizes"] = tuple(int(s) for s in message.allowed_batch_sizes)
    return BatchingOptions(**values)
