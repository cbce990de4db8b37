"""Drift and skew values checked against an independent numpy computation on the same data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from schema_fixtures import feature_stats, make_stats
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

import headwater.data_validation as dv
from headwater.data_validation import drift
from headwater.data_validation._stats_view import FeatureView

RNG = np.random.default_rng(11)
CUR_S = RNG.choice(["a", "b", "c", "d"], size=500, p=[0.4, 0.3, 0.2, 0.1]).tolist()
PREV_S = RNG.choice(["a", "b", "c", "e"], size=300, p=[0.25, 0.25, 0.25, 0.25]).tolist()
CUR_X = RNG.normal(1.0, 2.0, size=800).tolist()
PREV_X = RNG.normal(0.0, 1.0, size=600).tolist()


def _view(name: str, column: list[object]) -> FeatureView:
    return FeatureView(feature_stats(name, column), float(len(column)))


def _freqs(values: list[object]) -> dict[object, float]:
    keys, counts = np.unique(np.array(values), return_counts=True)
    return {k: c / counts.sum() for k, c in zip(keys.tolist(), counts, strict=True)}


def _union(p: dict[object, float], q: dict[object, float]) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(p) | set(q))
    return np.array([p.get(k, 0.0) for k in keys]), np.array([q.get(k, 0.0) for k in keys])


def _plain_jsd(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    kl_p = sum(pi * math.log2(pi / mi) for pi, mi in zip(p, m, strict=True) if pi > 0)
    kl_q = sum(qi * math.log2(qi / mi) for qi, mi in zip(q, m, strict=True) if qi > 0)
    return (kl_p + kl_q) / 2


def test_l_infinity_is_the_largest_frequency_gap() -> None:
    p, q = _union(_freqs(CUR_S), _freqs(PREV_S))
    value, detail = drift.measure("l_infinity", _view("s", CUR_S), _view("s", PREV_S))
    assert value == pytest.approx(np.abs(p - q).max(), abs=1e-12)
    keys = sorted(set(CUR_S) | set(PREV_S))
    assert detail.endswith(keys[int(np.argmax(np.abs(p - q)))])


def test_normalized_abs_difference_divides_by_both_totals() -> None:
    keys = sorted(set(CUR_S) | set(PREV_S))
    diffs = [abs(CUR_S.count(k) - PREV_S.count(k)) for k in keys]
    value, _ = drift.measure("normalized_abs_difference", _view("s", CUR_S), _view("s", PREV_S))
    assert value == pytest.approx(max(diffs) / (len(CUR_S) + len(PREV_S)), abs=1e-12)


def test_categorical_jensen_shannon_and_psi() -> None:
    p, q = _union(_freqs(CUR_S), _freqs(PREV_S))
    jsd = drift.jensen_shannon_divergence(_view("s", CUR_S), _view("s", PREV_S))
    assert jsd == pytest.approx(_plain_jsd(p, q), abs=1e-12)
    pf, qf = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    psi = drift.population_stability_index(_view("s", CUR_S), _view("s", PREV_S))
    assert psi == pytest.approx(float(np.sum((pf - qf) * np.log(pf / qf))), abs=1e-12)


def _histogram(edges: list[float], counts: list[float]) -> statistics_pb2.Histogram:
    hist = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD)
    for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
        hist.buckets.add(low_value=lo, high_value=hi, sample_count=c)
    return hist


def _numeric(hist: statistics_pb2.Histogram, std: float = 1.0) -> FeatureView:
    f = statistics_pb2.FeatureNameStatistics(type=statistics_pb2.FeatureNameStatistics.FLOAT)
    f.num_stats.std_dev = std
    f.num_stats.histograms.append(hist)
    return FeatureView(f, 0.0)


def test_numeric_jensen_shannon_with_shared_buckets_is_the_plain_jsd() -> None:
    a = [5.0, 10.0, 20.0, 5.0]
    b = [10.0, 10.0, 5.0, 15.0]
    edges = [0.0, 1.0, 2.0, 3.0, 4.0]
    value = drift.jensen_shannon_divergence(
        _numeric(_histogram(edges, a)), _numeric(_histogram(edges, b))
    )
    p, q = np.array(a) / sum(a), np.array(b) / sum(b)
    assert value == pytest.approx(_plain_jsd(p, q), abs=1e-12)


def _mass_on_grid(edges: list[float], counts: list[float], grid: np.ndarray) -> np.ndarray:
    """Mass of a uniform-within-bucket histogram in each grid cell, by fine midpoint sampling."""
    fine = np.linspace(grid[0], grid[-1], 400_001)
    mids = (fine[:-1] + fine[1:]) / 2
    density = np.zeros_like(mids)
    for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True):
        density += np.where((mids >= lo) & (mids < hi), c / (hi - lo), 0.0)
    mass = density * np.diff(fine)
    cell = np.searchsorted(grid, mids, side="right") - 1
    return np.bincount(np.clip(cell, 0, len(grid) - 2), weights=mass, minlength=len(grid) - 1)


def test_numeric_jensen_shannon_rebuckets_assuming_uniform_buckets() -> None:
    edges_a, a = [0.0, 2.0, 4.0, 6.0], [10.0, 30.0, 10.0]
    edges_b, b = [1.0, 3.0, 5.0, 7.0], [5.0, 20.0, 25.0]
    grid = np.array(sorted(set(edges_a) | set(edges_b)))
    p = _mass_on_grid(edges_a, a, grid)
    q = _mass_on_grid(edges_b, b, grid)
    expected = _plain_jsd(p / p.sum(), q / q.sum())
    value = drift.jensen_shannon_divergence(
        _numeric(_histogram(edges_a, a)), _numeric(_histogram(edges_b, b))
    )
    assert value == pytest.approx(expected, abs=1e-4)


def test_identical_distributions_measure_zero() -> None:
    view = _view("x", CUR_X)
    for metric in ("jensen_shannon_divergence", "psi", "ks", "wasserstein"):
        assert drift.measure(metric, view, view)[0] == pytest.approx(0.0, abs=1e-12), metric


def _cdf_on_grid(view: FeatureView, grid: np.ndarray) -> np.ndarray:
    hist = view.histogram(statistics_pb2.Histogram.QUANTILES)
    xs = [hist.buckets[0].low_value] + [b.high_value for b in hist.buckets]
    ys = np.concatenate([[0.0], np.cumsum([b.sample_count for b in hist.buckets])])
    return np.interp(grid, xs, ys / ys[-1], left=0.0, right=1.0)


def test_ks_and_wasserstein_match_a_dense_grid_computation() -> None:
    cur, prev = _view("x", CUR_X), _view("x", PREV_X)
    grid = np.linspace(min(CUR_X + PREV_X) - 1, max(CUR_X + PREV_X) + 1, 200_001)
    gap = np.abs(_cdf_on_grid(cur, grid) - _cdf_on_grid(prev, grid))
    assert drift.kolmogorov_smirnov(cur, prev) == pytest.approx(gap.max(), abs=1e-4)
    area = float(np.sum((gap[:-1] + gap[1:]) / 2 * np.diff(grid)))
    expected = area / float(np.std(PREV_X))
    assert drift.normalized_wasserstein(cur, prev) == pytest.approx(expected, rel=1e-4)


def test_ks_on_quantiles_is_close_to_the_exact_two_sample_statistic() -> None:
    a, b = np.sort(CUR_X), np.sort(PREV_X)
    grid = np.concatenate([a, b])
    exact = np.abs(
        np.searchsorted(a, grid, side="right") / a.size
        - np.searchsorted(b, grid, side="right") / b.size
    ).max()
    estimate = drift.kolmogorov_smirnov(_view("x", a.tolist()), _view("x", b.tolist()))
    assert abs(estimate - exact) < 0.1  # ten quantile buckets: a coarse but honest estimate


def test_string_features_have_no_ks() -> None:
    with pytest.raises(drift.NotComparableError):
        drift.measure("ks", _view("s", CUR_S), _view("s", PREV_S))


def test_validation_reports_metric_value_threshold_and_both_sizes() -> None:
    current = make_stats({"s": CUR_S, "x": CUR_X[:500]})
    previous = make_stats({"s": PREV_S, "x": PREV_X[:300]})
    schema = dv.infer_schema(previous)
    dv.set_drift_comparator(schema, "s", "l_infinity", 0.01)
    dv.set_drift_comparator(schema, "x", "jensen_shannon_divergence", 0.9)
    dv.set_drift_comparator(schema, "x", "wasserstein", 0.1)
    report = dv.check_statistics(current, schema, previous_statistics=previous)
    by_metric = {r.metric: r for r in report.drift}
    assert set(by_metric) == {"l_infinity", "jensen_shannon_divergence", "wasserstein"}
    linf = by_metric["l_infinity"]
    assert (linf.current_count, linf.baseline_count, linf.threshold) == (500, 300, 0.01)
    assert linf.anomalous
    assert not by_metric["jensen_shannon_divergence"].anomalous
    info = report.anomalies.anomaly_info["s"]
    types = [r.type for r in info.reason]
    assert anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH in types
    assert "Sample sizes: current 500, previous 300" in info.description
    measured = {
        (m.path.step[0], d.type, d.threshold): d.value
        for m in report.anomalies.drift_skew_info
        for d in m.drift_measurements
    }
    L_INFTY = anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY
    assert measured[("s", L_INFTY, 0.01)] == pytest.approx(linf.value)
    assert len(measured) == 3
    fixed = dv.validate_statistics(current, report.fixed_schema, previous_statistics=previous)
    assert not fixed.anomaly_info


def test_feature_distances_between_two_statistics() -> None:
    import pyarrow as pa

    current = dv.generate_statistics(
        pa.table({"s": CUR_S, "x": CUR_X[: len(CUR_S)], "new": [1] * len(CUR_S)})
    )
    baseline = dv.generate_statistics(
        pa.table({"s": PREV_S, "x": PREV_X[: len(PREV_S)], "gone": ["g"] * len(PREV_S)})
    )
    found = {d.feature: d for d in dv.feature_distances(current, baseline)}
    assert list(found) == ["gone", "new", "s", "x"]
    p, q = _union(_freqs(CUR_S), _freqs(PREV_S))
    s = found["s"]
    assert s.type == "STRING"
    assert s.values["l_infinity"] == pytest.approx(np.abs(p - q).max(), abs=1e-12)
    assert s.values["jensen_shannon_divergence"] == pytest.approx(_plain_jsd(p, q), abs=1e-12)
    assert "maximum difference" in s.details["l_infinity"]
    x = found["x"]  # numeric: JS divergence of the histograms, no L-infinity
    assert x.type == "FLOAT"
    assert set(x.values) == {"jensen_shannon_divergence"}
    assert 0.0 < x.values["jensen_shannon_divergence"] <= 1.0
    assert found["new"].missing == "only in the current statistics"
    assert found["gone"].missing == "only in the baseline statistics"
    assert found["new"].values == {}
    same = dv.feature_distances(current, current, ("jensen_shannon_divergence",))
    assert all(d.values["jensen_shannon_divergence"] == 0.0 for d in same)
    with pytest.raises(ValueError, match="unknown metrics"):
        dv.feature_distances(current, baseline, ("chi2",))
