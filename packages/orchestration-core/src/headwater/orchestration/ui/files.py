"""Which files the UI may read: the HTML views inside an artifact's own directory, nothing else.

A store's URIs are data, not instructions: a URI that is not an absolute local directory, a
path that climbs out of it (`..`, a symlink), or a file that is not a `.html` view is refused,
so a crafted artifact cannot make the server read `/etc/passwd`.
"""

from __future__ import annotations

import os
from pathlib import Path

from headwater.io.errors import HeadwaterError

VIEW_SUFFIXES = (".html",)
MAX_VIEWS = 50
MAX_DEPTH = 3


class UnsafePathError(HeadwaterError, PermissionError):
    """A request for a file the UI does not serve (outside the artifact, or not a view)."""


def artifact_dir(uri: str) -> Path | None:
    """The artifact's directory (symlinks resolved), or None when its URI is not a local one."""
    if not uri or "://" in uri or not os.path.isabs(uri):
        return None
    real = Path(os.path.realpath(uri))
    return real if real.is_dir() else None


def view_files(uri: str) -> list[str]:
    """Relative paths of the HTML views inside the artifact's directory, sorted (at most 50)."""
    base = artifact_dir(uri)
    if base is None:
        return []
    found: list[str] = []
    for folder, dirs, files in os.walk(base):
        depth = len(Path(folder).relative_to(base).parts)
        if depth >= MAX_DEPTH:
            dirs[:] = []
        dirs.sort()
        for name in sorted(files):
            if name.endswith(VIEW_SUFFIXES):
                rel = str(Path(folder, name).relative_to(base))
                try:
                    resolve_view(uri, rel)
                except UnsafePathError:
                    continue
                found.append(rel)
                if len(found) >= MAX_VIEWS:
                    return found
    return found


def resolve_view(uri: str, relative: str) -> Path:
    """The real path of view `relative` inside the artifact at `uri`; UnsafePathError otherwise."""
    return resolve_file(uri, relative, VIEW_SUFFIXES)


def resolve_file(uri: str, relative: str, suffixes: tuple[str, ...]) -> Path:
    """The real path of file `relative` inside the artifact at `uri`, if it ends in `suffixes`."""
    base = artifact_dir(uri)
    if base is None:
        raise UnsafePathError(f"artifact URI {uri!r} is not a local directory; nothing is served")
    parts = Path(relative).parts
    if not relative or os.path.isabs(relative) or ".." in parts or "\\" in relative:
        raise UnsafePathError(f"{relative!r}: expected a relative path inside {uri}")
    target = Path(os.path.realpath(base / relative))
    if os.path.commonpath([base, target]) != str(base):
        raise UnsafePathError(f"{relative!r} resolves outside artifact directory {uri}")
    if not target.name.endswith(suffixes) or not target.is_file():
        raise UnsafePathError(f"{relative!r} in {uri}: only {'/'.join(suffixes)} files are read")
    return target
