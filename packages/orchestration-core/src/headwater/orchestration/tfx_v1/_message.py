"""Objects that take a TFX proto message's keyword arguments and convert to Headwater config.

`tfx.proto.TrainArgs(num_steps=100)` builds a `Message` holding TFX's fields (unknown fields
are rejected as protobuf does); the compat components turn it into Headwater's dataclass or
TFX's JSON dict (`to_dict()`), which Headwater's components accept.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from headwater.io import HeadwaterError

REPEATED = "repeated"


class MessageFieldError(HeadwaterError, ValueError):
    """A field a TFX message does not have (protobuf raises ValueError the same way)."""


class RepeatedFieldError(HeadwaterError, TypeError):
    """A single value given for a repeated field."""


def fields(**defaults: Any) -> Mapping[str, Any]:
    """A message's fields: name -> default (REPEATED for a repeated field), read-only."""
    return MappingProxyType(defaults)


class Message:
    """A TFX proto message's fields, set by keyword as `Message(field=value)`."""

    FIELDS: ClassVar[Mapping[str, Any]] = {}
    """Field name -> default (REPEATED for a repeated field)."""
    TFX_NAME: ClassVar[str] = ""

    def __init__(self, **fields: Any) -> None:
        name = self.TFX_NAME or type(self).__name__
        for key, value in fields.items():
            if key not in self.FIELDS:
                raise MessageFieldError(
                    f'Protocol message {name} has no "{key}" field '
                    f"(its fields: {sorted(self.FIELDS)})"
                )
            if self.FIELDS[key] is REPEATED:
                if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
                    raise RepeatedFieldError(f"{name}.{key} is a repeated field; got {value!r:.80}")
                value = list(value)
            self.__dict__[key] = value
        self.__dict__["_set"] = {k for k, v in fields.items() if v is not None}

    def __setattr__(self, key: str, value: Any) -> None:
        self.__init__(**{**{k: self.__dict__[k] for k in self._set}, key: value})  # type: ignore[misc]

    def __getattr__(self, key: str) -> Any:
        fields = type(self).FIELDS
        if key in fields:
            default = fields[key]
            return [] if default is REPEATED else default
        raise AttributeError(f"{self.TFX_NAME or type(self).__name__} has no field {key!r}")

    def HasField(self, key: str) -> bool:
        """Whether `key` was set (protobuf's `HasField`)."""
        return key in self._set

    def to_dict(self) -> dict[str, Any]:
        """TFX's JSON form (proto field names), set fields only."""
        return {key: _plain(getattr(self, key)) for key in self.FIELDS if key in self._set}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(other) is type(self)
            and self.to_dict() == other.to_dict()
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self.to_dict())))

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"{type(self).__name__}({body})"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
