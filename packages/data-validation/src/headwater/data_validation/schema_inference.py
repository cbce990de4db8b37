"""Infer a schema from statistics with TFDV's rules, and relax a schema to accept new data.

Per feature (TFDV's rules, checked against TFDV 1.16 on the same statistics):

* type: INT → INT, FLOAT → FLOAT, STRING and BYTES → BYTES;
* presence: `min_count: 1`, plus `min_fraction: 1.0` when no example misses the feature
  (a feature in no example gets `min_count: 0` and nothing else);
* shape: with `infer_feature_shape`, a feature present in every example with the same
  number of values everywhere gets `shape { dim { size: n } }`; otherwise `value_count`
  with min = max = n when the count is constant, else `min: 1`;
* domain: INT with min >= 0 and max == 1 → `bool_domain`; STRING whose values are one
  true-like and / or one false-like token ("true", "1", "set", ...) → `bool_domain` with those
  values; INT with categorical (string) statistics → `int_domain {}`; other STRING features
  with at most `max_string_domain_size` distinct values → a schema-level `string_domain` named
  after the feature, values sorted; BYTES (binary), invalid UTF-8 or no value at all → no
  domain.
"""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from headwater.data_validation._stats_view import FeatureView, feature_views, select_dataset

__all__ = ["infer_feature", "infer_schema"]

_TRUE_VALUES = ("TRUE", "true", "SET", "set", "1", "")
_FALSE_VALUES = ("FALSE", "false", "CLEAR", "clear", "0")
Stats = statistics_pb2.FeatureNameStatistics


def infer_schema(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
    infer_feature_shape: bool = True,
    max_string_domain_size: int = 100,
) -> schema_pb2.Schema:
    """A schema that the data behind `statistics` satisfies, inferred with TFDV's rules.

    Example:
        schema = infer_schema(generate_statistics_from_csv("train.csv"))
    """
    if max_string_domain_size < 0:
        raise ValueError(f"max_string_domain_size must be >= 0, got {max_string_domain_size}")
    dataset = select_dataset(statistics)
    schema = schema_pb2.Schema()
    for view in feature_views(dataset).values():
        if len(view.stats.path.step) > 1:
            continue  # nested (struct) children: tabular data has none
        infer_feature(
            view,
            schema,
            infer_feature_shape=infer_feature_shape,
            max_string_domain_size=max_string_domain_size,
        )
    return schema


def infer_feature(
    view: FeatureView,
    schema: schema_pb2.Schema,
    *,
    infer_feature_shape: bool,
    max_string_domain_size: int,
) -> schema_pb2.Feature:
    """Add the feature `view` describes to `schema` (with its string domain, if any)."""
    feature = schema.feature.add(name=view.name, type=view.schema_type)
    _init_presence_and_shape(view, feature, infer_feature_shape)
    _init_domain(view, feature, schema, max_string_domain_size)
    return feature


def _init_presence_and_shape(
    view: FeatureView, feature: schema_pb2.Feature, infer_feature_shape: bool
) -> None:
    if view.num_present < 1:
        feature.presence.min_count = 0
        return
    if view.num_missing == 0:
        feature.presence.min_fraction = 1.0
    feature.presence.min_count = 1
    lo, hi = view.min_num_values, view.max_num_values
    if infer_feature_shape and view.num_missing == 0 and lo == hi and lo > 0:
        feature.shape.dim.add(size=lo)
    elif lo > 0:
        if lo == hi:
            feature.value_count.min = lo
            feature.value_count.max = hi
        else:
            feature.value_count.min = 1


def _bool_strings(values: list[str]) -> schema_pb2.BoolDomain | None:
    if not values or len(values) > 2:
        return None
    domain = schema_pb2.BoolDomain()
    for value in values:
        if value in _TRUE_VALUES and not domain.HasField("true_value"):
            domain.true_value = value
        elif value in _FALSE_VALUES and not domain.HasField("false_value"):
            domain.false_value = value
        else:
            return None
    return domain


def _new_domain_name(schema: schema_pb2.Schema, candidate: str) -> str:
    names = {d.name for d in schema.string_domain}
    name, index = candidate, 1
    while name in names:
        index += 1
        name = f"{candidate}{index}"
    return name


def _init_domain(
    view: FeatureView,
    feature: schema_pb2.Feature,
    schema: schema_pb2.Schema,
    max_string_domain_size: int,
) -> None:
    if view.type == Stats.BYTES or view.invalid_utf8_count > 0:
        return
    if view.type == Stats.INT:
        if view.has_num_stats:
            ns = view.num_stats
            if ns.min >= 0.0 and ns.max == 1.0:
                feature.bool_domain.SetInParent()
        elif view.stats.HasField("string_stats"):
            feature.int_domain.SetInParent()
        return
    if view.type != Stats.STRING:
        return
    values = sorted(view.string_counts())
    bool_domain = _bool_strings(values)
    if bool_domain is not None:
        feature.bool_domain.CopyFrom(bool_domain)
        return
    unique = view.unique
    if not values or unique is None or unique > max_string_domain_size:
        return
    if not view.string_values_complete:
        return
    domain = schema.string_domain.add(name=_new_domain_name(schema, view.name))
    domain.value.extend(values)
    feature.domain = domain.name
