"""Errors of headwater-bulk-inferrer: each is a `HeadwaterError` and the closest builtin.

Model loading and input problems use headwater.io's `ModelLoadError` and `ModelInputError`
(the model-running seam's errors); corrupt example files raise headwater.io's `InputError`.
"""

from __future__ import annotations

from headwater.io import HeadwaterError

__all__ = ["InferenceOutputError", "InferenceSpecError"]


class InferenceSpecError(HeadwaterError, ValueError):
    """The spec does not fit the model: unsupported signature mix, output/column name clash."""


class InferenceOutputError(HeadwaterError, ValueError):
    """A model returned outputs that cannot be logged: NaN values, wrong batch size or type."""
