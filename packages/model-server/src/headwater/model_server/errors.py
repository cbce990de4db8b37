"""Errors the model server answers with, carrying TF Serving's status code and its HTTP twin.

Every failure a client can cause or see is a `ServingError` with one of TF Serving's canonical
codes ("INVALID_ARGUMENT", "NOT_FOUND", ...); gRPC answers it with that code and REST with the
HTTP status TF Serving's REST layer maps it to, so both protocols agree on every error.
"""

from __future__ import annotations

from headwater.io.errors import HeadwaterError

__all__ = ["HTTP_STATUS", "ServerConfigError", "ServingError"]

HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 408,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}
"""TF Serving's mapping of canonical status codes to HTTP status codes (its REST layer's)."""


class ServingError(HeadwaterError, ValueError):
    """A request the server cannot answer: `code` is TF Serving's canonical code name."""

    def __init__(self, code: str, message: str) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown status code {code!r}; expected one of {sorted(HTTP_STATUS)}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving's REST API answers this code with."""
        return HTTP_STATUS[self.code]


class ServerConfigError(HeadwaterError, ValueError):
    """Server configuration that cannot work: names the flag or config file and what is wrong."""
