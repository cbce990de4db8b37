"""Errors of headwater-model-analysis: each is a `HeadwaterError` and the closest builtin."""

from __future__ import annotations

from headwater.io import HeadwaterError

__all__ = ["EvalConfigError", "EvalInputError", "ModelLoadError"]


class EvalConfigError(HeadwaterError, ValueError):
    """The `EvalConfig` is inconsistent: names the field, what was expected and what was found."""


class EvalInputError(HeadwaterError, ValueError):
    """The data does not fit the config: a missing label/prediction column, NaN predictions..."""


class ModelLoadError(HeadwaterError, ValueError):
    """A SavedModel cannot be loaded or lacks the signature / output the config names."""
