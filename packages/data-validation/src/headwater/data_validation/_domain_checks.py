"""Domain and unique-value checks of one feature: string, bool, int and float domains.

Same words and anomaly types as TFDV (values outside a string domain are named with their
share, out-of-range numbers are given), and each check widens the working copy of the domain
just enough to accept the data.
"""

from __future__ import annotations

import math

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from headwater.data_validation._findings import Findings, fmt6
from headwater.data_validation._stats_view import FeatureView

T = anomalies_pb2.AnomalyInfo
Stats = statistics_pb2.FeatureNameStatistics
_MAX_NAMED_VALUES = 20


def check_domain(
    f: Findings, view: FeatureView, schema_domain: schema_pb2.StringDomain | None
) -> None:
    """The data against the feature's domain; `schema_domain` is its schema-level string domain."""
    kind = f.feature.WhichOneof("domain_info")
    if view.type == Stats.STRING and view.invalid_utf8_count > 0:
        f.add(
            T.ENUM_TYPE_INVALID_UTF8,
            "Invalid UTF-8",
            f"{view.invalid_utf8_count} values of {f.name} are not valid UTF-8.",
        )
    if kind == "domain" and schema_domain is not None:
        _check_string_domain(f, view, schema_domain, f"string_domain[{schema_domain.name}]")
    elif kind == "string_domain":
        _check_string_domain(f, view, f.feature.string_domain, "string_domain")
    elif kind == "bool_domain":
        _check_bool_domain(f, view)
    elif kind == "int_domain":
        _check_int_domain(f, view)
    elif kind == "float_domain":
        _check_float_domain(f, view)


def _check_string_domain(
    f: Findings, view: FeatureView, domain: schema_pb2.StringDomain, label: str
) -> None:
    counts = view.string_counts()
    total = sum(counts.values())
    allowed = set(domain.value)
    unexpected = {v: c for v, c in counts.items() if v not in allowed}
    if not unexpected or total <= 0:
        return
    constraints = f.feature.distribution_constraints
    min_mass = constraints.min_domain_mass if constraints.HasField("min_domain_mass") else 1.0
    off_mass = sum(unexpected.values()) / total
    if min_mass < 1.0 and off_mass <= 1.0 - min_mass:
        return
    names = sorted(unexpected)
    shown = ", ".join(
        f"{v} (~{int(100 * unexpected[v] / total)}%)" for v in names[:_MAX_NAMED_VALUES]
    )
    more = f" and {len(names) - _MAX_NAMED_VALUES} more" if len(names) > _MAX_NAMED_VALUES else ""
    f.add(
        T.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
        "Unexpected string values",
        f"Examples contain values missing from the schema: {shown}{more}. ",
    )
    before = len(domain.value)
    domain.value.extend(names)
    added = ", ".join(names[:_MAX_NAMED_VALUES]) + (" ..." if more else "")
    f.note(f"{label}.value", f"{before} values", f"{len(domain.value)} values (+ {added})")


def _check_bool_domain(f: Findings, view: FeatureView) -> None:
    ns = view.num_stats
    if view.type == Stats.INT:
        for bad, is_small in ((ns.min, True), (ns.max, False)):
            if (is_small and bad < 0) or (not is_small and bad > 1):
                f.add(
                    T.BOOL_TYPE_SMALL_INT if is_small else T.BOOL_TYPE_BIG_INT,
                    "Non-boolean values",
                    f"Integers (such as {fmt6(bad)}) not in {{0, 1}}: converting to an integer.",
                )
                f.clear("bool_domain")
                f.set("int_domain.min", int(ns.min))
                f.set("int_domain.max", int(ns.max))
                return
    elif view.type == Stats.FLOAT:
        problem = None
        if ns.min not in (0.0, 1.0):
            problem = f"Floats (such as {fmt6(ns.min)}) not in {{0, 1}}"
        elif ns.max not in (0.0, 1.0):
            problem = f"Floats (such as {fmt6(ns.max)}) not in {{0, 1}}"
        elif view.num_nan > 0:
            problem = "Floats (such as NaN) not in {0, 1}"
        else:
            for hist in ns.histograms:
                for b in hist.buckets:
                    if b.sample_count > 0 and b.low_value > 0 and b.high_value < 1:
                        problem = "Float values falling between 0 and 1"
        if problem:
            f.add(
                T.BOOL_TYPE_UNEXPECTED_FLOAT,
                "Non-boolean values",
                f"{problem}: converting to float_domain.",
            )
            f.clear("bool_domain")
            f.set("float_domain.min", ns.min)
            f.set("float_domain.max", ns.max)
    elif view.type == Stats.STRING:
        bd = f.feature.bool_domain
        valid = sorted(
            {
                v
                for v, has in (
                    (bd.true_value, bd.HasField("true_value")),
                    (bd.false_value, bd.HasField("false_value")),
                )
                if has
            }
        )
        for value in sorted(view.string_counts()):
            if value not in valid:
                desc = "{" + ", ".join(f'"{v}"' for v in valid) + "}" if valid else "{}"
                f.add(
                    T.BOOL_TYPE_UNEXPECTED_STRING,
                    "Non-boolean values",
                    f'Saw unexpected value "{value}" instead of {desc}.',
                )
                f.clear("bool_domain")
                return


def _parsed(values: list[str], parse: type) -> tuple[list[float], str | None]:
    out = []
    for value in values:
        try:
            out.append(float(parse(value)))
        except ValueError:
            return out, value
    return out, None


def _check_int_domain(f: Findings, view: FeatureView) -> None:
    dom = f.feature.int_domain
    if view.type == Stats.INT:
        if not view.has_num_stats:
            return
        lo, hi = view.num_stats.min, view.num_stats.max
    elif view.type == Stats.STRING:
        values, bad = _parsed(sorted(view.string_counts()), int)
        if bad is not None:
            f.add(
                T.INT_TYPE_NOT_INT_STRING,
                "Invalid values",
                f'String values that were not ints were found, such as "{bad}".',
            )
            f.clear("int_domain")
            return
        if not values:
            return
        lo, hi = min(values), max(values)
    else:
        return
    if dom.HasField("min") and lo < dom.min:
        f.add(T.INT_TYPE_SMALL_INT, "Out-of-range values", f"Unexpectedly small value: {lo:.0f}.")
        f.set("int_domain.min", int(lo))
    if dom.HasField("max") and hi > dom.max:
        f.add(T.INT_TYPE_BIG_INT, "Out-of-range values", f"Unexpectedly large value: {hi:.0f}.")
        f.set("int_domain.max", int(hi))


def _check_float_domain(f: Findings, view: FeatureView) -> None:
    dom = f.feature.float_domain
    if view.type == Stats.FLOAT:
        if not view.has_num_stats:
            return
        lo, hi = view.num_stats.min, view.num_stats.max
        has_nan, has_inf = view.num_nan > 0, view.has_inf
    elif view.type == Stats.STRING:
        values, bad = _parsed(sorted(view.string_counts()), float)
        if bad is not None:
            f.add(
                T.FLOAT_TYPE_STRING_NOT_FLOAT,
                "Invalid values",
                f'String values that were not floats were found, such as "{bad}".',
            )
            f.clear("float_domain")
            return
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            return
        lo, hi = min(finite), max(finite)
        has_nan = len(finite) < len(values)
        has_inf = math.isinf(lo) or math.isinf(hi)
    else:
        return
    if dom.HasField("min") and lo < dom.min:
        f.add(
            T.FLOAT_TYPE_SMALL_FLOAT,
            "Out-of-range values",
            f"Unexpectedly low values: {fmt6(lo)}<{fmt6(dom.min)}(upto six significant digits)",
        )
        f.set("float_domain.min", lo)
    if dom.HasField("max") and hi > dom.max:
        f.add(
            T.FLOAT_TYPE_BIG_FLOAT,
            "Out-of-range values",
            f"Unexpectedly high value: {fmt6(hi)}>{fmt6(dom.max)}(upto six significant digits)",
        )
        f.set("float_domain.max", hi)
    if dom.disallow_nan and has_nan:
        f.add(T.FLOAT_TYPE_HAS_NAN, "Invalid values", "Float feature has NaN values.")
        f.set("float_domain.disallow_nan", False)
    if dom.disallow_inf and has_inf:
        f.add(T.FLOAT_TYPE_HAS_INF, "Invalid values", "Float feature has Inf values.")
        f.set("float_domain.disallow_inf", False)
    if dom.is_embedding and dom.embedding_dim > 0:
        lo_n, hi_n = view.min_num_values, view.max_num_values
        if lo_n != dom.embedding_dim or hi_n != dom.embedding_dim:
            f.add(
                T.EMBEDDING_SHAPE_INVALID,
                "Embedding shape invalid",
                f"Examples hold {lo_n} to {hi_n} values, but embedding_dim is {dom.embedding_dim}.",
            )
            if lo_n == hi_n:
                f.set("float_domain.embedding_dim", lo_n)
            else:
                f.set("float_domain.is_embedding", False)


def check_unique(f: Findings, view: FeatureView) -> None:
    """unique_constraints against the distinct values counted in the statistics."""
    uc = f.feature.unique_constraints
    unique = view.unique
    if unique is None:
        f.add(
            T.FEATURE_TYPE_NO_UNIQUE,
            "No unique values",
            "UniqueConstraints specified for the feature, but unique values were not counted "
            "(i.e., feature is not string or categorical).",
        )
        f.clear("unique_constraints")
        return
    if uc.HasField("min") and unique < uc.min:
        f.add(
            T.FEATURE_TYPE_LOW_UNIQUE,
            "Low number of unique values",
            f"Expected at least {uc.min} unique values but found only {unique}.",
        )
        f.set("unique_constraints.min", unique)
    if uc.HasField("max") and unique > uc.max:
        f.add(
            T.FEATURE_TYPE_HIGH_UNIQUE,
            "High number of unique values",
            f"Expected no more than {uc.max} unique values but found {unique}.",
        )
        f.set("unique_constraints.max", unique)
