"""Errors of schema inference and validation: bad schemas, statistics or example files.

Both subclass `ValueError` (bad input) and Headwater's one base, `HeadwaterError`.
Problems *inside* a schema are reported as anomalies (INVALID_SCHEMA_SPECIFICATION,
DOMAIN_INVALID_FOR_TYPE) rather than raised, so one bad field never hides the others.
"""

from __future__ import annotations

from headwater.io import HeadwaterError

__all__ = ["InvalidStatisticsError", "SchemaError"]


class SchemaError(HeadwaterError, ValueError):
    """A schema that cannot be read, or a request about a feature the schema does not have."""


class InvalidStatisticsError(HeadwaterError, ValueError):
    """Statistics that cannot be validated (not a statistics list, or no single dataset)."""
