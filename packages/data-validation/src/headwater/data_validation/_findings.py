"""What a check found about one feature: reasons, and the schema changes that would accept the data.

Every check works on a *copy* of the schema feature and relaxes it just enough to accept
the data (as TFDV's schema updater does); each edit is recorded as a `SchemaChange`, so the
anomaly can state its fix and `update_schema` is the copy with all fixes applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from google.protobuf import message, text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

AnomalyType = anomalies_pb2.AnomalyInfo.Type


@dataclass(frozen=True)
class SchemaChange:
    """One edit of the schema that makes it accept the data, e.g. presence.min_fraction 1 → 0.9."""

    feature: str
    """The feature changed ('' for the dataset constraints)."""
    field: str
    """Dotted field path inside the feature, e.g. 'int_domain.max'."""
    before: str
    after: str

    def __str__(self) -> str:
        where = f"{self.feature}: " if self.feature else ""
        return f"{where}{self.field}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class Reason:
    """One anomaly reason, TFDV's type and texts."""

    type: int
    short: str
    description: str
    described: bool = True
    """False where TFDV gives a short description only (it then counts the reason apart)."""


def fmt6(value: float) -> str:
    """A number with six significant digits, as TFDV prints it (absl::SixDigits)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def fmt_value(value: object) -> str:
    """A proto field value as text for a SchemaChange."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return fmt6(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, message.Message):
        return "{" + text_format.MessageToString(value, as_one_line=True) + "}"
    return str(value)


@dataclass
class Findings:
    """Reasons and changes for one feature (or the dataset), with the working copy they edit."""

    name: str
    feature: schema_pb2.Feature
    """The working copy: checks relax it to accept the data."""
    reasons: list[Reason] = field(default_factory=list)
    changes: list[SchemaChange] = field(default_factory=list)

    def add(self, type_: int, short: str, description: str | None = None) -> None:
        """Record a reason (description defaults to the short text, as TFDV leaves it empty)."""
        self.reasons.append(
            Reason(type_, short, description if description else short, bool(description))
        )

    def record(self, field_path: str, before: object, after: object) -> None:
        """Record a change made by hand (oneof switches, repeated fields)."""
        self.note(field_path, fmt_value(before), fmt_value(after))

    def note(self, field_path: str, before: str, after: str) -> None:
        """Record a change described in words."""
        change = SchemaChange(self.name, field_path, before, after)
        if change not in self.changes:
            self.changes.append(change)

    def set(self, field_path: str, value: object) -> None:
        """Set a scalar field of the working copy by dotted path, and record the change."""
        *parents, last = field_path.split(".")
        msg: message.Message = self.feature
        for part in parents:
            msg = getattr(msg, part)
        before = getattr(msg, last) if msg.HasField(last) else None
        setattr(msg, last, value)
        if field_path == "type":
            name = schema_pb2.FeatureType.Name
            self.note("type", name(before) if before is not None else "(unset)", name(value))
        else:
            self.record(field_path, before, value)

    def clear(self, field_path: str) -> None:
        """Clear a field of the working copy by dotted path, and record the change."""
        *parents, last = field_path.split(".")
        msg: message.Message = self.feature
        for part in parents:
            msg = getattr(msg, part)
        if msg.HasField(last):
            before = getattr(msg, last)
            before = before if not isinstance(before, message.Message) else _copy(before)
            msg.ClearField(last)
            self.record(field_path, before, None)

    def deprecate(self) -> None:
        """Deprecate the working copy (lifecycle_stage DEPRECATED), as TFDV does."""
        if self.feature.lifecycle_stage != schema_pb2.DEPRECATED:
            before = (
                schema_pb2.LifecycleStage.Name(self.feature.lifecycle_stage)
                if self.feature.HasField("lifecycle_stage")
                else None
            )
            self.feature.lifecycle_stage = schema_pb2.DEPRECATED
            self.changes.append(
                SchemaChange(self.name, "lifecycle_stage", fmt_value(before), "DEPRECATED")
            )


def _copy(msg: message.Message) -> message.Message:
    out = type(msg)()
    out.CopyFrom(msg)
    return out
