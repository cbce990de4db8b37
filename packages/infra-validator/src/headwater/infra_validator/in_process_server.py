"""headwater-model-server inside the validating process: no new interpreter, no TensorFlow import.

Starts in about the model's load time where TensorFlow is already imported (a pipeline after
its Trainer), at the cost of isolation: a model that crashes the server crashes the caller, and
the server's threads share the caller's CPU and memory. Opt in with
`HeadwaterModelServer(in_process=True)`; the subprocess runner stays the default.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from headwater.infra_validator.server import Endpoint, ModelServerRunner, Readiness, free_port

__all__ = ["InProcessModelServerRunner"]

_SERVER_LOGGER = "headwater.model_server"


class _Capture(logging.Handler):
    """Keeps the last lines the server logs (what propagates at the logger's level)."""

    def __init__(self, lines: int = 400) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=lines)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class InProcessModelServerRunner(ModelServerRunner):
    """A `headwater.model_server.ModelServer` on a background thread of this process."""

    def __init__(
        self,
        model_base_path: str,
        model_name: str,
        *,
        host: str = "127.0.0.1",
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        self._base_path = model_base_path
        self._model_name = model_name
        self._host = host
        self._grace = stop_timeout_seconds
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._endpoint: Endpoint | None = None
        self._capture = _Capture()
        self._load_seconds: float | None = None
        self.description = f"headwater-model-server in this process serving {model_base_path}"

    def start(self) -> None:
        """Create the server on two free ports and start it on a thread; returns at once."""
        from headwater.model_server import ModelConfig, ModelServer, ServerOptions

        if self._thread is not None:
            raise RuntimeError(f"{self.description}: already started")
        grpc_port, rest_port = free_port(self._host), free_port(self._host)
        options = ServerOptions(
            models=[ModelConfig(name=self._model_name, base_path=self._base_path)],
            host=self._host,
            port=grpc_port,
            rest_api_port=rest_port,
            file_system_poll_wait_seconds=0.0,
            grace_seconds=self._grace,
        )
        self._server = ModelServer(options)
        self._endpoint = Endpoint(self._host, grpc_port, rest_port, self._model_name)
        logging.getLogger(_SERVER_LOGGER).addHandler(self._capture)

        def run() -> None:
            began = time.perf_counter()
            try:
                self._server.start()  # loads the models, then opens the ports
            except BaseException as exc:  # reported by is_alive / exit_detail
                self._error = exc
            self._load_seconds = time.perf_counter() - began

        self._thread = threading.Thread(target=run, name="infra-validator-server", daemon=True)
        self._thread.start()
        self.description = (
            f"headwater-model-server in this process on {self._host} ports {grpc_port} (gRPC), "
            f"{rest_port} (REST), serving {self._base_path}"
        )

    def wait_until_running(
        self,
        *,
        max_loading_time_s: float,
        max_start_time_s: float = 120.0,
        started_at: float | None = None,
    ) -> Readiness:
        """Join the server's thread (it loads the model, then opens its ports), then ask once.

        No polling interval is added to the load time: the REST status is read when the server
        is up (or the thread is still loading at both budgets' end, and the poll reports that).
        """
        began = time.monotonic() if started_at is None else started_at
        if self._thread is not None:
            budget = began + max_start_time_s + max_loading_time_s - time.monotonic()
            self._thread.join(timeout=max(0.0, budget))
        return super().wait_until_running(
            max_loading_time_s=max_loading_time_s,
            max_start_time_s=max_start_time_s,
            started_at=began,
        )

    @property
    def endpoint(self) -> Endpoint:
        """Host, ports and model name; only after `start()`."""
        if self._endpoint is None:
            raise RuntimeError(f"{self.description}: not started")
        return self._endpoint

    def is_alive(self) -> bool:
        """False once the server failed to start."""
        return self._thread is not None and self._error is None

    def exit_detail(self) -> str:
        """The exception that stopped the server."""
        return f"the server failed: {type(self._error).__name__}: {self._error}"

    def reported_load_seconds(self) -> float | None:
        """How long `ModelServer.start()` took: it loads the model before opening its ports."""
        return self._load_seconds

    def log_tail(self, lines: int = 40) -> str:
        """The server's last log records in this process."""
        return "\n".join(list(self._capture.lines)[-lines:])

    def stop(self) -> None:
        """Stop the server (requests in flight finish), unload the model, free the ports."""
        if self._thread is None:
            return
        deadline = time.monotonic() + 120.0  # start() is still loading: let it finish first
        while self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(timeout=0.1)
        if self._error is None and self._server is not None:
            self._server.stop()
        logging.getLogger(_SERVER_LOGGER).removeHandler(self._capture)
        self._thread = None
