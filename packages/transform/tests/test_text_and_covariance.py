"""Token mappers (ngrams, bag of words, counts, dedup) and covariance / PCA vs numpy."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

TEXTS = ["the cat sat", "the the dog", "", "a b a b"]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    import tensorflow as tf

    import headwater.transform as tft

    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, len(TEXTS) * 50).astype(np.float32)
    b = (2 * a + rng.normal(0, 0.5, a.size)).astype(np.float32)
    batch = pa.record_batch(
        {
            "text": TEXTS * 50,
            "a": a,
            "b": b,
            "ids": pa.array([[1, 1, 2]] * 200, pa.list_(pa.int64())),
        }
    )
    spec = {
        "text": tf.io.FixedLenFeature([], tf.string),
        "a": tf.io.FixedLenFeature([], tf.float32),
        "b": tf.io.FixedLenFeature([], tf.float32),
        "ids": tf.io.VarLenFeature(tf.int64),
    }

    def fn(inputs):
        tokens = tf.strings.split(inputs["text"]).to_sparse()
        ab = tf.stack([inputs["a"], inputs["b"]], axis=1)
        ones = tf.ones_like(inputs["a"])[:, None, None]
        return {
            "bigrams": tft.ngrams(tokens, (1, 2), " "),
            "bag": tft.bag_of_words(tokens, (1, 1), " "),
            "count": tft.word_count(tokens),
            "dedup": tft.deduplicate_tensor_per_row(inputs["ids"]),
            "dense_ids": tft.sparse_tensor_to_dense_with_shape(inputs["ids"], [None, 4], -1),
            "cov": ones * tft.covariance(ab),
            "pc": ones[:, :, :1] * tft.pca(ab, 1),
            "hist": tf.cast(ones[:, 0], tf.int64)
            * tft.histogram(inputs["a"], [-1.0, 0.0, 1.0])[0][None, :],
            "hist10": tf.cast(ones[:, 0], tf.int64) * tft.histogram(inputs["a"])[0][None, :],
            "bq": tft.bucketize(ab, 4, elementwise=True),
        }

    (out,), _ = tft.analyze_and_transform_dataset(
        [batch], spec, fn, str(tmp_path_factory.mktemp("text") / "o")
    )
    return batch, out


def test_ngrams_bag_of_words_and_counts(result):
    _, out = result
    rows = out.slice(0, len(TEXTS)).to_pylist()
    assert [r["bigrams"] for r in rows] == [
        [b"the", b"cat", b"sat", b"the cat", b"cat sat"],
        [b"the", b"the", b"dog", b"the the", b"the dog"],
        [],
        [b"a", b"b", b"a", b"b", b"a b", b"b a", b"a b"],
    ]
    assert [r["bag"] for r in rows] == [
        [b"the", b"cat", b"sat"],
        [b"the", b"dog"],
        [],
        [b"a", b"b"],
    ]
    assert [r["count"] for r in rows] == [3, 3, 0, 4]
    assert rows[0]["dedup"] == [1, 2]
    assert rows[0]["dense_ids"] == [1, 1, 2, -1]


def test_covariance_and_pca_match_numpy(result):
    batch, out = result
    ab = np.stack([batch.column("a").to_numpy(), batch.column("b").to_numpy()], 1).astype(float)
    cov = np.cov(ab, rowvar=False, bias=True)
    got = np.asarray(out.column("cov")[0].as_py(), float).reshape(2, 2)
    np.testing.assert_allclose(got, cov, rtol=1e-5)
    top = np.linalg.eigh(cov)[1][:, -1]
    pc = np.asarray(out.column("pc")[0].as_py(), float).reshape(2)
    np.testing.assert_allclose(np.abs(pc), np.abs(top), rtol=1e-4)


def test_histogram_counts_match_numpy(result):
    batch, out = result
    a = batch.column("a").to_numpy().astype(np.float64)
    want = [np.count_nonzero(a < 0), np.count_nonzero(a >= 0)]  # clipped into 2 buckets
    assert out.column("hist")[0].as_py() == want
    edges = np.linspace(a.min(), a.max(), 11)
    counts, _ = np.histogram(a, edges)
    assert out.column("hist10")[0].as_py() == counts.tolist()


def test_ragged_inputs_transform_and_serve(tmp_path):
    import tensorflow as tf

    import headwater.transform as tft

    spec = {"vals": tf.io.RaggedFeature(tf.float32, row_splits_dtype=tf.int64)}
    batch = pa.record_batch({"vals": pa.array([[1.0, 2.0], [], [3.0]], pa.list_(pa.float32()))})

    def fn(inputs):
        return {"vz": tft.scale_to_z_score(inputs["vals"])}

    (out,), output = tft.analyze_and_transform_dataset([batch], spec, fn, str(tmp_path / "o"))
    z = (np.array([1.0, 2.0, 3.0]) - 2.0) / np.std([1.0, 2.0, 3.0])
    got = out.column("vz").to_pylist()
    assert [len(r) for r in got] == [2, 0, 1]
    np.testing.assert_allclose(np.concatenate([r for r in got if r]), z, rtol=1e-6)
    serve = tf.saved_model.load(output.transform_savedmodel_dir).signatures["serving_default"]
    example = tf.train.Example(
        features=tf.train.Features(
            feature={"vals": tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 2.0]))}
        )
    )
    served = serve(examples=tf.constant([example.SerializeToString()]))["vz"]
    assert served.to_list() == [got[0]]


def test_tfidf_matches_tfts_documented_example(tmp_path):
    import math

    import tensorflow as tf

    import headwater.transform as tft

    spec = {"ids": tf.io.VarLenFeature(tf.int64)}
    batch = pa.record_batch({"ids": pa.array([[1, 2, 0, 0, 0], [3, 3, 0]], pa.list_(pa.int64()))})

    def fn(inputs):
        index, weights = tft.tfidf(inputs["ids"], 4)
        return {"index": index, "weights": weights}

    (out,), _ = tft.analyze_and_transform_dataset([batch], spec, fn, str(tmp_path / "o"))
    assert out.column("index").to_pylist() == [[1, 2, 0], [3, 0]]
    idf_once = math.log(3 / 2) + 1
    want = [[idf_once / 5, idf_once / 5, 3 / 5], [2 / 3 * idf_once, 1 / 3]]
    for got_row, want_row in zip(out.column("weights").to_pylist(), want, strict=True):
        np.testing.assert_allclose(got_row, want_row, rtol=1e-6)


def test_elementwise_bucketize_uses_each_columns_quantiles(result):
    batch, out = result
    got = np.asarray(out.column("bq").to_pylist())
    for j, name in enumerate(("a", "b")):
        col = batch.column(name).to_numpy()
        edges = np.quantile(col.astype(np.float64), [0.25, 0.5, 0.75], method="inverted_cdf")
        np.testing.assert_array_equal(got[:, j], np.searchsorted(edges, col, side="right"))
