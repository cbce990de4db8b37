"""What is on disk under a base path: numbered version directories and whether each is complete.

A version directory is a decimal name (TF Serving's layout, what the Pusher writes). Hidden
names (the Pusher's `.<version>.tmp-<pid>` staging copies) and anything else are ignored. A
version is complete when its SavedModel is: `saved_model.pb` (or `.pbtxt`) is there and, when a
`variables/` directory is, its index and every data shard it names; and its files did not change
between two looks a moment apart (a copy still being written changes).
"""

from __future__ import annotations

import os
import re
import time

__all__ = ["directory_stamp", "incomplete_reason", "list_versions"]

_SHARD = re.compile(r"^variables\.data-(\d+)-of-(\d+)$")


def list_versions(base_path: str) -> dict[int, str]:
    """Version number -> directory for every decimal-named subdirectory of `base_path`."""
    try:
        names = os.listdir(base_path)
    except FileNotFoundError:
        return {}
    versions = {}
    for name in names:
        if name.isdigit() and os.path.isdir(os.path.join(base_path, name)):
            versions[int(name)] = os.path.join(base_path, name)
    return versions


def directory_stamp(path: str) -> tuple[tuple[str, int, int], ...]:
    """(relative path, size, mtime_ns) of every file under `path`, sorted: changes when it does."""
    entries = []
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            entries.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


def _missing_parts(path: str) -> str | None:
    if not (
        os.path.isfile(os.path.join(path, "saved_model.pb"))
        or os.path.isfile(os.path.join(path, "saved_model.pbtxt"))
    ):
        return "no saved_model.pb"
    variables = os.path.join(path, "variables")
    if not os.path.isdir(variables):
        return "no variables/ directory (TensorFlow writes one even for a model without variables)"
    names = set(os.listdir(variables))
    if "variables.index" not in names:
        return "variables/variables.index is missing"
    shards = [m for m in map(_SHARD.match, names) if m]
    if not shards:
        return "variables/ has no variables.data-* shard"
    total = int(shards[0].group(2))
    present = {int(m.group(1)) for m in shards if int(m.group(2)) == total}
    absent = sorted(set(range(total)) - present)
    if absent:
        return f"variables/ lacks data shards {absent} of {total}"
    return None


def incomplete_reason(path: str, *, settle_seconds: float = 0.05) -> str | None:
    """Why the SavedModel at `path` is not complete yet, or None when it is ready to load."""
    reason = _missing_parts(path)
    if reason is not None:
        return reason
    before = directory_stamp(path)
    time.sleep(settle_seconds)
    if directory_stamp(path) != before:
        return "its files are still changing (being written)"
    return _missing_parts(path)
