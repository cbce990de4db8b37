"""read_serialized_examples: the records as in the file beside the columns asked for, batches
cut per file or exactly across files, absent features raised or left out, read ahead or not."""

import gzip
import threading

import numpy as np
import pyarrow as pa
import pytest

from headwater.io import (
    InputError,
    ReadAhead,
    SerializedBatch,
    encode_examples,
    read_serialized_examples,
)
from headwater.io.example_wire import frame_records


def _batch(lo, n):
    return pa.RecordBatch.from_pydict(
        {
            "id": pa.array(range(lo, lo + n), pa.int64()),
            "x": pa.array([i / 4 for i in range(lo, lo + n)], pa.float32()),
            "city": pa.array([f"c{i % 3}" for i in range(lo, lo + n)]),
        }
    )


@pytest.fixture
def files(tmp_path):
    """Two files of 7 and 5 records (the second gzipped): their paths and records, in order."""
    first, second = encode_examples(_batch(0, 7)), encode_examples(_batch(7, 5))
    a, b = tmp_path / "part-0.tfrecord", tmp_path / "part-1.tfrecord.gz"
    a.write_bytes(frame_records(first))
    b.write_bytes(gzip.compress(frame_records(second)))
    return [str(a), str(b)], first + second


def test_records_are_the_bytes_in_the_files_beside_every_column(files):
    paths, records = files
    read = list(read_serialized_examples(paths, batch_size=4))
    assert all(isinstance(b, SerializedBatch) for b in read)
    assert [b.num_rows for b in read] == [4, 3, 4, 1]  # a batch never spans a file
    assert [r for b in read for r in b.records.tolist()] == records
    table = pa.Table.from_batches([b.examples for b in read])
    assert table.column_names == ["id", "x", "city"]
    assert table["id"].to_pylist() == list(range(12))
    assert table["x"].to_pylist() == [i / 4 for i in range(12)]
    assert table["city"].to_pylist() == [f"c{i % 3}" for i in range(12)]


def test_only_the_columns_asked_for_are_decoded_or_none(files):
    paths, records = files
    read = list(read_serialized_examples(paths, columns=["city", "id"], batch_size=5))
    assert [b.examples.schema.names for b in read] == [["city", "id"]] * 3
    assert [v for b in read for v in b.examples["id"].to_pylist()] == list(range(12))
    rows_only = list(read_serialized_examples(paths, columns=[], batch_size=5))
    assert [(b.num_rows, b.examples.num_columns) for b in rows_only] == [(5, 0), (2, 0), (5, 0)]
    assert [r for b in rows_only for r in b.records.tolist()] == records


def test_exact_batches_are_cut_across_files(files):
    paths, records = files
    for columns in (None, ["id"], []):
        read = list(
            read_serialized_examples(paths, columns=columns, batch_size=5, exact_batches=True)
        )
        assert [b.num_rows for b in read] == [5, 5, 2]
        assert [r for b in read for r in b.records.tolist()] == records
        if columns != []:
            ids = [v for b in read for v in b.examples["id"].to_pylist()]
            assert ids == list(range(12))


def test_an_absent_feature_is_an_error_naming_the_file_or_left_out(files):
    paths, _ = files
    with pytest.raises(InputError, match=r"part-0\.tfrecord") as caught:
        next(read_serialized_examples(paths, columns=["id", "nope"]))
    assert "features ['nope'] are not in the examples (features: ['id', 'x', 'city'])" in str(
        caught.value
    )
    read = list(read_serialized_examples(paths, columns=["id", "nope"], absent="omit"))
    assert [b.examples.schema.names for b in read] == [["id"], ["id"]]


def test_a_corrupt_record_is_an_error_naming_the_file_and_record(tmp_path, files):
    paths, records = files
    bad = tmp_path / "bad.tfrecord"
    framed = bytearray(frame_records(records[:3]))
    framed[-3] ^= 0xFF  # the last record's data CRC
    bad.write_bytes(bytes(framed))
    with pytest.raises(InputError, match=r"bad\.tfrecord.*2"):
        list(read_serialized_examples([paths[0], str(bad)], columns=[]))


def test_read_ahead_or_on_the_callers_thread_give_the_same_batches(files):
    paths, _ = files
    ahead = read_serialized_examples(paths, columns=["id"], batch_size=3)
    here = read_serialized_examples(paths, columns=["id"], batch_size=3, ahead=0)
    assert isinstance(ahead, ReadAhead)
    assert not isinstance(here, ReadAhead)
    a, h = list(ahead), list(here)
    assert [b.records.tolist() for b in a] == [b.records.tolist() for b in h]
    assert [b.examples for b in a] == [b.examples for b in h]
    assert not [t for t in threading.enumerate() if t.name == "headwater-io-serialized"]


def test_bad_arguments_are_refused(files):
    paths, _ = files
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        read_serialized_examples(paths, batch_size=0)
    with pytest.raises(ValueError, match="absent must be 'raise' or 'omit', got 'skip'"):
        read_serialized_examples(paths, absent="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ahead must be >= 0, got -1"):
        read_serialized_examples(paths, ahead=-1)


def test_slices_keep_records_and_rows_together():
    batch = SerializedBatch(np.array([b"a", b"b", b"c"], dtype=object), _batch(0, 3))
    part = batch.slice(1, 2)
    assert part.records.tolist() == [b"b", b"c"]
    assert part.examples["id"].to_pylist() == [1, 2]
    with pytest.raises(ValueError, match="2 records beside 3 decoded rows"):
        SerializedBatch(np.array([b"a", b"b"], dtype=object), _batch(0, 3))
