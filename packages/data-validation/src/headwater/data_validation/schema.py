"""Schema helpers: read and write `schema.pbtxt`, get and set features, domains and constraints.

The schema is tensorflow-metadata's `Schema` proto, so a TFX user's schema file works here
unchanged. These helpers keep TFDV's names (`get_feature`, `set_domain`,
`load_schema_text`, `write_schema_text`) and add the few edits every user makes by hand:
presence, value counts, environments, deprecation and drift / skew comparators.

Example:
    schema = load_schema_text("schema.pbtxt")
    set_domain(schema, "payment_type", schema_pb2.StringDomain(value=["Cash", "Card"]))
    exclude_from_environment(schema, "tips", "SERVING")
    write_schema_text(schema, "schema.pbtxt")
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TypeAlias

from google.protobuf import message, text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from headwater.data_validation._proto_kind import has_unknown_fields, looks_like, nameless_features
from headwater.data_validation.drift import Comparator, comparators_of, set_comparator
from headwater.data_validation.schema_errors import SchemaError
from headwater.io import filesystems, write_atomic

__all__ = [
    "Domain",
    "exclude_from_environment",
    "get_comparators",
    "get_domain",
    "get_feature",
    "in_environment",
    "include_in_environment",
    "is_deprecated",
    "is_required",
    "load_schema",
    "load_schema_text",
    "set_deprecated",
    "set_domain",
    "set_drift_comparator",
    "set_environments",
    "set_presence",
    "set_skew_comparator",
    "set_value_count",
    "write_schema_text",
]

Domain: TypeAlias = (
    schema_pb2.StringDomain | schema_pb2.IntDomain | schema_pb2.FloatDomain | schema_pb2.BoolDomain
)

SCHEMA_FILE = "schema.pbtxt"
_EXPECTED = "expected a schema.pbtxt or a binary Schema proto"
_DEPRECATED_STAGES = frozenset(
    {schema_pb2.PLANNED, schema_pb2.ALPHA, schema_pb2.DEPRECATED, schema_pb2.DEBUG_ONLY}
)


def load_schema_text(path: str | os.PathLike[str]) -> schema_pb2.Schema:
    """Read a text-format `Schema` (a `schema.pbtxt`), naming the file and line on bad input."""
    if filesystems.is_url(path):
        return _load_schema_text_url(os.fspath(path))
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: schema file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: cannot read schema file: {exc}") from exc
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(text, schema)
    except text_format.ParseError as exc:
        hint = looks_like(text.encode("utf-8"))
        raise SchemaError(
            f"{path}: not a text-format Schema proto (it looks like {hint}): {exc}"
        ) from exc
    _check_schema(schema, path, text.encode("utf-8"))
    return schema


def _load_schema_text_url(url: str) -> schema_pb2.Schema:
    try:
        data = filesystems.read_bytes(url)
    except FileNotFoundError as exc:
        raise SchemaError(f"{url}: schema file not found") from exc
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(data.decode("utf-8"), schema)
    except (UnicodeDecodeError, text_format.ParseError) as exc:
        raise SchemaError(
            f"{url}: not a text-format Schema proto (it looks like {looks_like(data)}): {exc}"
        ) from exc
    _check_schema(schema, url, data)
    return schema


def _check_schema(schema: schema_pb2.Schema, path: str | os.PathLike[str], data: bytes) -> None:
    """Refuse what parsed as a Schema but is not one (statistics parse as a nameless feature)."""
    nameless = nameless_features(schema)
    if not nameless and not has_unknown_fields(schema):
        return
    kind = looks_like(data)
    if kind.startswith("statistics"):
        raise SchemaError(f"{path}: not a Schema, it looks like {kind}; {_EXPECTED}")
    if nameless:
        raise SchemaError(
            f"{path}: not a valid Schema: {nameless} feature(s) without a name; {_EXPECTED}"
        )


def load_schema(path: str | os.PathLike[str]) -> schema_pb2.Schema:
    """Read a schema from a `.pbtxt` file, a binary proto file, or a Schema artifact directory.

    A file that parses as a Schema but is not one (statistics do: as one nameless feature per
    dataset) raises SchemaError naming the file and what it looks like.
    """
    if filesystems.is_url(path):
        url = os.fspath(path)
        inside = filesystems.join(url, SCHEMA_FILE)
        if filesystems.exists(inside):
            return _load_schema_text_url(inside)
        return _load_schema_text_url(url)
    path = Path(path)
    if path.is_dir():
        candidate = path / SCHEMA_FILE
        if not candidate.exists():
            found = sorted(os.listdir(path))[:5]
            raise SchemaError(
                f"{path}: directory holds no {SCHEMA_FILE} (a Schema artifact holds one), "
                f"found {found}"
            )
        return load_schema_text(candidate)
    if path.suffix in (".pbtxt", ".txt", ".textproto"):
        return load_schema_text(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: schema file not found") from exc
    schema = schema_pb2.Schema()
    try:
        schema.ParseFromString(data)
    except message.DecodeError:
        return load_schema_text(path)
    _check_schema(schema, path, data)
    return schema


def write_schema_text(schema: schema_pb2.Schema, path: str | os.PathLike[str]) -> None:
    """Write `schema` as text format, atomically (a temporary file renamed into place)."""
    write_atomic(path, text_format.MessageToString(schema).encode("utf-8"))


def get_feature(schema: schema_pb2.Schema, name: str) -> schema_pb2.Feature:
    """The feature called `name` (a live reference: edits change the schema)."""
    for feature in schema.feature:
        if feature.name == name:
            return feature
    known = ", ".join(repr(f.name) for f in schema.feature[:20]) or "none"
    raise SchemaError(f"schema has no feature {name!r} (features: {known})")


def _schema_string_domain(schema: schema_pb2.Schema, name: str) -> schema_pb2.StringDomain | None:
    for domain in schema.string_domain:
        if domain.name == name:
            return domain
    return None


def get_domain(schema: schema_pb2.Schema, name: str) -> Domain | None:
    """The domain of feature `name` (a schema-level string domain is resolved), or None."""
    feature = get_feature(schema, name)
    which = feature.WhichOneof("domain_info")
    if which == "domain":
        found = _schema_string_domain(schema, feature.domain)
        if found is None:
            raise SchemaError(
                f"feature {name!r} refers to string domain {feature.domain!r}, "
                "which the schema does not define"
            )
        return found
    if which in ("string_domain", "int_domain", "float_domain", "bool_domain"):
        domain: Domain = getattr(feature, which)
        return domain
    return None


def set_domain(schema: schema_pb2.Schema, name: str, domain: Domain) -> None:
    """Give feature `name` a domain; a named StringDomain goes to the schema level, as TFDV does."""
    feature = get_feature(schema, name)
    if isinstance(domain, schema_pb2.StringDomain) and domain.name:
        existing = _schema_string_domain(schema, domain.name)
        if existing is None:
            existing = schema.string_domain.add()
        existing.CopyFrom(domain)
        feature.domain = domain.name
    elif isinstance(domain, schema_pb2.StringDomain):
        feature.string_domain.CopyFrom(domain)
    elif isinstance(domain, schema_pb2.IntDomain):
        feature.int_domain.CopyFrom(domain)
    elif isinstance(domain, schema_pb2.FloatDomain):
        feature.float_domain.CopyFrom(domain)
    elif isinstance(domain, schema_pb2.BoolDomain):
        feature.bool_domain.CopyFrom(domain)
    else:
        raise SchemaError(
            f"set_domain({name!r}): expected a String/Int/Float/BoolDomain, "
            f"found {type(domain).__name__}"
        )


def set_presence(
    schema: schema_pb2.Schema,
    name: str,
    *,
    min_fraction: float | None = None,
    min_count: int | None = None,
) -> None:
    """Set the fraction and / or count of examples that must have feature `name`."""
    if min_fraction is not None and not 0.0 <= min_fraction <= 1.0:
        raise SchemaError(f"min_fraction of {name!r} must be in [0, 1], got {min_fraction!r}")
    if min_count is not None and min_count < 0:
        raise SchemaError(f"min_count of {name!r} must be >= 0, got {min_count!r}")
    feature = get_feature(schema, name)
    if min_fraction is not None:
        feature.presence.min_fraction = min_fraction
    if min_count is not None:
        feature.presence.min_count = min_count


def set_value_count(
    schema: schema_pb2.Schema, name: str, *, min: int | None = None, max: int | None = None
) -> None:
    """Set how many values each example of feature `name` holds (replaces a fixed shape)."""
    if min is not None and max is not None and min > max:
        raise SchemaError(f"value count of {name!r}: min {min} is above max {max}")
    feature = get_feature(schema, name)
    feature.ClearField("shape")
    value_count = feature.value_count
    if min is not None:
        value_count.min = min
    if max is not None:
        value_count.max = max
    feature.value_count.CopyFrom(value_count)


def set_environments(schema: schema_pb2.Schema, environments: Iterable[str]) -> None:
    """Declare the schema's default environments (e.g. TRAINING and SERVING)."""
    del schema.default_environment[:]
    schema.default_environment.extend(environments)


def exclude_from_environment(schema: schema_pb2.Schema, name: str, environment: str) -> None:
    """Mark feature `name` as absent in `environment` (e.g. the label in SERVING)."""
    feature = get_feature(schema, name)
    if environment in feature.in_environment:
        feature.in_environment.remove(environment)
    if environment not in feature.not_in_environment:
        feature.not_in_environment.append(environment)


def include_in_environment(schema: schema_pb2.Schema, name: str, environment: str) -> None:
    """Mark feature `name` as present in `environment`."""
    feature = get_feature(schema, name)
    if environment in feature.not_in_environment:
        feature.not_in_environment.remove(environment)
    if environment not in feature.in_environment:
        feature.in_environment.append(environment)


def is_deprecated(feature: schema_pb2.Feature) -> bool:
    """Whether validation skips `feature` (deprecated, or a PLANNED/ALPHA/DEBUG_ONLY stage)."""
    if feature.deprecated:
        return True
    return feature.HasField("lifecycle_stage") and feature.lifecycle_stage in _DEPRECATED_STAGES


def set_deprecated(schema: schema_pb2.Schema, name: str, deprecated: bool = True) -> None:
    """Deprecate feature `name` (lifecycle_stage DEPRECATED), or bring it back to PRODUCTION."""
    feature = get_feature(schema, name)
    feature.deprecated = False
    feature.ClearField("deprecated")
    if deprecated:
        feature.lifecycle_stage = schema_pb2.DEPRECATED
    else:
        feature.ClearField("lifecycle_stage")


def set_drift_comparator(
    schema: schema_pb2.Schema, name: str, metric: str, threshold: float
) -> None:
    """Compare feature `name` with the previous span by `metric` (see `Comparator.metric`)."""
    set_comparator(get_feature(schema, name), "drift", Comparator(metric, threshold))


def set_skew_comparator(
    schema: schema_pb2.Schema, name: str, metric: str, threshold: float
) -> None:
    """Compare feature `name` between training and serving by `metric`."""
    set_comparator(get_feature(schema, name), "skew", Comparator(metric, threshold))


def get_comparators(schema: schema_pb2.Schema, name: str, kind: str) -> list[Comparator]:
    """The comparators of feature `name` for `kind` 'drift' or 'skew'."""
    return comparators_of(get_feature(schema, name), kind)


def in_environment(
    schema: schema_pb2.Schema, feature: schema_pb2.Feature, environment: str | None
) -> bool:
    """Whether `feature` belongs to `environment` (every feature does when it is None)."""
    if environment is None:
        return True
    if environment in feature.in_environment:
        return True
    if environment in feature.not_in_environment:
        return False
    return environment in schema.default_environment


def is_required(
    schema: schema_pb2.Schema, feature: schema_pb2.Feature, environment: str | None
) -> bool:
    """Whether data of `environment` must have `feature` (TFDV's IsExistenceRequired)."""
    if is_deprecated(feature):
        return False
    if feature.presence.min_count <= 0 and feature.presence.min_fraction <= 0.0:
        return False
    return in_environment(schema, feature, environment)
