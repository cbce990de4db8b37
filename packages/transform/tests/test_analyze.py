"""Analyzer values and mapper outputs of the plain driver, checked against numpy."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def _raw(batches, name):
    return pa.Table.from_batches(batches).column(name)


def test_analyzer_values_match_numpy(batches, analyzed):
    table, _ = analyzed
    x = _raw(batches, "x").to_numpy().astype(np.float64)
    assert _col(table, "stat_min")[0] == np.float32(x.min())
    assert _col(table, "stat_max")[0] == np.float32(x.max())
    np.testing.assert_allclose(_col(table, "stat_sum")[0], x.sum(), rtol=1e-6)
    assert _col(table, "stat_size")[0] == x.size
    np.testing.assert_allclose(_col(table, "stat_mean")[0], x.mean(), rtol=1e-6)
    np.testing.assert_allclose(_col(table, "stat_var")[0], x.var(), rtol=1e-5)
    assert _col(table, "stat_median")[0] == np.float32(np.quantile(x, 0.5, method="inverted_cdf"))
    pct = np.stack(table.column("stat_pct").to_numpy(zero_copy_only=False))[0]
    np.testing.assert_array_equal(
        pct, np.quantile(x, [0.1, 0.9], method="inverted_cdf").astype(np.float32)
    )
    vals = np.concatenate([v for v in _raw(batches, "vals").to_pylist() if v])
    np.testing.assert_allclose(_col(table, "stat_mean_vals")[0], vals.mean(), rtol=1e-5)


def test_count_per_key_counts_each_key(batches, analyzed):
    table, _ = analyzed
    s = np.asarray(_raw(batches, "s").to_pylist(), dtype=object)
    uniq, counts = np.unique(s, return_counts=True)
    expected = dict(zip(uniq, counts, strict=True))
    assert list(_col(table, "stat_count_s")) == [expected[v] for v in s]


def test_scalers_match_numpy(batches, analyzed):
    table, _ = analyzed
    x = _raw(batches, "x").to_numpy().astype(np.float64)
    np.testing.assert_allclose(_col(table, "z"), (x - x.mean()) / x.std(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        _col(table, "z01"), (x - x.min()) / (x.max() - x.min()), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        _col(table, "mm"), (x - x.min()) / (x.max() - x.min()) * 2 - 1, rtol=1e-5, atol=1e-6
    )


def test_sparse_z_score_keeps_structure(batches, analyzed):
    table, _ = analyzed
    raw = _raw(batches, "vals").to_pylist()
    flat = np.concatenate([v for v in raw if v]).astype(np.float64)
    out = table.column("vals_z").to_pylist()
    assert [len(r) for r in out] == [len(r) for r in raw]
    got = np.concatenate([r for r in out if r])
    np.testing.assert_allclose(got, (flat - flat.mean()) / flat.std(), rtol=1e-4, atol=1e-5)


def test_bucketize_uses_quantile_boundaries(batches, analyzed):
    table, output = analyzed
    x = _raw(batches, "x").to_numpy()
    boundaries = np.quantile(x.astype(np.float64), [0.2, 0.4, 0.6, 0.8], method="inverted_cdf")
    expected = np.searchsorted(boundaries.astype(np.float32), x, side="right")
    np.testing.assert_array_equal(_col(table, "b"), expected)
    assert output.num_buckets_for_transformed_feature("b") == 5
    np.testing.assert_array_equal(_col(table, "ab"), np.searchsorted([0.0, 5.0], x, side="right"))


def test_nested_analyzer_buckets_the_z_score(analyzed):
    table, output = analyzed
    z = _col(table, "z").astype(np.float64)
    boundaries = np.quantile(z, [0.25, 0.5, 0.75], method="inverted_cdf").astype(np.float32)
    np.testing.assert_array_equal(_col(table, "bz"), np.searchsorted(boundaries, z, side="right"))
    assert output.num_buckets_for_transformed_feature("bz") == 4


def test_vocabularies_are_ordered_filtered_and_applied(batches, analyzed):
    table, output = analyzed
    s = _raw(batches, "s").to_pylist()
    uniq, counts = np.unique([v for v in s if v], return_counts=True)
    order = sorted(zip(counts, uniq, strict=True), reverse=True)
    vocab = [t.encode() for _, t in order]
    assert output.vocabulary_by_name("s_vocab") == vocab
    assert output.vocabulary_by_name("s_top") == vocab[:2]
    assert output.vocabulary_by_name("s_approx") == vocab[:3]  # small data: exact
    assert output.vocabulary_by_name("s_freq") == [b"%d %s" % (c, t.encode()) for c, t in order]
    index = {t.decode(): i for i, t in enumerate(vocab)}
    s_id = _col(table, "s_id")
    for value, got in zip(s, s_id, strict=True):
        if value:
            assert got == index[value]
        else:
            assert len(vocab) <= got < len(vocab) + 2  # '' is not in the vocabulary: an OOV bucket
    top = {t.decode(): i for i, t in enumerate(vocab[:2])}
    assert list(_col(table, "s_top")) == [top.get(v, -1) for v in s]
    assert output.num_buckets_for_transformed_feature("s_id") == len(vocab) + 2
    assert os.path.basename(output.vocabulary_file_by_name("s_top")) == "s_top"


def test_weighted_vocabulary_uses_summed_weights(batches, analyzed):
    _, output = analyzed
    s = _raw(batches, "s").to_pylist()
    w = _raw(batches, "w").to_numpy().astype(np.float64)
    sums: dict[str, float] = {}
    for v, wt in zip(s, w, strict=True):
        if v:
            sums[v] = sums.get(v, 0.0) + float(np.float32(wt))
    expected = [
        t.encode() for c, t in sorted(((c, t) for t, c in sums.items()), reverse=True) if c >= 20.0
    ]
    assert output.vocabulary_by_name("s_weighted") == expected


def test_integer_and_sparse_vocabularies(batches, analyzed):
    table, output = analyzed
    k = _raw(batches, "k").to_numpy()
    vocab = [int(t) for t in output.vocabulary_by_name("k_vocab")]
    uniq, counts = np.unique(k, return_counts=True)
    assert vocab == [int(t) for _, t in sorted(zip(counts, uniq, strict=True), reverse=True)]
    assert list(_col(table, "k_id")) == [vocab.index(v) for v in k]
    tags_vocab = [t.decode() for t in output.vocabulary_by_name("tags")]
    raw_tags = _raw(batches, "tags").to_pylist()
    assert table.column("tags_id").to_pylist() == [
        [tags_vocab.index(t) for t in row] for row in raw_tags
    ]


def test_transformed_schema_and_layout(analyzed):
    import tensorflow as tf

    _, output = analyzed
    for sub in (
        "transform_fn/saved_model.pb",
        "transformed_metadata/schema.pbtxt",
        "metadata/schema.pbtxt",
        "transform_fn/assets/s_vocab",
    ):
        assert os.path.exists(os.path.join(output.transform_output_dir, sub)), sub
    spec = output.transformed_feature_spec()
    assert spec["z"] == tf.io.FixedLenFeature([], tf.float32)
    assert spec["tags_id"] == tf.io.VarLenFeature(tf.int64)
    assert spec["stat_pct"] == tf.io.FixedLenFeature([2], tf.float32)
    assert set(output.raw_feature_spec()) == {"x", "s", "k", "w", "tags", "vals", "opt"}


def test_z_score_per_key_uses_each_keys_statistics(batches, analyzed):
    table, _ = analyzed
    x = _raw(batches, "x").to_numpy().astype(np.float64)
    s = np.asarray(_raw(batches, "s").to_pylist(), dtype=object)
    want = np.empty_like(x)
    for key in set(s):
        m = s == key
        want[m] = (x[m] - x[m].mean()) / x[m].std()
    np.testing.assert_allclose(_col(table, "z_per_key"), want, rtol=1e-4, atol=1e-5)


def test_0_1_per_key_uses_each_keys_range(batches, analyzed):
    table, _ = analyzed
    x = _raw(batches, "x").to_numpy().astype(np.float64)
    s = np.asarray(_raw(batches, "s").to_pylist(), dtype=object)
    want = np.empty_like(x)
    for key in set(s):
        m = s == key
        want[m] = (x[m] - x[m].min()) / (x[m].max() - x[m].min())
    np.testing.assert_allclose(_col(table, "u_per_key"), want, rtol=1e-5, atol=1e-6)
