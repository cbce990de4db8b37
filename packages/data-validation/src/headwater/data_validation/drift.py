"""Distances between two statistics of one feature: drift (current vs previous) and skew.

TFDV's comparators are kept with TFDV's definitions and numbers:

* `l_infinity` — largest difference between the two normalized value frequencies
  (string features, from the rank histogram, else the top values);
* `jensen_shannon_divergence` — base-2 JS divergence of the value frequencies, or, for
  numeric features, of the STANDARD histograms after both are re-bucketed onto the union of
  their boundaries assuming values spread evenly inside a bucket (point and infinite buckets
  and NaN kept apart), capped at 1;
* `normalized_abs_difference` — largest difference of counts divided by both totals.

Beyond them, selectable per feature (stored in the schema as annotation tags
`headwater:<drift|skew>:<metric>=<threshold>`, which TFDV ignores):

* `psi` — population stability index Σ (p - q) ln(p / q) over values (categorical) or the
  aligned histogram buckets (numeric), each frequency floored at 1e-4;
* `ks` — Kolmogorov–Smirnov statistic: largest gap between the two CDFs, the CDFs read
  piecewise-linearly from the QUANTILES histograms;
* `wasserstein` — ∫ |F₁ − F₂| dx from the same CDFs, divided by the baseline's standard
  deviation (by 1 where that is 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from headwater.data_validation._stats_view import FeatureView, feature_views, select_dataset

__all__ = [
    "METRICS",
    "Comparator",
    "DriftResult",
    "FeatureDistances",
    "NotComparableError",
    "comparators_of",
    "feature_distances",
    "jensen_shannon_divergence",
    "kolmogorov_smirnov",
    "l_infinity_distance",
    "measure",
    "normalized_abs_difference",
    "normalized_wasserstein",
    "population_stability_index",
    "set_comparator",
]

#: Metric names, TFDV's three first.
METRICS = (
    "l_infinity",
    "jensen_shannon_divergence",
    "normalized_abs_difference",
    "psi",
    "ks",
    "wasserstein",
)
_PROTO_FIELD = {
    "l_infinity": "infinity_norm",
    "jensen_shannon_divergence": "jensen_shannon_divergence",
    "normalized_abs_difference": "normalized_abs_difference",
}
_TAG_PREFIX = "headwater:"
PSI_EPSILON = 1e-4
"""Floor of each frequency in the PSI, so that a value seen on one side only stays finite."""


@dataclass(frozen=True)
class Comparator:
    """Compare a feature's two distributions by `metric`; above `threshold` is an anomaly."""

    metric: str
    """One of METRICS."""
    threshold: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {self.metric!r}")
        if not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise ValueError(f"threshold must be a finite number >= 0, got {self.threshold!r}")


@dataclass(frozen=True)
class DriftResult:
    """One measured distance: which metric, its value against the threshold, and both sizes."""

    feature: str
    kind: str
    """'drift' (current vs previous) or 'skew' (training vs serving)."""
    metric: str
    value: float
    threshold: float
    current_count: float
    """Examples with the feature in the statistics being validated (current / training)."""
    baseline_count: float
    """Examples with the feature in the baseline (previous / serving)."""
    detail: str = ""
    """Extra evidence, e.g. the value whose frequency moved most."""

    @property
    def anomalous(self) -> bool:
        """Whether the value is above the threshold."""
        return self.value > self.threshold


class NotComparableError(ValueError):
    """The two statistics lack what `metric` needs (e.g. a histogram for a string feature)."""


def _check_kind(kind: str) -> None:
    if kind not in ("drift", "skew"):
        raise ValueError(f"kind must be 'drift' or 'skew', got {kind!r}")


def comparators_of(feature: schema_pb2.Feature, kind: str) -> list[Comparator]:
    """The comparators of `feature` for `kind`: TFDV's proto fields, then Headwater's tags."""
    _check_kind(kind)
    result = []
    proto = feature.drift_comparator if kind == "drift" else feature.skew_comparator
    for metric, field in _PROTO_FIELD.items():
        sub = getattr(proto, field)
        if proto.HasField(field) and sub.HasField("threshold"):
            result.append(Comparator(metric, sub.threshold))
    prefix = f"{_TAG_PREFIX}{kind}:"
    for annotation_tag in feature.annotation.tag:
        if annotation_tag.startswith(prefix):
            metric, _, threshold = annotation_tag[len(prefix) :].partition("=")
            try:
                result.append(Comparator(metric, float(threshold)))
            except ValueError as exc:
                raise ValueError(
                    f"feature {feature.name!r}: bad comparator tag {annotation_tag!r}: {exc}"
                ) from exc
    return result


def set_comparator(feature: schema_pb2.Feature, kind: str, comparator: Comparator) -> None:
    """Store `comparator` in `feature` (replacing one of the same metric)."""
    _check_kind(kind)
    if comparator.metric in _PROTO_FIELD:
        proto = feature.drift_comparator if kind == "drift" else feature.skew_comparator
        getattr(proto, _PROTO_FIELD[comparator.metric]).threshold = comparator.threshold
        return
    prefix = f"{_TAG_PREFIX}{kind}:{comparator.metric}="
    tags = [t for t in feature.annotation.tag if not t.startswith(prefix)]
    tags.append(f"{prefix}{comparator.threshold!r}")
    del feature.annotation.tag[:]
    feature.annotation.tag.extend(tags)


# ---- categorical distances ------------------------------------------------------------------


def _normalized(counts: Mapping[str, float]) -> dict[str, float]:
    total = sum(counts.values())
    if total <= 0:
        raise NotComparableError("no value counts")
    return {k: v / total for k, v in counts.items()}


def l_infinity_distance(
    current: Mapping[str, float], baseline: Mapping[str, float]
) -> tuple[float, str]:
    """Largest |p - q| of the normalized frequencies, and the value where it occurs."""
    p, q = _normalized(current), _normalized(baseline)
    best_key, best = "", 0.0
    for key in sorted(set(p) | set(q)):
        diff = abs(p.get(key, 0.0) - q.get(key, 0.0))
        if diff >= best:
            best_key, best = key, diff
    return best, best_key


def normalized_abs_difference(
    current: Mapping[str, float], baseline: Mapping[str, float]
) -> tuple[float, str]:
    """Largest |count_a - count_b| divided by the sum of both totals, and its value."""
    scale = sum(current.values()) + sum(baseline.values())
    if scale <= 0:
        raise NotComparableError("no value counts")
    best_key, best = "", 0.0
    for key in sorted(set(current) | set(baseline)):
        diff = abs(current.get(key, 0.0) - baseline.get(key, 0.0)) / scale
        if diff >= best:
            best_key, best = key, diff
    return best, best_key


def _jsd(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    total = 0.0
    for a in (p, q):
        mask = (a > 0) & (m > 0)
        total += float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))
    return min(total / 2, 1.0)


def _aligned_counts(
    current: Mapping[str, float], baseline: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(current) | set(baseline))
    p = np.array([current.get(k, 0.0) for k in keys], dtype=np.float64)
    q = np.array([baseline.get(k, 0.0) for k in keys], dtype=np.float64)
    return p, q


def _normalize_vector(v: np.ndarray) -> np.ndarray:
    total = float(v.sum())
    if total <= 0:
        raise NotComparableError("an empty histogram")
    return v / total


# ---- numeric histograms ---------------------------------------------------------------------


def _split(hist: statistics_pb2.Histogram) -> tuple[np.ndarray, dict[float, float], float]:
    """Regular buckets (low, high, count), point masses by value, and infinite-bucket mass."""
    regular: list[tuple[float, float, float]] = []
    points: dict[float, float] = {}
    infinite = 0.0
    for b in hist.buckets:
        if not (math.isfinite(b.low_value) and math.isfinite(b.high_value)):
            infinite += b.sample_count
        elif b.low_value == b.high_value:
            points[b.low_value] = points.get(b.low_value, 0.0) + b.sample_count
        else:
            regular.append((b.low_value, b.high_value, b.sample_count))
    return np.array(regular, dtype=np.float64).reshape(-1, 3), points, infinite


def _rebucket(regular: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Spread each bucket's count over the `bounds` intervals it covers, by width."""
    lo, hi = bounds[:-1], bounds[1:]
    out = np.zeros(len(lo), dtype=np.float64)
    for low, high, count in regular:
        overlap = np.clip(np.minimum(hi, high) - np.maximum(lo, low), 0.0, None)
        out += count * overlap / (high - low)
    return out


def align_histograms(
    a: statistics_pb2.Histogram, b: statistics_pb2.Histogram
) -> tuple[np.ndarray, np.ndarray]:
    """Two count vectors over common buckets, as TFDV aligns histograms before the JSD."""
    reg_a, pts_a, inf_a = _split(a)
    reg_b, pts_b, inf_b = _split(b)
    bounds_a = set(reg_a[:, 0]) | set(reg_a[:, 1])
    bounds_b = set(reg_b[:, 0]) | set(reg_b[:, 1])
    if bounds_a == bounds_b:
        order_a, order_b = np.argsort(reg_a[:, 0]), np.argsort(reg_b[:, 0])
        va, vb = list(reg_a[order_a, 2]), list(reg_b[order_b, 2])
    else:
        bounds = np.array(sorted(bounds_a | bounds_b), dtype=np.float64)
        if len(bounds) >= 2:
            va, vb = list(_rebucket(reg_a, bounds)), list(_rebucket(reg_b, bounds))
        else:
            va, vb = [], []
    for point in sorted(set(pts_a) | set(pts_b)):
        va.append(pts_a.get(point, 0.0))
        vb.append(pts_b.get(point, 0.0))
    if inf_a:
        va.append(inf_a)
        vb.append(0.0)
    if inf_b:
        va.append(0.0)
        vb.append(inf_b)
    if a.num_nan > 0 or b.num_nan > 0:
        # TFDV keeps NaN in two buckets that never overlap: NaN on both sides still diverges.
        va += [0.0, float(a.num_nan)]
        vb += [float(b.num_nan), 0.0]
    return np.array(va, dtype=np.float64), np.array(vb, dtype=np.float64)


def jensen_shannon_divergence(current: FeatureView, baseline: FeatureView) -> float:
    """TFDV's approximate JS divergence (base 2, at most 1) of two features' distributions."""
    counts_c, counts_b = current.string_counts(), baseline.string_counts()
    if counts_c and counts_b:
        p, q = _aligned_counts(counts_c, counts_b)
        return _jsd(_normalize_vector(p), _normalize_vector(q))
    hist_c, hist_b = current.histogram(), baseline.histogram()
    if hist_c is None or hist_b is None:
        raise NotComparableError(
            "needs value counts (string features) or STANDARD histograms (numeric) on both sides"
        )
    p, q = align_histograms(hist_c, hist_b)
    return _jsd(_normalize_vector(p), _normalize_vector(q))


def population_stability_index(current: FeatureView, baseline: FeatureView) -> float:
    """PSI Σ (p - q) ln(p / q) over values or aligned histogram buckets, floored at 1e-4."""
    counts_c, counts_b = current.string_counts(), baseline.string_counts()
    if counts_c and counts_b:
        p, q = _aligned_counts(counts_c, counts_b)
    else:
        hist_c, hist_b = current.histogram(), baseline.histogram()
        if hist_c is None or hist_b is None:
            raise NotComparableError("needs value counts or STANDARD histograms on both sides")
        p, q = align_histograms(hist_c, hist_b)
    p = np.maximum(_normalize_vector(p), PSI_EPSILON)
    q = np.maximum(_normalize_vector(q), PSI_EPSILON)
    return float(np.sum((p - q) * np.log(p / q)))


def _cdf_buckets(view: FeatureView) -> np.ndarray:
    hist = view.histogram(statistics_pb2.Histogram.QUANTILES) or view.histogram()
    if hist is None or not hist.buckets:
        raise NotComparableError("needs a QUANTILES (or STANDARD) histogram on both sides")
    rows = [
        (b.low_value, b.high_value, b.sample_count)
        for b in hist.buckets
        if math.isfinite(b.low_value) and math.isfinite(b.high_value)
    ]
    buckets = np.array(rows, dtype=np.float64).reshape(-1, 3)
    if buckets[:, 2].sum() <= 0:
        raise NotComparableError("an empty histogram")
    return buckets


def _cdf(buckets: np.ndarray, x: np.ndarray, *, left: bool) -> np.ndarray:
    """The piecewise-linear CDF at `x` (its left limit if `left`), point buckets as jumps."""
    low, high, count = buckets[:, 0:1], buckets[:, 1:2], buckets[:, 2:3]
    xs = x[None, :]
    width = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(width > 0, np.clip((xs - low) / np.where(width > 0, width, 1), 0, 1), 0)
    point = (xs > low) if left else (xs >= low)
    frac = np.where(width > 0, frac, point.astype(np.float64))
    return (count * frac).sum(axis=0) / count.sum()


def _breakpoints(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([a[:, 0], a[:, 1], b[:, 0], b[:, 1]]))


def kolmogorov_smirnov(current: FeatureView, baseline: FeatureView) -> float:
    """Largest gap between the two CDFs read from the quantiles histograms."""
    a, b = _cdf_buckets(current), _cdf_buckets(baseline)
    x = _breakpoints(a, b)
    gaps = [np.abs(_cdf(a, x, left=side) - _cdf(b, x, left=side)).max() for side in (False, True)]
    return float(max(gaps))


def normalized_wasserstein(current: FeatureView, baseline: FeatureView) -> float:
    """∫ |F_current − F_baseline| dx over the piecewise-linear CDFs, over the baseline std dev."""
    a, b = _cdf_buckets(current), _cdf_buckets(baseline)
    x = _breakpoints(a, b)
    if len(x) < 2:
        return 0.0
    # Both CDFs are linear between breakpoints: integrate |d| exactly on each piece.
    d0 = (_cdf(a, x, left=False) - _cdf(b, x, left=False))[:-1]
    d1 = (_cdf(a, x, left=True) - _cdf(b, x, left=True))[1:]
    width = np.diff(x)
    same = d0 * d1 >= 0
    denom = np.where(same, 1.0, np.abs(d0) + np.abs(d1))
    area = np.where(
        same,
        (np.abs(d0) + np.abs(d1)) / 2 * width,
        (d0 * d0 + d1 * d1) / (2 * np.where(denom > 0, denom, 1.0)) * width,
    )
    std = baseline.num_stats.std_dev
    return float(area.sum() / (std if std > 0 else 1.0))


def measure(metric: str, current: FeatureView, baseline: FeatureView) -> tuple[float, str]:
    """The value of `metric` between two features, with a detail (raises NotComparableError)."""
    if metric in ("l_infinity", "normalized_abs_difference"):
        counts_c, counts_b = current.string_counts(), baseline.string_counts()
        if not counts_c or not counts_b:
            raise NotComparableError("needs value counts (a string feature) on both sides")
        fn = l_infinity_distance if metric == "l_infinity" else normalized_abs_difference
        value, key = fn(counts_c, counts_b)
        return value, f"The feature value with maximum difference is: {key}"
    if metric == "jensen_shannon_divergence":
        return jensen_shannon_divergence(current, baseline), ""
    if metric == "psi":
        return population_stability_index(current, baseline), ""
    if metric == "ks":
        return kolmogorov_smirnov(current, baseline), ""
    if metric == "wasserstein":
        return normalized_wasserstein(current, baseline), ""
    raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


@dataclass(frozen=True)
class FeatureDistances:
    """How far one feature's distribution moved between two statistics (no threshold)."""

    feature: str
    type: str
    """The statistics type of the current side, e.g. 'STRING', 'INT', 'FLOAT'."""
    values: Mapping[str, float]
    """Metric -> distance, for each requested metric the two statistics allow."""
    details: Mapping[str, str]
    """Metric -> evidence, e.g. the value whose frequency moved most (L-infinity)."""
    missing: str = ""
    """Why a feature has no distance: seen on one side only, or what its statistics lack."""


DEFAULT_DISTANCES = ("l_infinity", "jensen_shannon_divergence")


def feature_distances(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    metrics: tuple[str, ...] = DEFAULT_DISTANCES,
) -> list[FeatureDistances]:
    """Every feature's distances between the unsliced datasets of two statistics, by name.

    The drift comparators' numbers without a schema or thresholds: by default L-infinity
    (string features) and Jensen-Shannon divergence (strings, and numbers by histogram).

    Example:
        for d in feature_distances(today, yesterday):
            print(d.feature, d.values.get("jensen_shannon_divergence"))
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; expected some of {', '.join(METRICS)}")
    left = feature_views(select_dataset(current, "current statistics"))
    right = feature_views(select_dataset(baseline, "baseline statistics"))
    out: list[FeatureDistances] = []
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        if a is None or b is None:
            side, only = ("baseline", b) if a is None else ("current", a)
            kind = only.type_name if only is not None else ""
            out.append(FeatureDistances(name, kind, {}, {}, f"only in the {side} statistics"))
            continue
        values: dict[str, float] = {}
        details: dict[str, str] = {}
        why: list[str] = []
        for metric in metrics:
            try:
                value, detail = measure(metric, a, b)
            except NotComparableError as exc:
                why.append(f"{metric}: {exc}")
                continue
            values[metric] = value
            if detail:
                details[metric] = detail
        out.append(
            FeatureDistances(name, a.type_name, values, details, "" if values else "; ".join(why))
        )
    return out
