"""tf.Example codec: round trips and the Arrow convention, without TensorFlow."""

import numpy as np
import pyarrow as pa
import pytest

from headwater.io import InputError, decode_examples, encode_examples


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
