"""Row-wise mappers on tokens and sparse values (no analysis): ngrams, bag of words, counts.

Under TFT's names and meanings; tokens come as a `tf.SparseTensor` [batch, None] of strings
(e.g. from `tf.strings.split(...).to_sparse()`).
"""

from __future__ import annotations

from typing import Any


def ngrams(tokens: Any, ngram_range: tuple[int, int], separator: str, name: str | None = None):
    """All n-grams of each row's tokens for n in `ngram_range` (inclusive), as a SparseTensor.

    Per row: the unigrams first, then bigrams, ... (tf.strings.ngrams order per n).
    """
    import tensorflow as tf

    lo, hi = ngram_range
    if not 1 <= lo <= hi:
        raise ValueError(f"ngram_range must satisfy 1 <= min <= max, got {ngram_range}")
    ragged = tf.RaggedTensor.from_sparse(tokens)
    parts = [tf.strings.ngrams(ragged, n, separator=separator) for n in range(lo, hi + 1)]
    return tf.concat(parts, axis=1).to_sparse()


def deduplicate_tensor_per_row(input_tensor: Any, name: str | None = None) -> Any:
    """Each row's values without repeats (first occurrence kept, order kept), as sparse."""
    import tensorflow as tf

    if isinstance(input_tensor, tf.SparseTensor):
        sparse = input_tensor
    else:
        dense = tf.convert_to_tensor(input_tensor)
        sparse = tf.RaggedTensor.from_tensor(dense).to_sparse()
    ragged = tf.RaggedTensor.from_sparse(sparse)

    def unique_row(row: Any) -> Any:
        values, _ = tf.unique(row)
        return values

    deduped = tf.map_fn(
        unique_row,
        ragged,
        fn_output_signature=tf.RaggedTensorSpec(shape=[None], dtype=ragged.dtype, ragged_rank=0),
    )
    return deduped.to_sparse()


def bag_of_words(
    tokens: Any, ngram_range: tuple[int, int], separator: str, name: str | None = None
) -> Any:
    """The distinct n-grams of each row (a set of words per row), as a SparseTensor."""
    return deduplicate_tensor_per_row(ngrams(tokens, ngram_range, separator))


def word_count(tokens: Any, name: str | None = None) -> Any:
    """Number of tokens in each row (int64 [batch])."""
    import tensorflow as tf

    if isinstance(tokens, tf.SparseTensor):
        ones = tf.SparseTensor(
            tokens.indices, tf.ones_like(tokens.values, tf.int64), tokens.dense_shape
        )
        return tf.sparse.reduce_sum(ones, axis=1)
    if isinstance(tokens, tf.RaggedTensor):
        return tf.cast(tokens.row_lengths(), tf.int64)
    return tf.fill([tf.shape(tokens)[0]], tf.cast(tf.shape(tokens)[1], tf.int64))


def sparse_tensor_to_dense_with_shape(x: Any, shape: list[int], default_value: Any = 0) -> Any:
    """A SparseTensor [batch, ...] as a dense tensor whose non-batch dims are `shape[1:]`."""
    import tensorflow as tf

    new_shape = tf.concat([x.dense_shape[:1], tf.constant(list(shape[1:]), tf.int64)], axis=0)
    dense = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, new_shape), default_value)
    dense.set_shape([None, *shape[1:]])
    return dense


def tfidf(x: Any, vocab_size: int, smooth: bool = True, name: str | None = None):
    """Per row, the distinct term ids of `x` (SparseTensor of ids < vocab_size) and their
    tf-idf: (count in row / row size) * idf, idf = 1 + log((N + 1) / (df + 1)) (smooth) or
    1 + log(N / df), N the number of rows and df the rows holding the term, over the dataset.
    Returns `(index, weights)` SparseTensors, terms in order of first appearance (TFT's).
    """
    import tensorflow as tf

    from headwater.transform import analyzers

    rows = x.indices[:, 0]
    ids = tf.cast(x.values, tf.int64)
    keys, position = tf.unique(rows * vocab_size + ids)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(ids, tf.float64), position, tf.size(keys))
    key_rows, key_ids = keys // vocab_size, keys % vocab_size
    num_rows = x.dense_shape[0]
    doc_size = tf.math.unsorted_segment_sum(tf.ones_like(ids, tf.float64), rows, num_rows)
    term_freq = counts / tf.gather(doc_size, key_rows)
    present = tf.math.bincount(key_ids, minlength=vocab_size, maxlength=vocab_size, dtype=tf.int64)
    scope = name or "tfidf"
    df = tf.cast(
        analyzers.sum(tf.reshape(present, [1, vocab_size]), reduce_instance_dims=False, name=scope),
        tf.float64,
    )
    corpus = tf.cast(analyzers.size(tf.ones([num_rows]), name=scope), tf.float64)
    if smooth:
        idf = 1.0 + tf.math.log((corpus + 1.0) / (df + 1.0))
    else:
        idf = 1.0 + tf.math.log(corpus / df)
    weights = term_freq * tf.gather(idf, key_ids)

    def as_sparse(values: Any) -> Any:
        return tf.RaggedTensor.from_value_rowids(values, key_rows, nrows=num_rows).to_sparse()

    return as_sparse(key_ids), as_sparse(tf.cast(weights, tf.float32))


__all__ = [
    "bag_of_words",
    "deduplicate_tensor_per_row",
    "ngrams",
    "sparse_tensor_to_dense_with_shape",
    "tfidf",
    "word_count",
]
