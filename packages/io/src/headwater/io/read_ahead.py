"""Items of a stream made on a background thread, a few ahead of the consumer.

Reading files, gunzipping, decoding records and running a model release the GIL, so making item
i+1 while the consumer uses item i keeps a second core busy. This is the one helper Headwater
uses for that: TFRecord chunks and serialized examples here in io, transform's graph runs,
model-analysis's reads and predictions.

Example:
    with read_ahead(read_tfrecord("data/*.gz"), depth=2) as batches:
        for batch in batches:
            ...
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["ReadAhead", "read_ahead"]

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2


class ReadAhead(Iterator[T]):
    """The items of an iterable in order, made on a thread started at construction.

    At most `depth` items are made (or being made) that the consumer has not taken yet: with
    depth 1, the next item is made while the consumer uses this one. The thread runs in a copy
    of the constructor's context (contextvars), so e.g. Beam's file systems set up by the caller
    are seen there. An exception raised while making an item is raised by `next` in its turn,
    after the items made before it. `close()` (also at the end of a `with` block) stops the thread
    before its next item, closes the iterable's iterator if it has a `close`, and waits for the
    thread (and so for the item it is making, if any); dropping the object unclosed does the
    same without waiting.
    """

    def __init__(
        self, items: Iterable[T], *, depth: int = 1, name: str = "headwater-read-ahead"
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth!r}")
        self._results: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._slots = threading.Semaphore(depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(_produce, iter(items), self._results, self._slots, self._stop),
            name=name,
            daemon=True,
        )
        self._thread.start()

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        kind, value = self._results.get()
        if kind == _ITEM:
            self._slots.release()  # the producer starts the next item while this one is used
            return value
        self._done = True
        self._thread.join()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop making items and wait for the thread; `next` then raises StopIteration."""
        self._done = True
        self._stop.set()
        self._slots.release()  # wakes a producer waiting for a slot, which then sees the stop
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Dropped unclosed: stop the thread without waiting for it (a join here could hang at
        # interpreter exit, when daemon threads no longer run).
        if getattr(self, "_thread", None) is not None and not self._done:
            self._done = True
            self._stop.set()
            self._slots.release()


def read_ahead(
    items: Iterable[T], *, depth: int = 1, name: str = "headwater-read-ahead"
) -> ReadAhead[T]:
    """`items` made on a background thread, at most `depth` ahead of the consumer (`ReadAhead`).

    For a function over a stream, `read_ahead(map(fn, items))` runs `fn` (and draws `items`) on
    the thread.
    """
    return ReadAhead(items, depth=depth, name=name)


def _produce(
    items: Iterator[Any],
    results: queue.SimpleQueue[tuple[int, Any]],
    slots: threading.Semaphore,
    stop: threading.Event,
) -> None:
    """The thread's loop: take a slot, make an item, hand it over; never references the
    ReadAhead itself, so dropping that closes it."""
    try:
        while True:
            slots.acquire()
            if stop.is_set():
                return
            try:
                item = next(items)
            except StopIteration:
                results.put((_END, None))
                return
            results.put((_ITEM, item))
    except BaseException as exc:  # handed to the consumer, who raises it
        results.put((_ERROR, exc))
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
