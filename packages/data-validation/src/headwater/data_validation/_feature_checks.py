"""The checks of one feature's statistics against its schema entry, in TFDV's order and words.

Each check appends `Reason`s (TFDV's anomaly type, short and long description) and relaxes
the working copy of the feature so that it accepts the data, recording each edit. The order
follows TFDV: the schema entry itself, value counts and shape, presence, type, domain,
unique values. Comparators (drift and skew) live in `validation.py`.
"""

from __future__ import annotations

import math

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from headwater.data_validation._findings import Findings, fmt6
from headwater.data_validation._stats_view import FeatureView

T = anomalies_pb2.AnomalyInfo
Stats = statistics_pb2.FeatureNameStatistics

_ALLOWED_TYPES = {
    "domain": {schema_pb2.BYTES},
    "bool_domain": {schema_pb2.INT, schema_pb2.BYTES, schema_pb2.FLOAT},
    "int_domain": {schema_pb2.INT, schema_pb2.BYTES},
    "float_domain": {schema_pb2.FLOAT, schema_pb2.BYTES},
    "string_domain": {schema_pb2.BYTES},
    "struct_domain": {schema_pb2.STRUCT},
    "natural_language_domain": {schema_pb2.BYTES, schema_pb2.INT},
    "image_domain": {schema_pb2.BYTES},
    "mid_domain": {schema_pb2.BYTES},
    "url_domain": {schema_pb2.BYTES},
    "time_domain": {schema_pb2.INT, schema_pb2.BYTES},
}
_STRING_DOMAINS = ("domain", "string_domain")


def type_name(schema_type: int) -> str:
    """A schema FeatureType's name, e.g. 'INT'."""
    return str(schema_pb2.FeatureType.Name(schema_type))


def _domain_kind(feature: schema_pb2.Feature) -> str | None:
    return feature.WhichOneof("domain_info")


def check_schema_entry(f: Findings, schema: schema_pb2.Schema, view: FeatureView | None) -> bool:
    """Problems of the schema entry itself; False when the feature cannot be validated further."""
    feature = f.feature
    if not feature.HasField("type") or feature.type == schema_pb2.TYPE_UNKNOWN:
        if _domain_kind(feature) in _STRING_DOMAINS:
            f.add(
                T.FEATURE_MISSING_TYPE,
                "unspecified type: inferring the type to be BYTES, given the domain specified.",
            )
            f.set("type", schema_pb2.BYTES)
        elif view is not None and view.schema_type != schema_pb2.TYPE_UNKNOWN:
            f.add(
                T.FEATURE_MISSING_TYPE,
                "unspecified type: determine the type and set it, rather than deprecating.",
                f"The schema gives feature {f.name} no type; the data holds {view.type_name}.",
            )
            f.set("type", view.schema_type)
        else:
            f.add(
                T.FEATURE_MISSING_TYPE,
                "unspecified type: determine the type and set it, rather than deprecating.",
            )
            f.deprecate()
            return False
    presence = feature.presence
    if presence.min_fraction < 0.0:
        f.add(
            T.INVALID_SCHEMA_SPECIFICATION,
            "min_fraction should not be negative: clear is equal to zero",
        )
        f.clear("presence.min_fraction")
    if presence.min_fraction > 1.0:
        f.add(T.INVALID_SCHEMA_SPECIFICATION, "min_fraction should not greater than 1")
        f.set("presence.min_fraction", 1.0)
    if presence.min_count < 0:
        f.add(T.INVALID_SCHEMA_SPECIFICATION, "min_count should not be negative")
        f.clear("presence.min_count")
    if feature.value_count.min < 0:
        f.add(T.INVALID_SCHEMA_SPECIFICATION, "ValueCount.min should not be negative")
        f.clear("value_count.min")
    vc = feature.value_count
    if vc.HasField("max") and vc.max < vc.min:
        f.add(T.INVALID_SCHEMA_SPECIFICATION, "ValueCount.max should not be less than min")
        f.set("value_count.max", vc.min)
    both = sorted(set(feature.in_environment) & set(feature.not_in_environment))
    if both:
        f.add(
            T.INVALID_SCHEMA_SPECIFICATION,
            "Contradictory environments",
            f"Feature {f.name} is both in and not in environment(s) {', '.join(both)}.",
        )
        for env in both:
            feature.not_in_environment.remove(env)
            f.record(f"not_in_environment[{env}]", env, None)
    uc = feature.unique_constraints
    if uc.HasField("min") and uc.HasField("max") and uc.max < uc.min:
        f.add(
            T.INVALID_SCHEMA_SPECIFICATION,
            "UniqueConstraints.max should not be less than min",
            f"unique_constraints of {f.name}: max {uc.max} is below min {uc.min}.",
        )
        f.set("unique_constraints.max", uc.min)
    kind = _domain_kind(feature)
    if kind is not None and feature.type not in _ALLOWED_TYPES.get(kind, {feature.type}):
        f.add(
            T.DOMAIN_INVALID_FOR_TYPE,
            "The domain does not match the type",
            f'The domain "{kind}" does not match the type: {type_name(feature.type)}',
        )
        f.clear(kind)
        kind = None
    _check_domain_entry(f, schema, kind)
    return True


def _check_domain_entry(f: Findings, schema: schema_pb2.Schema, kind: str | None) -> None:
    feature = f.feature
    if feature.HasField("distribution_constraints") and kind not in _STRING_DOMAINS:
        f.add(
            T.INVALID_SCHEMA_SPECIFICATION,
            "distribution constraints require domain or string domain."
            if kind is None
            else f"distribution constraints not supported for {kind}s.",
        )
        f.clear("distribution_constraints")
    if kind == "domain" and not any(d.name == feature.domain for d in schema.string_domain):
        f.add(
            T.INVALID_DOMAIN_SPECIFICATION,
            f"missing domain: {feature.domain}",
            f"Feature {f.name} refers to string domain {feature.domain!r}, "
            "which the schema does not define.",
        )
        f.clear("domain")
    elif kind == "bool_domain":
        bd = feature.bool_domain
        both_set = bd.HasField("true_value") and bd.HasField("false_value")
        if both_set and bd.true_value == bd.false_value:
            f.add(
                T.INVALID_DOMAIN_SPECIFICATION,
                "Malformed BoolDomain",
                f"True and false value equal for BoolDomain:{bd.true_value}. The suggested "
                "change is to clear the false_value, but a domain expert should review this "
                "change.",
            )
            f.clear("bool_domain.false_value")
    elif kind == "string_domain":
        values = list(feature.string_domain.value)
        if len(set(values)) != len(values):
            dupes = sorted({v for v in values if values.count(v) > 1})
            f.add(
                T.INVALID_DOMAIN_SPECIFICATION,
                "Repeated values in string domain",
                f"string_domain of {f.name} repeats {', '.join(dupes)}.",
            )
            del feature.string_domain.value[:]
            feature.string_domain.value.extend(dict.fromkeys(values))
            f.note("string_domain.value", f"{len(values)} values", f"{len(set(values))} values")
    elif kind in ("int_domain", "float_domain"):
        dom = getattr(feature, kind)
        if dom.HasField("min") and dom.HasField("max") and dom.max < dom.min:
            f.add(
                T.INVALID_DOMAIN_SPECIFICATION,
                f"{kind} max below min",
                f"{kind} of {f.name}: max {fmt6(dom.max)} is below min {fmt6(dom.min)}.",
            )
            f.set(f"{kind}.max", dom.min)


def check_value_counts(f: Findings, view: FeatureView) -> None:
    """value_count / value_counts / shape against the values per example."""
    feature = f.feature
    lo, hi = view.min_num_values, view.max_num_values
    if (
        view.num_present > 0
        and view.tot_num_values == 0
        and (feature.value_count.min >= 1 or feature.HasField("shape"))
    ):
        f.add(
            T.FEATURE_TYPE_NO_VALUES,
            "No values",
            f"The feature is present in {view.num_present:g} examples but holds no value in any.",
        )
    which = feature.WhichOneof("shape_type")
    if which == "value_counts" and len(feature.value_counts.value_count) != view.nestedness:
        f.add(
            T.VALUE_NESTEDNESS_MISMATCH,
            "Mismatched value nest level",
            "The values have a different nest level than expected. Value counts will not be "
            "checked.",
        )
        f.clear("value_counts")
        _init_value_count(f, lo, hi)
    elif which == "value_count":
        if view.nestedness > 1:
            f.add(
                T.VALUE_NESTEDNESS_MISMATCH,
                "Mismatched value nest level",
                "This feature has a value_count, but the nestedness level of the feature > 1. "
                "For features with nestedness levels greater than 1, value_counts, not "
                "value_count, should be specified.",
            )
            f.clear("value_count")
            return
        vc = feature.value_count
        if vc.HasField("min") and lo < vc.min:
            f.add(
                T.FEATURE_TYPE_LOW_NUMBER_VALUES,
                "Missing values",
                "Some examples have fewer values than expected.",
            )
            if lo == 0:
                f.clear("value_count.min")
            else:
                f.set("value_count.min", lo)
        if vc.HasField("max") and hi > vc.max:
            f.add(
                T.FEATURE_TYPE_HIGH_NUMBER_VALUES,
                "Superfluous values",
                "Some examples have more values than expected.",
            )
            f.set("value_count.max", hi)
    elif which == "shape":
        size = math.prod(d.size for d in feature.shape.dim)
        if view.num_missing != 0 or lo != hi or lo != size:
            f.add(
                T.INVALID_FEATURE_SHAPE,
                "Feature shape dropped",
                "The feature has a shape, but it's not always present (if the feature is "
                "nested, then it should always be present at each nested level) or its value "
                "lengths vary.",
            )
            if size <= 1 and hi > 1:
                f.add(
                    T.FEATURE_TYPE_UNEXPECTED_REPEATED,
                    "Unexpected repeated values",
                    f"The shape holds one value per example, but some examples have {hi} values.",
                )
            f.clear("shape")
            _init_value_count(f, lo, hi)


def _init_value_count(f: Findings, lo: int, hi: int) -> None:
    if lo > 0:
        if lo == hi:
            f.set("value_count.min", lo)
            f.set("value_count.max", hi)
        else:
            f.set("value_count.min", 1)


def check_presence(f: Findings, view: FeatureView) -> None:
    """presence.min_fraction and presence.min_count against the examples that have the feature."""
    presence = f.feature.presence
    n = view.num_examples
    fraction = view.num_present / n if n > 0 else 0.0
    if presence.HasField("min_fraction") and (
        fraction < presence.min_fraction or (presence.min_fraction == 1.0 and view.num_missing != 0)
    ):
        f.add(
            T.FEATURE_TYPE_LOW_FRACTION_PRESENT,
            "Column dropped",
            "The feature was present in fewer examples than expected: minimum fraction = "
            f"{presence.min_fraction:f}, actual = {fraction:f}",
        )
        f.set("presence.min_fraction", fraction)
    if presence.HasField("min_count") and view.num_present < presence.min_count:
        f.add(
            T.FEATURE_TYPE_LOW_NUMBER_PRESENT,
            "Column dropped",
            "The feature was present in fewer examples than expected: minimum count = "
            f"{presence.min_count}, actual = {view.num_present:g}",
        )
        f.set("presence.min_count", int(view.num_present))


def _mismatch_reason(feature: schema_pb2.Feature, view: FeatureView) -> tuple[int, str] | None:
    """The specific anomaly type of a type mismatch, by the schema's domain (TFDV has none)."""
    kind, schema_type, data = _domain_kind(feature), feature.type, view.type
    numeric = data in (Stats.INT, Stats.FLOAT)
    if data == Stats.STRUCT:
        if kind == "int_domain":
            return T.INT_TYPE_UNKNOWN_TYPE_NUMBER, "Non-numeric values"
        if kind == "float_domain":
            return T.FLOAT_TYPE_UNKNOWN_TYPE_NUMBER, "Non-numeric values"
        return None
    if kind in _STRING_DOMAINS and numeric:
        if data == Stats.INT:
            return T.ENUM_TYPE_INT_NOT_STRING, "Integers instead of strings"
        return T.ENUM_TYPE_FLOAT_NOT_STRING, "Floats instead of strings"
    if kind is None and schema_type == schema_pb2.BYTES and numeric:
        if data == Stats.INT:
            return T.STRING_TYPE_NOW_INT, "String column now holds integers"
        return T.STRING_TYPE_NOW_FLOAT, "String column now holds floats"
    if kind == "bool_domain":
        if schema_type == schema_pb2.INT:
            return {
                Stats.STRING: (T.BOOL_TYPE_STRING_NOT_INT, "Strings instead of 0/1 integers"),
                Stats.BYTES: (T.BOOL_TYPE_BYTES_NOT_INT, "Bytes instead of 0/1 integers"),
                Stats.FLOAT: (T.BOOL_TYPE_FLOAT_NOT_INT, "Floats instead of 0/1 integers"),
            }.get(data)
        if schema_type == schema_pb2.BYTES:
            return {
                Stats.INT: (T.BOOL_TYPE_INT_NOT_STRING, "Integers instead of boolean strings"),
                Stats.FLOAT: (T.BOOL_TYPE_FLOAT_NOT_STRING, "Floats instead of boolean strings"),
            }.get(data)
    if kind == "int_domain":
        if schema_type == schema_pb2.INT:
            return T.INT_TYPE_INT_EXPECTED, "Integers expected"
        if numeric:
            return T.INT_TYPE_STRING_EXPECTED, "Integers as strings expected"
    if kind == "float_domain":
        if schema_type == schema_pb2.FLOAT:
            return T.FLOAT_TYPE_NOT_FLOAT, "Floats expected"
        if numeric:
            return T.FLOAT_TYPE_NON_STRING, "Floats as strings expected"
    return None


def check_type(f: Findings, view: FeatureView) -> bool:
    """The data's type against the schema's; False when they differ (domains then not checked)."""
    feature = f.feature
    if view.schema_type == feature.type:
        return True
    f.add(
        T.UNEXPECTED_DATA_TYPE,
        "Unexpected data type",
        f"Expected data of type: {type_name(feature.type)} but got {view.type_name}",
    )
    specific = _mismatch_reason(feature, view)
    if specific is not None:
        f.add(
            specific[0],
            specific[1],
            f"Feature {f.name} is {type_name(feature.type)} with "
            f"{_domain_kind(feature) or 'no domain'} in the schema, but the data holds "
            f"{view.type_name} values.",
        )
    f.set("type", view.schema_type)
    kind = _domain_kind(feature)
    if kind is not None and view.schema_type not in _ALLOWED_TYPES.get(kind, set()):
        f.clear(kind)
    return False


def check_binary_domain(f: Findings, view: FeatureView) -> None:
    """Binary (non-UTF-8) data cannot be checked against a string, bool, int or float domain."""
    kind = _domain_kind(f.feature)
    if view.type != Stats.BYTES or kind in (None, "natural_language_domain", "image_domain"):
        return
    if kind == "url_domain":
        return
    f.add(
        T.DOMAIN_INVALID_FOR_TYPE,
        "The domain does not match the type",
        f"Data is marked as BYTES with incompatible domain_info: {kind}",
    )
    specific = {
        "domain": T.ENUM_TYPE_BYTES_NOT_STRING,
        "string_domain": T.ENUM_TYPE_BYTES_NOT_STRING,
        "bool_domain": T.BOOL_TYPE_BYTES_NOT_STRING,
        "int_domain": T.INT_TYPE_NOT_STRING,
    }.get(kind)
    if specific is not None:
        f.add(specific, "Binary values", f"Feature {f.name} holds binary (non-UTF-8) values.")
    f.clear(kind)
