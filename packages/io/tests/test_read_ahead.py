"""read_ahead: items in order from another thread, at most `depth` ahead, the producer's error
after the items before it, and an early stop that ends the thread and closes the producer."""

import contextvars
import gc
import threading

import pytest

from headwater.io import ReadAhead, read_ahead

_WAIT = 30  # seconds a test waits for the worker before failing (never a timing assertion)


class _Counted:
    """A generator's bookkeeping: how many items it has started making, and whether it closed."""

    def __init__(self) -> None:
        self.made = 0
        self.reached = threading.Condition()
        self.closed = threading.Event()

    def items(self, limit: int | None = None):
        try:
            i = 0
            while limit is None or i < limit:
                with self.reached:
                    self.made += 1
                    self.reached.notify_all()
                yield i
                i += 1
        finally:
            self.closed.set()

    def wait_made(self, n: int) -> None:
        with self.reached:
            assert self.reached.wait_for(lambda: self.made >= n, timeout=_WAIT)


def test_items_arrive_in_order_then_the_error():
    def items():
        yield from range(50)
        raise ValueError("bad chunk")

    stream = read_ahead(items(), depth=3)
    assert [next(stream) for _ in range(50)] == list(range(50))
    with pytest.raises(ValueError, match="bad chunk"):
        next(stream)
    with pytest.raises(StopIteration):
        next(stream)
    assert not stream._thread.is_alive()


def test_an_error_in_the_first_item_reaches_the_consumer():
    def items():
        raise KeyError("no such file")
        yield

    with pytest.raises(KeyError, match="no such file"), read_ahead(items()) as stream:
        next(stream)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_the_producer_runs_at_most_depth_items_ahead(depth):
    counted = _Counted()
    stream = read_ahead(counted.items(), depth=depth)
    counted.wait_made(depth)
    stream.close()  # the thread waits for a slot; closing wakes it and it stops
    assert counted.made == depth
    counted = _Counted()
    stream = read_ahead(counted.items(), depth=depth)
    assert [next(stream), next(stream)] == [0, 1]  # two taken: two more slots for the producer
    counted.wait_made(depth + 2)
    stream.close()
    assert counted.made == depth + 2


def test_the_producer_starts_at_construction():
    counted = _Counted()
    stream = read_ahead(counted.items(), depth=1)
    counted.wait_made(1)  # nobody has asked for an item yet
    stream.close()


@pytest.mark.parametrize("how", ["close", "with", "drop"])
def test_stopping_early_ends_the_thread_and_closes_the_producer(how):
    counted = _Counted()
    stream = ReadAhead(counted.items(), depth=2, name="headwater-test-read-ahead")
    thread = stream._thread
    assert thread.name == "headwater-test-read-ahead"
    if how == "with":
        with stream:
            assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    else:
        assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
        if how == "close":
            stream.close()
        else:
            del stream
            gc.collect()
    thread.join(_WAIT)
    assert not thread.is_alive()
    assert counted.closed.is_set()
    if how != "drop":
        with pytest.raises(StopIteration):
            next(stream)


def test_a_finished_stream_closes_the_producer_and_its_thread():
    counted = _Counted()
    stream = read_ahead(counted.items(limit=4), depth=2)
    assert list(stream) == [0, 1, 2, 3]
    assert counted.closed.is_set()
    assert not stream._thread.is_alive()


def test_producer_runs_on_another_thread_in_the_callers_context():
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("caller")

    def items():
        yield threading.get_ident(), var.get()

    ((ident, seen),) = list(read_ahead(items()))
    assert ident != threading.get_ident()
    assert seen == "caller"


def test_map_runs_the_function_ahead_in_order():
    assert list(read_ahead(map(lambda x: x * x, range(20)), depth=2)) == [x * x for x in range(20)]


def test_depth_below_one_is_refused():
    with pytest.raises(ValueError, match="depth must be >= 1, got 0"):
        read_ahead(iter(()), depth=0)
