"""What to run: `ModelSpec` (tags, signatures) and `DataSpec` (splits), named as TFX names them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DataSpec", "ModelSpec"]

DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Which MetaGraph and signatures of the SavedModel to run, and how many rows per call.

    One predict, classify or regress signature gives PredictLog / ClassifyLog / RegressLog
    records; several classify/regress signatures (a multi-head model) give MultiInferenceLog.
    """

    signature_names: tuple[str, ...] = (DEFAULT_SIGNATURE,)
    """Signatures to run (TFX's `model_signature_name`; empty means serving_default)."""
    tags: tuple[str, ...] = ("serve",)
    """MetaGraph tags (TFX's `tag`)."""
    batch_size: int = 8192
    """Rows per model call; larger batches amortize the call, smaller ones bound memory."""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "signature_names", tuple(self.signature_names) or (DEFAULT_SIGNATURE,)
        )
        object.__setattr__(self, "tags", tuple(self.tags) or ("serve",))
        if len(set(self.signature_names)) != len(self.signature_names):
            raise ValueError(f"signature_names repeats a name: {list(self.signature_names)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size!r}")

    @classmethod
    def from_value(cls, value: ModelSpec | Mapping[str, Any] | None) -> ModelSpec:
        """A ModelSpec from itself, None (defaults), or a dict with our or TFX's field names."""
        if value is None:
            return cls()
        if isinstance(value, ModelSpec):
            return value
        fields = dict(value)
        if "model_signature_name" in fields:
            fields["signature_names"] = fields.pop("model_signature_name")
        if "tag" in fields:
            fields["tags"] = fields.pop("tag")
        for key in ("signature_names", "tags"):
            if isinstance(fields.get(key), str):
                fields[key] = (fields[key],)
        return cls(**fields)


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Which splits of the examples to run inference on (TFX's `example_splits`; empty: all)."""

    example_splits: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "example_splits", tuple(self.example_splits))

    @classmethod
    def from_value(cls, value: DataSpec | Mapping[str, Any] | None) -> DataSpec:
        """A DataSpec from itself, None (every split) or a dict {"example_splits": [...]}."""
        if value is None:
            return cls()
        if isinstance(value, DataSpec):
            return value
        return cls(**dict(value))
