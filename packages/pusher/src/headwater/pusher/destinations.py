"""Push a SavedModel to a destination given as a path or an fsspec URL (s3://, gs://, memory://).

Local paths (and `file://` URLs) go through `push_model`: copy into a hidden directory, one
atomic rename. Object stores have no atomic directory rename, so a version is published in
three steps and is complete only once its marker exists:

1. upload every file under a hidden staging prefix `base/.staging-<version>-<token>/`
   (servers list numeric names only, so they never see it);
2. copy it server-side into `base/<version>/`, `saved_model.pb` last (a loader finds no
   SavedModel until every variable file is there);
3. write the marker `base/<version>.complete` (JSON: the version, a push token and every file's
   SHA-256), then remove the staging prefix.

Readers that honour the marker (`latest_complete_version`, the next push, retention) see a
version complete or not at all. A push killed before step 3 leaves a staging prefix and maybe a
numeric prefix without marker; the next push removes both (nothing a complete push wrote is
touched). Versions always increase: a new version is above every numeric name present, complete
or not. Pushing the same model again (same file digests as the newest complete version) copies
nothing. One writer per object-store base directory at a time (there is no compare-and-swap
step common to the backends); pushes to local paths may race freely.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import posixpath
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.pusher.filesystem import PushError, PushResult, push_model

__all__ = [
    "COMPLETE_SUFFIX",
    "Destination",
    "complete_versions",
    "is_local",
    "latest_complete_version",
    "list_versions",
    "push_to",
    "tree_digests",
]

logger = logging.getLogger(__name__)

COMPLETE_SUFFIX = ".complete"
"""The marker `base/<version>.complete`, written last: the version is complete."""
_STAGING_PREFIX = ".staging-"
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where models are pushed: a local directory or an fsspec URL, with the backend's options.

    `storage_options` go to fsspec (for s3: `endpoint_url`, `key`, `secret`, `client_kwargs`).
    """

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        url = os.fspath(self.url)
        if not url:
            raise ValueError("Destination url must not be empty")
        object.__setattr__(self, "url", url.rstrip("/") if "://" in url else url)
        object.__setattr__(self, "storage_options", dict(self.storage_options))

    @property
    def local(self) -> bool:
        """True for a local path or file:// URL (pushed with one atomic rename)."""
        return is_local(self.url)

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and the base path inside it; PushError for unknown protocols."""
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(self.url, **self.storage_options)
        except (ImportError, ValueError) as exc:
            raise PushError(
                f"{self.url}: no filesystem for this destination ({exc}); expected a local path "
                "or an fsspec URL such as s3://bucket/models (pip install headwater-pusher[s3])"
            ) from exc
        return fs, path.rstrip("/")


def is_local(url: str) -> bool:
    """True for a plain path or a file:// URL."""
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> str:
    return url[len("file://") :] if url.startswith("file://") else url


def push_to(
    model_dir: str,
    destination: Destination | str,
    *,
    reuse_identical: bool = True,
    required_files: tuple[str, ...] = _SAVED_MODEL_FILES,
) -> PushResult:
    """Push the model in `model_dir` to `destination` as a new version (see module doc).

    `required_files`: one must exist in `model_dir` (a SavedModel's by default); they are
    published last.
    """
    if isinstance(destination, str):
        destination = Destination(url=destination)
    model_dir = os.fspath(model_dir)
    if destination.local:
        return push_model(
            model_dir,
            _local_path(destination.url),
            reuse_identical=reuse_identical,
            required_files=required_files,
        )
    if not any(os.path.isfile(os.path.join(model_dir, f)) for f in required_files):
        kind = "SavedModel" if required_files == _SAVED_MODEL_FILES else "model directory"
        raise PushError(f"{model_dir}: not a {kind} (expected {' or '.join(required_files)})")
    fs, base = destination.filesystem()
    digests = tree_digests(model_dir)
    with _reasons(destination.url, "push to"):
        # Above every version a server may have seen, the interrupted ones included.
        floor = max(_seen_versions(fs, base), default=-1) + 1
        _recover(fs, base)
        newest = latest_complete_version(fs, base)
        if reuse_identical and newest is not None:
            marker = _read_marker(fs, base, newest)
            if marker is not None and marker.get("files") == digests:
                return PushResult(
                    destination=_url(destination, newest), version=str(newest), reused=True
                )
        version = max(int(time.time()), floor)
        _publish(fs, base, model_dir, version, digests, required_files)
    logger.info("pushed %s to %s version %d", model_dir, destination.url, version)
    return PushResult(destination=_url(destination, version), version=str(version))


def _url(destination: Destination, version: int) -> str:
    return f"{destination.url}/{version}"


def _publish(
    fs: Any,
    base: str,
    model_dir: str,
    version: int,
    digests: dict[str, str],
    last: tuple[str, ...],
) -> None:
    """Stage, copy into `base/<version>/` (the files in `last` last), then write the marker."""
    token = uuid.uuid4().hex
    staging = f"{base}/{_STAGING_PREFIX}{version}-{token}"
    final = f"{base}/{version}"
    files = sorted(digests)
    # Lists of paths: async backends (s3fs, gcsfs) transfer them concurrently.
    fs.put(
        [os.path.join(model_dir, *rel.split("/")) for rel in files],
        [f"{staging}/{rel}" for rel in files],
    )
    for batch in (
        [rel for rel in files if rel not in last],
        [rel for rel in files if rel in last],  # last: only then is it a model
    ):
        if batch:
            fs.copy([f"{staging}/{rel}" for rel in batch], [f"{final}/{rel}" for rel in batch])
    marker = {"version": version, "token": token, "files": digests}
    fs.pipe_file(f"{final}{COMPLETE_SUFFIX}", json.dumps(marker, sort_keys=True).encode())
    fs.rm(staging, recursive=True)


def _seen_versions(fs: Any, base: str) -> list[int]:
    """Numeric versions and the versions of staging prefixes under `base`."""
    seen = []
    for name in _names(fs, base):
        if name.startswith(_STAGING_PREFIX):
            name = name[len(_STAGING_PREFIX) :].split("-", 1)[0]
        if name.isdigit():
            seen.append(int(name))
    return seen


def _recover(fs: Any, base: str) -> None:
    """Remove what killed pushes left: staging prefixes and numeric versions without marker."""
    for name in _names(fs, base):
        if not name.startswith(_STAGING_PREFIX):
            continue
        version = name[len(_STAGING_PREFIX) :].split("-", 1)[0]
        unfinished = version.isdigit() and not fs.exists(f"{base}/{version}{COMPLETE_SUFFIX}")
        if unfinished and fs.exists(f"{base}/{version}"):
            logger.warning("removing %s/%s: a push was interrupted there", base, version)
            fs.rm(f"{base}/{version}", recursive=True)
        fs.rm(f"{base}/{name}", recursive=True)


def _names(fs: Any, base: str) -> list[str]:
    """Child names of `base` (none when it does not exist yet)."""
    fs.invalidate_cache(base)
    try:
        entries = fs.ls(base, detail=False)
    except FileNotFoundError:
        return []
    return [posixpath.basename(str(e).rstrip("/")) for e in entries]


def list_versions(fs: Any, base: str) -> list[int]:
    """Every numeric version name under `base`, complete or not, ascending."""
    return sorted({int(n) for n in _names(fs, base) if n.isdigit()})


def complete_versions(fs: Any, base: str) -> list[int]:
    """Every version under `base` whose completion marker exists, ascending."""
    names = _names(fs, base)
    return sorted(
        int(n[: -len(COMPLETE_SUFFIX)])
        for n in names
        if n.endswith(COMPLETE_SUFFIX) and n[: -len(COMPLETE_SUFFIX)].isdigit()
    )


def latest_complete_version(fs: Any, base: str) -> int | None:
    """The highest version whose completion marker exists: the one readers should load."""
    return max(complete_versions(fs, base), default=None)


def _read_marker(fs: Any, base: str, version: int) -> dict[str, Any] | None:
    try:
        marker = json.loads(fs.cat_file(f"{base}/{version}{COMPLETE_SUFFIX}"))
    except (FileNotFoundError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def tree_digests(directory: str) -> dict[str, str]:
    """SHA-256 of every file under `directory`, keyed by its '/'-separated relative path."""
    out = {}
    for path in _walk(directory):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        out[os.path.relpath(path, directory).replace(os.sep, "/")] = digest.hexdigest()
    return dict(sorted(out.items()))


def _walk(directory: str) -> Iterator[str]:
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(root, name)


@contextlib.contextmanager
def _reasons(url: str, what: str) -> Iterator[None]:
    """Turn a backend's failure (unreachable, denied, no bucket) into PushError naming the URL."""
    try:
        yield
    except PushError:
        raise
    except Exception as exc:  # fsspec backends raise OSError, botocore and aiohttp errors, ...
        raise PushError(
            f"{url}: cannot {what} the destination: {_backend_reason(exc)}; nothing was "
            "published there (a rerun resumes cleanly)"
        ) from exc


def _backend_reason(exc: BaseException) -> str:
    """A one-line reason from fsspec/botocore/aiohttp errors."""
    if isinstance(exc, PermissionError):
        return f"permission denied ({_first_line(exc)})"
    if isinstance(exc, FileNotFoundError):
        return f"not found ({_first_line(exc)})"
    name = type(exc).__name__
    if "Endpoint" in name or "Connect" in name or "Timeout" in name:
        return f"unreachable ({name}: {_first_line(exc)})"
    return f"{name}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
