"""TFRecord files: framing, gzip, sharded writes, and corrupt or truncated input named exactly."""

import gzip
import os
import struct

import pyarrow as pa
import pytest

from headwater.io import (
    InputError,
    decode_examples,
    encode_examples,
    read_tfrecord,
    write_tfrecord,
)
from headwater.io.example_wire import frame_records, masked_crc32c, unframe


def _batch(n=10):
    return pa.RecordBatch.from_pydict(
        {
            "x": pa.array(range(n), pa.int64()),
            "name": pa.array([f"row {i}" for i in range(n)]),
        }
    )


def _frame(records):
    out = b""
    for r in records:
        header = struct.pack("<Q", len(r))
        out += header + struct.pack("<I", masked_crc32c(header)) + r
        out += struct.pack("<I", masked_crc32c(r))
    return out


def test_frame_records_joins_pieces_into_framed_records():
    pieces = [b"ab", b"", b"cde", b"f", b"", b""]
    assert frame_records(pieces) == _frame(pieces)
    assert frame_records(pieces, 2) == _frame([b"ab", b"cdef", b""])
    assert frame_records([]) == b""
    starts, ends, consumed, error = unframe(frame_records(pieces, 3))
    assert error is None
    assert consumed == 2 * 16 + 6
    assert list(ends - starts) == [5, 1]
    with pytest.raises(ValueError, match="5 pieces are not records of 2 pieces each"):
        frame_records(pieces[:5], 2)
    with pytest.raises(TypeError, match="record 1 is str"):
        frame_records([b"a", "b"])


def test_masked_crc_matches_tensorflow_constant():
    # TensorFlow's masked CRC32C of b"" and of b"abc" (crc32c("abc") = 0x364b3fb7).
    assert masked_crc32c(b"") == 0xA282EAD8
    crc = 0x364B3FB7
    assert masked_crc32c(b"abc") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.parametrize("compression", ["gzip", None])
def test_write_then_read_shards(tmp_path, compression):
    batches = [_batch(10), _batch(7)]
    paths = write_tfrecord(
        batches, str(tmp_path / "data_tfrecord"), num_shards=2, compression=compression
    )
    suffix = ".gz" if compression else ""
    assert [os.path.basename(p) for p in paths] == [
        f"data_tfrecord-00000-of-00002{suffix}",
        f"data_tfrecord-00001-of-00002{suffix}",
    ]
    table = pa.Table.from_batches(list(read_tfrecord(tmp_path)))
    assert sorted(table.column("x").to_pylist()) == sorted(list(range(10)) + list(range(7)))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = tmp_path / "records"
    path.write_bytes(gzip.compress(_frame(encode_examples(_batch(5)))))
    assert next(read_tfrecord(path)).column("x").to_pylist() == [0, 1, 2, 3, 4]


def test_schema_pins_types_and_batches(tmp_path):
    path = tmp_path / "r.tfrecord"
    path.write_bytes(_frame(encode_examples(_batch(10))))
    schema = pa.schema([("x", pa.float64())])
    with pytest.raises(InputError, match="int64_list"):
        list(read_tfrecord(path, schema=schema))
    schema = pa.schema([("name", pa.binary()), ("x", pa.list_(pa.int64()))])
    batches = list(read_tfrecord(path, schema=schema, batch_size=4))
    assert [b.num_rows for b in batches] == [4, 4, 2]
    assert batches[0].schema == schema
    assert batches[2].column("x").to_pylist() == [[8], [9]]


def test_empty_file_gives_empty_batch_of_the_schema(tmp_path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    schema = pa.schema([("x", pa.int64())])
    batches = list(read_tfrecord(path, schema=schema))
    assert len(batches) == 1
    assert batches[0].num_rows == 0
    assert batches[0].schema == schema


def test_bad_length_crc_names_record_and_offset(tmp_path):
    records = encode_examples(_batch(3))
    data = bytearray(_frame(records))
    second = 16 + len(records[0])
    data[second] ^= 0x01  # corrupt the second record's length
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="length CRC") as info:
        list(read_tfrecord(path))
    assert (info.value.row, info.value.byte_offset, info.value.path) == (1, second, str(path))


def test_bad_data_crc_names_record_and_offset(tmp_path):
    records = encode_examples(_batch(3))
    data = bytearray(_frame(records))
    third = 2 * 16 + len(records[0]) + len(records[1])
    data[third + 14] ^= 0xFF
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="data CRC") as info:
        list(read_tfrecord(path))
    assert (info.value.row, info.value.byte_offset) == (2, third)


def test_truncated_record_is_named(tmp_path):
    data = _frame(encode_examples(_batch(3)))
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(data[:-3])
    with pytest.raises(InputError, match="truncated record") as info:
        list(read_tfrecord(path))
    assert info.value.row == 2


def test_truncated_gzip_is_named(tmp_path):
    data = gzip.compress(_frame(encode_examples(_batch(200))))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip") as info:
        list(read_tfrecord(path))
    assert info.value.path == str(path)
    assert info.value.byte_offset == len(data) // 2


def test_record_that_is_not_an_example_is_named(tmp_path):
    records = encode_examples(_batch(3))
    records[1] = b"\x0a\x7f\x00"
    path = tmp_path / "junk.tfrecord"
    path.write_bytes(_frame(records))
    with pytest.raises(InputError, match=r"not a valid tf\.Example") as info:
        list(read_tfrecord(path))
    assert info.value.row == 1


def test_failed_write_leaves_nothing_behind(tmp_path):
    def batches():
        yield _batch(3)
        raise RuntimeError("upstream failed")

    with pytest.raises(RuntimeError):
        write_tfrecord(batches(), str(tmp_path / "data_tfrecord"))
    assert os.listdir(tmp_path) == []


def test_decode_examples_of_records_read_back(tmp_path):
    records = encode_examples(_batch(4))
    assert decode_examples(records).column("name").to_pylist() == [f"row {i}" for i in range(4)]


def test_inferred_schema_is_kept_and_new_features_are_reported(tmp_path, caplog):
    first = pa.RecordBatch.from_pydict({"x": [1, 2, 3]})
    later = pa.RecordBatch.from_pydict({"x": [4, 5], "extra": ["a", "b"]})
    path = tmp_path / "r.tfrecord"
    path.write_bytes(_frame(encode_examples(first) + encode_examples(later)))
    with caplog.at_level("WARNING", logger="headwater.io"):
        batches = list(read_tfrecord(path, batch_size=3))
    assert [b.schema for b in batches] == [pa.schema([("x", pa.int64())])] * 2
    assert "['extra']" in caplog.text


def test_multivalent_value_after_inferring_univalent_names_the_record(tmp_path):
    first = pa.RecordBatch.from_pydict({"x": [1, 2, 3]})
    later = pa.RecordBatch.from_pydict({"x": [[4], [5, 6]]})
    path = tmp_path / "r.tfrecord"
    path.write_bytes(_frame(encode_examples(first) + encode_examples(later)))
    with pytest.raises(InputError, match="several values") as info:
        list(read_tfrecord(path, batch_size=3))
    assert info.value.row == 4


def _masked_reference(data: bytes) -> int:
    """Bitwise CRC32C (reflected polynomial 0x82F63B78), masked as TensorFlow masks it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_CRC_CHILD = """
import json
from headwater.io import _wire
data = bytes((i * 37 + 11) % 256 for i in range(700))
pieces = [data[s : s + n] for s in range(9) for n in range(0, 120, 7)]
print(json.dumps([_wire.crc_instruction(), [_wire.masked_crc32c(p) for p in pieces]]))
"""


def test_crc32c_matches_a_bitwise_reference_with_and_without_the_cpu_instruction():
    from portable_c import run_portable

    data = bytes((i * 37 + 11) % 256 for i in range(700))
    pieces = [data[s : s + n] for s in range(9) for n in range(0, 120, 7)]  # every alignment
    expected = [_masked_reference(p) for p in pieces]
    assert [masked_crc32c(p) for p in pieces] == expected
    assert run_portable(_CRC_CHILD) == [False, expected]
