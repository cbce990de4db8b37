"""tf.Example codec: round trips and the Arrow convention, without TensorFlow."""

import struct

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from io_wire_reference import decode_python, encode_python

from headwater.io import InputError, decode_examples, encode_examples
from headwater.io.example_wire import decode_buffer
from headwater.io.feature_columns import feature_columns


def _batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "i": pa.array([1, None, -3], pa.int64()),
            "f": pa.array([0.5, 2.25, None], pa.float32()),
            "s": pa.array(["a", "", None], pa.string()),
            "li": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
            "lf": pa.array([[1.5], None, [2.0, -1.0]], pa.list_(pa.float32())),
            "lb": pa.array([[b"\xff"], [b"x", b"yz"], []], pa.list_(pa.binary())),
        }
    )


def test_round_trip_keeps_values_nulls_and_types():
    batch = _batch()
    decoded = decode_examples(encode_examples(batch), batch.schema)
    assert decoded.equals(batch)


def test_inferred_schema_follows_the_convention():
    decoded = decode_examples(encode_examples(_batch()))
    assert decoded.schema.field("i").type == pa.int64()
    assert decoded.schema.field("f").type == pa.float32()
    assert decoded.schema.field("s").type == pa.string()
    assert decoded.schema.field("li").type == pa.list_(pa.int64())
    assert decoded.schema.field("lb").type == pa.list_(pa.binary())
    assert decoded.column("i").to_pylist() == [1, None, -3]
    assert decoded.column("li").to_pylist() == [[1, 2], [], None]


def test_null_is_an_absent_feature():
    records = encode_examples(pa.RecordBatch.from_pydict({"x": pa.array([None], pa.int64())}))
    assert records == [b"\x0a\x00"]


def test_known_bytes_of_one_example():
    batch = pa.RecordBatch.from_pydict({"a": pa.array([7], pa.int64())})
    # Example{features{feature{key:"a" value{int64_list{value:7}}}}}
    assert encode_examples(batch) == [_expected()]


def _expected() -> bytes:
    int64_list = b"\x0a\x01\x07"
    feature = b"\x1a" + bytes([len(int64_list)]) + int64_list
    entry = b"\x0a\x01a" + b"\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    return b"\x0a" + bytes([len(features)]) + features


def test_schema_selects_and_orders_columns():
    batch = _batch()
    schema = pa.schema([("s", pa.string()), ("i", pa.int64()), ("missing", pa.float32())])
    decoded = decode_examples(encode_examples(batch), schema)
    assert decoded.schema == schema
    assert decoded.column("missing").null_count == 3


def test_wrong_value_type_names_record_and_feature():
    records = encode_examples(pa.RecordBatch.from_pydict({"x": [1.5, 2.5]}))
    with pytest.raises(InputError, match="'x'") as info:
        decode_examples(records, pa.schema([("x", pa.int64())]))
    assert info.value.row == 0


def test_multivalent_into_flat_column_is_an_error():
    records = encode_examples(pa.RecordBatch.from_pydict({"x": [[1], [1, 2]]}))
    with pytest.raises(InputError, match="several values") as info:
        decode_examples(records, pa.schema([("x", pa.int64())]))
    assert info.value.row == 1


def test_garbage_record_is_an_input_error():
    with pytest.raises(InputError):
        decode_examples([b"\x0a\x05\x01"])


def test_empty_input_gives_empty_batch_with_schema_columns():
    schema = pa.schema([("x", pa.int64())])
    assert decode_examples([], schema).schema == schema
    assert decode_examples([], schema).num_rows == 0


def test_int64_extremes_round_trip():
    values = np.array([np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max], np.int64)
    batch = pa.RecordBatch.from_pydict({"x": pa.array(values)})
    assert decode_examples(encode_examples(batch)).column("x").to_pylist() == values.tolist()


# ---------------------------------------------------------------- property-based round trip

_INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_FLOAT = st.floats(width=32, allow_nan=False)
_TEXT = st.text(max_size=20)
_BYTES = st.binary(max_size=20)
_KINDS = {
    "int": (pa.int64(), _INT),
    "float": (pa.float32(), _FLOAT),
    "text": (pa.string(), _TEXT),
    "bytes": (pa.binary(), _BYTES),
}


@st.composite
def record_batches(draw):
    num_rows = draw(st.integers(min_value=0, max_value=30))
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True))
    arrays, fields = [], []
    for name in names:
        value_type, values = _KINDS[draw(st.sampled_from(sorted(_KINDS)))]
        if draw(st.booleans()):
            cell = st.none() | st.lists(values, max_size=4)
            column_type = pa.list_(value_type)
        else:
            cell = st.none() | values
            column_type = value_type
        data = draw(st.lists(cell, min_size=num_rows, max_size=num_rows))
        arrays.append(pa.array(data, column_type))
        fields.append(pa.field(name, column_type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


@settings(max_examples=60, deadline=None)
@given(record_batches())
def test_round_trip_is_identity(batch):
    records = encode_examples(batch)
    assert len(records) == batch.num_rows
    assert decode_examples(records, batch.schema).equals(batch)


@settings(max_examples=40, deadline=None)
@given(record_batches())
def test_c_codec_matches_the_reference_parser(batch):
    records = encode_examples(batch)
    names = batch.schema.names
    reference = decode_python(records, names)
    ours = decode_buffer(b"".join(records), *_spans(records), names)
    for ref, got in zip(reference, ours, strict=True):
        assert ref.name == got.name
        assert ref.counts.tolist() == got.counts.tolist()
        if ref.kind:
            assert ref.kind == got.kind
            if isinstance(ref.values, tuple):
                assert ref.values[0].tolist() == got.values[0].tolist()
                assert ref.values[1].tobytes() == got.values[1].tobytes()
            else:
                np.testing.assert_array_equal(ref.values, got.values)
    assert records == encode_python(feature_columns(batch), batch.num_rows)


def _spans(records):
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    ends = np.cumsum(lengths)
    return ends - lengths, ends


def test_unpacked_lists_repeated_keys_and_unknown_fields_parse_like_protobuf():
    # float_list with unpacked values (wire type 5), int64_list unpacked (wire type 0),
    # an unknown field in Example, and key "k" twice (the last one wins).
    floats = (
        b"\x12\x0c"
        + b"\x12\x0a"
        + b"\x0d"
        + struct.pack("<f", 1.5)
        + b"\x0d"
        + struct.pack("<f", -2.0)
    )
    entry_f = b"\x0a\x01f" + floats
    ints = b"\x1a\x04" + b"\x08\x05\x08\x06"
    entry_k1 = b"\x0a\x01k" + b"\x12\x06" + b"\x1a\x04\x0a\x02\x01\x02"
    entry_k2 = b"\x0a\x01k" + b"\x12\x06" + ints
    features = b"".join(b"\x0a" + bytes([len(e)]) + e for e in (entry_f, entry_k1, entry_k2))
    record = b"\x0a" + bytes([len(features)]) + features + b"\x10\x01"
    batch = decode_examples([record])
    assert batch.column("f").to_pylist() == [[1.5, -2.0]]
    assert batch.column("k").to_pylist() == [[5, 6]]


def test_decode_framed_names_decodes_only_those_features_and_leaves_out_absent_ones():
    from headwater.io.example_codec import decode_framed

    batch = pa.RecordBatch.from_pydict(
        {"a": [1, None, 3], "s": ["x", "y", None], "f": [[1.0], [2.0, 3.0], []]}
    )
    records = encode_examples(batch)
    lengths = np.array([len(r) for r in records])
    ends = np.cumsum(lengths)
    got = decode_framed(b"".join(records), ends - lengths, ends, None, names=["f", "nope", "a"])
    assert got.schema.names == ["f", "a"]
    assert got.equals(decode_examples(records).select(["f", "a"]))
