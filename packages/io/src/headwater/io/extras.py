"""The error for a feature whose optional dependency (a pip extra) is not installed."""

from __future__ import annotations

from headwater.io.errors import HeadwaterError

__all__ = ["MissingExtraError", "missing_extra"]


class MissingExtraError(HeadwaterError, ModuleNotFoundError):
    """An optional dependency is missing: the message names the extra to install."""


def missing_extra(exc: ModuleNotFoundError, module: str, extra: str, what: str) -> ImportError:
    """The error to raise for `exc`: a MissingExtraError naming `extra` when `module` (or one of
    its submodules) is what is missing, else `exc` itself (a different, real import problem)."""
    if exc.name is None or exc.name.split(".")[0] != module:
        return exc
    return MissingExtraError(
        f"{what} needs {module} (not installed): pip install '{extra}'", name=exc.name
    )
