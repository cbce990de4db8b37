"""`tfx.types.standard_artifacts`: TFX's artifact types, and its value artifacts.

A value artifact (String, Integer, ...) keeps its value in the file `value` under its uri;
a component sets `artifact.value = ...` and a downstream one reads `artifact.value`.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from headwater.orchestration.artifacts import (
    Artifact,
    ExampleAnomalies,
    Examples,
    ExampleStatistics,
    HyperParameters,
    InferenceResult,
    InfraBlessing,
    Model,
    ModelBlessing,
    ModelEvaluation,
    ModelRun,
    PushedModel,
    Schema,
    TransformCache,
    TransformGraph,
    TunerResults,
    register_artifact_type,
)
from headwater.orchestration.tfx_v1._missing import module_dir, module_getattr

VALUE_FILE = "value"


class ValueArtifact(Artifact):
    """One small value in the file `value` under the uri (TFX's ValueArtifact)."""

    def encode(self, value: Any) -> bytes:
        """The file's bytes for `value`."""
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """The value of the file's bytes."""
        raise NotImplementedError

    @property
    def value(self) -> Any:
        """The value read from `<uri>/value`."""
        with open(os.path.join(self.uri, VALUE_FILE), "rb") as f:
            return self.decode(f.read())

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "value":
            super().__setattr__(name, value)
            return
        os.makedirs(self.uri, exist_ok=True)
        with open(os.path.join(self.uri, VALUE_FILE), "wb") as f:
            f.write(self.encode(value))


class String(ValueArtifact):
    """A UTF-8 string."""

    TYPE_NAME: ClassVar[str] = "String"

    def encode(self, value: Any) -> bytes:
        """UTF-8 bytes of the string."""
        return str(value).encode()

    def decode(self, data: bytes) -> Any:
        """The string."""
        return data.decode()


class Bytes(ValueArtifact):
    """Raw bytes."""

    TYPE_NAME: ClassVar[str] = "Bytes"

    def encode(self, value: Any) -> bytes:
        """The bytes themselves."""
        return bytes(value)

    def decode(self, data: bytes) -> Any:
        """The bytes themselves."""
        return data


class Integer(ValueArtifact):
    """An integer, written in decimal."""

    TYPE_NAME: ClassVar[str] = "Integer"

    def encode(self, value: Any) -> bytes:
        """Decimal digits."""
        return str(int(value)).encode()

    def decode(self, data: bytes) -> Any:
        """The integer."""
        return int(data)


class Float(ValueArtifact):
    """A float, written as Python's repr (round-trips exactly)."""

    TYPE_NAME: ClassVar[str] = "Float"

    def encode(self, value: Any) -> bytes:
        """repr of the float."""
        return repr(float(value)).encode()

    def decode(self, data: bytes) -> Any:
        """The float."""
        return float(data)


class Boolean(ValueArtifact):
    """A boolean, written as 1 or 0."""

    TYPE_NAME: ClassVar[str] = "Boolean"

    def encode(self, value: Any) -> bytes:
        """b"1" or b"0"."""
        return b"1" if value else b"0"

    def decode(self, data: bytes) -> Any:
        """True or False."""
        return data.strip() == b"1"


class JsonValue(ValueArtifact):
    """A JSON-serializable value."""

    TYPE_NAME: ClassVar[str] = "JsonValue"

    def encode(self, value: Any) -> bytes:
        """JSON text."""
        return json.dumps(value).encode()

    def decode(self, data: bytes) -> Any:
        """The decoded JSON value."""
        return json.loads(data)


for _cls in (String, Bytes, Integer, Float, Boolean, JsonValue):
    register_artifact_type(_cls)

__getattr__ = module_getattr("types.standard_artifacts")
__dir__ = module_dir("types.standard_artifacts", globals())
__all__ = [
    "Boolean",
    "Bytes",
    "ExampleAnomalies",
    "ExampleStatistics",
    "Examples",
    "Float",
    "HyperParameters",
    "InferenceResult",
    "InfraBlessing",
    "Integer",
    "JsonValue",
    "Model",
    "ModelBlessing",
    "ModelEvaluation",
    "ModelRun",
    "PushedModel",
    "Schema",
    "String",
    "TransformCache",
    "TransformGraph",
    "TunerResults",
]
