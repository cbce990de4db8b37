"""Push a SavedModel into a TensorFlow Serving model directory: `base/<version>/`, atomically.

TF Serving (and Headwater's model server) watch `base/` and load the highest numeric version.
The model is copied into a hidden temporary directory beside the versions and renamed into
place when complete, so a server never sees a half-copied model; the version is the push's
Unix time, raised above the newest version already there so that it always wins.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import time
from dataclasses import dataclass

__all__ = ["PushError", "PushResult", "latest_version", "push_model"]

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class PushError(RuntimeError):
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


def push_model(
    model_dir: str,
    base_directory: str,
    *,
    version: int | None = None,
    reuse_identical: bool = True,
) -> PushResult:
    """Copy the SavedModel in `model_dir` to `base_directory/<version>/` atomically.

    `version` defaults to the current Unix time, raised above any version already there. An
    explicit `version` that exists already is an error (pushed versions are never overwritten).
    With `reuse_identical` (and no explicit version), a model byte-for-byte equal to the newest
    version is not copied again: that version is returned with `reused=True`, so re-running a
    pipeline on the same model does not make servers reload it.
    """
    model_dir = os.fspath(model_dir)
    base_directory = os.fspath(base_directory)
    if not any(os.path.isfile(os.path.join(model_dir, f)) for f in _SAVED_MODEL_FILES):
        raise PushError(
            f"{model_dir}: not a SavedModel (expected saved_model.pb or saved_model.pbtxt)"
        )
    os.makedirs(base_directory, exist_ok=True)
    newest = latest_version(base_directory)
    if version is None and reuse_identical and newest is not None:
        existing = os.path.join(base_directory, str(newest))
        if _same_tree(model_dir, existing):
            return PushResult(destination=existing, version=str(newest), reused=True)
    if version is None:
        version = int(time.time())
        if newest is not None and version <= newest:
            version = newest + 1
    elif version < 0:
        raise PushError(f"version must be a non-negative integer, got {version}")
    final = os.path.join(base_directory, str(version))
    if os.path.exists(final):
        raise PushError(f"{final}: version {version} was pushed already; versions are immutable")
    # Hidden (dot) directory: model servers ignore it while it fills.
    tmp = os.path.join(base_directory, f".{version}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(model_dir, tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PushResult(destination=final, version=str(version))
