"""Hand-built statistics for the schema and validation tests (numpy), independent of the library.

Tests of schema inference and validation describe a tiny dataset as columns of Python
values (None = missing, a list = several values in one example) and get the
DatasetFeatureStatisticsList that TFDV would compute for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from tensorflow_metadata.proto.v0 import statistics_pb2

Column = Sequence[object]


def _values(column: Column) -> tuple[list[list[object]], int]:
    present, missing = [], 0
    for cell in column:
        if cell is None:
            missing += 1
        elif isinstance(cell, list):
            present.append(cell)
        else:
            present.append([cell])
    return present, missing


def _common(common: statistics_pb2.CommonStatistics, present: list[list[object]], missing: int):
    counts = [len(v) for v in present]
    common.num_non_missing = len(present)
    common.num_missing = missing
    if counts:
        common.min_num_values = min(counts)
        common.max_num_values = max(counts)
        common.avg_num_values = float(np.mean(counts))
        common.tot_num_values = int(sum(counts))


def _histograms(ns: statistics_pb2.NumericStatistics, finite: np.ndarray, nan: int, buckets: int):
    std = ns.histograms.add(type=statistics_pb2.Histogram.STANDARD, num_nan=nan)
    qua = ns.histograms.add(type=statistics_pb2.Histogram.QUANTILES, num_nan=nan)
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        std.buckets.add(low_value=lo, high_value=hi, sample_count=float(finite.size))
    else:
        edges = np.linspace(lo, hi, buckets + 1)
        counts, _ = np.histogram(finite, bins=edges)
        for i in range(buckets):
            std.buckets.add(low_value=edges[i], high_value=edges[i + 1], sample_count=counts[i])
    qs = np.quantile(finite, np.linspace(0, 1, buckets + 1))
    for i in range(buckets):
        qua.buckets.add(low_value=qs[i], high_value=qs[i + 1], sample_count=finite.size / buckets)


def feature_stats(
    name: str, column: Column, buckets: int = 10, kind: type | None = None
) -> statistics_pb2.FeatureNameStatistics:
    """Statistics of one column (type from its first value: int, float, str or bytes)."""
    present, missing = _values(column)
    flat = [v for vs in present for v in vs]
    f = statistics_pb2.FeatureNameStatistics()
    f.path.step.append(name)
    if kind is None:
        kind = type(flat[0]) if flat else float
    if kind is bool:
        kind = int
    if kind in (int, float) and not any(isinstance(v, float) for v in flat) and kind is int:
        f.type = statistics_pb2.FeatureNameStatistics.INT
    elif kind in (int, float):
        f.type = statistics_pb2.FeatureNameStatistics.FLOAT
    else:
        f.type = (
            statistics_pb2.FeatureNameStatistics.BYTES
            if kind is bytes
            else statistics_pb2.FeatureNameStatistics.STRING
        )
    if f.type in (
        statistics_pb2.FeatureNameStatistics.INT,
        statistics_pb2.FeatureNameStatistics.FLOAT,
    ):
        ns = f.num_stats
        _common(ns.common_stats, present, missing)
        arr = np.array(flat, dtype=np.float64)
        nan = int(np.isnan(arr).sum())
        finite = arr[~np.isnan(arr)]
        if finite.size:
            ns.min, ns.max = float(finite.min()), float(finite.max())
            with np.errstate(invalid="ignore"):
                ns.mean = float(finite.mean())
                ns.std_dev = float(finite.std())
            ns.median = float(np.median(finite))
            ns.num_zeros = int((finite == 0).sum())
        _histograms(ns, finite[np.isfinite(finite)], nan, buckets)
    elif f.type == statistics_pb2.FeatureNameStatistics.STRING:
        ss = f.string_stats
        _common(ss.common_stats, present, missing)
        counts = Counter(flat)
        ss.unique = len(counts)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        for value, count in ranked[:20]:
            ss.top_values.add(value=value, frequency=count)
        for rank, (value, count) in enumerate(ranked[:1000]):
            ss.rank_histogram.buckets.add(
                low_rank=rank, high_rank=rank, label=value, sample_count=count
            )
        if flat:
            ss.avg_length = float(np.mean([len(str(v)) for v in flat]))
    else:
        bs = f.bytes_stats
        _common(bs.common_stats, present, missing)
        bs.unique = len(set(flat))
    return f


def make_stats(
    columns: Mapping[str, Column],
    num_examples: int | None = None,
    types: Mapping[str, type] | None = None,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """A one-dataset statistics list for `columns` (all of one length = the example count)."""
    lengths = {len(c) for c in columns.values()}
    n = num_examples if num_examples is not None else (lengths.pop() if lengths else 0)
    out = statistics_pb2.DatasetFeatureStatisticsList()
    ds = out.datasets.add(num_examples=n)
    for name, column in columns.items():
        ds.features.append(feature_stats(name, column, kind=(types or {}).get(name)))
    return out
