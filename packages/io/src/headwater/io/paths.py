"""Paths from names: the files a file, glob or directory names, and names safe as one component.

`resolve_files` turns a file, a glob or a directory into the sorted list of files it names.
`safe_path_component` checks a name (a split, node id, output key, pipeline or model name)
before it becomes one directory or file name, so that no name can point outside its parent.
"""

from __future__ import annotations

import os

from headwater.io.errors import HeadwaterError
from headwater.io.filesystems import match_files

__all__ = ["UnsafePathError", "resolve_files", "safe_path_component"]


class UnsafePathError(HeadwaterError, ValueError):
    """A name that becomes a path would leave its directory (`..`, a separator, a NUL)."""


def safe_path_component(name: str, *, what: str = "name") -> str:
    """`name` unchanged if it is safe as one path component under a directory, else an error.

    Refused: the empty name, `.` and `..`, and names holding `/`, `\\`, a NUL byte or
    another control character, since joined to a directory they would name it, its parent,
    somewhere else, or a file the platform cannot create. `what` names the name in the error
    ("split name", "node id").

    Example:
        os.path.join(uri, f"Split-{safe_path_component(split, what='split name')}")
    """
    if not isinstance(name, str):
        raise UnsafePathError(f"{what} must be a string, got {type(name).__name__} {name!r}")
    if name in ("", ".", ".."):
        raise UnsafePathError(
            f"{what} {name!r} cannot be a file or directory name; expected a non-empty name "
            "other than '.' and '..'"
        )
    bad = sorted({c for c in name if c in "/\\" or ord(c) < 32 or ord(c) == 127})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise UnsafePathError(
            f"{what} {name!r} would leave its directory or is not a valid file name: it holds "
            f"{shown}; expected letters, digits and punctuation other than '/' and '\\'"
        )
    return name


def resolve_files(pattern: str | os.PathLike[str]) -> list[str]:
    """Files named by `pattern`: a file, a glob, or a directory (its non-hidden files).

    `pattern` is a local path or a URL (`s3://bucket/data/*.csv`, `gs://...`): see
    `headwater.io.filesystems`.
    """
    return match_files(os.fspath(pattern))
