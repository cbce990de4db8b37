"""The registry of SQLite stores the CLI keeps: `$HEADWATER_HOME/pipelines.json`, name -> file.

`headwater pipeline run` registers each pipeline's SQLite store so that `pipeline list` and
`run list` find it without `--metadata`. Several runs (processes) may register at once: each
update holds an exclusive lock on `pipelines.json.lock` while it reads the file, adds its entry
and writes a new file under a unique temporary name that then atomically replaces the old one.
Readers never lock: they see the old file or the new one, never a partial write.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator

from headwater.orchestration.errors import MetadataError

REGISTRY_FILE = "pipelines.json"


def registry_path() -> str:
    """`$HEADWATER_HOME/pipelines.json`."""
    from headwater.orchestration.pipeline import headwater_home

    return os.path.join(headwater_home(), REGISTRY_FILE)


def registered_stores() -> dict[str, str]:
    """Pipeline name -> absolute path of its SQLite store; empty when nothing is registered."""
    path = registry_path()
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(
            f"{path}: not valid JSON ({exc}); expected an object of pipeline name -> SQLite "
            "file. Remove the file; the next `headwater pipeline run` writes it again"
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise MetadataError(
            f"{path}: expected a JSON object of pipeline name -> SQLite file, "
            f"found {type(data).__name__}"
        )
    return data


def register_store(pipeline_name: str, sqlite_path: str) -> None:
    """Record that `pipeline_name` keeps its runs in the SQLite file `sqlite_path`."""
    path = registry_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _locked(path + ".lock"):
        try:
            registry = registered_stores()
        except MetadataError:
            registry = {}  # unreadable: start afresh rather than fail every run
        entry = os.path.abspath(sqlite_path)
        if registry.get(pipeline_name) == entry:
            return
        registry[pipeline_name] = entry
        fd, tmp = tempfile.mkstemp(
            prefix=f".{REGISTRY_FILE}.", suffix=".tmp", dir=os.path.dirname(path)
        )
        try:
            os.fchmod(fd, 0o644)  # as a plain open() would have made it, not mkstemp's 0600
            with os.fdopen(fd, "w") as f:
                json.dump(registry, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def _locked(lock_path: str) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` (created if missing) for the block."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
