"""Tell a schema file from a statistics file, which protobuf alone cannot.

The wire format carries no type: a `DatasetFeatureStatisticsList` parses as a `Schema` with one
nameless feature per dataset, and a `Schema` parses as statistics with one empty dataset per
feature. The loaders check what they parsed (names present, no fields unknown to the proto) and,
when it does not fit, name what the file looks like instead.
"""

from __future__ import annotations

from google.protobuf import message, text_format
from tensorflow_metadata.proto.v0.schema_pb2 import Schema
from tensorflow_metadata.proto.v0.statistics_pb2 import DatasetFeatureStatisticsList as Stats

__all__ = ["has_unknown_fields", "looks_like", "nameless_features", "stats_without_names"]


def has_unknown_fields(msg: message.Message) -> bool:
    """Whether `msg` (or a message inside it) holds fields its proto does not define."""
    clean = type(msg)()
    clean.CopyFrom(msg)
    clean.DiscardUnknownFields()
    return clean.ByteSize() != msg.ByteSize()


def nameless_features(schema: Schema) -> int:
    """How many features, sparse or weighted features of `schema` have no name."""
    groups = (schema.feature, schema.sparse_feature, schema.weighted_feature)
    return sum(1 for group in groups for f in group if not f.name)


def stats_without_names(stats: Stats) -> int:
    """How many features of `stats` have neither a name nor a path."""
    return sum(1 for d in stats.datasets for f in d.features if not f.name and not f.path.step)


def _describe_stats(stats: Stats) -> str | None:
    if not stats.datasets or has_unknown_fields(stats) or stats_without_names(stats):
        return None
    features = sum(len(d.features) for d in stats.datasets)
    return (
        f"statistics (a DatasetFeatureStatisticsList of {len(stats.datasets)} dataset(s), "
        f"{features} feature(s))"
    )


def _describe_schema(schema: Schema) -> str | None:
    if not schema.feature or has_unknown_fields(schema) or nameless_features(schema):
        return None
    return f"a schema (a Schema of {len(schema.feature)} feature(s))"


def _parsed(data: bytes, proto: type[message.Message]) -> message.Message | None:
    msg = proto()
    try:
        msg.ParseFromString(data)
        return msg
    except Exception:  # protobuf raises DecodeError or RuntimeWarning subclasses
        pass
    try:
        return text_format.Parse(data.decode("utf-8"), proto())
    except (UnicodeDecodeError, text_format.ParseError):
        return None


def looks_like(data: bytes) -> str:
    """What `data` (binary or text proto) reads as: statistics, a schema, or neither."""
    stats = _parsed(data, Stats)
    described = _describe_stats(stats) if isinstance(stats, Stats) else None
    if described is None:
        schema = _parsed(data, Schema)
        described = _describe_schema(schema) if isinstance(schema, Schema) else None
    return described or "neither a Schema nor statistics"
