"""Errors of the infra validator: a server that cannot be started, a spec that cannot be met.

A model that fails its canary is not an error: `validate_model` returns a `ValidationResult`
that says why. These errors are for the caller's mistakes and a machine that cannot run a server.
"""

from __future__ import annotations

from headwater.io import HeadwaterError

__all__ = ["InfraValidatorError", "RequestBuildError", "ServerUnavailableError"]


class InfraValidatorError(HeadwaterError, RuntimeError):
    """Base of the infra validator's errors."""


class ServerUnavailableError(InfraValidatorError, OSError):
    """The model server asked for cannot run here (no binary on PATH, no Docker engine)."""


class RequestBuildError(InfraValidatorError, ValueError):
    """Canary requests cannot be built: no examples, a signature input missing from them."""
