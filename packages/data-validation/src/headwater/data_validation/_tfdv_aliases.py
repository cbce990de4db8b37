"""TFDV's keyword names beside ours (`data_location=` for `pattern`, ...), one checked place."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def either(ours: str, value: T | None, tfdv: str, tfdv_value: T | None) -> T | None:
    """The value given under our name or TFDV's; TypeError naming both if both are given."""
    if value is not None and tfdv_value is not None:
        raise TypeError(f"give {ours} or {tfdv} (TFDV's name for it), not both")
    return value if value is not None else tfdv_value


def required(ours: str, value: T | None, tfdv: str, tfdv_value: T | None) -> T:
    """Like `either`, but one of the two must be given."""
    found = either(ours, value, tfdv, tfdv_value)
    if found is None:
        raise TypeError(f"missing argument {ours} (or {tfdv}, TFDV's name for it)")
    return found
