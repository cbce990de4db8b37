"""vocabulary(labels=...): tokens ranked by mutual information with the label, checked against
an independent numpy computation from a contingency table built token by token."""

from __future__ import annotations

from math import comb

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.transform.mutual_information import MutualInformationVocabularyCombiner

N = 3000
TOKENS = np.array(["a", "b", "c", "d", "e", "f"])


def _mi_bits(tokens: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """MI between the indicator 'occurrence is t' and the label, straight from the definition."""
    out = {}
    total = weights.sum()
    for t in np.unique(tokens):
        mi = 0.0
        for is_t in (True, False):
            for c in np.unique(labels):
                joint = weights[(tokens == t) == is_t][labels[(tokens == t) == is_t] == c].sum()
                p_xy = joint / total
                p_x = weights[(tokens == t) == is_t].sum() / total
                p_y = weights[labels == c].sum() / total
                if p_xy > 0:
                    mi += p_xy * np.log2(p_xy / (p_x * p_y))
        out[str(t)] = mi
    return out


def _ranked(mi: dict[str, float], counts: dict[str, float], threshold: float, top_k: int):
    kept = [(m, t) for t, m in mi.items() if counts[t] >= threshold]
    return [t for _, t in sorted(kept, reverse=True)[:top_k]]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import tensorflow as tf

    import headwater.transform as tft

    rng = np.random.default_rng(11)
    label = rng.integers(0, 3, N)
    # "a" mostly with label 0, "b" with label 2, the rest close to independent of the label.
    tok = rng.choice(TOKENS, N, p=[0.15, 0.15, 0.2, 0.2, 0.2, 0.1])
    tok = np.where((label == 0) & (rng.random(N) < 0.3), "a", tok)
    tok = np.where((label == 2) & (rng.random(N) < 0.1), "b", tok)
    weight = rng.uniform(0.5, 2.0, N).astype(np.float32)
    tags = [list(rng.choice(TOKENS[:4], int(rng.integers(0, 3)))) for _ in range(N)]
    tags = [t + ["a"] * int(lab == 1) for t, lab in zip(tags, label, strict=True)]
    batches = pa.table(
        {
            "tok": tok,
            "label": pa.array(label, pa.int64()),
            "w": weight,
            "tags": pa.array(tags, pa.list_(pa.string())),
        }
    ).to_batches(max_chunksize=1000)
    spec = {
        "tok": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "w": tf.io.FixedLenFeature([], tf.float32),
        "tags": tf.io.VarLenFeature(tf.string),
    }

    def fn(inputs):
        tok, lab = inputs["tok"], inputs["label"]
        tft.vocabulary(tok, labels=lab, store_frequency=True, vocab_filename="mi_all")
        tft.vocabulary(tok, labels=lab, top_k=3, frequency_threshold=400, vocab_filename="mi_top")
        tft.vocabulary(tok, labels=lab, weights=inputs["w"], vocab_filename="mi_weighted")
        tft.vocabulary(inputs["tags"], labels=lab, store_frequency=True, vocab_filename="mi_tags")
        tft.vocabulary(
            tok,
            labels=lab,
            use_adjusted_mutual_info=True,
            store_frequency=True,
            vocab_filename="ami",
        )
        return {"tok_id": tft.compute_and_apply_vocabulary(tok, labels=lab, top_k=2)}

    out_dir = str(tmp_path_factory.mktemp("mi") / "o")
    out, tft_output = tft.analyze_and_transform_dataset(batches, spec, fn, out_dir)
    return tok, label, weight, tags, pa.Table.from_batches(out), tft_output


def _freq_file(tft_output, name):
    with open(tft_output.vocabulary_file_by_name(name), "rb") as f:
        lines = f.read().decode().splitlines()
    pairs = [line.split(" ", 1) for line in lines]
    return [t for _, t in pairs], np.asarray([float(m) for m, _ in pairs])


def test_tokens_ranked_by_mutual_information(data):
    tok, label, _, _, _, tft_output = data
    expected = _mi_bits(tok, label, np.ones(N))
    tokens, mi = _freq_file(tft_output, "mi_all")
    assert tokens == _ranked(expected, {t: 1 for t in expected}, 0, 10)
    np.testing.assert_allclose(mi, [expected[t] for t in tokens], rtol=1e-9, atol=1e-12)
    assert tokens[0] == "a"


def test_top_k_and_frequency_threshold(data):
    tok, label, _, _, _, tft_output = data
    counts = {t: float((tok == t).sum()) for t in np.unique(tok)}
    expected = _ranked(_mi_bits(tok, label, np.ones(N)), counts, 400, 3)
    assert tft_output.vocabulary_by_name("mi_top") == [t.encode() for t in expected]


def test_weighted_mutual_information(data):
    tok, label, weight, _, _, tft_output = data
    mi = _mi_bits(tok, label, weight.astype(np.float64))
    expected = _ranked(mi, {t: 1 for t in mi}, 0, 10)
    assert tft_output.vocabulary_by_name("mi_weighted") == [t.encode() for t in expected]


def test_sparse_tokens_take_their_row_label(data):
    _, label, _, tags, _, tft_output = data
    flat = np.asarray([t for row in tags for t in row])
    flat_labels = np.asarray([lab for row, lab in zip(tags, label, strict=True) for _ in row])
    expected = _mi_bits(flat, flat_labels, np.ones(flat.size))
    tokens, mi = _freq_file(tft_output, "mi_tags")
    assert tokens == _ranked(expected, {t: 1 for t in expected}, 0, 10)
    np.testing.assert_allclose(mi, [expected[t] for t in tokens], rtol=1e-9, atol=1e-12)


def _expected_mi_bits(tokens: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """E[MI] under independence: every cell from its exact hypergeometric law (math.comb)."""
    n = tokens.size
    out = {}
    for t in np.unique(tokens):
        a = int((tokens == t).sum())
        emi = 0.0
        for c in np.unique(labels):
            b = int((labels == c).sum())
            for k in range(max(0, a + b - n), min(a, b) + 1):
                p = comb(b, k) * comb(n - b, a - k) / comb(n, a)
                for cell, row in ((k, a), (b - k, n - a)):
                    if cell > 0:
                        emi += p * cell / n * np.log2(cell * n / (row * b))
        out[str(t)] = emi
    return out


def test_adjusted_mutual_information_subtracts_the_chance_level(data):
    tok, label, _, _, _, tft_output = data
    mi = _mi_bits(tok, label, np.ones(N))
    emi = _expected_mi_bits(tok, label)
    ami = {t: mi[t] - emi[t] for t in mi}
    tokens, values = _freq_file(tft_output, "ami")
    assert tokens == _ranked(ami, {t: 1 for t in ami}, 0, 10)
    np.testing.assert_allclose(values, [ami[t] for t in tokens], rtol=1e-7, atol=1e-10)
    assert all(emi[t] > 0 for t in emi)


def test_apply_vocabulary_uses_the_mi_ranking(data):
    tok, label, _, _, out, _ = data
    top2 = _ranked(_mi_bits(tok, label, np.ones(N)), {t: 1 for t in TOKENS}, 0, 2)
    expected = [top2.index(t) if t in top2 else -1 for t in tok]
    assert out.column("tok_id").to_pylist() == expected


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 2)), min_size=1, max_size=30),
        min_size=1,
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_accumulators_merge_in_any_order(parts, rnd):
    c = MutualInformationVocabularyCombiner(None, 0.0, False, True, 0.0)

    def acc(pairs):
        toks = np.asarray([t.encode() for t, _ in pairs], dtype=object)
        return c.add_input(c.create_accumulator(), [toks, np.asarray([lab for _, lab in pairs])])

    accs = [acc(p) for p in parts]
    shuffled = list(accs)
    rnd.shuffle(shuffled)
    one_pass = c.extract_output(acc([x for p in parts for x in p]))
    for merged in (c.merge_accumulators(accs), c.merge_accumulators(shuffled)):
        out = c.extract_output(merged)
        assert list(out[0]) == list(one_pass[0])
        np.testing.assert_allclose(out[1], one_pass[1], rtol=1e-12, atol=1e-15)
