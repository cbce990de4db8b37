"""tf_dataset_factory reads tf.Example TFRecord and Parquet splits into the same batches."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.io import InputError, write_parquet, write_tfrecord
from headwater.orchestration.training import DataAccessor, FnArgs, TensorFlowDatasetOptions

tf = pytest.importorskip("tensorflow")

N = 250


def _table() -> pa.RecordBatch:
    rng = np.random.default_rng(7)
    x = rng.normal(size=N).astype(np.float32)
    tags = [list(range(i % 3)) for i in range(N)]  # 0, 1 or 2 values: multivalent
    return pa.RecordBatch.from_pydict(
        {
            "x": pa.array(x, pa.float32()),
            "k": pa.array(np.arange(N, dtype=np.int64)),
            "s": pa.array([f"v{i % 5}" for i in range(N)]),
            "tags": pa.array(tags, pa.list_(pa.int64())),
            "label": pa.array(np.arange(N, dtype=np.int64) % 3),
        }
    )


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("examples")
    batch = _table()
    halves = [batch.slice(0, 100), batch.slice(100)]
    os.makedirs(root / "tfrecord")
    os.makedirs(root / "parquet")
    write_tfrecord(halves, str(root / "tfrecord" / "data_tfrecord"), num_shards=2)
    write_parquet(halves, str(root / "parquet" / "data"), num_shards=2)
    return {"tfrecord": str(root / "tfrecord" / "*"), "parquet": str(root / "parquet")}


def _schema() -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    for name, kind in [("x", schema_pb2.FLOAT), ("k", schema_pb2.INT), ("s", schema_pb2.BYTES)]:
        feature = schema.feature.add(name=name, type=kind)
        feature.shape.dim.add(size=1)
    schema.feature.add(name="tags", type=schema_pb2.INT)  # no shape: sparse
    schema.feature.add(name="label", type=schema_pb2.INT).shape.dim.add(size=1)
    return schema


def _collect(dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
    xs, ks, ss, labels, tags = [], [], [], [], []
    for features, label in dataset:
        xs.append(features["x"].numpy()[:, 0])
        ks.append(features["k"].numpy()[:, 0])
        ss.append(features["s"].numpy()[:, 0])
        labels.append(label.numpy()[:, 0])
        dense = tf.sparse.to_dense(features["tags"], default_value=-1).numpy()
        tags.extend([tuple(v for v in row if v != -1) for row in dense])
        assert "label" not in features
    order = np.argsort(np.concatenate(ks))
    return {
        "x": np.concatenate(xs)[order],
        "k": np.concatenate(ks)[order],
        "s": np.concatenate(ss)[order],
        "label": np.concatenate(labels)[order],
        "tags": np.array(tags, dtype=object)[order],
    }


@pytest.mark.parametrize("payload", ["tfrecord", "parquet"])
def test_every_example_is_read_once_per_epoch_with_its_label(
    splits: dict[str, str], payload: str
) -> None:
    options = TensorFlowDatasetOptions(32, num_epochs=1, label_key="label", shuffle_seed=1)
    got = _collect(DataAccessor().tf_dataset_factory([splits[payload]], options, _schema()))
    want = _table()
    np.testing.assert_array_equal(got["k"], np.arange(N))
    np.testing.assert_array_equal(got["x"], want.column("x").to_numpy())
    np.testing.assert_array_equal(got["s"], [f"v{i % 5}".encode() for i in range(N)])
    np.testing.assert_array_equal(got["label"], np.arange(N) % 3)
    assert list(got["tags"]) == [tuple(range(i % 3)) for i in range(N)]


@pytest.mark.parametrize("payload", ["tfrecord", "parquet"])
def test_batches_are_shuffled_and_repeat_forever_by_default(
    splits: dict[str, str], payload: str
) -> None:
    options = TensorFlowDatasetOptions(50, label_key="label", shuffle_seed=3)
    dataset = DataAccessor().tf_dataset_factory(splits[payload], options, _schema())
    keys = np.concatenate([f["k"].numpy()[:, 0] for f, _ in dataset.take(3 * N // 50)])
    assert len(keys) == 3 * N
    assert not np.array_equal(keys[:N], np.arange(N))
    for epoch in range(3):  # each pass holds every example exactly once
        np.testing.assert_array_equal(np.sort(keys[epoch * N : (epoch + 1) * N]), np.arange(N))


@pytest.mark.parametrize("payload", ["tfrecord", "parquet"])
def test_without_a_schema_univalent_features_are_dense(
    splits: dict[str, str], payload: str
) -> None:
    options = TensorFlowDatasetOptions(N, num_epochs=1, shuffle=False, label_key="label")
    features, label = next(iter(DataAccessor().tf_dataset_factory(splits[payload], options)))
    assert features["x"].shape == (N, 1)
    assert features["s"].dtype == tf.string
    assert isinstance(features["tags"], tf.SparseTensor)
    assert label.shape == (N, 1)


def test_unknown_label_key_names_the_features(splits: dict[str, str]) -> None:
    options = TensorFlowDatasetOptions(8, label_key="species")
    with pytest.raises(
        InputError, match=r"label_key 'species'.*\['k', 'label', 's', 'tags', 'x'\]"
    ):
        DataAccessor().tf_dataset_factory(splits["tfrecord"], options, _schema())


def test_a_pattern_matching_nothing_is_named(tmp_path: os.PathLike[str]) -> None:
    pattern = os.path.join(tmp_path, "Split-train", "*")
    with pytest.raises(FileNotFoundError, match="Split-train"):
        DataAccessor().tf_dataset_factory([pattern], TensorFlowDatasetOptions(8))


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        TensorFlowDatasetOptions(0)


def test_fn_args_keeps_tfx_names() -> None:
    fn_args = FnArgs(train_files=["a/*"], serving_model_dir="m", hyperparameters={"values": {}})
    assert fn_args.train_files == ["a/*"]
    assert fn_args.eval_files == []
    assert fn_args.transform_output is None
    assert fn_args.custom_config == {}
