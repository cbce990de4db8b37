"""Full-pass analyzers under TFT's names: each records its input and returns its result tensor.

Called inside a preprocessing_fn, an analyzer returns a tensor that holds, when the transform
graph runs, the value reduced over the whole dataset (a mean, a vocabulary file, quantile
boundaries). The reduction itself is done by `headwater.transform.combiners`.
"""

from __future__ import annotations

import builtins
from typing import Any

from headwater.transform import _tracing
from headwater.transform.errors import AnalyzerError


def _values(x: Any, what: str) -> Any:
    """The values of a dense, sparse or ragged tensor, flattened for a whole-dataset reduce."""
    import tensorflow as tf

    if isinstance(x, tf.SparseTensor):
        return x.values
    if isinstance(x, tf.RaggedTensor):
        return x.flat_values
    if not isinstance(x, tf.Tensor):
        x = tf.convert_to_tensor(x)
    return x


def _instance_shape(x: Any, reduce_instance_dims: bool, what: str) -> list[int]:
    """The per-instance shape reduced to when `reduce_instance_dims` is False."""
    import tensorflow as tf

    if reduce_instance_dims:
        return []
    if isinstance(x, tf.SparseTensor | tf.RaggedTensor):
        raise AnalyzerError(
            f"{what} with reduce_instance_dims=False needs a dense tensor, got {type(x).__name__}"
        )
    dims = x.shape[1:]
    if not dims.is_fully_defined():
        raise AnalyzerError(
            f"{what} with reduce_instance_dims=False needs a known instance shape, got {x.shape}"
        )
    return [int(d) for d in dims]


def _input(x: Any, reduce_instance_dims: bool, what: str) -> tuple[Any, list[int]]:
    shape = _instance_shape(x, reduce_instance_dims, what)
    return (x if not reduce_instance_dims else _values(x, what)), shape


def _min_and_max(x: Any, reduce_instance_dims: bool = True, name: str | None = None) -> Any:
    """Smallest and largest value of `x` over the dataset (NaN ignored)."""
    v, shape = _input(x, reduce_instance_dims, "min/max")
    dtype = v.dtype
    if not (dtype.is_floating or dtype.is_integer):
        raise AnalyzerError(f"min/max needs a numeric tensor, got {dtype.name}")
    return _tracing.add_analyzer(
        "min_max",
        [v],
        {"reduce_instance_dims": reduce_instance_dims, "dtype": dtype.name, "shape": shape},
        [(dtype, shape), (dtype, shape)],
        name or "min_and_max",
    )


def min(x: Any, reduce_instance_dims: bool = True, name: str | None = None) -> Any:
    """The smallest value of `x` over the dataset."""
    return _min_and_max(x, reduce_instance_dims, name or "min")[0]


def max(x: Any, reduce_instance_dims: bool = True, name: str | None = None) -> Any:
    """The largest value of `x` over the dataset."""
    return _min_and_max(x, reduce_instance_dims, name or "max")[1]


def sum(x: Any, reduce_instance_dims: bool = True, name: str | None = None) -> Any:
    """The sum of `x` over the dataset (float32 stays float32, integers sum as int64)."""
    import tensorflow as tf

    v, shape = _input(x, reduce_instance_dims, "sum")
    out = v.dtype if v.dtype.is_floating else tf.int64
    return _tracing.add_analyzer(
        "sum",
        [v],
        {"reduce_instance_dims": reduce_instance_dims, "dtype": out.name, "shape": shape},
        [(out, shape)],
        name or "sum",
    )[0]


def size(x: Any, reduce_instance_dims: bool = True, name: str | None = None) -> Any:
    """The number of values of `x` over the dataset (per instance dim if not reduced)."""
    import tensorflow as tf

    v, shape = _input(x, reduce_instance_dims, "size")
    return _tracing.add_analyzer(
        "size",
        [v],
        {"reduce_instance_dims": reduce_instance_dims, "shape": shape},
        [(tf.int64, shape)],
        name or "size",
    )[0]


def _mean_and_var(
    x: Any,
    reduce_instance_dims: bool = True,
    name: str | None = None,
    output_dtype: Any = None,
) -> Any:
    """Mean and population variance of `x` over the dataset (NaN ignored)."""
    import tensorflow as tf

    v, shape = _input(x, reduce_instance_dims, "mean/var")
    if output_dtype is None:
        output_dtype = tf.float64 if v.dtype == tf.float64 else tf.float32
    return _tracing.add_analyzer(
        "mean_var",
        [v],
        {
            "reduce_instance_dims": reduce_instance_dims,
            "output_dtype": output_dtype.name,
            "shape": shape,
        },
        [(output_dtype, shape), (output_dtype, shape)],
        name or "mean_and_var",
    )


def mean(
    x: Any, reduce_instance_dims: bool = True, name: str | None = None, output_dtype: Any = None
) -> Any:
    """The mean of `x` over the dataset."""
    return _mean_and_var(x, reduce_instance_dims, name or "mean", output_dtype)[0]


def var(
    x: Any, reduce_instance_dims: bool = True, name: str | None = None, output_dtype: Any = None
) -> Any:
    """The population variance of `x` over the dataset."""
    return _mean_and_var(x, reduce_instance_dims, name or "var", output_dtype)[1]


def _tukey_parameters(
    x: Any, reduce_instance_dims: bool = True, output_dtype: Any = None, name: str | None = None
) -> Any:
    """Location, scale, hl and hr of x as a Tukey HH variable, from its L-moments."""
    import tensorflow as tf

    v, shape = _input(x, reduce_instance_dims, "Tukey HH parameters")
    if not (v.dtype.is_floating or v.dtype.is_integer):
        raise AnalyzerError(f"Tukey HH parameters need a numeric tensor, got {v.dtype.name}")
    if output_dtype is None:
        output_dtype = tf.float64 if v.dtype == tf.float64 else tf.float32
    width = 1
    for d in shape:
        width *= d
    return _tracing.add_analyzer(
        "tukey_hh",
        [tf.reshape(tf.cast(v, tf.float64), [-1, width] if shape else [-1])],
        {"output_dtype": output_dtype.name, "shape": shape},
        [(output_dtype, shape)] * 4,
        name or "tukey_parameters",
    )


def tukey_location(
    x: Any, reduce_instance_dims: bool = True, output_dtype: Any = None, name: str | None = None
) -> Any:
    """The location of x as a Tukey HH variable ((x - location) / scale is Tukey HH)."""
    return _tukey_parameters(x, reduce_instance_dims, output_dtype, name or "tukey_location")[0]


def tukey_scale(
    x: Any, reduce_instance_dims: bool = True, output_dtype: Any = None, name: str | None = None
) -> Any:
    """The scale of x as a Tukey HH variable."""
    return _tukey_parameters(x, reduce_instance_dims, output_dtype, name or "tukey_scale")[1]


def tukey_h_params(
    x: Any, reduce_instance_dims: bool = True, output_dtype: Any = None, name: str | None = None
) -> Any:
    """The left and right tail parameters (hl, hr) of x as a Tukey HH variable."""
    params = _tukey_parameters(x, reduce_instance_dims, output_dtype, name or "tukey_h_params")
    return params[2], params[3]


def _quantile_analyzer(
    x: Any, qs: list[float], epsilon: float, weights: Any, dedupe: bool, name: str
) -> Any:
    import tensorflow as tf

    v = tf.cast(_values(x, name), tf.float64)
    inputs = [v]
    if weights is not None:
        inputs.append(tf.cast(_values(weights, name), tf.float64))
    dtype = _values(x, name).dtype
    out_dtype = dtype if dtype.is_floating else tf.float32
    (result,) = _tracing.add_analyzer(
        "quantiles",
        inputs,
        {"qs": list(qs), "epsilon": float(epsilon), "dedupe": dedupe},
        [(tf.float64, [None])],
        name,
    )
    return tf.cast(result, out_dtype)


def quantiles(
    x: Any,
    num_buckets: int,
    epsilon: float = 0.001,
    weights: Any = None,
    reduce_instance_dims: bool = True,
    name: str | None = None,
) -> Any:
    """Boundaries splitting `x` into `num_buckets` parts of equal weight, shape [1, n<=k-1]
    (duplicates removed), or [d, k-1] per column of a [batch, d] x without reduce_instance_dims.

    The rank of each boundary is within the certified error (at most `epsilon` of the data)
    of its target i/num_buckets; duplicate boundaries are removed.
    """
    import tensorflow as tf

    if num_buckets < 1:
        raise AnalyzerError(f"quantiles needs num_buckets >= 1, got {num_buckets}")
    qs = [i / num_buckets for i in range(1, num_buckets)]
    if not reduce_instance_dims:
        if weights is not None:
            raise AnalyzerError("quantiles(reduce_instance_dims=False) takes no weights yet")
        x = tf.convert_to_tensor(x)
        if x.shape.rank != 2 or x.shape[1] is None:
            raise AnalyzerError(
                f"quantiles(reduce_instance_dims=False) needs a dense [batch, d] tensor, got "
                f"{x.shape}"
            )
        dim = int(x.shape[1])
        (result,) = _tracing.add_analyzer(
            "quantiles",
            [tf.cast(x, tf.float64)],
            {"qs": qs, "epsilon": float(epsilon), "dedupe": False, "dim": dim},
            [(tf.float64, [dim, len(qs)])],
            name or "quantiles",
        )
        return tf.cast(result, x.dtype if x.dtype.is_floating else tf.float32)
    result = _quantile_analyzer(x, qs, epsilon, weights, True, name or "quantiles")
    return tf.reshape(result, [1, -1])


def percentile(
    x: Any, percentiles: list[float], epsilon: float = 0.001, name: str | None = None
) -> Any:
    """Values of `x` at the given percentiles (0..100) over the dataset, shape [len]."""
    for p in percentiles:
        if not 0.0 <= p <= 100.0:
            raise AnalyzerError(f"percentile needs values in [0, 100], got {p!r}")
    return _quantile_analyzer(
        x, [p / 100.0 for p in percentiles], epsilon, None, False, name or "percentile"
    )


def median(x: Any, epsilon: float = 0.001, name: str | None = None) -> Any:
    """The median of `x` over the dataset (the lower median for an even count)."""
    import tensorflow as tf

    return tf.reshape(percentile(x, [50.0], epsilon, name or "median"), [])


def vocabulary(
    x: Any,
    top_k: int | None = None,
    frequency_threshold: float | None = None,
    vocab_filename: str | None = None,
    store_frequency: bool = False,
    weights: Any = None,
    labels: Any = None,
    file_format: str = "text",
    name: str | None = None,
    capacity: int | None = None,
    use_adjusted_mutual_info: bool = False,
    min_diff_from_avg: float | None = None,
) -> Any:
    """A vocabulary file of `x`'s tokens by descending count; returns its path (a tensor).

    Ties are broken by token, descending; empty tokens and tokens with newlines are dropped.
    With `store_frequency`, lines are "<count> <token>" (for reading, not for apply_vocabulary).
    With integer `labels` (one per value of x, or one per row), tokens are ranked by their mutual
    information with the label instead (`frequency_threshold` still applies to counts, and
    `store_frequency` writes the MI); `use_adjusted_mutual_info` subtracts the MI expected by
    chance.
    """
    import tensorflow as tf

    if use_adjusted_mutual_info and (labels is None or weights is not None):
        raise AnalyzerError(
            "vocabulary(use_adjusted_mutual_info=True) needs labels and no weights "
            "(the chance correction counts whole occurrences)"
        )
    if labels is not None and capacity is not None:
        raise AnalyzerError("approximate_vocabulary takes no labels")
    if file_format != "text":
        raise AnalyzerError(f"vocabulary file_format must be 'text', got {file_format!r}")
    if top_k is not None and top_k < 0:
        raise AnalyzerError(f"vocabulary top_k must be >= 0, got {top_k}")
    v = _values(x, "vocabulary")
    if not (v.dtype == tf.string or v.dtype.is_integer):
        raise AnalyzerError(f"vocabulary needs a string or integer tensor, got {v.dtype.name}")
    if v.dtype.is_integer and v.dtype != tf.int64:
        v = tf.cast(v, tf.int64)
    state = _tracing.current("vocabulary")
    scope = name or "vocabulary"
    filename = vocab_filename or f"vocab_{scope}_{len(state.analyzers)}"
    filename = filename.replace("/", "_")
    if filename in state.vocab_names:
        raise AnalyzerError(f"two vocabularies are named {filename!r}; pass distinct names")
    state.vocab_names.add(filename)
    inputs = [tf.reshape(v, [-1])]
    if labels is not None:
        inputs.append(_labels_per_value(x, labels))
    if weights is not None:
        inputs.append(tf.reshape(tf.cast(_values(weights, "vocabulary"), tf.float64), [-1]))
    kind = "vocabulary" if capacity is None else "approximate_vocabulary"
    (path,) = _tracing.add_analyzer(
        "mutual_information_vocabulary" if labels is not None else kind,
        inputs,
        {
            "capacity": capacity,
            "store_frequency": store_frequency,
            "top_k": top_k,
            "frequency_threshold": float(frequency_threshold or 0.0),
            "has_weights": weights is not None,
            "filter_tokens": v.dtype == tf.string,
            "vocab_filename": filename,
            "min_diff_from_avg": float(min_diff_from_avg or 0.0),
            "use_adjusted_mutual_info": use_adjusted_mutual_info,
        },
        [(tf.string, [])],
        scope,
    )
    return path


def _labels_per_value(x: Any, labels: Any) -> Any:
    """The label of every value of x, flat int64: labels shaped like x, or one per row."""
    import tensorflow as tf

    lab = _values(labels, "vocabulary labels")
    if not (lab.dtype.is_integer or lab.dtype.is_bool or lab.dtype.is_floating):
        raise AnalyzerError(f"vocabulary labels must be integers, got {lab.dtype.name}")
    lab = tf.cast(lab, tf.int64)
    if isinstance(x, tf.SparseTensor):
        row_labels = tf.reshape(lab, [-1])
        per_value = tf.gather(row_labels, x.indices[:, 0])
        same = tf.equal(tf.size(lab, out_type=tf.int64), tf.size(x.values, out_type=tf.int64))
        return tf.cond(same, lambda: row_labels, lambda: per_value)
    if isinstance(x, tf.RaggedTensor):
        row_labels = tf.reshape(lab, [-1])
        return tf.gather(row_labels, x.value_rowids())
    x = tf.convert_to_tensor(x)
    if labels.shape.rank == 1 and x.shape.rank == 2:
        lab = tf.broadcast_to(lab[:, None], tf.shape(x))
    return tf.reshape(lab, [-1])


def approximate_vocabulary(
    x: Any,
    top_k: int,
    vocab_filename: str | None = None,
    store_frequency: bool = False,
    weights: Any = None,
    file_format: str = "text",
    name: str | None = None,
    capacity: int | None = None,
) -> Any:
    """The `top_k` most frequent tokens, kept in bounded memory (huge cardinalities).

    A Misra-Gries summary of `capacity` counters (default max(10 * top_k, 10000)) holds every
    token whose weight exceeds total / (capacity + 1); counts are low by at most that much.
    """
    if top_k < 1:
        raise AnalyzerError(f"approximate_vocabulary top_k must be >= 1, got {top_k}")
    return vocabulary(
        x,
        top_k=top_k,
        vocab_filename=vocab_filename,
        store_frequency=store_frequency,
        weights=weights,
        file_format=file_format,
        name=name or "approximate_vocabulary",
        capacity=capacity or builtins.max(10 * top_k, 10_000),
    )


def count_per_key(key: Any, key_vocabulary_filename: str | None = None, name: str | None = None):
    """Distinct keys of `key` and how many times each occurs, as two tensors [n]."""
    import tensorflow as tf

    if key_vocabulary_filename is not None:
        raise AnalyzerError("count_per_key(key_vocabulary_filename=...) is not supported yet")
    v = _values(key, "count_per_key")
    if v.dtype.is_integer and v.dtype != tf.int64:
        v = tf.cast(v, tf.int64)
    keys, counts = _tracing.add_analyzer(
        "count_per_key",
        [tf.reshape(v, [-1])],
        {"top_k": None, "frequency_threshold": 0.0, "filter_tokens": False},
        [(v.dtype, [None]), (tf.float64, [None])],
        name or "count_per_key",
    )
    return keys, tf.cast(counts, tf.int64)


def _mean_and_var_per_key(
    x: Any, key: Any, name: str | None = None, output_dtype: Any = None
) -> Any:
    """Distinct keys (sorted) with the mean and population variance of x per key."""
    return _per_key("mean_var_per_key", x, key, name or "mean_and_var_per_key", output_dtype)


def _min_and_max_per_key(
    x: Any, key: Any, name: str | None = None, output_dtype: Any = None
) -> Any:
    """Distinct keys (sorted) with the min and max of x per key."""
    return _per_key("min_max_per_key", x, key, name or "min_and_max_per_key", output_dtype)


def _per_key(kind: str, x: Any, key: Any, name: str, output_dtype: Any) -> Any:
    import tensorflow as tf

    xv, kv = _values(x, kind), _values(key, kind)
    if kv.dtype.is_integer and kv.dtype != tf.int64:
        kv = tf.cast(kv, tf.int64)
    if output_dtype is None:
        output_dtype = tf.float64 if xv.dtype == tf.float64 else tf.float32
    return _tracing.add_analyzer(
        kind,
        [tf.reshape(kv, [-1]), tf.reshape(tf.cast(xv, tf.float64), [-1])],
        {"output_dtype": output_dtype.name},
        [(kv.dtype, [None]), (output_dtype, [None]), (output_dtype, [None])],
        name,
    )


def histogram(
    x: Any,
    boundaries: Any = None,
    categorical: bool = False,
    name: str | None = None,
) -> Any:
    """Counts of x over the dataset: `(hist, boundaries)`.

    Numeric: hist[i] counts values in [boundaries[i], boundaries[i+1]) (the last bucket also
    takes values >= the last boundary, the first values below the first), with 10 equal-width
    buckets between the dataset's min and max when `boundaries` is None (a nested pass).
    Categorical: `(counts, values)` per distinct value, most frequent first.
    """
    import tensorflow as tf

    if categorical:
        v = _values(x, "histogram")
        keys, counts = count_per_key(v, name=name or "histogram")
        order = tf.argsort(counts, direction="DESCENDING", stable=True)
        return tf.gather(counts, order), tf.gather(keys, order)
    v = tf.cast(tf.reshape(_values(x, "histogram"), [-1]), tf.float64)
    if boundaries is None:
        lo, hi = _min_and_max(v, name=name or "histogram")
        boundaries = tf.linspace(lo, hi, 11)
    b = tf.cast(tf.reshape(tf.convert_to_tensor(boundaries), [-1]), tf.float64)
    num = tf.size(b, out_type=tf.int64) - 1
    static = b.shape[0]
    if static is None:
        raise AnalyzerError("histogram needs boundaries of a known length")
    idx = tf.clip_by_value(
        tf.searchsorted(b, v, side="right", out_type=tf.int64) - 1, 0, tf.maximum(num - 1, 0)
    )
    counts = tf.math.bincount(idx, minlength=static - 1, maxlength=static - 1, dtype=tf.int64)
    counts = tf.reshape(counts, [static - 1])
    hist = sum(counts[None, :], reduce_instance_dims=False, name=name or "histogram")
    return hist, b


def covariance(x: Any, dtype: Any = None, name: str | None = None) -> Any:
    """The population covariance matrix [d, d] of the rows of a dense [N, d] tensor."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    if x.shape.rank != 2 or x.shape[1] is None:
        raise AnalyzerError(
            f"covariance needs a dense [batch, d] tensor with known d, got {x.shape}"
        )
    dtype = dtype or (tf.float64 if x.dtype == tf.float64 else tf.float32)
    dim = int(x.shape[1])
    (result,) = _tracing.add_analyzer(
        "covariance",
        [tf.cast(x, tf.float64)],
        {"dim": dim, "output_dtype": dtype.name},
        [(dtype, [dim, dim])],
        name or "covariance",
    )
    return result


def pca(x: Any, output_dim: int, dtype: Any = None, name: str | None = None) -> Any:
    """The [d, output_dim] matrix of the top principal directions of x's rows (by variance).

    Multiply centered rows by it to project: `tf.matmul(x, pca(x, k))`.
    """
    import tensorflow as tf

    cov = covariance(x, dtype, name or "pca")
    if output_dim < 1 or output_dim > int(cov.shape[0]):
        raise AnalyzerError(f"pca output_dim must be in [1, {cov.shape[0]}], got {output_dim}")
    _, vectors = tf.linalg.eigh(cov)  # ascending eigenvalues
    return tf.reverse(vectors, axis=[1])[:, :output_dim]


__all__ = [
    "approximate_vocabulary",
    "count_per_key",
    "covariance",
    "max",
    "mean",
    "median",
    "min",
    "pca",
    "percentile",
    "quantiles",
    "size",
    "sum",
    "var",
    "vocabulary",
]
