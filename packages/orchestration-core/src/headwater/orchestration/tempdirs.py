"""One temporary directory per pipeline run, removed when the run ends, or by the next run.

Components and the libraries under them (Beam, TensorFlow, Keras Tuner) make temporary files
and directories with Python's `tempfile` and leave some behind. While a run lasts, the runner
points `tempfile.tempdir` and `$TMPDIR` (which subprocesses inherit) at a fresh
`$TMPDIR/headwater-run-XXXXXXXX/`, and removes it with everything in it when the run ends,
whether it completed, failed or was interrupted. A run killed before it could clean up leaves
its directory; the next run removes it once no process holds the directory's lock (`.lock`,
held for the run's whole life with `flock`, so released by the kernel when the process dies).
Only directories with these names, owned by this user, are ever removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator

RUN_DIR_PREFIX = "headwater-run-"
_NEW_PREFIX = ".headwater-run-new-"
"""A run directory while it is made: locked first, then renamed to its RUN_DIR_PREFIX name."""
_LOCK_FILE = ".lock"
_STALE_NEW_S = 3600.0
"""A `.headwater-run-new-*` directory this old was abandoned between mkdir and rename."""

_LOG = logging.getLogger(__name__)
_STATE_LOCK = threading.Lock()
_active: list[str] = []
"""The run directory in use by this process, while at least one run uses it (one per use)."""


@contextlib.contextmanager
def run_temporary_directory() -> Iterator[str]:
    """Point `tempfile` and `$TMPDIR` at a new run directory for the block, then remove it.

    Runs nested in this process (or run from several threads) share the outermost run's
    directory, removed when the last of them ends.
    """
    with _STATE_LOCK:
        if _active:
            _active.append(_active[0])
            owner = False
        else:
            owner = True
    if not owner:
        try:
            yield _active[0]
        finally:
            with _STATE_LOCK:
                _active.pop()
        return
    base = tempfile.gettempdir()
    remove_abandoned_run_dirs(base)
    path, lock_fd = _new_run_dir(base)
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    with _STATE_LOCK:
        _active.append(path)
    tempfile.tempdir = path
    os.environ["TMPDIR"] = path
    try:
        yield path
    finally:
        with _STATE_LOCK:
            _active.pop()
            last = not _active
        if last:
            tempfile.tempdir = saved_tempdir
            if saved_env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved_env
            shutil.rmtree(path, ignore_errors=True)
            os.close(lock_fd)


def _new_run_dir(base: str) -> tuple[str, int]:
    """A new locked run directory under `base`: made and locked under a hidden name, renamed."""
    making = tempfile.mkdtemp(prefix=_NEW_PREFIX, dir=base)
    fd = os.open(os.path.join(making, _LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    path = os.path.join(base, RUN_DIR_PREFIX + os.path.basename(making)[len(_NEW_PREFIX) :])
    os.rename(making, path)
    return path, fd


def remove_abandoned_run_dirs(base: str) -> list[str]:
    """Remove run directories under `base` whose run has ended (killed); returns them."""
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(base, name)
        if name.startswith(RUN_DIR_PREFIX):
            ended = _ours(path) and _unlocked(path)
        elif name.startswith(_NEW_PREFIX):
            ended = _ours(path) and _older_than(path, _STALE_NEW_S)
        else:
            continue
        if ended:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        _LOG.info("removed %d temporary directories left by ended runs", len(removed))
    return removed


def _ours(path: str) -> bool:
    """A real directory (not a link) owned by this user."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


def _unlocked(path: str) -> bool:
    """Whether no process holds the run directory's lock (its run has ended)."""
    try:
        fd = os.open(os.path.join(path, _LOCK_FILE), os.O_RDWR)
    except FileNotFoundError:
        return _older_than(path, _STALE_NEW_S)  # made by hand or half-removed: only when old
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _older_than(path: str, seconds: float) -> bool:
    try:
        return time.time() - os.lstat(path).st_mtime > seconds
    except OSError:
        return False
