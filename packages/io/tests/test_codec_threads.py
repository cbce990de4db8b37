"""The threaded decoder: any thread count gives the single-threaded result and its first error."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codec import record_batches

from headwater.io import InputError, decode_examples, encode_examples
from headwater.io.example_wire import WireError, decode_buffer, decode_list

# The C decoder gives each thread at least 2,048 records, so these inputs are a few thousand long.
THREADS = (2, 3, 5)


def _same(a, b):
    assert [c.name for c in a] == [c.name for c in b]
    for x, y in zip(a, b, strict=True):
        assert x.kind == y.kind, x.name
        assert x.counts.tolist() == y.counts.tolist(), x.name
        if isinstance(x.values, tuple):
            assert x.values[0].tolist() == y.values[0].tolist(), x.name
            assert x.values[1].tobytes() == y.values[1].tobytes(), x.name
        else:
            assert x.values.tobytes() == y.values.tobytes(), x.name


def _spans(records):
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    ends = np.cumsum(lengths)
    return b"".join(records), ends - lengths, ends


@settings(max_examples=25, deadline=None)
@given(
    record_batches(),
    st.integers(min_value=0, max_value=6000),
    st.integers(min_value=4500, max_value=9000),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_thread_count_decodes_like_one_thread(batch, empty_prefix, size, seed):
    rows = encode_examples(batch) or [b""]
    rng = np.random.default_rng(seed)
    # Empty examples first: later chunks discover features the first chunks never saw.
    records = [b""] * empty_prefix + [rows[i] for i in rng.integers(len(rows), size=size)]
    for names in (None, batch.schema.names, [*batch.schema.names[::-1], "absent"]):
        expected = decode_list(records, names, threads=1)
        for threads in THREADS:
            _same(decode_list(records, names, threads=threads), expected)
            _same(decode_buffer(*_spans(records), names, threads=threads), expected)


def _one(name: str, value) -> bytes:
    (record,) = encode_examples(pa.RecordBatch.from_pydict({name: [value]}))
    return record


FLOAT_X = _one("x", pa.scalar(1.5, pa.float32()))
INT_X = _one("x", 7)
TEXT_Y = _one("y", "a")
GARBAGE = b"\x0a\xff"


def _first_error(records, threads):
    with pytest.raises(WireError) as info:
        decode_list(records, None, threads=threads)
    return info.value.args


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_kind_conflict_across_chunks_names_the_first_conflicting_record(threads):
    records = [FLOAT_X] * 5000 + [INT_X] + [FLOAT_X] * 3000
    message, record = _first_error(records, threads)
    assert record == 5000
    assert message == "feature x is a int64_list here but a float_list in earlier records"


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_feature_first_seen_late_then_conflicting(threads):
    records = [TEXT_Y] * 4000 + [FLOAT_X] * 2500 + [INT_X] * 2500
    assert _first_error(records, threads)[1] == 6500


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_an_earlier_malformed_record_wins_over_a_later_conflict(threads):
    records = [FLOAT_X] * 8000
    records[4000] = GARBAGE
    records[7000] = INT_X
    assert _first_error(records, threads) == ("malformed Example message", 4000)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_an_earlier_conflict_wins_over_a_later_malformed_record(threads):
    records = [FLOAT_X] * 8000
    records[100] = INT_X
    records[7999] = GARBAGE
    assert _first_error(records, threads)[1] == 100


def test_decode_examples_names_the_record_of_a_bad_example_in_a_long_batch():
    records = [FLOAT_X] * 9000
    records[8500] = GARBAGE
    with pytest.raises(InputError) as info:
        decode_examples(records)
    assert info.value.row == 8500


def test_records_must_be_bytes():
    with pytest.raises(TypeError, match="record 1 is str"):
        decode_list([FLOAT_X, "x"], None)
