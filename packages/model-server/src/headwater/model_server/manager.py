"""Which model versions are loaded and serving, kept in step with their base paths on disk.

`ModelManager.poll()` is one look at every model's base path: it loads each version the policy
wants that is complete on disk (skipping, with a log line, a directory still being written),
warms it up, makes it AVAILABLE, and only then unloads the versions the policy no longer wants,
so a model never has a moment with nothing to serve while a newer version exists. A request
holds the `LoadedModel` it resolved until it finishes, so unloading never fails a request in
flight. A version that fails to load or warm up is END with the error in its status and is
retried only once its files change; the versions already serving keep serving.

States are TF Serving's ModelVersionStatus states: START, LOADING, AVAILABLE, UNLOADING, END.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from headwater.io.model_seam import LoadedModel, ModelHandler
from headwater.model_server.config import ModelConfig
from headwater.model_server.errors import ServingError
from headwater.model_server.versions import directory_stamp, incomplete_reason, list_versions

__all__ = ["ModelEvents", "ModelManager", "VersionStatus", "Watcher", "default_handler_factory"]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionStatus:
    """One version's state and, after a failure, TF Serving's error code and message."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


class ModelEvents(Protocol):
    """Receives load / unload events (the metrics implement it)."""

    def model_event(self, model: str, event: str) -> None:
        """`event` is "loaded", "load_failed" or "unloaded"."""


def default_handler_factory(path: str) -> ModelHandler:
    """The TensorFlow SavedModel handler of the model-running seam."""
    from headwater.io.saved_model import SavedModelHandler

    return SavedModelHandler(path)


class _Version:
    def __init__(self, version: int, path: str) -> None:
        self.version = version
        self.path = path
        self.state = "START"
        self.error_code = "OK"
        self.error_message = ""
        self.stamp: tuple[Any, ...] = ()

    def status(self) -> VersionStatus:
        return VersionStatus(self.version, self.state, self.error_code, self.error_message)


class _Model:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.versions: dict[int, _Version] = {}
        # Copy-on-write: requests read it without a lock, the poller swaps in a new dict.
        self.available: dict[int, LoadedModel] = {}
        self.skipped: dict[int, str] = {}
        self.warned_empty = False


class ModelManager:
    """Loads, serves and unloads the versions of the configured models (see module docstring)."""

    def __init__(
        self,
        configs: Sequence[ModelConfig],
        *,
        handler_factory: Callable[[str], ModelHandler] = default_handler_factory,
        warm_up: Callable[[LoadedModel, str], int] | None = None,
        events: ModelEvents | None = None,
    ) -> None:
        if warm_up is None:
            from headwater.model_server.warmup import warm_up as default_warm_up

            warm_up = default_warm_up
        self._handler_factory = handler_factory
        self._warm_up = warm_up
        self._events = events
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._models: dict[str, _Model] = {c.name: _Model(c) for c in configs}

    # -- requests -------------------------------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        """Names of the configured models."""
        return sorted(self._models)

    def config(self, name: str) -> ModelConfig:
        """The configuration of model `name` (NOT_FOUND when none is configured)."""
        return self._model(name, "Latest", None).config

    def _model(self, name: str, kind: str, value: object) -> _Model:
        model = self._models.get(name)
        if model is None:
            request = f"{kind}({name})" if value is None else f"{kind}({name}, {value})"
            raise ServingError(
                "NOT_FOUND",
                f"Servable not found for request: {request}: no model named {name!r} is served "
                f"(models: {sorted(self._models)})",
            )
        return model

    def _version_of_label(self, model: _Model, label: str) -> int:
        version = model.config.version_labels.get(label)
        if version is None:
            raise ServingError(
                "INVALID_ARGUMENT",
                f"Unrecognized servable version label: {label} (model {model.config.name!r} "
                f"labels: {sorted(model.config.version_labels)})",
            )
        return version

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> tuple[int, LoadedModel]:
        """The version number and loaded model a request names; NOT_FOUND when not AVAILABLE."""
        if label:
            model = self._model(name, "Label", label)
            version = self._version_of_label(model, label)
        else:
            model = self._model(name, "Specific" if version is not None else "Latest", version)
        available = model.available
        if version is None:
            if not available:
                raise ServingError(
                    "NOT_FOUND",
                    f"Servable not found for request: Latest({name}): no version of {name!r} "
                    f"is AVAILABLE{self._why(model)}",
                )
            version = max(available)
            return version, available[version]
        loaded = available.get(version)
        if loaded is None:
            raise ServingError(
                "NOT_FOUND",
                f"Servable not found for request: Specific({name}, {version}): version "
                f"{version} is not AVAILABLE (available: {sorted(available)})",
            )
        return version, loaded

    def _why(self, model: _Model) -> str:
        with self._lock:
            failed = [v for v in model.versions.values() if v.error_code != "OK"]
        if failed:
            last = max(failed, key=lambda v: v.version)
            return f"; version {last.version} failed to load: {last.error_message}"
        return f" yet (base path {model.config.base_path})"

    def statuses(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> list[VersionStatus]:
        """TF Serving's GetModelStatus: every known version, or the one asked for, newest first."""
        if label:
            model = self._model(name, "Label", label)
            version = self._version_of_label(model, label)
        else:
            model = self._model(name, "Specific" if version is not None else "Latest", version)
        with self._lock:
            known = {v: entry.status() for v, entry in model.versions.items()}
        if version is not None:
            if version not in known:
                raise ServingError(
                    "NOT_FOUND",
                    f"Could not find version {version} of model {name}",
                )
            return [known[version]]
        if not known:
            raise ServingError(
                "NOT_FOUND",
                f"Could not find any versions of model {name} (base path "
                f"{model.config.base_path} holds no complete version yet)",
            )
        return [known[v] for v in sorted(known, reverse=True)]

    # -- configuration --------------------------------------------------------------------

    def reload_config(self, configs: Sequence[ModelConfig]) -> None:
        """Serve exactly `configs` from now on: new models load on the next poll, gone ones go."""
        with self._lock:
            new: dict[str, _Model] = {}
            for config in configs:
                current = self._models.get(config.name)
                if current is not None and current.config.base_path == config.base_path:
                    current.config = config
                    new[config.name] = current
                else:
                    new[config.name] = _Model(config)
            removed = [m for n, m in self._models.items() if new.get(n) is not m]
            self._models = new
        for model in removed:
            self._unload_all(model)

    # -- polling --------------------------------------------------------------------------

    def poll(self) -> None:
        """One look at every base path: load what the policy wants, then unload what it drops."""
        with self._poll_lock:
            for model in list(self._models.values()):
                try:
                    self._poll_model(model)
                except Exception:  # a watcher must survive anything one model's files do
                    _LOG.exception("polling model %r failed; will retry", model.config.name)

    def _poll_model(self, model: _Model) -> None:
        config = model.config
        on_disk = list_versions(config.base_path)
        if not on_disk and not model.warned_empty:
            _LOG.warning(
                "model %r: no version under %s yet (a version is a numbered directory holding "
                "a SavedModel, e.g. %s); will look again on each poll",
                config.name,
                config.base_path,
                os.path.join(config.base_path, "1"),
            )
        model.warned_empty = not on_disk
        wanted = config.version_policy.select(list(on_disk))
        for version in sorted(wanted, reverse=True):
            self._maybe_load(model, version, on_disk[version])
        with self._lock:
            wanted_available = [v for v in model.available if v in wanted]
            doomed = [
                v
                for v in model.available
                if v not in on_disk or (v not in wanted and wanted_available)
            ]
        for version in doomed:
            self._unload(model, version)

    def _maybe_load(self, model: _Model, version: int, path: str) -> None:
        name = model.config.name
        entry = model.versions.get(version)
        if entry is not None and entry.state == "AVAILABLE":
            return
        failed = entry is not None and entry.state == "END" and entry.error_code != "OK"
        if failed and entry is not None and directory_stamp(path) == entry.stamp:
            return  # failed, and its files have not changed since
        reason = incomplete_reason(path)
        if reason is not None:
            if model.skipped.get(version) != reason:
                _LOG.warning(
                    "model %r: skipping version %d at %s: incomplete SavedModel (%s); "
                    "will retry on the next poll",
                    name,
                    version,
                    path,
                    reason,
                )
                model.skipped[version] = reason
            return
        model.skipped.pop(version, None)
        entry = _Version(version, path)
        entry.stamp = directory_stamp(path)
        with self._lock:
            model.versions[version] = entry
            entry.state = "LOADING"
        _LOG.info("model %r: loading version %d from %s", name, version, path)
        started = time.perf_counter()
        try:
            loaded = self._handler_factory(path).load_model()
            warmed = self._warm_up(loaded, path)
        except Exception as exc:
            code = exc.code if isinstance(exc, ServingError) else "UNKNOWN"
            with self._lock:
                entry.state = "END"
                entry.error_code = code
                entry.error_message = f"Failed to load version {version} from {path}: {exc}"
            _LOG.error("model %r: version %d not loaded: %s", name, version, exc)
            self._event(name, "load_failed")
            return
        with self._lock:
            entry.state = "AVAILABLE"
            model.available = {**model.available, version: loaded}
        _LOG.info(
            "model %r: version %d AVAILABLE after %.2f s (%d warm-up requests)",
            name,
            version,
            time.perf_counter() - started,
            warmed,
        )
        self._event(name, "loaded")

    def _unload(self, model: _Model, version: int) -> None:
        with self._lock:
            entry = model.versions.get(version)
            if entry is not None:
                entry.state = "UNLOADING"
            model.available = {v: m for v, m in model.available.items() if v != version}
            if entry is not None:
                entry.state = "END"
        _LOG.info("model %r: version %d unloaded", model.config.name, version)
        self._event(model.config.name, "unloaded")

    def _unload_all(self, model: _Model) -> None:
        for version in list(model.available):
            self._unload(model, version)

    def unload_all(self) -> None:
        """Unload every version of every model (at shutdown)."""
        for model in list(self._models.values()):
            self._unload_all(model)

    def _event(self, name: str, event: str) -> None:
        if self._events is not None:
            self._events.model_event(name, event)

    def available_versions(self) -> Mapping[str, list[int]]:
        """Model name -> its AVAILABLE versions (for logs and tests)."""
        return {n: sorted(m.available) for n, m in self._models.items()}


class Watcher:
    """Calls `tick` (e.g. `ModelManager.poll`) every `interval` seconds on a daemon thread."""

    def __init__(self, tick: Callable[[], None], interval: float, name: str) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._tick()

    def stop(self) -> None:
        """Stop polling and wait for a poll in progress to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
