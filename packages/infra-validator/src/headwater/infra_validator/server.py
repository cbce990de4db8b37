"""The seam "a model server I can start", and the wait for its model to become AVAILABLE.

A runner owns one server process (or container) for one model. Its lifecycle:

    runner = HeadwaterModelServerRunner(base_path, "penguin")   # nothing runs yet
        │
        │ start()                     spawn the server on free ports; returns at once
        ▼
    STARTING ── wait_until_running(...) ──► RUNNING: the server answers and a version
        │            │                           of the model is AVAILABLE (→ Readiness)
        │            └─ gives up ─► ServerNotReadyError(step="start" | "load", retryable)
        ▼
    endpoint                          host, gRPC and REST ports, model name
        │
        │ stop()                      always (in `finally`, or leave the `with` block);
        ▼                             idempotent; no process left, ports released
    STOPPED

Subclasses implement `start`, `endpoint`, `stop`; `is_alive` and `log_tail` are hooks with
defaults, and `wait_until_running` polls TF Serving's REST status `GET /v1/models/NAME`, which
every TF Serving–compatible server answers (headwater-model-server, the binary, the image).
"""

from __future__ import annotations

import abc
import http.client
import json
import time
from dataclasses import dataclass
from types import TracebackType

from headwater.infra_validator.errors import InfraValidatorError
from headwater.io.processes import free_port

__all__ = [
    "Endpoint",
    "ModelServerRunner",
    "ModelStatus",
    "Readiness",
    "RunningServer",
    "ServerNotReadyError",
    "free_port",
    "rest_model_status",
]


@dataclass(frozen=True)
class Endpoint:
    """Where a started server listens, and the name it serves the model under."""

    host: str
    grpc_port: int
    rest_port: int
    model_name: str

    @property
    def grpc_target(self) -> str:
        """`host:port` for a gRPC channel."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{self.host}:{self.rest_port}"


@dataclass(frozen=True)
class Readiness:
    """Seconds from `start()` until the server first answered, and until the model was AVAILABLE."""

    answered_after_s: float
    available_after_s: float
    version: str
    """The AVAILABLE version."""


@dataclass(frozen=True)
class ModelStatus:
    """One poll of the model's status: did the server answer, is a version AVAILABLE, or failed."""

    answered: bool
    available_version: str | None = None
    load_error: str | None = None
    """The server reported that loading failed (state END with an error)."""
    detail: str = ""
    """What the server said, for the report."""


class ServerNotReadyError(InfraValidatorError):
    """The server did not answer (`step` "start") or the model did not become AVAILABLE ("load").

    `retryable` is True for a failure of the machine (a crash, a timeout) and False when the
    server reported that the model cannot be loaded: trying again gives the same answer.
    """

    def __init__(
        self,
        step: str,
        message: str,
        *,
        retryable: bool,
        answered_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.retryable = retryable
        self.answered_after_s = answered_after_s
        """Seconds from start until the server first answered (None: it never did)."""


def rest_model_status(endpoint: Endpoint, *, timeout: float = 2.0) -> ModelStatus:
    """TF Serving's `GET /v1/models/NAME` as a ModelStatus (a network error is "not answered")."""
    conn = http.client.HTTPConnection(endpoint.host, endpoint.rest_port, timeout=timeout)
    try:
        conn.request("GET", f"/v1/models/{endpoint.model_name}")
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return ModelStatus(answered=False, detail=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return ModelStatus(answered=True, detail=f"HTTP {response.status}: {body[:300]}")
    if response.status != 200 or not isinstance(data, dict):
        error = data.get("error", body) if isinstance(data, dict) else body
        return ModelStatus(answered=True, detail=f"HTTP {response.status}: {str(error)[:300]}")
    versions = data.get("model_version_status") or []
    available = [v for v in versions if v.get("state") == "AVAILABLE"]
    if available:
        newest = max(available, key=lambda v: int(v.get("version", 0)))
        return ModelStatus(answered=True, available_version=str(newest.get("version")))
    for version in versions:
        status = version.get("status") or {}
        code = status.get("error_code", "OK")
        if version.get("state") == "END" and code not in ("OK", 0, ""):
            message = status.get("error_message", "")
            return ModelStatus(
                answered=True,
                load_error=f"version {version.get('version')}: {code}: {message}",
                detail=json.dumps(versions)[:300],
            )
    return ModelStatus(answered=True, detail=json.dumps(versions)[:300])


class ModelServerRunner(abc.ABC):
    """A model server for one model that can be started, waited for and stopped (see module doc)."""

    description: str = "model server"
    """What was started, for the report (a command line, an image)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Spawn the server and return without waiting; ServerUnavailableError if it cannot run."""

    @property
    @abc.abstractmethod
    def endpoint(self) -> Endpoint:
        """Host, ports and model name of the started server."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the server and wait until no process is left and its ports are free; idempotent."""

    def is_alive(self) -> bool:
        """False once the server has exited (a crash while waiting fails fast)."""
        return True

    def exit_detail(self) -> str:
        """How the server ended (exit code), when it is no longer alive."""
        return "the server exited"

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the server's log; "" when there is none."""
        return ""

    def reported_load_seconds(self) -> float | None:
        """How long the model took to load as the server reports it, when it does.

        Servers that load their models before they listen (TF Serving, headwater-model-server)
        answer only once the model is AVAILABLE; this splits their start from the model load.
        """
        return None

    def wait_until_running(
        self,
        *,
        max_loading_time_s: float,
        max_start_time_s: float = 120.0,
        started_at: float | None = None,
    ) -> Readiness:
        """Poll the REST status until a version of the model is AVAILABLE.

        Two budgets: `max_start_time_s` from `started_at` (default: now) until the server first
        answers (a Python server imports TensorFlow first), then `max_loading_time_s` until a
        version is AVAILABLE. Raises ServerNotReadyError: "start" when the server exits or does
        not answer in time, "load" when it reports that loading failed (not retryable) or no
        version is AVAILABLE in time.
        """
        began = time.monotonic() if started_at is None else started_at
        endpoint = self.endpoint
        answered_at: float | None = None
        deadline = began + max_start_time_s
        interval = 0.05
        last = ModelStatus(answered=False)
        while True:
            answered = None if answered_at is None else answered_at - began
            if not self.is_alive():
                line = _last_line(self.log_tail(5))
                raise ServerNotReadyError(
                    "start" if answered_at is None else "load",
                    f"{self.exit_detail()} before model {endpoint.model_name!r} was AVAILABLE"
                    + (f" (last log line: {line})" if line else ""),
                    retryable=True,
                    answered_after_s=answered,
                )
            last = rest_model_status(endpoint, timeout=1.0)
            now = time.monotonic()
            if last.answered and answered_at is None:
                answered_at = now
                answered = now - began
                deadline = now + max_loading_time_s
            if last.available_version is not None:
                assert answered is not None
                return Readiness(answered, now - began, last.available_version)
            if last.load_error is not None:
                raise ServerNotReadyError(
                    "load",
                    f"the server could not load model {endpoint.model_name!r}: {last.load_error}",
                    retryable=False,
                    answered_after_s=answered,
                )
            if now >= deadline:
                if answered_at is None:
                    raise ServerNotReadyError(
                        "start",
                        f"the server did not answer on {endpoint.rest_url} within "
                        f"{max_start_time_s:g} s (ValidationSpec.max_start_time_seconds; "
                        f"{last.detail})",
                        retryable=True,
                    )
                raise ServerNotReadyError(
                    "load",
                    f"model {endpoint.model_name!r} was not AVAILABLE within "
                    f"{max_loading_time_s:g} s of the server answering "
                    f"(ValidationSpec.max_loading_time_seconds); last status: {last.detail}",
                    retryable=True,
                    answered_after_s=answered,
                )
            time.sleep(max(0.0, min(interval, deadline - now)))
            interval = min(interval * 1.5, 0.5)

    def __enter__(self) -> ModelServerRunner:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RunningServer(ModelServerRunner):
    """A server started and stopped by someone else: `start` and `stop` do nothing.

    Validates against a server already serving the model (a staging server, a test fixture).
    """

    def __init__(self, endpoint: Endpoint, description: str = "") -> None:
        self._endpoint = endpoint
        self.description = description or f"running server at {endpoint.rest_url}"

    def start(self) -> None:
        """Nothing to start."""

    @property
    def endpoint(self) -> Endpoint:
        """The server's endpoint."""
        return self._endpoint

    def stop(self) -> None:
        """Nothing to stop: the server belongs to someone else."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
