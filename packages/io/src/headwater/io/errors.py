"""Errors of every Headwater library, and the record of bad input a reader skipped.

`HeadwaterError` is the one base class; library errors also subclass the closest builtin so that
callers can `except ValueError`. `InputError` names where bad input is (file, row, byte offset,
column) and what was expected, so the user can find and fix it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["HeadwaterError", "InputError", "InputNotFoundError", "SkippedRow", "SkippedRows"]

_LOG = logging.getLogger(__name__)


class HeadwaterError(Exception):
    """Base of every error Headwater raises on purpose."""


def _location(
    path: str | None, row: int | None, byte_offset: int | None, column: str | None
) -> str:
    parts = []
    if path is not None:
        parts.append(str(path))
    if row is not None:
        parts.append(f"row {row}")
    if byte_offset is not None:
        parts.append(f"byte offset {byte_offset}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


class InputError(HeadwaterError, ValueError):
    """Bad input data: says which file, row / byte offset and column, what was expected and found.

    `row` is the 1-based line number for text files and the 0-based record index for record files.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        row: int | None = None,
        byte_offset: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        self.path = path
        self.row = row
        self.byte_offset = byte_offset
        self.column = column
        self.expected = expected
        self.found = found
        self.reason = message
        text = message
        where = _location(path, row, byte_offset, column)
        if where:
            text = f"{where}: {text}"
        if expected is not None:
            text += f"; expected {expected}"
        if found is not None:
            text += f", found {found}"
        super().__init__(text)


class InputNotFoundError(InputError, FileNotFoundError):
    """An input path or pattern that matches no file."""


@dataclass(frozen=True)
class SkippedRow:
    """One bad row a reader skipped because it was told to (`skip_bad_rows=True`)."""

    path: str
    row: int | None
    """1-based line number (text files) or 0-based record index; None if unknown."""
    reason: str


@dataclass
class SkippedRows:
    """Every row a reader skipped, so that nothing is dropped silently."""

    rows: list[SkippedRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, rows: list[SkippedRow]) -> None:
        """Record `rows` and log one warning for them."""
        if not rows:
            return
        self.rows.extend(rows)
        first = rows[0]
        _LOG.warning(
            "Skipped %d bad row(s) in %s (first at row %s: %s)",
            len(rows),
            first.path,
            first.row,
            first.reason,
        )
