"""The error statistics generation raises for input it cannot describe."""

from __future__ import annotations

from headwater.io import HeadwaterError

__all__ = ["StatisticsError"]


class StatisticsError(HeadwaterError, ValueError):
    """A feature whose values cannot be summarised; the message names the feature and why."""
