"""One small mixed dataset and a preprocessing_fn using every mapper, analyzed once per run."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

N = 400


def make_batches() -> list[pa.RecordBatch]:
    rng = np.random.default_rng(42)
    x = rng.normal(5.0, 3.0, N).astype(np.float32)
    s = rng.choice(["apple", "banana", "cherry", "date", ""], N, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    k = rng.integers(0, 6, N)
    w = rng.uniform(0.0, 2.0, N).astype(np.float32)
    tags = [list(rng.choice(["red", "green", "blue"], int(rng.integers(0, 3)))) for _ in range(N)]
    vals = [list(rng.normal(0, 1, int(rng.integers(0, 4))).astype(np.float32)) for _ in range(N)]
    opt = pa.array([None if i % 7 == 0 else float(i) for i in range(N)], pa.float32())
    table = pa.table(
        {
            "x": x,
            "s": pa.array(s),
            "k": pa.array(k, pa.int64()),
            "w": w,
            "tags": pa.array(tags, pa.list_(pa.string())),
            "vals": pa.array(vals, pa.list_(pa.float32())),
            "opt": opt,
        }
    )
    return table.to_batches(max_chunksize=150)


def feature_spec():
    import tensorflow as tf

    return {
        "x": tf.io.FixedLenFeature([], tf.float32),
        "s": tf.io.FixedLenFeature([], tf.string),
        "k": tf.io.FixedLenFeature([], tf.int64),
        "w": tf.io.FixedLenFeature([], tf.float32),
        "tags": tf.io.VarLenFeature(tf.string),
        "vals": tf.io.VarLenFeature(tf.float32),
        "opt": tf.io.VarLenFeature(tf.float32),
    }


def preprocessing_fn(inputs):
    """Every mapper, nested analyzers, sparse inputs and analyzer values broadcast per row."""
    import tensorflow as tf

    import headwater.transform as tft

    x, s = inputs["x"], inputs["s"]
    ones = tf.ones_like(x)
    z = tft.scale_to_z_score(x)
    keys, counts = tft.count_per_key(s)
    match = tf.equal(keys[None, :], s[:, None])
    tft.vocabulary(s, store_frequency=True, vocab_filename="s_freq")  # a file only
    opt = tf.sparse.to_dense(
        tf.SparseTensor(
            inputs["opt"].indices, inputs["opt"].values, [tf.shape(x, out_type=tf.int64)[0], 1]
        ),
        default_value=-1.0,
    )
    return {
        "z": z,
        "z01": tft.scale_to_0_1(x),
        "mm": tft.scale_by_min_max(x, -1.0, 1.0),
        "b": tft.bucketize(x, 5),
        "bz": tft.bucketize(z, 4, name="nested"),
        "ab": tft.apply_buckets(x, [[0.0, 5.0]]),
        "s_id": tft.compute_and_apply_vocabulary(s, num_oov_buckets=2, vocab_filename="s_vocab"),
        "s_top": tft.compute_and_apply_vocabulary(s, top_k=2, vocab_filename="s_top"),
        "s_w": tft.compute_and_apply_vocabulary(
            s, weights=inputs["w"], frequency_threshold=20.0, vocab_filename="s_weighted"
        ),
        "k_id": tft.compute_and_apply_vocabulary(inputs["k"], vocab_filename="k_vocab"),
        "s_approx": tft.apply_vocabulary(
            s, tft.approximate_vocabulary(s, top_k=3, vocab_filename="s_approx")
        ),
        "tags_id": tft.compute_and_apply_vocabulary(inputs["tags"], vocab_filename="tags"),
        "vals_z": tft.scale_to_z_score(inputs["vals"]),
        "z_per_key": tft.scale_to_z_score_per_key(x, s),
        "u_per_key": tft.scale_to_0_1_per_key(x, s),
        "gauss": tft.scale_to_gaussian(x),
        "s_mi": tft.compute_and_apply_vocabulary(s, labels=inputs["k"], vocab_filename="s_mi"),
        "h": tft.hash_strings(s, 7),
        "hk": tft.hash_strings(s, 7, key=[123, 456]),
        "opt_filled": tf.reshape(opt, [-1]),
        "stat_min": ones * tft.min(x),
        "stat_max": ones * tft.max(x),
        "stat_sum": ones * tft.sum(x),
        "stat_size": tf.cast(ones, tf.int64) * tft.size(x),
        "stat_mean": ones * tft.mean(x),
        "stat_var": ones * tft.var(x),
        "stat_median": ones * tft.median(x),
        "stat_pct": tf.tile(tft.percentile(x, [10.0, 90.0])[None, :], [tf.shape(x)[0], 1]),
        "stat_count_s": tf.reduce_sum(tf.where(match, counts[None, :], 0), axis=1),
        "stat_mean_vals": ones * tft.mean(inputs["vals"]),
    }


@pytest.fixture(scope="session")
def batches() -> list[pa.RecordBatch]:
    return make_batches()


@pytest.fixture(scope="session")
def analyzed(batches, tmp_path_factory):
    """The plain driver's transformed batches and TransformOutput for `preprocessing_fn`."""
    import headwater.transform as tft

    out_dir = str(tmp_path_factory.mktemp("plain") / "transform_output")
    transformed, output = tft.analyze_and_transform_dataset(
        batches, feature_spec(), preprocessing_fn, out_dir
    )
    return pa.Table.from_batches(transformed), output
