"""Schema text IO and the get / set helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

import headwater.data_validation as dv


@pytest.fixture
def schema() -> schema_pb2.Schema:
    return text_format.Parse(
        """
        feature { name: "age" type: INT presence { min_count: 1 } }
        feature { name: "city" type: BYTES domain: "city" }
        feature { name: "label" type: INT }
        string_domain { name: "city" value: "Oslo" value: "Rome" }
        """,
        schema_pb2.Schema(),
    )


def test_schema_text_round_trips(tmp_path: Path, schema: schema_pb2.Schema) -> None:
    path = tmp_path / "sub" / "schema.pbtxt"
    dv.write_schema_text(schema, path)
    assert dv.load_schema_text(path) == schema
    assert dv.load_schema(path.parent) == schema
    assert list(path.parent.iterdir()) == [path]


def test_binary_schema_is_read_too(tmp_path: Path, schema: schema_pb2.Schema) -> None:
    path = tmp_path / "schema.pb"
    path.write_bytes(schema.SerializeToString())
    assert dv.load_schema(path) == schema


def test_bad_schema_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "schema.pbtxt"
    path.write_text('feature { name: "a" type: INT }\nfeature { nme: "b" }\n')
    with pytest.raises(dv.SchemaError, match=r"schema\.pbtxt.*2:") as info:
        dv.load_schema_text(path)
    assert isinstance(info.value, ValueError)
    with pytest.raises(dv.SchemaError, match="not found"):
        dv.load_schema_text(tmp_path / "missing.pbtxt")


def test_get_feature_names_the_known_features(schema: schema_pb2.Schema) -> None:
    assert dv.get_feature(schema, "age").type == schema_pb2.INT
    with pytest.raises(dv.SchemaError, match=r"no feature 'agee'.*'age', 'city', 'label'"):
        dv.get_feature(schema, "agee")


def test_get_domain_resolves_schema_level_string_domains(schema: schema_pb2.Schema) -> None:
    assert list(dv.get_domain(schema, "city").value) == ["Oslo", "Rome"]
    assert dv.get_domain(schema, "age") is None


def test_set_domain_kinds(schema: schema_pb2.Schema) -> None:
    dv.set_domain(schema, "age", schema_pb2.IntDomain(min=0, max=130))
    assert dv.get_feature(schema, "age").int_domain.max == 130
    dv.set_domain(schema, "city", schema_pb2.StringDomain(name="city", value=["Oslo"]))
    assert list(schema.string_domain[0].value) == ["Oslo"]
    dv.set_domain(schema, "label", schema_pb2.BoolDomain())
    assert dv.get_feature(schema, "label").HasField("bool_domain")
    dv.set_domain(schema, "label", schema_pb2.StringDomain(value=["y", "n"]))
    assert list(dv.get_feature(schema, "label").string_domain.value) == ["y", "n"]


def test_presence_and_value_count(schema: schema_pb2.Schema) -> None:
    dv.set_presence(schema, "age", min_fraction=0.5)
    dv.set_value_count(schema, "age", min=1, max=3)
    age = dv.get_feature(schema, "age")
    assert (age.presence.min_fraction, age.presence.min_count) == (0.5, 1)
    assert (age.value_count.min, age.value_count.max) == (1, 3)
    with pytest.raises(dv.SchemaError, match=r"min_fraction of 'age' must be in \[0, 1\]"):
        dv.set_presence(schema, "age", min_fraction=1.5)
    with pytest.raises(dv.SchemaError, match="min 3 is above max 1"):
        dv.set_value_count(schema, "age", min=3, max=1)


def test_environments(schema: schema_pb2.Schema) -> None:
    dv.set_environments(schema, ["TRAINING", "SERVING"])
    dv.exclude_from_environment(schema, "label", "SERVING")
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    assert list(dv.get_feature(schema, "label").not_in_environment) == ["SERVING"]
    dv.include_in_environment(schema, "label", "SERVING")
    label = dv.get_feature(schema, "label")
    assert list(label.not_in_environment) == []
    assert list(label.in_environment) == ["SERVING"]


def test_deprecation(schema: schema_pb2.Schema) -> None:
    dv.set_deprecated(schema, "age")
    assert dv.is_deprecated(dv.get_feature(schema, "age"))
    dv.set_deprecated(schema, "age", False)
    assert not dv.is_deprecated(dv.get_feature(schema, "age"))
    legacy = schema_pb2.Feature(name="x", deprecated=True)
    assert dv.is_deprecated(legacy)


def test_comparators_tfdv_fields_and_headwater_tags(schema: schema_pb2.Schema) -> None:
    dv.set_drift_comparator(schema, "city", "l_infinity", 0.1)
    dv.set_drift_comparator(schema, "age", "jensen_shannon_divergence", 0.05)
    dv.set_drift_comparator(schema, "age", "psi", 0.2)
    dv.set_drift_comparator(schema, "age", "psi", 0.25)
    dv.set_skew_comparator(schema, "age", "ks", 0.3)
    assert dv.get_feature(schema, "city").drift_comparator.infinity_norm.threshold == 0.1
    assert dv.get_comparators(schema, "age", "drift") == [
        dv.Comparator("jensen_shannon_divergence", 0.05),
        dv.Comparator("psi", 0.25),
    ]
    assert dv.get_comparators(schema, "age", "skew") == [dv.Comparator("ks", 0.3)]
    assert list(dv.get_feature(schema, "age").annotation.tag) == [
        "headwater:drift:psi=0.25",
        "headwater:skew:ks=0.3",
    ]
    with pytest.raises(ValueError, match="metric must be one of"):
        dv.set_drift_comparator(schema, "age", "chi2", 0.1)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        dv.Comparator("psi", -1.0)
