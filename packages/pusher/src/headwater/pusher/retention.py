"""Keep the newest N versions of a push destination, never deleting one a model server pins.

Off by default (`RetentionPolicy()` keeps everything). Pins come from a list of versions and/or
a TensorFlow Serving model config file (`--model_config_file`, a text `ModelServerConfig`): the
model whose `base_path` is the destination pins its `specific` versions, the versions named by
its `version_labels`, all versions for `all {}`, and its newest `num_versions` for `latest`.

A deleted version disappears at once for readers: a local version is renamed to a hidden name
first and then removed; an object-store version loses its `.complete` marker first (readers
and pushes stop seeing it) and then its files. Incomplete object-store versions are left to
the next push's recovery.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from headwater.pusher.destinations import (
    COMPLETE_SUFFIX,
    Destination,
    _reasons,
    complete_versions,
)
from headwater.pusher.filesystem import PushError

__all__ = ["RetentionPolicy", "apply_retention", "pinned_versions_from_model_config"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RetentionPolicy:
    """How many versions to keep and which ones a model server pins (never deleted)."""

    keep_newest: int | None = None
    """Versions kept, newest first; None (the default) keeps every version."""
    pinned_versions: tuple[int, ...] = ()
    """Versions never deleted, whatever their age."""
    model_config_file: str | None = None
    """A TF Serving model config (text ModelServerConfig) whose pins are honoured too."""

    def __post_init__(self) -> None:
        if self.keep_newest is not None and self.keep_newest < 1:
            raise ValueError(f"keep_newest must be >= 1 or None, got {self.keep_newest!r}")
        object.__setattr__(self, "pinned_versions", tuple(int(v) for v in self.pinned_versions))
        if any(v < 0 for v in self.pinned_versions):
            raise ValueError(f"pinned_versions must be >= 0, got {self.pinned_versions!r}")


def apply_retention(destination: Destination | str, policy: RetentionPolicy) -> list[int]:
    """Delete the versions `policy` does not keep; returns them, ascending."""
    if isinstance(destination, str):
        destination = Destination(url=destination)
    if policy.keep_newest is None:
        return []
    local = destination.local
    with _reasons(destination.url, "apply retention to"):
        versions = _local_versions(destination) if local else _store_versions(destination)
        pinned = set(policy.pinned_versions)
        if policy.model_config_file is not None:
            pinned |= pinned_versions_from_model_config(
                policy.model_config_file, destination.url, versions
            )
        newest = sorted(versions, reverse=True)[: policy.keep_newest]
        doomed = sorted(set(versions) - set(newest) - pinned)
        for version in doomed:
            logger.info("retention: deleting version %d of %s", version, destination.url)
            if local:
                _delete_local(_path(destination), version)
            else:
                _delete_store(destination, version)
    return doomed


def _path(destination: Destination) -> str:
    url = destination.url
    return url[len("file://") :] if url.startswith("file://") else url


def _local_versions(destination: Destination) -> list[int]:
    base = _path(destination)
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    return [int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(base, n))]


def _store_versions(destination: Destination) -> list[int]:
    fs, base = destination.filesystem()
    return complete_versions(fs, base)


def _delete_local(base: str, version: int) -> None:
    """Rename out of sight (atomic for servers polling `base`), then remove."""
    hidden = os.path.join(base, f".deleting-{version}-{uuid.uuid4().hex}")
    os.rename(os.path.join(base, str(version)), hidden)
    shutil.rmtree(hidden)


def _delete_store(destination: Destination, version: int) -> None:
    """Marker first (the version stops being complete), then its files."""
    fs, base = destination.filesystem()
    fs.rm(f"{base}/{version}{COMPLETE_SUFFIX}")
    if fs.exists(f"{base}/{version}"):
        fs.rm(f"{base}/{version}", recursive=True)


def pinned_versions_from_model_config(
    config_file: str, base_path: str, versions: Iterable[int] = ()
) -> set[int]:
    """Versions of the model served from `base_path` that the TF Serving config pins.

    `versions` are those present (for `all {}` and `latest { num_versions }`). PushError when
    the file cannot be read or parsed, or names no model at `base_path`.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        with open(config_file, encoding="utf-8") as f:
            text_format.Parse(f.read(), config)
    except (OSError, text_format.ParseError) as exc:
        raise PushError(
            f"{config_file}: cannot read the TF Serving model config ({exc}); expected a text "
            "ModelServerConfig (model_config_list { config { name base_path ... } })"
        ) from exc
    wanted = _normal(base_path)
    models = [c for c in config.model_config_list.config if _normal(c.base_path) == wanted]
    if not models:
        found = [c.base_path for c in config.model_config_list.config]
        raise PushError(
            f"{config_file}: no model with base_path {base_path!r}; base paths are {found}"
        )
    present = sorted(versions, reverse=True)
    pinned: set[int] = set()
    for model in models:
        policy = model.model_version_policy
        kind = policy.WhichOneof("policy_choice")
        if kind == "specific":
            pinned.update(int(v) for v in policy.specific.versions)
        elif kind == "all":
            pinned.update(present)
        else:  # latest (TF Serving's default: the newest one)
            count = policy.latest.num_versions if kind == "latest" else 1
            pinned.update(present[: max(count, 1)])
        pinned.update(int(v) for v in model.version_labels.values())
    return pinned


def _normal(path: str) -> str:
    path = path.rstrip("/")
    if path.startswith("file://"):
        path = path[len("file://") :]
    return path if "://" in path else os.path.abspath(path)
