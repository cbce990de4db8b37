"""`headwater ui`: a local, read-only web page over the ML Metadata the runner writes.

Pipelines and their runs, a run's DAG, nodes, artifacts with their HTML views, lineage and
run comparison, served by aiohttp with no file from outside this package or the artifacts.

Example:
    store = MetadataStore(sqlite_metadata_connection_config(path), read_only=True)
    serve([store], host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from headwater.orchestration.metadata import MetadataStore
from headwater.orchestration.ui.app import create_app
from headwater.orchestration.ui.files import UnsafePathError
from headwater.orchestration.ui.stores import open_store, store_config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def serve(
    stores: Sequence[MetadataStore], *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> None:
    """Serve the UI over `stores` until interrupted (Ctrl-C)."""
    from aiohttp import web

    for store in stores:
        if not store.read_only:
            raise ValueError("the UI reads stores only: open them with read_only=True")
    print(f"headwater ui: http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    web.run_app(create_app(stores, host), host=host, port=port, print=None)


@contextmanager
def running(
    stores: Sequence[MetadataStore], *, host: str = DEFAULT_HOST, port: int = 0
) -> Iterator[str]:
    """The UI served from a background thread while the block runs; yields its base URL.

    Port 0 picks a free port. For tests, benchmarks and screenshots.
    """
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(stores, host))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, host, port)
    loop.run_until_complete(site.start())
    bound = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="headwater-ui", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{bound}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "UnsafePathError",
    "create_app",
    "open_store",
    "running",
    "serve",
    "store_config",
]
