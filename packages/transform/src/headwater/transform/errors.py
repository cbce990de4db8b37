"""Errors raised by headwater.transform, each also a builtin so callers can catch broadly."""

from __future__ import annotations

from headwater.io import HeadwaterError


class PreprocessingFnError(HeadwaterError, ValueError):
    """A preprocessing_fn that cannot be traced: it raised, read an unknown feature or returned
    something that is not a batch of tensors."""


class FeatureSpecError(HeadwaterError, ValueError):
    """Raw data that does not match the feature spec (missing column, wrong type, bad shape)."""


class AnalyzerError(HeadwaterError, RuntimeError):
    """An analyzer called outside a traced preprocessing_fn, or given input it cannot reduce."""


class AnalyzerCacheError(HeadwaterError, ValueError):
    """An analyzer cache file that is not Headwater's data-only format (a pickle, say): refused
    unread, or an accumulator that format cannot hold."""
