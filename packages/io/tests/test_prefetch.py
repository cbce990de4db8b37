"""prefetched: the items in order, the producer's error after them, early stops close it."""

import threading

import pytest

from headwater.io.tfrecord_files import prefetched


def test_items_arrive_in_order_then_the_error():
    def items():
        yield from range(50)
        raise ValueError("bad chunk")

    stream = prefetched(items(), depth=3)
    assert [next(stream) for _ in range(50)] == list(range(50))
    with pytest.raises(ValueError, match="bad chunk"):
        next(stream)


def test_stopping_early_closes_the_producer():
    closed = threading.Event()

    def items():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    stream = prefetched(items(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    assert closed.wait(5)


def test_producer_runs_on_another_thread():
    def items():
        yield threading.get_ident()

    assert list(prefetched(items())) != [threading.get_ident()]
