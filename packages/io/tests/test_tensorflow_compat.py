"""Byte compatibility with real TensorFlow, both ways (TensorFlow is imported only here)."""

import numpy as np
import pyarrow as pa
import pytest

from headwater.io import decode_examples, encode_examples, read_tfrecord, write_tfrecord


@pytest.fixture(scope="module")
def tf():
    # TensorFlow is headwater-io's `tensorflow` extra (and a workspace dev dependency).
    return pytest.importorskip("tensorflow")


def _batch():
    return pa.RecordBatch.from_pydict(
        {
            "i": pa.array([1, -(2**63), 2**63 - 1, None], pa.int64()),
            "f": pa.array([0.5, -1e30, float("inf"), 3.25], pa.float32()),
            "s": pa.array(["a", "ünï", "", "x" * 300], pa.string()),
            "li": pa.array([[1, 2, 3], [], None, [-5]], pa.list_(pa.int64())),
            "lf": pa.array([[1.5, 2.5], None, [], [0.0]], pa.list_(pa.float32())),
            "lb": pa.array([[b"\x00\xff"], [b"a", b"bc"], None, []], pa.list_(pa.binary())),
        }
    )


def test_tf_parses_what_headwater_writes(tf):
    records = encode_examples(_batch())
    spec = {
        "i": tf.io.FixedLenFeature([], tf.int64, default_value=7),
        "f": tf.io.FixedLenFeature([], tf.float32),
        "s": tf.io.FixedLenFeature([], tf.string),
        "li": tf.io.VarLenFeature(tf.int64),
        "lf": tf.io.VarLenFeature(tf.float32),
        "lb": tf.io.VarLenFeature(tf.string),
    }
    parsed = tf.io.parse_example(tf.constant(records), spec)
    assert parsed["i"].numpy().tolist() == [1, -(2**63), 2**63 - 1, 7]
    np.testing.assert_array_equal(parsed["f"].numpy(), np.array([0.5, -1e30, np.inf, 3.25], "f4"))
    assert [v.decode() for v in parsed["s"].numpy()] == ["a", "ünï", "", "x" * 300]
    li = tf.sparse.to_dense(parsed["li"]).numpy().tolist()
    assert li == [[1, 2, 3], [0, 0, 0], [0, 0, 0], [-5, 0, 0]]
    assert parsed["lb"].values.numpy().tolist() == [b"\x00\xff", b"a", b"bc"]
    assert parsed["lf"].indices.numpy()[:, 0].tolist() == [0, 0, 3]


def test_headwater_bytes_equal_tf_serialization(tf):
    batch = pa.RecordBatch.from_pydict({"a": [3], "b": [[1.5, 2.0]], "c": [b"xy"]})
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "a": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
                "b": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5, 2.0])),
                "c": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"xy"])),
            }
        )
    )
    ours = tf.train.Example.FromString(encode_examples(batch)[0])
    assert ours == example


def _tf_examples(tf):
    def feature(kind, values):
        if kind == "i":
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        if kind == "f":
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    rows = [
        {"n": ("i", [-1]), "v": ("f", [0.25, 4.0]), "t": ("b", [b"caf\xc3\xa9"])},
        {"v": ("f", []), "t": ("b", [b"z"]), "n": ("i", [2**40])},
        {"n": ("i", [0]), "t": ("b", [b""])},
    ]
    return [
        tf.train.Example(
            features=tf.train.Features(feature={k: feature(*kv) for k, kv in row.items()})
        ).SerializeToString()
        for row in rows
    ]


def test_headwater_decodes_what_tf_writes(tf):
    batch = decode_examples(_tf_examples(tf))
    assert batch.column("n").to_pylist() == [-1, 2**40, 0]
    assert batch.column("v").to_pylist() == [[0.25, 4.0], [], None]
    assert batch.column("t").to_pylist() == ["café", "z", ""]
    assert batch.schema.field("v").type == pa.list_(pa.float32())


@pytest.mark.parametrize("compression", ["GZIP", ""])
def test_read_tfrecord_reads_tf_record_writer_files(tf, tmp_path, compression):
    path = str(tmp_path / "tf.tfrecord")
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression)) as writer:
        for record in _tf_examples(tf):
            writer.write(record)
    batch = next(read_tfrecord(path))
    assert batch.column("n").to_pylist() == [-1, 2**40, 0]


def test_tf_data_reads_headwater_tfrecord_files(tf, tmp_path):
    batch = _batch()
    paths = write_tfrecord([batch], str(tmp_path / "data_tfrecord"), compression="gzip")
    dataset = tf.data.TFRecordDataset(paths, compression_type="GZIP")
    records = [r.numpy() for r in dataset]
    assert records == encode_examples(batch)


def _tf_feature(tf, value, kind):
    if kind is None:
        return tf.train.Feature()
    values = [] if value is None else value if isinstance(value, list) else [value]
    if kind == "i":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if kind == "f":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    values = [v.encode() if isinstance(v, str) else v for v in values]
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def test_partition_keys_are_tfs_deterministic_serialization(tf):
    from headwater.io.splits import partition_keys

    batch = _batch()
    batch = (
        batch.append_column("nothing", pa.nulls(batch.num_rows))
        .append_column("Upper", pa.array([1.0, None, 2.0, None], pa.float64()))
        .append_column("ss", pa.array(["x", None, "", "y"]))  # "s" is a prefix of "ss"
    )
    kinds = {"i": "i", "f": "f", "s": "b", "li": "i", "lf": "f", "lb": "b", "nothing": None}
    kinds |= {"Upper": "f", "ss": "b"}
    rows = batch.to_pylist()
    expected = [
        tf.train.Example(
            features=tf.train.Features(
                feature={k: _tf_feature(tf, row[k], kinds[k]) for k in batch.schema.names}
            )
        ).SerializeToString(deterministic=True)
        for row in rows
    ]
    assert partition_keys(batch) == expected
    for name in ("i", "s", "lb", "nothing"):
        features = [_tf_feature(tf, row[name], kinds[name]) for row in rows]
        want = [f.SerializeToString(deterministic=True) for f in features]
        assert partition_keys(batch, name) == want, name


def test_canonical_record_hash_is_the_hash_of_tfs_deterministic_serialization(tf):
    import hashlib
    import random

    from headwater.io.example_wire import span_buckets

    rng = random.Random(3)
    records, expected = [], []
    for i in range(300):
        keys = ["a", "ab", "b", "B", "ü", "long_name_" * 3, "long", "", "z9"]
        names = rng.sample(keys, rng.randint(0, 7))
        example = tf.train.Example()
        if i % 50 == 7:
            records.append(b"")  # an empty Example
        else:
            for name in names:
                feature = example.features.feature[name]
                kind = rng.choice("ifb")
                if kind == "i":
                    feature.int64_list.value.extend(rng.randint(-(2**40), 2**40) for _ in range(3))
                elif kind == "f":
                    feature.float_list.value.extend([rng.random()] * rng.randint(0, 2))
                else:
                    feature.bytes_list.value.append(bytes([rng.randint(0, 255)]) * i)
            records.append(example.SerializeToString())
            if names and i % 3 == 0:
                # A repeated key: protobuf keeps the last, so must the hash.
                again = tf.train.Example()
                again.features.feature[names[0]].int64_list.value.append(i)
                records[-1] += again.SerializeToString()
                example.MergeFrom(again)
                example.features.feature[names[0]].CopyFrom(again.features.feature[names[0]])
        canonical = tf.train.Example.FromString(records[-1]).SerializeToString(deterministic=True)
        expected.append(int.from_bytes(hashlib.sha256(canonical).digest(), "big") % 1000003)
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    ends = np.cumsum(lengths)
    got = span_buckets(b"".join(records), ends - lengths, ends, 1000003, canonical=True)
    assert got.tolist() == expected
