"""Errors of pipeline building and running; all subclass HeadwaterError and a builtin."""

from __future__ import annotations

# The errors module only: the package __init__ pulls in pyarrow and pandas, and the CLI must
# start fast.
from headwater.io.errors import HeadwaterError


class WiringError(HeadwaterError, ValueError):
    """A pipeline is wired wrong: unknown parameter, wrong artifact type, missing input, cycle."""


class ComponentFailedError(HeadwaterError, RuntimeError):
    """A component raised; names the node and carries the user's exception as `__cause__`."""

    def __init__(self, node_id: str, cause: BaseException, *, execution_id: int | None) -> None:
        self.node_id = node_id
        self.cause = cause
        self.execution_id = execution_id
        super().__init__(f"component {node_id!r} failed: {type(cause).__name__}: {cause}")


class MetadataError(HeadwaterError, RuntimeError):
    """ML Metadata holds something unexpected (an unknown run, pipeline or artifact)."""


class MetadataStoreError(HeadwaterError, ConnectionError):
    """An ML Metadata store cannot be opened: unreachable, not writable, or not a store at all."""


class PipelineRootError(HeadwaterError, PermissionError):
    """The pipeline root cannot hold a run's outputs (not a directory, or not writable)."""
