"""TFX's ServingSpec / ValidationSpec / RequestSpec as frozen dataclasses, also read from JSON.

Field names are TFX's (`tfx.proto.infra_validator_pb2`), so `ServingSpec.from_json` reads what
`json_format.MessageToJson` wrote for TFX (camelCase or snake_case keys). Headwater adds a few
fields, marked "Headwater:" below: the default server is headwater-model-server in a subprocess,
a `tensorflow_model_server` binary can run without Docker, requests may go over REST, and a
latency bound can fail the canary.

Example:
    serving = ServingSpec()                                  # headwater-model-server
    docker = ServingSpec.from_json('{"tensorflow_serving": {"tags": ["2.19.1"]},'
                                   ' "local_docker": {}}')
    requests = RequestSpec(tensorflow_serving=TensorFlowServingRequestSpec(), num_examples=10)
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

__all__ = [
    "DEFAULT_MODEL_NAME",
    "HeadwaterModelServer",
    "LocalBinaryConfig",
    "LocalDockerConfig",
    "Mode",
    "RequestSpec",
    "ServingSpec",
    "TensorFlowServing",
    "TensorFlowServingRequestSpec",
    "ValidationSpec",
    "as_request_spec",
    "as_serving_spec",
    "as_validation_spec",
]

DEFAULT_MODEL_NAME = "infra-validation-model"
"""The model name a server is given when ServingSpec.model_name is empty (TFX's default)."""

PROTOCOLS = ("grpc", "rest")

_Spec = TypeVar("_Spec", bound="_JsonSpec")


class Mode(enum.Enum):
    """What the canary does: load the model only, or load it and answer real requests."""

    LOAD_ONLY = "LOAD_ONLY"
    LOAD_AND_QUERY = "LOAD_AND_QUERY"


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


class _JsonSpec:
    """Reads a dataclass from TFX's JSON: camelCase or snake_case keys, lists as tuples."""

    _NESTED: ClassVar[Mapping[str, type]] = {}

    @classmethod
    def from_json(cls: type[_Spec], data: Mapping[str, Any] | str) -> _Spec:
        """The spec from a dict or JSON text as TFX writes it; unknown fields are an error."""
        if isinstance(data, str):
            text = data
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{cls.__name__}: not valid JSON ({exc}): {text[:200]!r}") from exc
        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {data!r}")
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            name = _snake(key)
            if name not in fields:
                raise ValueError(
                    f"{cls.__name__} has no field {key!r} (its fields: {', '.join(sorted(fields))})"
                )
            nested = cls._NESTED.get(name)
            if nested is not None and value is not None:
                value = nested.from_json(value)  # type: ignore[attr-defined]
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TensorFlowServing(_JsonSpec):
    """TensorFlow Serving as the serving binary: a Docker image or (Headwater) a local binary."""

    image_name: str = ""
    """Docker image; "" is "tensorflow/serving"."""
    tags: tuple[str, ...] = ()
    """Image tags to validate against, each in turn ("latest", "2.19.1")."""
    digests: tuple[str, ...] = ()
    """Image digests ("sha256:..."), validated like tags."""

    def images(self) -> list[str]:
        """Every image reference to validate against; ["<image>:latest"] when none is named."""
        image = self.image_name or "tensorflow/serving"
        refs = [f"{image}:{tag}" for tag in self.tags] + [f"{image}@{d}" for d in self.digests]
        return refs or [f"{image}:latest"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeadwaterModelServer(_JsonSpec):
    """Headwater: headwater-model-server in a subprocess (the default serving binary)."""

    python: str = ""
    """Interpreter that runs `python -m headwater.model_server`; "" is the current one."""
    extra_args: tuple[str, ...] = ()
    """More command-line flags, e.g. ("--enable_batching",)."""
    in_process: bool = False
    """Run the server on a thread of this process instead: no interpreter start and no
    TensorFlow import (seconds saved where TensorFlow is loaded already), but no isolation."""

    def __post_init__(self) -> None:
        if self.in_process and (self.python or self.extra_args):
            raise ValueError(
                "HeadwaterModelServer: python / extra_args apply to the subprocess; "
                "in_process=True takes neither"
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocalDockerConfig(_JsonSpec):
    """A local Docker engine (TFX's fields); the `docker` command line talks to it."""

    client_base_url: str = ""
    """Engine address ("unix:///var/run/docker.sock", "tcp://host:2376"); "" uses DOCKER_HOST."""
    client_api_version: str = ""
    client_timeout_seconds: int = 0
    """Timeout of each docker command; 0 is 60 s."""
    host_ip_address: str = ""
    """Host address the container's ports are published on; "" is 127.0.0.1."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LocalBinaryConfig(_JsonSpec):
    """Headwater: a `tensorflow_model_server` binary run directly, without Docker."""

    binary: str = "tensorflow_model_server"
    """Command name looked up on PATH, or a path."""
    extra_args: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServingSpec(_JsonSpec):
    """Which model server to start, and where.

    Serving binary: `headwater_model_server` (the default when neither is set) or
    `tensorflow_serving`. Platform: headwater-model-server runs as a local process;
    TensorFlow Serving needs `local_docker` (TFX's) or `local_binary` (Headwater's).
    """

    tensorflow_serving: TensorFlowServing | None = None
    headwater_model_server: HeadwaterModelServer | None = None
    local_docker: LocalDockerConfig | None = None
    local_binary: LocalBinaryConfig | None = None
    kubernetes: Mapping[str, Any] | None = None
    """Accepted from TFX's JSON so that it can be refused with a clear message."""
    model_name: str = ""
    """Name the model is served under; "" is DEFAULT_MODEL_NAME."""

    _NESTED: ClassVar[Mapping[str, type]] = {
        "tensorflow_serving": TensorFlowServing,
        "headwater_model_server": HeadwaterModelServer,
        "local_docker": LocalDockerConfig,
        "local_binary": LocalBinaryConfig,
    }

    def __post_init__(self) -> None:
        if self.kubernetes is not None:
            raise ValueError(
                "ServingSpec.kubernetes is not supported by Headwater's infra validator; "
                "use headwater_model_server (default), local_binary or local_docker"
            )
        if self.tensorflow_serving is not None and self.headwater_model_server is not None:
            raise ValueError(
                "ServingSpec: set one serving binary, tensorflow_serving or "
                "headwater_model_server, not both"
            )
        if self.local_docker is not None and self.local_binary is not None:
            raise ValueError(
                "ServingSpec: set one platform, local_docker or local_binary, not both"
            )
        if self.tensorflow_serving is None:
            if self.local_docker is not None or self.local_binary is not None:
                raise ValueError(
                    "ServingSpec: local_docker / local_binary run TensorFlow Serving; "
                    "set tensorflow_serving (headwater_model_server runs as a local process)"
                )
        elif self.local_docker is None and self.local_binary is None:
            raise ValueError(
                "ServingSpec.tensorflow_serving needs a platform: local_docker "
                '({"local_docker": {}}) or local_binary ({"local_binary": {}})'
            )

    @property
    def served_model_name(self) -> str:
        """The model name given to the server."""
        return self.model_name or DEFAULT_MODEL_NAME


@dataclasses.dataclass(frozen=True, kw_only=True)
class ValidationSpec(_JsonSpec):
    """How long and how often to try, and (Headwater) the bounds a canary must meet."""

    max_loading_time_seconds: int = 300
    """From the server's first answer until the model is AVAILABLE; beyond it the try fails
    (TFX: 300)."""
    max_start_time_seconds: float = 120.0
    """Headwater: from spawning the server until it first answers (a Python server imports
    TensorFlow first, so this is kept apart from the model's loading time)."""
    num_tries: int = 5
    """Tries before the model is not blessed; only failures of the machine are retried (a
    model the server refused, a request it rejected, a NaN answer fail at once)."""
    request_timeout_seconds: float = 30.0
    """Headwater: deadline of each canary request."""
    max_latency_p99_ms: float | None = None
    """Headwater: fail the canary when the requests' p99 latency exceeds this."""
    stop_timeout_seconds: float = 10.0
    """Headwater: grace time after SIGTERM before the server is killed."""

    def __post_init__(self) -> None:
        # TFX's proto3 zeros mean "default".
        if self.max_loading_time_seconds == 0:
            object.__setattr__(self, "max_loading_time_seconds", 300)
        if self.num_tries == 0:
            object.__setattr__(self, "num_tries", 5)
        for name in (
            "max_loading_time_seconds",
            "max_start_time_seconds",
            "num_tries",
            "request_timeout_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"ValidationSpec.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_latency_p99_ms is not None and self.max_latency_p99_ms <= 0:
            raise ValueError(
                f"ValidationSpec.max_latency_p99_ms must be > 0, got {self.max_latency_p99_ms!r}"
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class TensorFlowServingRequestSpec(_JsonSpec):
    """Which signatures to call; each signature's method name picks Predict, Classify or Regress."""

    tag_set: tuple[str, ...] = ("serve",)
    signature_names: tuple[str, ...] = ("serving_default",)

    def __post_init__(self) -> None:
        # TFX's empty repeated fields mean "default".
        if not self.tag_set:
            object.__setattr__(self, "tag_set", ("serve",))
        if not self.signature_names:
            object.__setattr__(self, "signature_names", ("serving_default",))


@dataclasses.dataclass(frozen=True, kw_only=True)
class RequestSpec(_JsonSpec):
    """Canary requests built from an Examples split: `num_examples` requests per signature."""

    tensorflow_serving: TensorFlowServingRequestSpec | None = None
    split_name: str = ""
    """Split the examples come from; "" is the first split."""
    num_examples: int = 1
    make_warmup: bool = False
    """TFX's warm-up model export; not supported (an error when True)."""
    protocol: str = "grpc"
    """Headwater: "grpc" (TF Serving's PredictionService, as TFX) or "rest" (/v1/models)."""

    _NESTED: ClassVar[Mapping[str, type]] = {"tensorflow_serving": TensorFlowServingRequestSpec}

    def __post_init__(self) -> None:
        if self.tensorflow_serving is None:
            object.__setattr__(self, "tensorflow_serving", TensorFlowServingRequestSpec())
        if self.num_examples == 0:
            object.__setattr__(self, "num_examples", 1)
        if self.num_examples < 0:
            raise ValueError(f"RequestSpec.num_examples must be >= 1, got {self.num_examples}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"RequestSpec.protocol must be one of {PROTOCOLS}, got {self.protocol!r}"
            )
        if self.make_warmup:
            raise ValueError(
                "RequestSpec.make_warmup is not supported: Headwater's infra validator does not "
                "write a warm-up model (put tf_serving_warmup_requests in the model's assets.extra)"
            )

    @property
    def signature_names(self) -> tuple[str, ...]:
        """The signatures to call."""
        assert self.tensorflow_serving is not None
        return self.tensorflow_serving.signature_names


def _as_spec(cls: type[_Spec], value: Any) -> _Spec:
    if isinstance(value, cls):
        return value
    if isinstance(value, str) and not value.lstrip().startswith("{") and os.path.isfile(value):
        with open(value) as f:
            value = f.read()
    if isinstance(value, str | Mapping):
        return cls.from_json(value)
    raise TypeError(f"expected a {cls.__name__}, a dict or JSON text, got {type(value).__name__}")


def as_serving_spec(value: ServingSpec | Mapping[str, Any] | str | None) -> ServingSpec:
    """A ServingSpec from itself, a dict, JSON text or a JSON file; None is the default."""
    return ServingSpec() if value is None else _as_spec(ServingSpec, value)


def as_validation_spec(value: ValidationSpec | Mapping[str, Any] | str | None) -> ValidationSpec:
    """A ValidationSpec from itself, a dict, JSON text or a JSON file; None is the default."""
    return ValidationSpec() if value is None else _as_spec(ValidationSpec, value)


def as_request_spec(value: RequestSpec | Mapping[str, Any] | str | None) -> RequestSpec | None:
    """A RequestSpec from itself, a dict, JSON text or a JSON file; None means LOAD_ONLY."""
    return None if value is None else _as_spec(RequestSpec, value)
