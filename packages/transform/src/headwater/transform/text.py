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


__all__ = [
    "bag_of_words",
    "deduplicate_tensor_per_row",
    "ngrams",
    "sparse_tensor_to_dense_with_shape",
    "word_count",
]
