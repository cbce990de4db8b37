"""Vocabulary ranked by mutual information with a label (TFT's `vocabulary(labels=...)`).

The accumulator is an Arrow table of (token, label) -> summed weight, merged with a group-by.
Each token is scored by the mutual information (bits) between "this occurrence is the token"
and the label, over all token occurrences:

    MI(t) = sum_c  n_tc/N log2(n_tc N / (n_t n_c))
                 + (n_c - n_tc)/N log2((n_c - n_tc) N / ((N - n_t) n_c))

A pair whose count differs from its expected count n_t n_c / N by less than `min_diff_from_avg`
contributes nothing (TFT's guard against noise on rare tokens). The adjusted score subtracts the
MI expected by chance: each cell count of the token-by-label table drawn from the hypergeometric
distribution its margins fix (Vinh, Epps and Bailey's expected mutual information).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _as_arrow(values: np.ndarray) -> pa.Array:
    if values.dtype == object:
        return pa.array(values, type=pa.binary())
    return pa.array(values.astype(np.int64, copy=False))


def _partial_mi(n_xy: np.ndarray, n_x: np.ndarray, n_y: np.ndarray, n: float) -> np.ndarray:
    """n_xy / n * log2(n_xy * n / (n_x * n_y)), 0 where n_xy is 0."""
    ok = (n_xy > 0) & (n_x > 0) & (n_y > 0)
    safe = np.where(ok, n_xy, 1.0)
    ratio = safe * n / (np.where(ok, n_x, 1.0) * np.where(ok, n_y, 1.0))
    return np.where(ok, safe / n * np.log2(ratio), 0.0)


def mutual_information(
    counts: np.ndarray, min_diff_from_avg: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row MI of a [tokens, labels] count matrix, and each token's total count."""
    n_t = counts.sum(axis=1)
    n_c = counts.sum(axis=0)
    n = float(n_c.sum())
    if n <= 0:
        return np.zeros(counts.shape[0]), n_t
    present = _partial_mi(counts, n_t[:, None], n_c[None, :], n)
    absent = _partial_mi(n_c[None, :] - counts, (n - n_t)[:, None], n_c[None, :], n)
    terms = present + absent
    if min_diff_from_avg > 0:
        expected = n_t[:, None] * n_c[None, :] / n
        terms = np.where(np.abs(counts - expected) < min_diff_from_avg, 0.0, terms)
    return terms.sum(axis=1), n_t


def _log_factorials(n: int) -> np.ndarray:
    """log(k!) for k = 0..n."""
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])


def expected_mutual_information(counts: np.ndarray) -> np.ndarray:
    """Per token (row), the expected MI (bits) of its present/absent-by-label table under
    independence with the same margins; counts must be whole numbers."""
    n_t = np.rint(counts.sum(axis=1)).astype(np.int64)
    n_c = np.rint(counts.sum(axis=0)).astype(np.int64)
    n = int(n_c.sum())
    out = np.zeros(counts.shape[0])
    if n == 0:
        return out
    lf = _log_factorials(n)
    for i, a in enumerate(n_t):
        for b in n_c:
            lo, hi = max(0, a + b - n), min(a, b)
            k = np.arange(lo, hi + 1)
            log_p = lf[b] - lf[k] - lf[b - k] + lf[n - b] - lf[a - k] - lf[n - b - a + k]
            p = np.exp(log_p - (lf[n] - lf[a] - lf[n - a]))
            kf = k.astype(np.float64)
            present = _partial_mi(kf, np.full_like(kf, a), np.full_like(kf, b), n)
            absent = _partial_mi(b - kf, np.full_like(kf, n - a), np.full_like(kf, b), n)
            out[i] += float(np.sum(p * (present + absent)))
    return out


class MutualInformationVocabularyCombiner:
    """Weighted (token, label) counts; outputs tokens by MI descending, then token descending."""

    def __init__(
        self,
        top_k: int | None,
        frequency_threshold: float,
        has_weights: bool,
        filter_tokens: bool,
        min_diff_from_avg: float,
        adjusted: bool = False,
    ) -> None:
        self.top_k = top_k
        self.frequency_threshold = frequency_threshold
        self.has_weights = has_weights
        self.filter_tokens = filter_tokens
        self.min_diff_from_avg = min_diff_from_avg
        self.adjusted = adjusted

    def create_accumulator(self) -> pa.Table | None:
        return None

    def add_input(self, acc: pa.Table | None, inputs: list[np.ndarray]) -> pa.Table | None:
        tokens = _as_arrow(np.asarray(inputs[0]).ravel())
        labels = pa.array(np.asarray(inputs[1]).ravel().astype(np.int64, copy=False))
        if self.has_weights:
            weights = pa.array(np.asarray(inputs[2], np.float64).ravel())
        else:
            weights = pa.array(np.ones(len(tokens)))
        part = pa.table({"token": tokens, "label": labels, "count": weights})
        return self.merge_accumulators([acc, part])

    def merge_accumulators(self, accs: list[pa.Table | None]) -> pa.Table | None:
        tables = [a for a in accs if a is not None and a.num_rows]
        if not tables:
            return None
        merged = pa.concat_tables(tables, promote_options="permissive")
        return (
            merged.group_by(["token", "label"])
            .aggregate([("count", "sum")])
            .rename_columns(["token", "label", "count"])
        )

    def scores(self, acc: pa.Table | None) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """Every token with its MI and total count (unfiltered, unordered)."""
        if acc is None:
            return [], np.zeros(0), np.zeros(0)
        encoded = pc.dictionary_encode(acc.column("token")).combine_chunks()
        rows = encoded.indices.to_numpy()
        tokens = encoded.dictionary.to_pylist()
        labels, cols = np.unique(acc.column("label").to_numpy(), return_inverse=True)
        counts = np.zeros((len(tokens), labels.size))
        np.add.at(counts, (rows, cols), acc.column("count").to_numpy())
        mi, totals = mutual_information(counts, self.min_diff_from_avg)
        if self.adjusted:
            mi = mi - expected_mutual_information(counts)
        return tokens, mi, totals

    def extract_output(self, acc: pa.Table | None) -> list[np.ndarray]:
        tokens, mi, totals = self.scores(acc)
        pairs = []
        for i, t in enumerate(tokens):
            if self.filter_tokens and (not t or b"\n" in t or b"\r" in t):
                continue
            if totals[i] >= self.frequency_threshold:
                pairs.append((float(mi[i]), t))
        pairs.sort(reverse=True)
        if self.top_k is not None:
            pairs = pairs[: self.top_k]
        return [
            np.asarray([t for _, t in pairs], dtype=object),
            np.asarray([m for m, _ in pairs], np.float64),
        ]
