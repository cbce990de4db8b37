"""Runs model calls off the event loop, one per request or merged into batches.

Without batching each request's call runs on a thread pool. With batching (TF Serving's
`--enable_batching`), requests to the same model version and signature whose inputs share a
batch dimension queue together. As in TF Serving, a batch closes when it holds
`max_batch_size` examples or when its oldest request has waited `batch_timeout_micros`, and
runs as soon as one of `num_batch_threads` is free; with a zero timeout batches grow with load
only (whatever queued while the threads were busy) and a lone request waits for nothing. Inputs are
concatenated along the batch dimension, padded up to the next `allowed_batch_sizes` entry by
repeating the first example, and the outputs sliced back per request. Should a batch fail on
its inputs, each request is rerun alone so that only the bad one gets the error.

A request that finds the server idle (no other request in flight, nothing queued or running, a
zero batch timeout, no padding) runs the model inline on the event loop, sparing the two thread
hops a lone request would otherwise pay; as soon as requests overlap they take the paths above.
"Idle" needs more than an empty runner: while the model runs inline the loop is blocked, so the
requests of other clients wait unseen in the sockets, and each would in turn find the runner
empty and run inline too, one model call per request on the loop (a convoy that stops
batching). So a request runs inline only when the last request left at least
`_INLINE_GAP_SECONDS` before (a lone client takes longer than that to send its next request)
and no two requests overlapped within `_LOADED_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from headwater.io.model_seam import LoadedModel, ModelInputError, SignatureSpec
from headwater.model_server.config import BatchingOptions
from headwater.model_server.errors import ServingError
from headwater.model_server.metrics import ServerMetrics

__all__ = ["ModelRunner"]

_LOG = logging.getLogger(__name__)

_INLINE_GAP_SECONDS = 0.0002
"""A request runs inline only this long after the previous one left (see the module doc)."""
_LOADED_SECONDS = 0.1
"""After two requests overlapped, none runs inline for this long."""
_GATHER_TURNS = 8
"""At most this many loop turns a batch waits for requests on their way (see `_gather`)."""


def _run_model(
    model: LoadedModel, signature: str, feeds: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    try:
        return model.run(signature, feeds)
    except ServingError:
        raise
    except ModelInputError as exc:
        raise ServingError("INVALID_ARGUMENT", str(exc)) from exc
    except Exception as exc:
        _LOG.exception("model call of signature %r failed", signature)
        raise ServingError("INTERNAL", f"model call failed: {type(exc).__name__}: {exc}") from exc


@dataclass
class _Queue:
    pending: deque[tuple[dict[str, np.ndarray], int, asyncio.Future[dict[str, np.ndarray]]]] = (
        field(default_factory=deque)
    )
    arrived: deque[float] = field(default_factory=deque)
    """loop.time() when each pending request was queued (TF Serving's timeout is the oldest's)."""
    size: int = 0
    has_items: asyncio.Event = field(default_factory=asyncio.Event)
    filled: asyncio.Future[None] | None = None
    """While the consumer waits for the batch timeout: set as soon as the batch is full."""


class ModelRunner:
    """Runs `LoadedModel.run` for the front ends; batches when given BatchingOptions."""

    def __init__(
        self,
        batching: BatchingOptions | None,
        metrics: ServerMetrics,
        *,
        threads: int = 8,
    ) -> None:
        self._batching = batching
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(
            max_workers=max(threads, batching.num_batch_threads if batching else 0),
            thread_name_prefix="model-server-run",
        )
        self._queues: dict[tuple[object, ...], _Queue] = {}
        self._consumers: list[asyncio.Task[None]] = []
        self._slots: asyncio.Semaphore | None = None
        self._active = 0  # requests inside run()
        self._busy = 0  # batches queued or running
        self._last_left = 0.0  # perf_counter() when the last request left run()
        self._loaded_until = 0.0  # no inline run before this perf_counter()
        self._running = 0  # batches running

    async def run(
        self,
        model_name: str,
        model: LoadedModel,
        spec: SignatureSpec,
        feeds: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """The outputs of one request's feeds (already checked against `spec`)."""
        loop = asyncio.get_running_loop()
        rows = self._batch_rows(spec, feeds)
        self._active += 1
        if self._active > 1:
            self._loaded_until = time.perf_counter() + _LOADED_SECONDS
        try:
            if self._may_run_inline(rows):
                # Let requests that arrived with this one start first: if one did, the server
                # is not idle and this request batches / goes to the pool like the others.
                await asyncio.sleep(0)
                if self._may_run_inline(rows):
                    if rows is not None:
                        self._metrics.observe_batch(
                            model=model_name, signature=spec.name, size=rows
                        )
                    return _run_model(model, spec.name, feeds)
            if rows is None:
                return await loop.run_in_executor(
                    self._executor, _run_model, model, spec.name, feeds
                )
            return await self._enqueue(model_name, model, spec, feeds, rows)
        finally:
            self._active -= 1
            self._last_left = time.perf_counter()

    def _may_run_inline(self, rows: int | None) -> bool:
        """Whether this (the only) request may run on the loop: the server is idle."""
        if self._active != 1 or self._busy:
            return False
        now = time.perf_counter()
        if now < self._loaded_until or now - self._last_left < _INLINE_GAP_SECONDS:
            return False
        options = self._batching
        if options is None or rows is None:
            return True
        return options.batch_timeout_micros == 0 and self._padded_size(rows) == rows

    def _batch_rows(self, spec: SignatureSpec, feeds: Mapping[str, np.ndarray]) -> int | None:
        """The request's batch size when it may share a batch, else None."""
        options = self._batching
        if options is None or not feeds:
            return None
        sizes = {a.shape[0] if a.ndim else -1 for a in feeds.values()}
        if len(sizes) != 1:
            return None
        (rows,) = sizes
        if rows < 1 or rows > options.max_batch_size:
            return None
        for tensor in (*spec.inputs.values(), *spec.outputs.values()):
            if tensor.shape is None or not tensor.shape or tensor.shape[0] is not None:
                return None
        return rows

    async def _enqueue(
        self,
        model_name: str,
        model: LoadedModel,
        spec: SignatureSpec,
        feeds: dict[str, np.ndarray],
        rows: int,
    ) -> dict[str, np.ndarray]:
        assert self._batching is not None
        options = self._batching
        loop = asyncio.get_running_loop()
        key = (
            model_name,
            id(model),
            spec.name,
            tuple(sorted((k, a.dtype.str, a.shape[1:]) for k, a in feeds.items())),
        )
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
            if self._slots is None:
                self._slots = asyncio.Semaphore(options.num_batch_threads)
            self._consumers.append(loop.create_task(self._consume(queue, model_name, model, spec)))
        if queue.size + rows > options.max_batch_size * options.max_enqueued_batches:
            raise ServingError(
                "UNAVAILABLE",
                f"The batch scheduling queue of model {model_name!r} signature {spec.name!r} is "
                f"full ({queue.size} examples waiting); retry later",
            )
        future: asyncio.Future[dict[str, np.ndarray]] = loop.create_future()
        self._busy += 1
        future.add_done_callback(self._one_less)
        queue.pending.append((feeds, rows, future))
        queue.arrived.append(loop.time())
        queue.size += rows
        queue.has_items.set()
        filled = queue.filled
        if filled is not None and queue.size >= options.max_batch_size and not filled.done():
            filled.set_result(None)
        return await future

    async def _consume(
        self, queue: _Queue, model_name: str, model: LoadedModel, spec: SignatureSpec
    ) -> None:
        assert self._batching is not None
        assert self._slots is not None
        options = self._batching
        loop = asyncio.get_running_loop()
        timeout = options.batch_timeout_micros / 1e6
        while True:
            await queue.has_items.wait()
            if timeout > 0 and queue.size < options.max_batch_size:
                # TF Serving: the batch closes when full or when its oldest request has waited
                # the timeout (not a fresh timeout per batch: requests that queued while all
                # threads were busy have been waiting already).
                remaining = queue.arrived[0] + timeout - loop.time()
                if remaining > 0:
                    filled = queue.filled = loop.create_future()
                    timer = loop.call_later(remaining, _settle_filled, filled)
                    try:
                        await filled
                    finally:
                        timer.cancel()
                        queue.filled = None
            await self._slots.acquire()
            if self._running:
                await self._gather(queue, options.max_batch_size)
            items = []
            taken = 0
            while queue.pending and taken + queue.pending[0][1] <= options.max_batch_size:
                item = queue.pending.popleft()
                queue.arrived.popleft()
                items.append(item)
                taken += item[1]
            queue.size -= taken
            if not queue.pending:
                queue.has_items.clear()
            task = asyncio.get_running_loop().create_task(
                self._run_batch(items, taken, model_name, model, spec)
            )
            self._running += 1
            task.add_done_callback(self._batch_done)

    def _one_less(self, _future: object) -> None:
        self._busy -= 1

    def _batch_done(self, _task: object) -> None:
        self._running -= 1
        self._slots.release()  # type: ignore[union-attr]

    @staticmethod
    async def _gather(queue: _Queue, max_batch_size: int) -> None:
        """Let requests already on their way join the batch about to close.

        Called only while another batch runs (so a lone request never waits): a request that
        arrived meanwhile is still going through its protocol's layers (gRPC hands each call
        to the loop one at a time), a few loop turns from the queue. Without this, a batch
        closes the moment a thread is free and holds one request under steady gRPC load.
        """
        for _ in range(_GATHER_TURNS):
            size = queue.size
            await asyncio.sleep(0)
            if queue.size >= max_batch_size or queue.size == size:
                return

    def _padded_size(self, rows: int) -> int:
        assert self._batching is not None
        for size in self._batching.allowed_batch_sizes:
            if size >= rows:
                return size
        return rows

    async def _run_batch(
        self,
        items: list[tuple[dict[str, np.ndarray], int, asyncio.Future[dict[str, np.ndarray]]]],
        rows: int,
        model_name: str,
        model: LoadedModel,
        spec: SignatureSpec,
    ) -> None:
        """Run one batch and settle every request's future, whatever happens."""
        try:
            await self._run_merged(items, rows, model_name, model, spec)
        except Exception as exc:  # never leave a request waiting on an unsettled future
            _LOG.exception("batch of signature %r failed", spec.name)
            error = ServingError("INTERNAL", f"batched model call failed: {exc}")
            for _feeds, _n, future in items:
                _settle(future, error=error)

    async def _run_alone(
        self,
        items: list[tuple[dict[str, np.ndarray], int, asyncio.Future[dict[str, np.ndarray]]]],
        model: LoadedModel,
        spec: SignatureSpec,
    ) -> None:
        loop = asyncio.get_running_loop()
        for feeds, _n, future in items:
            try:
                result = await loop.run_in_executor(
                    self._executor, _run_model, model, spec.name, feeds
                )
            except ServingError as one:
                _settle(future, error=one)
            else:
                _settle(future, result=result)

    async def _run_merged(
        self,
        items: list[tuple[dict[str, np.ndarray], int, asyncio.Future[dict[str, np.ndarray]]]],
        rows: int,
        model_name: str,
        model: LoadedModel,
        spec: SignatureSpec,
    ) -> None:
        loop = asyncio.get_running_loop()
        padded = self._padded_size(rows)
        merged = {}
        for name in items[0][0]:
            parts = [feeds[name] for feeds, _n, _f in items]
            if padded > rows:
                parts.append(np.repeat(parts[0][:1], padded - rows, axis=0))
            merged[name] = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        self._metrics.observe_batch(model=model_name, signature=spec.name, size=padded)
        try:
            outputs = await loop.run_in_executor(
                self._executor, _run_model, model, spec.name, merged
            )
        except ServingError as exc:
            if exc.code == "INVALID_ARGUMENT" and len(items) > 1:
                await self._run_alone(items, model, spec)  # only the bad request fails
                return
            for _feeds, _n, future in items:
                _settle(future, error=exc)
            return
        if any(np.ndim(v) == 0 or np.shape(v)[0] != padded for v in outputs.values()):
            # An output without a batch dimension cannot be split: answer each on its own.
            if len(items) == 1 and padded == rows:
                _settle(items[0][2], result=outputs)
            else:
                await self._run_alone(items, model, spec)
            return
        start = 0
        for _feeds, n, future in items:
            _settle(future, result={k: v[start : start + n] for k, v in outputs.items()})
            start += n

    async def aclose(self) -> None:
        """Stop the batch consumers (call when no request is left)."""
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._consumers.clear()
        self._queues.clear()

    def shutdown(self) -> None:
        """Stop the thread pool after the calls in progress."""
        self._executor.shutdown(wait=True)


def _settle_filled(filled: asyncio.Future[None]) -> None:
    if not filled.done():
        filled.set_result(None)


def _settle(
    future: asyncio.Future[dict[str, np.ndarray]],
    *,
    result: dict[str, np.ndarray] | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
