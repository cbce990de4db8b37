"""Write a small file atomically, with the permissions a plain `open()` would give it.

`tempfile.mkstemp` makes 0600 files, so a file renamed into place from it would be unreadable to
other users and to a serving container whatever the umask says; `write_atomic` makes the
temporary file with mode 0666 minus the process umask, as `open(path, "w")` does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from headwater.io import filesystems

__all__ = ["umask_file_mode", "write_atomic"]


def _umask() -> int:
    """The process umask, read without changing it where Linux says it (/proc/self/status)."""
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as status,
    ):
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it straight back
    os.umask(mask)
    return mask


def umask_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0o666 without the process umask's bits."""
    return 0o666 & ~_umask()


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically: a temporary file in the same directory renamed into
    place (readers see the old file or the new one, never a part), mode as `umask_file_mode`.

    `path` may be a URL (`s3://...`): the object is uploaded under a temporary key and copied
    into place (`headwater.io.filesystems.staged`).
    """
    if filesystems.is_url(path):
        with filesystems.staged([os.fspath(path)]) as (tmp,), filesystems.open_output(tmp) as f:
            f.write(data)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, umask_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
