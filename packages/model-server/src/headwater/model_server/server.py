"""`ModelServer`: the gRPC and REST front ends, the model manager and its watcher, in one object.

Lifecycle:

    server = ModelServer(ServerOptions(models=[ModelConfig(name="penguin", base_path=...)]))
    server.start()        # first load of every model, then both ports listen
    ...                   # serving; the watcher polls base paths every poll_wait_seconds
    server.stop()         # ports stop accepting, requests in flight finish, models unload

`start()` runs the asyncio loop on a background thread (tests, notebooks; also `with
ModelServer(...) as server:`); `serve_forever()` runs it on the calling thread until SIGTERM or
SIGINT (the command line). Nothing is started in a child process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from headwater.io.model_seam import ModelHandler
from headwater.model_server.config import BatchingOptions, ModelConfig, parse_model_config_file
from headwater.model_server.errors import ServerConfigError
from headwater.model_server.manager import ModelManager, Watcher, default_handler_factory
from headwater.model_server.metrics import ServerMetrics
from headwater.model_server.runner import ModelRunner
from headwater.model_server.service import ServingCore

if TYPE_CHECKING:
    import grpc

__all__ = ["ModelServer", "ServerOptions"]

_LOG = logging.getLogger(__name__)
_GRPC_THREADS = 64
"""Threads of the gRPC server: each holds one call while the event loop serves it."""


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """What to serve and where; the fields mirror tensorflow_model_server's flags."""

    models: Sequence[ModelConfig]
    host: str = "127.0.0.1"
    """Address both ports bind (TF Serving binds every address; we default to loopback)."""
    port: int = 8500
    """gRPC port; 0 picks a free one."""
    rest_api_port: int | None = 8501
    """REST port; 0 picks a free one. None turns REST off."""
    file_system_poll_wait_seconds: float = 1.0
    """How often base paths are polled for new or removed versions; 0 polls only at start."""
    batching: BatchingOptions | None = None
    """Server-side batching (`--enable_batching`); None runs each request on its own."""
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest REST body accepted; larger ones get 413. Also the gRPC message size limit."""
    grace_seconds: float = 30.0
    """How long `stop` waits for requests in flight."""
    model_config_file: str | None = None
    """The ModelServerConfig file `models` came from, re-read when the poll below is set."""
    model_config_file_poll_wait_seconds: float = 0.0
    """How often `model_config_file` is checked for changes (0: never, TF Serving's default)."""
    model_threads: int = field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)))
    """Threads that run model calls when batching is off."""

    def __post_init__(self) -> None:
        if not self.models:
            raise ServerConfigError(
                "no model to serve: give --model_name and --model_base_path, or --model_config_file"
            )
        if self.max_body_bytes < 1:
            raise ServerConfigError(f"max_body_bytes must be >= 1, got {self.max_body_bytes}")
        if self.file_system_poll_wait_seconds < 0:
            raise ServerConfigError(
                "file_system_poll_wait_seconds must be >= 0, got "
                f"{self.file_system_poll_wait_seconds}"
            )


class ModelServer:
    """A TensorFlow Serving compatible server (see the module docstring for its lifecycle)."""

    def __init__(
        self,
        options: ServerOptions,
        *,
        handler_factory: Callable[[str], ModelHandler] = default_handler_factory,
    ) -> None:
        self.options = options
        self.metrics = ServerMetrics()
        self.manager = ModelManager(
            options.models, handler_factory=handler_factory, events=self.metrics
        )
        self._runner = ModelRunner(options.batching, self.metrics, threads=options.model_threads)
        self._core = ServingCore(self.manager, self._runner, self.metrics)
        self._watchers: list[Watcher] = []
        self._config_stamp: tuple[float, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._grpc_server: grpc.Server | None = None
        self._grpc_threads: ThreadPoolExecutor | None = None
        self._rest_runner: object | None = None
        self.grpc_port: int = options.port
        self.rest_port: int | None = options.rest_api_port

    # -- lifecycle ------------------------------------------------------------------------

    async def _open(self) -> None:
        import grpc
        from aiohttp import web

        from headwater.model_server.grpc_service import add_services
        from headwater.model_server.rest import make_app

        opts = self.options
        limit = opts.max_body_bytes
        grpc_options = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
        # A thread-pool grpc.server, not grpc.aio: gRPC's transport work (about 0.3 ms of CPU
        # per call here) then runs on grpc's threads, and each call is handed to the event
        # loop, where the model runner batches it with the REST requests (about half the
        # loop's CPU per gRPC request of grpc.aio, a fifth less CPU in all; docs/model_server.md).
        self._grpc_threads = ThreadPoolExecutor(
            max_workers=_GRPC_THREADS, thread_name_prefix="model-server-grpc"
        )
        server = grpc.server(self._grpc_threads, options=grpc_options)
        add_services(server, self._core, asyncio.get_running_loop())
        address = f"[{opts.host}]" if ":" in opts.host else opts.host
        try:
            bound = server.add_insecure_port(f"{address}:{opts.port}")
        except RuntimeError as exc:  # grpcio >= 1.50 raises instead of returning 0
            self._grpc_threads.shutdown()
            raise ServerConfigError(
                f"cannot bind gRPC to {opts.host}:{opts.port} (--port): {exc}"
            ) from exc
        if bound == 0:
            self._grpc_threads.shutdown()
            raise ServerConfigError(f"cannot bind gRPC to {opts.host}:{opts.port} (--port)")
        self.grpc_port = bound
        server.start()
        self._grpc_server = server
        if opts.rest_api_port is not None:
            runner = web.AppRunner(
                make_app(self._core, max_body_bytes=limit),
                access_log=None,
                shutdown_timeout=opts.grace_seconds,
            )
            await runner.setup()
            site = web.TCPSite(runner, opts.host, opts.rest_api_port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                server.stop(None).wait()
                self._grpc_threads.shutdown()
                raise ServerConfigError(
                    f"cannot bind REST to {opts.host}:{opts.rest_api_port} (--rest_api_port): {exc}"
                ) from exc
            self._rest_runner = runner
            sockets = runner.addresses
            self.rest_port = int(sockets[0][1]) if sockets else opts.rest_api_port
        _LOG.info(
            "serving %s: gRPC on %s:%d, REST on %s:%s",
            self.manager.model_names,
            opts.host,
            self.grpc_port,
            opts.host,
            self.rest_port,
        )

    async def _close(self) -> None:
        from aiohttp import web

        grace = self.options.grace_seconds

        async def stop_grpc() -> None:
            if self._grpc_server is not None:
                # Stops accepting at once; calls in flight (served on this loop) may finish.
                done = self._grpc_server.stop(grace)
                await asyncio.get_running_loop().run_in_executor(None, done.wait)
                if self._grpc_threads is not None:
                    self._grpc_threads.shutdown(wait=False)
                _LOG.info("gRPC stopped")

        async def stop_rest() -> None:
            if isinstance(self._rest_runner, web.AppRunner):
                await self._rest_runner.cleanup()
                _LOG.info("REST stopped")

        # Both ports stop accepting at once; each waits for its requests in flight.
        await asyncio.gather(stop_grpc(), stop_rest())
        await self._runner.aclose()

    async def _main(self) -> None:
        try:
            await self._open()
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            raise
        self._ready.set()
        assert self._stopping is not None
        await self._stopping.wait()
        await self._close()

    def _first_load(self) -> None:
        self.manager.poll()
        opts = self.options
        if opts.file_system_poll_wait_seconds > 0:
            self._watchers.append(
                Watcher(self.manager.poll, opts.file_system_poll_wait_seconds, "model-server-poll")
            )
        if opts.model_config_file and opts.model_config_file_poll_wait_seconds > 0:
            self._config_stamp = _file_stamp(opts.model_config_file)
            self._watchers.append(
                Watcher(
                    self._reread_config,
                    opts.model_config_file_poll_wait_seconds,
                    "model-server-config",
                )
            )
        for watcher in self._watchers:
            watcher.start()

    def _reread_config(self) -> None:
        """Serve the models of --model_config_file anew when the file changed."""
        path = self.options.model_config_file
        if path is None:
            return
        stamp = _file_stamp(path)
        if stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            configs = parse_model_config_file(path)
        except ServerConfigError as exc:
            _LOG.error("keeping the current models: %s", exc)
            return
        _LOG.info("%s changed: now serving %s", path, [c.name for c in configs])
        self.manager.reload_config(configs)
        self.manager.poll()

    def start(self) -> ModelServer:
        """Load the models once, then serve on a background thread; returns once ports listen."""
        if self._thread is not None:
            raise RuntimeError("ModelServer.start() was already called")
        self._first_load()
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._main())
            except BaseException:  # a startup failure is raised by start() itself
                if self._startup_error is None:
                    _LOG.exception("model server loop failed")
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="model-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._stop_models()
            raise self._startup_error
        return self

    def serve_forever(self) -> None:
        """Load, serve on this thread until SIGTERM or SIGINT, then stop gracefully."""
        # A signal during the first load (TensorFlow holds the thread) stops right after it.
        early = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _sig, _frame: early.set())
        self._first_load()
        if early.is_set():
            _LOG.info("signal received while loading: stopping")
            self._stop_models()
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._stopping = asyncio.Event()

        def request_stop() -> None:
            _LOG.info("signal received: stopping (requests in flight finish first)")
            if self._stopping is not None:
                self._stopping.set()

        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, request_stop)
            loop.run_until_complete(self._main())
        finally:
            loop.close()
            self._stop_models()

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to grace_seconds), unload models."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():

            def set_stop() -> None:
                if self._stopping is not None:
                    self._stopping.set()

            loop.call_soon_threadsafe(set_stop)
            thread.join()
        self._stop_models()

    def _stop_models(self) -> None:
        for watcher in self._watchers:
            watcher.stop()
        self._watchers.clear()
        self._runner.shutdown()
        self.manager.unload_all()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def grpc_address(self) -> str:
        """host:port of the gRPC endpoint (for grpc.insecure_channel)."""
        return f"{self.options.host}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        """Base URL of the REST endpoint, e.g. http://127.0.0.1:8501."""
        return f"http://{self.options.host}:{self.rest_port}"


def _file_stamp(path: str) -> tuple[float, int] | None:
    """(mtime, size) of a file, None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime, st.st_size)
