"""Model servers run as local processes: headwater-model-server (the default) and a
`tensorflow_model_server` binary. Both take TF Serving's command line, so one runner drives both.

The process runs in its own session (process group) with its output in a log file; `stop()`
sends SIGTERM to the whole group, kills it after a grace time, and waits until the ports are
released, so no server outlives a validation. A small watchdog (`_watchdog.py`) runs the server
and stops it when the validating process dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO

from headwater.infra_validator.errors import ServerUnavailableError
from headwater.infra_validator.server import Endpoint, ModelServerRunner, free_port

__all__ = ["HeadwaterModelServerRunner", "LocalProcessRunner", "TensorFlowModelServerRunner"]

_WATCHDOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_watchdog.py")
_AVAILABLE_AFTER = re.compile(r"version \d+ AVAILABLE after ([0-9.]+) s")


class LocalProcessRunner(ModelServerRunner):
    """A TF Serving–compatible server started as `program --port P --rest_api_port R ...`."""

    def __init__(
        self,
        program: Sequence[str],
        model_base_path: str,
        model_name: str,
        *,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        log_dir: str | None = None,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        self._program = list(program)
        self._base_path = os.path.abspath(model_base_path)
        self._model_name = model_name
        self._host = host
        self._extra_args = list(extra_args)
        self._log_dir = log_dir
        self._stop_timeout = stop_timeout_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._watchdog_pipe: IO[bytes] | None = None
        self._endpoint: Endpoint | None = None
        self._log_path: str | None = None
        self._own_log_dir: str | None = None
        self.description = " ".join(self._program)

    def host_args(self) -> list[str]:
        """Flags that bind the server to `host` (TF Serving's binary has none)."""
        return []

    def command(self, grpc_port: int, rest_port: int) -> list[str]:
        """The full command line for the given ports."""
        return [
            *self._program,
            "--port",
            str(grpc_port),
            "--rest_api_port",
            str(rest_port),
            "--model_name",
            self._model_name,
            "--model_base_path",
            self._base_path,
            *self.host_args(),
            *self._extra_args,
        ]

    def start(self) -> None:
        """Spawn the server on two free ports, its output going to a log file."""
        if self._process is not None:
            raise RuntimeError(f"{self.description}: already started")
        grpc_port = free_port(self._host)
        rest_port = free_port(self._host)
        while rest_port == grpc_port:
            rest_port = free_port(self._host)
        command = self.command(grpc_port, rest_port)
        log_dir = self._log_dir
        if log_dir is None:
            log_dir = self._own_log_dir = tempfile.mkdtemp(prefix="hw-infra-validator-")
        self._log_path = os.path.join(log_dir, f"server-{rest_port}.log")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if shutil.which(command[0]) is None and not os.path.exists(command[0]):
            raise ServerUnavailableError(f"cannot run {command[0]!r}: not found")
        with open(self._log_path, "wb") as log:
            try:
                self._process = subprocess.Popen(
                    [sys.executable, _WATCHDOG, *command],
                    stdin=subprocess.PIPE,  # closed when this process dies: the server stops
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                )
            except OSError as exc:
                raise ServerUnavailableError(f"cannot run {command[0]!r}: {exc}") from exc
        self._watchdog_pipe = self._process.stdin
        self._endpoint = Endpoint(self._host, grpc_port, rest_port, self._model_name)
        self.description = " ".join(command) + f"  (process group {self._process.pid})"

    @property
    def endpoint(self) -> Endpoint:
        """Host, ports and model name; only after `start()`."""
        if self._endpoint is None:
            raise RuntimeError(f"{self.description}: not started")
        return self._endpoint

    @property
    def pid(self) -> int | None:
        """The server's process group id (its watchdog's pid), once started; kept after stop."""
        return None if self._process is None else self._process.pid

    @property
    def log_path(self) -> str | None:
        """The server's log file."""
        return self._log_path

    def is_alive(self) -> bool:
        """True while the server process runs."""
        return self._process is not None and self._process.poll() is None

    def exit_detail(self) -> str:
        """The exit code (or signal) of the server process."""
        code = None if self._process is None else self._process.poll()
        if code is None:
            return "the server is running"
        if code < 0:
            return f"the server was killed by signal {-code}"
        return f"the server exited with code {code}"

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the server's output."""
        if self._log_path is None or not os.path.exists(self._log_path):
            return ""
        with open(self._log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after the grace; wait for the ports."""
        process = self._process
        if process is None or self._stopped:
            return
        pgid = process.pid  # start_new_session: the server leads its own process group
        _signal_group(pgid, signal.SIGTERM)
        try:
            process.wait(timeout=self._stop_timeout)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            process.wait(timeout=30)
        _signal_group(pgid, signal.SIGKILL)  # children that ignored SIGTERM
        _wait_group_gone(pgid, timeout=10.0)
        if self._endpoint is not None:
            _wait_ports_closed(
                self._endpoint.host, (self._endpoint.grpc_port, self._endpoint.rest_port), 10.0
            )
        if self._watchdog_pipe is not None:
            self._watchdog_pipe.close()
        self._stopped = True

    def cleanup(self) -> None:
        """Remove the log directory this runner created (after `stop()`)."""
        if self._own_log_dir is not None:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
            self._own_log_dir = None


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.02)


def _wait_ports_closed(host: str, ports: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((host, port)) != 0:
                    break
            time.sleep(0.02)


class HeadwaterModelServerRunner(LocalProcessRunner):
    """headwater-model-server as `python -m headwater.model_server`, bound to `host`."""

    def __init__(
        self,
        model_base_path: str,
        model_name: str,
        *,
        python: str = "",
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        log_dir: str | None = None,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        super().__init__(
            [python or sys.executable, "-m", "headwater.model_server"],
            model_base_path,
            model_name,
            host=host,
            extra_args=extra_args,
            log_dir=log_dir,
            stop_timeout_seconds=stop_timeout_seconds,
        )

    def host_args(self) -> list[str]:
        """`--host`: headwater-model-server binds only where it is told."""
        return ["--host", self._host]

    def reported_load_seconds(self) -> float | None:
        """From the server's log line "version N AVAILABLE after S s"."""
        found = _AVAILABLE_AFTER.findall(self.log_tail(400))
        return float(found[-1]) if found else None


class TensorFlowModelServerRunner(LocalProcessRunner):
    """A `tensorflow_model_server` binary found on PATH (or at a given path)."""

    def __init__(
        self,
        model_base_path: str,
        model_name: str,
        *,
        binary: str = "tensorflow_model_server",
        extra_args: Sequence[str] = (),
        log_dir: str | None = None,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        found = shutil.which(binary)
        if found is None:
            raise ServerUnavailableError(
                f"no {binary!r} on PATH: install TensorFlow Serving's binary, or use "
                "headwater-model-server (ServingSpec(), the default)"
            )
        super().__init__(
            [found],
            model_base_path,
            model_name,
            host="127.0.0.1",  # the binary binds every interface; we talk to it on loopback
            extra_args=extra_args,
            log_dir=log_dir,
            stop_timeout_seconds=stop_timeout_seconds,
        )
