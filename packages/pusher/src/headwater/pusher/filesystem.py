"""Push a SavedModel into a TensorFlow Serving model directory: `base/<version>/`, atomically.

TF Serving (and Headwater's model server) watch `base/` and load the highest numeric version.
The model is copied into a hidden temporary directory beside the versions and renamed into
place when complete, so a server never sees a half-copied model; the version is the push's
Unix time, raised above the newest version already there so that it always wins. Pushes racing
for one version (other processes, the same second) retry with the next version: the rename is
the one step that claims a version, and it fails when another push claimed it first.
"""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

from headwater.io import HeadwaterError

__all__ = ["PushError", "PushResult", "latest_version", "push_model"]

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_MAX_ATTEMPTS = 100
"""Versions tried before a push racing with others gives up (each lost race costs one rename)."""
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR)
"""What renaming onto a version some other push (or a file) holds already fails with."""


class PushError(HeadwaterError, RuntimeError):
    """A push that cannot be made: names the model or destination and what was expected."""


@dataclass(frozen=True)
class PushResult:
    """Where a model was pushed: `destination` is `base_directory/version`.

    `reused` is True when the newest version there already held this very model, so nothing
    was copied.
    """

    destination: str
    version: str
    reused: bool = False


def latest_version(base_directory: str) -> int | None:
    """The highest numeric version directory under `base_directory`, or None."""
    try:
        names = os.listdir(base_directory)
    except FileNotFoundError:
        return None
    versions = [
        int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(base_directory, n))
    ]
    return max(versions, default=None)


def _same_tree(a: str, b: str) -> bool:
    """Whether directories `a` and `b` hold the same files with the same bytes."""
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(_same_tree(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


def _make_base(base_directory: str) -> None:
    """Create `base_directory`; PushError naming the file in the way if it cannot be a directory."""
    try:
        os.makedirs(base_directory, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = os.path.abspath(base_directory)
        while not os.path.isfile(blocker) and os.path.dirname(blocker) != blocker:
            blocker = os.path.dirname(blocker)
        raise PushError(
            f"{base_directory}: push destination is not a directory: {blocker} is a file; "
            "expected a directory holding model versions (or a path that does not exist yet)"
        ) from exc
    except OSError as exc:
        raise PushError(
            f"{base_directory}: cannot create the push destination ({exc.strerror})"
        ) from exc


def _copy(model_dir: str, base_directory: str, version: int) -> str:
    """A complete copy of `model_dir` in a new hidden directory of `base_directory`."""
    # Hidden (dot) and unique: model servers ignore it while it fills, other pushes never meet it.
    tmp = tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=base_directory)
    try:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def push_model(
    model_dir: str,
    base_directory: str,
    *,
    version: int | None = None,
    reuse_identical: bool = True,
    required_files: tuple[str, ...] = _SAVED_MODEL_FILES,
) -> PushResult:
    """Copy the SavedModel in `model_dir` to `base_directory/<version>/` atomically.

    `version` defaults to the current Unix time, raised above any version already there; a
    concurrent push that claims it first makes this one retry with the next version. An
    explicit `version` that exists already is an error (pushed versions are never overwritten).
    A destination that is (or lies under) a file raises PushError naming the file.
    With `reuse_identical` (and no explicit version), a model byte-for-byte equal to the newest
    version is not copied again: that version is returned with `reused=True`, so re-running a
    pipeline on the same model does not make servers reload it. `required_files` say what
    makes `model_dir` a model (one of them must exist): a SavedModel's by default, a converted
    model's (`model.tflite`, `model.json`) for the other targets.
    """
    model_dir = os.fspath(model_dir)
    base_directory = os.fspath(base_directory)
    if not any(os.path.isfile(os.path.join(model_dir, f)) for f in required_files):
        kind = "SavedModel" if required_files == _SAVED_MODEL_FILES else "model directory"
        raise PushError(f"{model_dir}: not a {kind} (expected {' or '.join(required_files)})")
    _make_base(base_directory)
    newest = latest_version(base_directory)
    if version is None and reuse_identical and newest is not None:
        existing = os.path.join(base_directory, str(newest))
        if _same_tree(model_dir, existing):
            return PushResult(destination=existing, version=str(newest), reused=True)
    explicit = version is not None
    if version is None:
        version = max(int(time.time()), -1 if newest is None else newest + 1)
    elif version < 0:
        raise PushError(f"version must be a non-negative integer, got {version}")
    if explicit and os.path.exists(os.path.join(base_directory, str(version))):
        raise _pushed_already(base_directory, version)
    tmp = _copy(model_dir, base_directory, version)
    try:
        for _ in range(_MAX_ATTEMPTS):
            final = os.path.join(base_directory, str(version))
            try:
                os.rename(tmp, final)
                return PushResult(destination=final, version=str(version))
            except OSError as exc:
                if exc.errno not in _TAKEN:
                    raise
                # Another push claimed `version` since we looked (or a file holds the name).
                if explicit:
                    raise _pushed_already(base_directory, version) from exc
                if reuse_identical and os.path.isdir(final) and _same_tree(tmp, final):
                    return PushResult(destination=final, version=str(version), reused=True)
                version = max(version + 1, (latest_version(base_directory) or 0) + 1)
        raise PushError(
            f"{base_directory}: lost the race for a new version {_MAX_ATTEMPTS} times to "
            "concurrent pushes; expected fewer pushes at once"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pushed_already(base_directory: str, version: int) -> PushError:
    final = os.path.join(base_directory, str(version))
    return PushError(f"{final}: version {version} was pushed already; versions are immutable")
