"""Mappers under TFT's names: row-wise TensorFlow ops, most of them fed by an analyzer.

Each works on dense tensors, and on the values of sparse and ragged tensors (keeping their
structure), so multivalent features transform like univalent ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.transform import _tracing, analyzers
from headwater.transform.errors import AnalyzerError


def _map_values(x: Any, fn: Callable[[Any], Any]) -> Any:
    """Apply `fn` to the values of a dense, sparse or ragged tensor, keeping its structure."""
    import tensorflow as tf

    if isinstance(x, tf.SparseTensor):
        return tf.SparseTensor(x.indices, fn(x.values), x.dense_shape)
    if isinstance(x, tf.RaggedTensor):
        return x.with_flat_values(fn(x.flat_values))
    return fn(tf.convert_to_tensor(x))


def _float(x: Any, output_dtype: Any = None) -> Any:
    """x as float32 (float64 stays float64 unless `output_dtype` says otherwise)."""
    import tensorflow as tf

    def cast(v: Any) -> Any:
        target = output_dtype or (tf.float64 if v.dtype == tf.float64 else tf.float32)
        return tf.cast(v, target)

    return _map_values(x, cast)


def _dense_only(x: Any, what: str) -> None:
    import tensorflow as tf

    if isinstance(x, tf.SparseTensor | tf.RaggedTensor):
        raise AnalyzerError(f"{what} with elementwise=True needs a dense tensor")


def scale_to_z_score(
    x: Any, elementwise: bool = False, name: str | None = None, output_dtype: Any = None
) -> Any:
    """(x - mean) / stddev over the dataset; x - mean where the variance is 0."""
    import tensorflow as tf

    if elementwise:
        _dense_only(x, "scale_to_z_score")
    xf = _float(x, output_dtype)
    mean, var = analyzers._mean_and_var(
        xf, reduce_instance_dims=not elementwise, name=name or "scale_to_z_score"
    )

    def scale(v: Any) -> Any:
        m = tf.cast(mean, v.dtype)
        s = tf.cast(var, v.dtype)
        dev = v - m
        return tf.where(s > 0, dev / tf.sqrt(tf.where(s > 0, s, tf.ones_like(s))), dev)

    return _map_values(xf, scale)


def scale_to_gaussian(
    x: Any, elementwise: bool = False, name: str | None = None, output_dtype: Any = None
) -> Any:
    """Values mapped to approximately N(0, 1) by the inverse of the Tukey HH transformation
    fitted to the dataset's L-moments (TFT's method).

    A long tail is pulled in by the inverse Tukey h transformation; a light tail (L-kurtosis at
    most the normal's) is only shifted and scaled, and with no data the values are unchanged.
    """
    from headwater.transform.gaussianization import inverse_tukey_hh

    if elementwise:
        _dense_only(x, "scale_to_gaussian")
    xf = _float(x, output_dtype)
    loc, scale, hl, hr = analyzers._tukey_parameters(
        xf, reduce_instance_dims=not elementwise, name=name or "scale_to_gaussian"
    )

    def gaussianize(v: Any) -> Any:
        u = (v - _cast_like(loc, v)) / _cast_like(scale, v)
        return inverse_tukey_hh(u, hl, hr)

    return _map_values(xf, gaussianize)


def _cast_like(value: Any, like: Any) -> Any:
    """`value` cast to the dtype of `like`."""
    import tensorflow as tf

    return tf.cast(value, like.dtype)


def scale_to_z_score_per_key(
    x: Any,
    key: Any,
    elementwise: bool = False,
    key_vocabulary_filename: str | None = None,
    name: str | None = None,
    output_dtype: Any = None,
) -> Any:
    """(x - mean[key]) / stddev[key] with per-key dataset statistics; x - mean where the
    variance is 0; values of keys unseen in the analysis are left as they are."""
    import tensorflow as tf

    if elementwise or key_vocabulary_filename is not None:
        raise AnalyzerError(
            "scale_to_z_score_per_key supports neither elementwise nor key_vocabulary_filename yet"
        )
    xf = _float(x, output_dtype)
    keys, means, variances = analyzers._mean_and_var_per_key(
        xf, key, name=name or "scale_to_z_score_per_key"
    )
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.range(tf.size(keys, out_type=tf.int64))), -1
    )
    key_values = key.values if isinstance(key, tf.SparseTensor) else tf.convert_to_tensor(key)
    if key_values.dtype.is_integer and key_values.dtype != tf.int64:
        key_values = tf.cast(key_values, tf.int64)

    def scale(v: Any) -> Any:
        # sqrt per key before the gather: a per-row sqrt feeding a division is rewritten by
        # Grappler into rsqrt, whose vectorized and scalar kernels differ in the last bit,
        # which would make a batch and a single serving request disagree.
        stds = tf.sqrt(tf.cast(variances, v.dtype))
        idx = table.lookup(key_values)
        known = idx >= 0
        safe = tf.where(known, idx, tf.zeros_like(idx))
        m = tf.where(known, tf.gather(tf.cast(means, v.dtype), safe), tf.zeros_like(v))
        sd = tf.where(known, tf.gather(stds, safe), tf.ones_like(v))
        dev = v - m
        return tf.where(sd > 0, dev / tf.where(sd > 0, sd, tf.ones_like(sd)), dev)

    return _map_values(xf, scale)


def _key_index(keys: Any, key: Any) -> Any:
    """Row index of each key in the analyzer's sorted keys (-1 for keys never seen)."""
    import tensorflow as tf

    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(keys, tf.range(tf.size(keys, out_type=tf.int64))), -1
    )
    key_values = key.values if isinstance(key, tf.SparseTensor) else tf.convert_to_tensor(key)
    if key_values.dtype.is_integer and key_values.dtype != tf.int64:
        key_values = tf.cast(key_values, tf.int64)
    return table.lookup(key_values)


def scale_by_min_max_per_key(
    x: Any,
    key: Any,
    output_min: float = 0.0,
    output_max: float = 1.0,
    elementwise: bool = False,
    key_vocabulary_filename: str | None = None,
    name: str | None = None,
) -> Any:
    """Map [min[key], max[key]] onto [output_min, output_max]; the sigmoid of x where a key's
    min == max or the key was never seen (TFT's choice for a constant feature)."""
    import tensorflow as tf

    if output_min > output_max:
        raise AnalyzerError(f"output_min {output_min} must be <= output_max {output_max}")
    if elementwise or key_vocabulary_filename is not None:
        raise AnalyzerError(
            "scale_by_min_max_per_key supports neither elementwise nor key_vocabulary_filename yet"
        )
    xf = _float(x)
    keys, lows, highs = analyzers._min_and_max_per_key(
        xf, key, name=name or "scale_by_min_max_per_key"
    )
    idx = _key_index(keys, key)

    def scale(v: Any) -> Any:
        known = idx >= 0
        safe = tf.where(known, idx, tf.zeros_like(idx))
        lo = tf.where(known, tf.gather(tf.cast(lows, v.dtype), safe), tf.zeros_like(v))
        hi = tf.where(known, tf.gather(tf.cast(highs, v.dtype), safe), tf.zeros_like(v))
        span = hi - lo
        ok = span > 0
        unit = tf.where(ok, (v - lo) / tf.where(ok, span, tf.ones_like(span)), tf.sigmoid(v))
        return unit * (output_max - output_min) + output_min

    return _map_values(xf, scale)


def scale_to_0_1_per_key(
    x: Any,
    key: Any,
    elementwise: bool = False,
    key_vocabulary_filename: str | None = None,
    name: str | None = None,
) -> Any:
    """Map [min[key], max[key]] onto [0, 1]."""
    return scale_by_min_max_per_key(
        x, key, 0.0, 1.0, elementwise, key_vocabulary_filename, name or "scale_to_0_1_per_key"
    )


def scale_by_min_max(
    x: Any,
    output_min: float = 0.0,
    output_max: float = 1.0,
    elementwise: bool = False,
    name: str | None = None,
) -> Any:
    """Linearly map [min, max] of the dataset onto [output_min, output_max].

    Where min == max (a constant feature or no data), TFT's choice is kept: the sigmoid of x,
    scaled to the output range.
    """
    import tensorflow as tf

    if output_min > output_max:
        raise AnalyzerError(f"output_min {output_min} must be <= output_max {output_max}")
    if elementwise:
        _dense_only(x, "scale_by_min_max")
    xf = _float(x)
    lo, hi = analyzers._min_and_max(
        xf, reduce_instance_dims=not elementwise, name=name or "scale_by_min_max"
    )

    def scale(v: Any) -> Any:
        lo_v, hi_v = tf.cast(lo, v.dtype), tf.cast(hi, v.dtype)
        span = hi_v - lo_v
        ok = span > 0
        unit = tf.where(ok, (v - lo_v) / tf.where(ok, span, tf.ones_like(span)), tf.sigmoid(v))
        return unit * (output_max - output_min) + output_min

    return _map_values(xf, scale)


def scale_to_0_1(x: Any, elementwise: bool = False, name: str | None = None) -> Any:
    """Linearly map [min, max] of the dataset onto [0, 1]."""
    return scale_by_min_max(x, 0.0, 1.0, elementwise, name or "scale_to_0_1")


def apply_buckets(x: Any, bucket_boundaries: Any, name: str | None = None) -> Any:
    """Bucket index of each value: the number of boundaries <= it (int64)."""
    import tensorflow as tf

    boundaries = tf.reshape(tf.convert_to_tensor(bucket_boundaries), [-1])

    def bucket(v: Any) -> Any:
        b = tf.cast(boundaries, tf.float64)
        flat = tf.reshape(tf.cast(v, tf.float64), [-1])
        idx = tf.searchsorted(b, flat, side="right", out_type=tf.int64)
        return tf.reshape(idx, tf.shape(v, out_type=tf.int64))

    return _map_values(x, bucket)


def bucketize(
    x: Any,
    num_buckets: int,
    epsilon: float | None = None,
    weights: Any = None,
    elementwise: bool = False,
    name: str | None = None,
) -> Any:
    """Bucket index by dataset quantiles: about num_buckets buckets of equal weight."""
    if num_buckets < 1:
        raise AnalyzerError(f"bucketize needs num_buckets >= 1, got {num_buckets}")
    if elementwise:
        import tensorflow as tf

        _dense_only(x, "bucketize")
        per_column = analyzers.quantiles(
            x,
            num_buckets,
            epsilon or 0.001,
            reduce_instance_dims=False,
            name=name or "bucketize",
        )
        xt = tf.transpose(tf.cast(x, tf.float64))  # [d, batch]
        idx = tf.searchsorted(tf.cast(per_column, tf.float64), xt, side="right", out_type=tf.int64)
        out = tf.transpose(idx)
        out.set_shape(x.shape)
        return out
    boundaries = analyzers.quantiles(
        x, num_buckets, epsilon or 0.001, weights=weights, name=name or "bucketize"
    )
    out = apply_buckets(x, boundaries)
    _annotate(out, boundaries, "buckets")
    return out


def _annotate(out: Any, analyzer_result: Any, kind: str, extra: int = 0) -> None:
    import tensorflow as tf

    target = out.values if isinstance(out, tf.SparseTensor) else out
    if isinstance(out, tf.RaggedTensor):
        target = out.flat_values
    source = analyzer_result
    # Follow casts/reshapes back to the analyzer placeholder.
    while source.op.type in ("Cast", "Reshape", "Identity"):
        source = source.op.inputs[0]
    _tracing.annotate(target, source, kind, extra)


def apply_vocabulary(
    x: Any,
    deferred_vocab_filename_tensor: Any,
    default_value: int = -1,
    num_oov_buckets: int = 0,
    lookup_fn: Any = None,
    file_format: str = "text",
    name: str | None = None,
) -> Any:
    """Index of each token in a vocabulary file; OOV tokens hash into `num_oov_buckets` after
    the vocabulary, or take `default_value` when there are none."""
    import tensorflow as tf

    if lookup_fn is not None:
        raise AnalyzerError("apply_vocabulary(lookup_fn=...) is not supported yet")
    if file_format != "text":
        raise AnalyzerError(f"apply_vocabulary file_format must be 'text', got {file_format!r}")
    values_dtype = (
        x.values
        if isinstance(x, tf.SparseTensor)
        else tf.convert_to_tensor(x)
        if not isinstance(x, tf.RaggedTensor)
        else x.flat_values
    ).dtype
    key_dtype = tf.string if values_dtype == tf.string else tf.int64
    init = tf.lookup.TextFileInitializer(
        deferred_vocab_filename_tensor,
        key_dtype,
        tf.lookup.TextFileIndex.WHOLE_LINE,
        tf.int64,
        tf.lookup.TextFileIndex.LINE_NUMBER,
    )
    if num_oov_buckets > 0:
        table: Any = tf.lookup.StaticVocabularyTable(init, num_oov_buckets)
    else:
        table = tf.lookup.StaticHashTable(init, default_value)

    def lookup(v: Any) -> Any:
        ids = table.lookup(tf.cast(v, tf.int64) if key_dtype == tf.int64 else v)
        ids.set_shape(v.shape)
        return ids

    out = _map_values(x, lookup)
    _annotate(out, deferred_vocab_filename_tensor, "vocabulary", num_oov_buckets)
    return out


def compute_and_apply_vocabulary(
    x: Any,
    default_value: int = -1,
    top_k: int | None = None,
    frequency_threshold: float | None = None,
    num_oov_buckets: int = 0,
    vocab_filename: str | None = None,
    weights: Any = None,
    labels: Any = None,
    file_format: str = "text",
    name: str | None = None,
    use_adjusted_mutual_info: bool = False,
    min_diff_from_avg: float | None = None,
) -> Any:
    """Build a vocabulary of `x` over the dataset and map each token to its index."""
    path = analyzers.vocabulary(
        x,
        top_k=top_k,
        frequency_threshold=frequency_threshold,
        vocab_filename=vocab_filename,
        weights=weights,
        labels=labels,
        file_format=file_format,
        name=name or "compute_and_apply_vocabulary",
        use_adjusted_mutual_info=use_adjusted_mutual_info,
        min_diff_from_avg=min_diff_from_avg,
    )
    return apply_vocabulary(x, path, default_value=default_value, num_oov_buckets=num_oov_buckets)


def hash_strings(
    strings: Any, hash_buckets: int, key: list[int] | None = None, name: str | None = None
) -> Any:
    """Bucket each string by hash (FarmHash64, or keyed SipHash with `key`), as TFT does."""
    import tensorflow as tf

    if hash_buckets < 1:
        raise AnalyzerError(f"hash_strings needs hash_buckets >= 1, got {hash_buckets}")

    def hash_(v: Any) -> Any:
        if key is None:
            return tf.strings.to_hash_bucket_fast(v, hash_buckets)
        return tf.strings.to_hash_bucket_strong(v, hash_buckets, key)

    return _map_values(strings, hash_)


__all__ = [
    "apply_buckets",
    "apply_vocabulary",
    "bucketize",
    "compute_and_apply_vocabulary",
    "hash_strings",
    "scale_by_min_max",
    "scale_by_min_max_per_key",
    "scale_to_0_1",
    "scale_to_0_1_per_key",
    "scale_to_gaussian",
    "scale_to_z_score",
    "scale_to_z_score_per_key",
]
