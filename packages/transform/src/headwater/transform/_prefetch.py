"""Run a function over a stream one item ahead in a worker thread.

TensorFlow sessions, numpy sorts, Arrow kernels and zlib release the GIL, so computing the
graph for batch i+1 while the caller reduces, encodes or compresses batch i uses a second core.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_ahead(fn: Callable[[T], R], items: Iterable[T], depth: int = 1) -> Iterator[R]:
    """`map(fn, items)` in order, with up to `depth` calls running ahead in one thread."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="headwater-transform") as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
