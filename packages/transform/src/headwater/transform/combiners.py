"""Mergeable numpy accumulators behind every analyzer (shared by the Beam and plain drivers).

Each combiner has `create_accumulator / add_input / merge_accumulators / extract_output`, the
shape of a Beam CombineFn. `add_input` takes the analyzer's input arrays for one batch, as the
traced graph produced them; `extract_output` returns one numpy array per analyzer result.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headwater.transform.gaussianization import LMomentsCombiner
from headwater.transform.mutual_information import MutualInformationVocabularyCombiner
from headwater.transform.quantiles import ElementwiseQuantilesCombiner, QuantilesCombiner


class TokenCounts(NamedTuple):
    """A batch's distinct tokens and how often each occurs, counted inside the graph (TF's
    UniqueWithCounts), fetched in place of the batch's tokens for an unweighted vocabulary:
    a few distinct values cross into Python instead of one object per row."""

    values: np.ndarray
    counts: np.ndarray


COUNTED_KINDS = ("vocabulary", "approximate_vocabulary", "count_per_key")
"""Analyzer kinds whose single input may be fetched as `TokenCounts`."""


class Combiner(Protocol):
    """What the drivers need from an analyzer's accumulator."""

    def create_accumulator(self) -> Any: ...

    def add_input(self, acc: Any, inputs: list[np.ndarray]) -> Any: ...

    def merge_accumulators(self, accs: list[Any]) -> Any: ...

    def extract_output(self, acc: Any) -> list[np.ndarray]: ...


def _flat(x: np.ndarray, reduce_instance_dims: bool) -> np.ndarray:
    """Values as [N] when reducing everything, else [N, ...] per instance dimension."""
    x = np.asarray(x)
    return x.ravel() if reduce_instance_dims else x


class MinMaxCombiner:
    """Smallest and largest value (NaN ignored); +inf/-inf (or the int range) when empty."""

    def __init__(self, reduce_instance_dims: bool, dtype: str, shape: list[int]) -> None:
        self.reduce = reduce_instance_dims
        self.dtype = np.dtype(dtype)
        self.shape = () if reduce_instance_dims else tuple(shape)

    def _limits(self) -> tuple[Any, Any]:
        if self.dtype.kind == "f":
            return np.inf, -np.inf
        info = np.iinfo(self.dtype)
        return info.max, info.min

    def create_accumulator(self) -> tuple[np.ndarray, np.ndarray]:
        hi, lo = self._limits()
        return np.full(self.shape, hi, self.dtype), np.full(self.shape, lo, self.dtype)

    def add_input(self, acc: Any, inputs: list[np.ndarray]) -> Any:
        x = _flat(inputs[0], self.reduce).astype(self.dtype, copy=False)
        if x.shape[0] == 0:
            return acc
        return np.fmin(acc[0], np.fmin.reduce(x, axis=0)), np.fmax(
            acc[1], np.fmax.reduce(x, axis=0)
        )

    def merge_accumulators(self, accs: list[Any]) -> Any:
        out = self.create_accumulator()
        for lo, hi in accs:
            out = np.fmin(out[0], lo), np.fmax(out[1], hi)
        return out

    def extract_output(self, acc: Any) -> list[np.ndarray]:
        return [np.asarray(acc[0], self.dtype), np.asarray(acc[1], self.dtype)]


class SumCombiner:
    """Sum of values (NaN ignored), in float64 or int64 while accumulating."""

    def __init__(self, reduce_instance_dims: bool, dtype: str, shape: list[int]) -> None:
        self.reduce = reduce_instance_dims
        self.dtype = np.dtype(dtype)
        self.acc_dtype = np.float64 if self.dtype.kind == "f" else np.int64
        self.shape = () if reduce_instance_dims else tuple(shape)

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(self.shape, self.acc_dtype)

    def add_input(self, acc: np.ndarray, inputs: list[np.ndarray]) -> np.ndarray:
        x = _flat(inputs[0], self.reduce).astype(self.acc_dtype, copy=False)
        return acc + (np.nansum(x, axis=0) if self.acc_dtype == np.float64 else x.sum(axis=0))

    def merge_accumulators(self, accs: list[np.ndarray]) -> np.ndarray:
        return sum(accs, self.create_accumulator())

    def extract_output(self, acc: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(acc, self.dtype)]


class SizeCombiner:
    """Number of values (elements, not rows)."""

    def __init__(self, reduce_instance_dims: bool, shape: list[int]) -> None:
        self.reduce = reduce_instance_dims
        self.shape = () if reduce_instance_dims else tuple(shape)

    def create_accumulator(self) -> np.ndarray:
        return np.zeros(self.shape, np.int64)

    def add_input(self, acc: np.ndarray, inputs: list[np.ndarray]) -> np.ndarray:
        x = _flat(inputs[0], self.reduce)
        return acc + (x.size if self.reduce else x.shape[0])

    def merge_accumulators(self, accs: list[np.ndarray]) -> np.ndarray:
        return sum(accs, self.create_accumulator())

    def extract_output(self, acc: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(acc, np.int64)]


class MeanVarCombiner:
    """Count, mean and M2 merged with Chan's formula; outputs mean and population variance."""

    def __init__(self, reduce_instance_dims: bool, output_dtype: str, shape: list[int]) -> None:
        self.reduce = reduce_instance_dims
        self.output_dtype = np.dtype(output_dtype)
        self.shape = () if reduce_instance_dims else tuple(shape)

    def create_accumulator(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = np.zeros(self.shape, np.float64)
        return z, z.copy(), z.copy()

    @staticmethod
    def _combine(a: Any, b: Any) -> Any:
        na, ma, m2a = a
        nb, mb, m2b = b
        n = na + nb
        safe = np.where(n > 0, n, 1.0)
        delta = mb - ma
        mean = ma + delta * nb / safe
        m2 = m2a + m2b + delta * delta * na * nb / safe
        return n, np.where(n > 0, mean, 0.0), np.where(n > 0, m2, 0.0)

    def add_input(self, acc: Any, inputs: list[np.ndarray]) -> Any:
        x = _flat(inputs[0], self.reduce).astype(np.float64, copy=False)
        valid = ~np.isnan(x)
        n = valid.sum(axis=0).astype(np.float64)
        xs = np.where(valid, x, 0.0)
        safe = np.where(n > 0, n, 1.0)
        mean = xs.sum(axis=0) / safe
        m2 = (np.where(valid, x - mean, 0.0) ** 2).sum(axis=0)
        return self._combine(acc, (n, mean, m2))

    def merge_accumulators(self, accs: list[Any]) -> Any:
        out = self.create_accumulator()
        for a in accs:
            out = self._combine(out, a)
        return out

    def extract_output(self, acc: Any) -> list[np.ndarray]:
        n, mean, m2 = acc
        safe = np.where(n > 0, n, 1.0)
        mean_out = np.where(n > 0, mean, np.nan)
        var_out = np.where(n > 0, m2 / safe, np.nan)
        return [np.asarray(mean_out, self.output_dtype), np.asarray(var_out, self.output_dtype)]


def _as_arrow(values: np.ndarray) -> pa.Array:
    """Tokens from the graph (bytes objects or integers) as an Arrow array."""
    if values.dtype == object:
        return pa.array(values, type=pa.binary())
    return pa.array(values.astype(np.int64, copy=False))


class VocabularyCombiner:
    """Token counts (or summed weights) as an Arrow table, merged with a group-by.

    `extract_output` returns tokens ordered by count descending then token descending (TFT's
    order), filtered by `frequency_threshold` and `top_k`, empty and newline tokens removed.
    """

    def __init__(
        self, top_k: int | None, frequency_threshold: float, has_weights: bool, filter_tokens: bool
    ) -> None:
        self.top_k = top_k
        self.frequency_threshold = frequency_threshold
        self.has_weights = has_weights
        self.filter_tokens = filter_tokens

    def create_accumulator(self) -> pa.Table | None:
        return None

    def _counts(self, inputs: list[Any]) -> pa.Table:
        if isinstance(inputs[0], TokenCounts):
            return pa.table(
                {
                    "token": _as_arrow(np.asarray(inputs[0].values).ravel()),
                    "count": pa.array(np.asarray(inputs[0].counts).astype(np.float64)),
                }
            )
        tokens = _as_arrow(np.asarray(inputs[0]).ravel())
        if not self.has_weights:
            vc = pc.value_counts(tokens)
            return pa.table(
                {
                    "token": vc.field("values"),
                    "count": pc.cast(vc.field("counts"), pa.float64()),
                }
            )
        weights = pa.array(np.asarray(inputs[1], np.float64).ravel())
        table = pa.table({"token": tokens, "count": weights})
        return (
            table.group_by("token").aggregate([("count", "sum")]).rename_columns(["token", "count"])
        )

    def add_input(self, acc: pa.Table | None, inputs: list[np.ndarray]) -> pa.Table:
        return self.merge_accumulators([acc, self._counts(inputs)])

    def merge_accumulators(self, accs: list[pa.Table | None]) -> pa.Table | None:
        tables = [a for a in accs if a is not None and a.num_rows]
        if not tables:
            return None
        if len(tables) == 1:
            return tables[0]
        merged = pa.concat_tables(tables, promote_options="permissive")
        return (
            merged.group_by("token")
            .aggregate([("count", "sum")])
            .rename_columns(["token", "count"])
        )

    def ordered(self, acc: pa.Table | None) -> tuple[list[Any], np.ndarray]:
        """All kept tokens in vocabulary order, with their counts."""
        if acc is None:
            return [], np.zeros(0)
        tokens = acc.column("token").to_pylist()
        counts = acc.column("count").to_numpy()
        if self.filter_tokens:
            keep = [bool(t) and b"\n" not in t and b"\r" not in t for t in tokens]
            tokens = [t for t, k in zip(tokens, keep, strict=True) if k]
            counts = counts[np.asarray(keep, bool)] if counts.size else counts
        keep_idx = np.flatnonzero(counts >= self.frequency_threshold)
        pairs = sorted(
            ((counts[i], tokens[i]) for i in keep_idx), key=lambda p: (p[0], p[1]), reverse=True
        )
        if self.top_k is not None:
            pairs = pairs[: self.top_k]
        return [t for _, t in pairs], np.asarray([c for c, _ in pairs], np.float64)

    def extract_output(self, acc: pa.Table | None) -> list[np.ndarray]:
        tokens, counts = self.ordered(acc)
        return [np.asarray(tokens, dtype=object), counts]


class ApproximateVocabularyCombiner(VocabularyCombiner):
    """Heavy hitters with at most `capacity` counters (mergeable Misra-Gries summary).

    After a merge that exceeds the capacity, the (capacity+1)-th largest count is subtracted
    from every counter and non-positive ones are dropped; a token's count is then low by at
    most total_weight / (capacity + 1), so every token more frequent than that is kept.
    """

    def __init__(
        self, top_k: int | None, capacity: int, has_weights: bool, filter_tokens: bool
    ) -> None:
        super().__init__(top_k, 0.0, has_weights, filter_tokens)
        self.capacity = capacity

    def merge_accumulators(self, accs: list[pa.Table | None]) -> pa.Table | None:
        merged = super().merge_accumulators(accs)
        if merged is None or merged.num_rows <= self.capacity:
            return merged
        counts = merged.column("count").to_numpy()
        cut = np.partition(counts, counts.size - self.capacity - 1)[counts.size - self.capacity - 1]
        kept = merged.filter(pa.array(counts > cut))
        return pa.table(
            {"token": kept.column("token"), "count": pc.subtract(kept.column("count"), cut)}
        )


class MinMaxPerKeyCombiner:
    """Per key: smallest and largest value (NaN ignored), merged with a group-by."""

    def __init__(self, output_dtype: str) -> None:
        self.output_dtype = np.dtype(output_dtype)

    def create_accumulator(self) -> pa.Table | None:
        return None

    def add_input(self, acc: pa.Table | None, inputs: list[np.ndarray]) -> pa.Table | None:
        x = np.asarray(inputs[1], np.float64).ravel()
        keep = ~np.isnan(x)
        keys = _as_arrow(np.asarray(inputs[0]).ravel()[keep])
        if not keep.any():
            return acc
        part = pa.table({"key": keys, "lo": x[keep], "hi": x[keep]})
        return self.merge_accumulators([acc, part])

    def merge_accumulators(self, accs: list[pa.Table | None]) -> pa.Table | None:
        tables = [a for a in accs if a is not None and a.num_rows]
        if not tables:
            return None
        merged = pa.concat_tables(tables, promote_options="permissive")
        g = merged.group_by("key").aggregate([("lo", "min"), ("hi", "max")])
        return pa.table(
            {"key": g.column("key"), "lo": g.column("lo_min"), "hi": g.column("hi_max")}
        )

    def extract_output(self, acc: pa.Table | None) -> list[np.ndarray]:
        if acc is None:
            empty = np.zeros(0, self.output_dtype)
            return [np.zeros(0, object), empty, empty.copy()]
        acc = acc.sort_by("key")
        return [
            acc.column("key").to_numpy(zero_copy_only=False),
            acc.column("lo").to_numpy().astype(self.output_dtype),
            acc.column("hi").to_numpy().astype(self.output_dtype),
        ]


def make_combiner(kind: str, config: dict[str, Any]) -> Combiner:
    """The combiner for an analyzer node of `kind` with its recorded `config`."""
    if kind == "min_max":
        return MinMaxCombiner(config["reduce_instance_dims"], config["dtype"], config["shape"])
    if kind == "sum":
        return SumCombiner(config["reduce_instance_dims"], config["dtype"], config["shape"])
    if kind == "size":
        return SizeCombiner(config["reduce_instance_dims"], config["shape"])
    if kind == "mean_var":
        return MeanVarCombiner(
            config["reduce_instance_dims"], config["output_dtype"], config["shape"]
        )
    if kind == "quantiles":
        if config.get("dim") is not None:
            return ElementwiseQuantilesCombiner(config["qs"], config["epsilon"], config["dim"])
        return QuantilesCombiner(config["qs"], config["epsilon"], config["dedupe"])
    if kind in ("vocabulary", "count_per_key"):
        return VocabularyCombiner(
            config.get("top_k"),
            config.get("frequency_threshold", 0.0),
            config.get("has_weights", False),
            config["filter_tokens"],
        )
    if kind == "approximate_vocabulary":
        return ApproximateVocabularyCombiner(
            config["top_k"], config["capacity"], config["has_weights"], config["filter_tokens"]
        )
    if kind == "mean_var_per_key":
        return MeanVarPerKeyCombiner(config["output_dtype"])
    if kind == "min_max_per_key":
        return MinMaxPerKeyCombiner(config["output_dtype"])
    if kind == "mutual_information_vocabulary":
        return MutualInformationVocabularyCombiner(
            config["top_k"],
            config["frequency_threshold"],
            config["has_weights"],
            config["filter_tokens"],
            config["min_diff_from_avg"],
            config.get("use_adjusted_mutual_info", False),
        )
    if kind == "tukey_hh":
        return LMomentsCombiner(config["output_dtype"], config.get("shape"))
    if kind == "covariance":
        return CovarianceCombiner(config["dim"], config["output_dtype"])
    raise ValueError(f"unknown analyzer kind {kind!r}")


class CovarianceCombiner:
    """Count, sum and sum of outer products of [N, d] rows; outputs the population covariance."""

    def __init__(self, dim: int, output_dtype: str) -> None:
        self.dim = dim
        self.output_dtype = np.dtype(output_dtype)

    def create_accumulator(self) -> tuple[float, np.ndarray, np.ndarray]:
        return 0.0, np.zeros(self.dim), np.zeros((self.dim, self.dim))

    def add_input(self, acc: Any, inputs: list[np.ndarray]) -> Any:
        x = np.asarray(inputs[0], np.float64).reshape(-1, self.dim)
        n, s, outer = acc
        return n + x.shape[0], s + x.sum(axis=0), outer + x.T @ x

    def merge_accumulators(self, accs: list[Any]) -> Any:
        n, s, outer = self.create_accumulator()
        for a_n, a_s, a_outer in accs:
            n, s, outer = n + a_n, s + a_s, outer + a_outer
        return n, s, outer

    def extract_output(self, acc: Any) -> list[np.ndarray]:
        n, s, outer = acc
        if n == 0:
            return [np.full((self.dim, self.dim), np.nan, self.output_dtype)]
        mean = s / n
        return [np.asarray(outer / n - np.outer(mean, mean), self.output_dtype)]


class MeanVarPerKeyCombiner:
    """Per key: count, sum, sum of squared batch means and M2, merged with a group-by.

    Within a batch M2 is exact (two-pass); across batches it is combined with the parallel
    formula M2 = sum(M2_i) + sum(n_i * mean_i^2) - n * mean^2.
    Outputs keys (sorted), mean and population variance per key.
    """

    def __init__(self, output_dtype: str) -> None:
        self.output_dtype = np.dtype(output_dtype)

    def create_accumulator(self) -> pa.Table | None:
        return None

    def add_input(self, acc: pa.Table | None, inputs: list[np.ndarray]) -> pa.Table | None:
        keys = _as_arrow(np.asarray(inputs[0]).ravel())
        x = np.asarray(inputs[1], np.float64).ravel()
        if x.size == 0:
            return acc
        table = pa.table({"key": keys, "x": x})
        g = table.group_by("key").aggregate(
            [("x", "count"), ("x", "mean"), ("x", "variance", pc.VarianceOptions(ddof=0))]
        )
        n = pc.cast(g.column("x_count"), pa.float64()).to_numpy()
        mean = g.column("x_mean").to_numpy()
        var = np.nan_to_num(g.column("x_variance").to_numpy(zero_copy_only=False))
        part = pa.table(
            {"key": g.column("key"), "n": n, "s": n * mean, "q": n * mean * mean, "m2": var * n}
        )
        return self.merge_accumulators([acc, part])

    def merge_accumulators(self, accs: list[pa.Table | None]) -> pa.Table | None:
        tables = [a for a in accs if a is not None and a.num_rows]
        if not tables:
            return None
        merged = pa.concat_tables(tables, promote_options="permissive")
        g = merged.group_by("key").aggregate(
            [("n", "sum"), ("s", "sum"), ("q", "sum"), ("m2", "sum")]
        )
        n = g.column("n_sum").to_numpy()
        s = g.column("s_sum").to_numpy()
        q = g.column("q_sum").to_numpy()
        m2 = g.column("m2_sum").to_numpy() + q - s * s / n
        mean = s / n
        return pa.table(
            {
                "key": g.column("key"),
                "n": n,
                "s": s,
                "q": n * mean * mean,
                "m2": np.maximum(m2, 0.0),
            }
        )

    def extract_output(self, acc: pa.Table | None) -> list[np.ndarray]:
        if acc is None:
            return [
                np.zeros(0, object),
                np.zeros(0, self.output_dtype),
                np.zeros(0, self.output_dtype),
            ]
        acc = acc.sort_by("key")
        keys = acc.column("key").to_numpy(zero_copy_only=False)
        n = acc.column("n").to_numpy()
        mean = acc.column("s").to_numpy() / n
        var = acc.column("m2").to_numpy() / n
        return [keys, mean.astype(self.output_dtype), var.astype(self.output_dtype)]
