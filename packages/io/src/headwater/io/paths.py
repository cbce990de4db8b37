"""Turn a file, a glob or a directory into the sorted list of files it names."""

from __future__ import annotations

import glob
import os

from headwater.io.errors import InputNotFoundError

__all__ = ["resolve_files"]


def resolve_files(pattern: str | os.PathLike[str]) -> list[str]:
    """Files named by `pattern`: a file, a glob, or a directory (its non-hidden files)."""
    text = os.fspath(pattern)
    if os.path.isdir(text):
        files = [
            os.path.join(text, name)
            for name in sorted(os.listdir(text))
            if not name.startswith((".", "_")) and os.path.isfile(os.path.join(text, name))
        ]
        if not files:
            raise InputNotFoundError(
                "directory holds no files", path=text, expected="at least one data file"
            )
        return files
    if os.path.isfile(text):
        return [text]
    if glob.has_magic(text):
        files = sorted(p for p in glob.glob(text) if os.path.isfile(p))
        if files:
            return files
        raise InputNotFoundError("pattern matches no file", path=text)
    raise InputNotFoundError("no such file or directory", path=text)
