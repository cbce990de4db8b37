"""validate_statistics: environments, bad schemas and statistics, fixes, TFDV's wording."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from schema_fixtures import make_stats
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

import headwater.data_validation as dv

T = anomalies_pb2.AnomalyInfo
TRAIN = {"x": [1, 2, 3, 4], "city": ["a", "b", "a", "b"], "label": [0, 1, 1, 0]}


@pytest.fixture
def schema() -> schema_pb2.Schema:
    schema = dv.infer_schema(make_stats(TRAIN))
    dv.set_environments(schema, ["TRAINING", "SERVING"])
    dv.exclude_from_environment(schema, "label", "SERVING")
    return schema


def _types(anomalies: anomalies_pb2.Anomalies) -> dict[str, list[int]]:
    return {k: [r.type for r in v.reason] for k, v in anomalies.anomaly_info.items()}


def test_label_absent_in_serving_is_fine(schema: schema_pb2.Schema) -> None:
    serving = make_stats({"x": [5, 6], "city": ["a", "a"]})
    assert not dv.validate_statistics(serving, schema, environment="SERVING").anomaly_info
    training = dv.validate_statistics(serving, schema, environment="TRAINING")
    assert _types(training) == {"label": [T.SCHEMA_MISSING_COLUMN]}
    fix = dv.check_statistics(serving, schema, environment="TRAINING").changes["label"]
    assert [str(c) for c in fix] == ['label: not_in_environment: (unset) -> "TRAINING"']


def test_label_present_in_serving_is_a_new_column_in_that_environment(
    schema: schema_pb2.Schema,
) -> None:
    anomalies = dv.validate_statistics(make_stats(TRAIN), schema, environment="SERVING")
    info = anomalies.anomaly_info["label"]
    assert info.short_description == "Column missing in environment"
    assert info.reason[0].description == (
        "New column label found in data but not in the environment SERVING in the schema."
    )


def test_unknown_environment_is_a_clear_error(schema: schema_pb2.Schema) -> None:
    with pytest.raises(dv.SchemaError, match="environment 'SERVNG' is not in the schema"):
        dv.validate_statistics(make_stats(TRAIN), schema, environment="SERVNG")


def test_disjoint_statistics_give_new_and_missing_columns(schema: schema_pb2.Schema) -> None:
    other = make_stats({"u": [1.0, 2.0], "v": ["p", "q"]})
    found = _types(dv.validate_statistics(other, schema))
    assert found == {
        "x": [T.SCHEMA_MISSING_COLUMN],
        "city": [T.SCHEMA_MISSING_COLUMN],
        "label": [T.SCHEMA_MISSING_COLUMN],
        "u": [T.SCHEMA_NEW_COLUMN],
        "v": [T.SCHEMA_NEW_COLUMN],
    }


def test_invalid_schemas_give_anomalies_never_a_crash() -> None:
    schema = text_format.Parse(
        """
        feature { name: "x" type: FLOAT int_domain { min: 0 } }
        feature { name: "city" type: BYTES domain: "nowhere" presence { min_fraction: 1.5 } }
        feature { name: "label" type: INT in_environment: "SERVING"
                  not_in_environment: "SERVING" presence { min_count: -2 } }
        feature { name: "x" type: INT }
        feature { name: "y" type: INT value_count { min: 4 max: 2 }
                  int_domain { min: 9 max: 1 } unique_constraints { min: 5 max: 1 } }
        sparse_feature { name: "sp" value_feature { name: "ghost" } }
        dataset_constraints { min_examples_count: 10 max_examples_count: 2 }
        """,
        schema_pb2.Schema(),
    )
    anomalies = dv.validate_statistics(make_stats(TRAIN), schema)
    found = _types(anomalies)
    assert T.DOMAIN_INVALID_FOR_TYPE in found["x"]
    assert T.INVALID_DOMAIN_SPECIFICATION in found["city"]
    assert T.INVALID_SCHEMA_SPECIFICATION in found["city"]
    assert found["label"][:2] == [T.INVALID_SCHEMA_SPECIFICATION, T.INVALID_SCHEMA_SPECIFICATION]
    assert found["y"][:3] == [
        T.INVALID_SCHEMA_SPECIFICATION,
        T.INVALID_SCHEMA_SPECIFICATION,
        T.INVALID_DOMAIN_SPECIFICATION,
    ]
    assert found["sp"] == [T.INVALID_SCHEMA_SPECIFICATION]
    dataset = [r.type for r in anomalies.dataset_anomaly_info.reason]
    assert dataset[0] == T.INVALID_SCHEMA_SPECIFICATION
    assert "ghost" in anomalies.anomaly_info["sp"].description


def test_bad_arguments_are_clear_errors(schema: schema_pb2.Schema) -> None:
    with pytest.raises(dv.InvalidStatisticsError, match="expected a DatasetFeatureStatisticsList"):
        dv.validate_statistics(schema, schema)  # type: ignore[arg-type]
    with pytest.raises(dv.SchemaError, match="expected a Schema proto"):
        dv.validate_statistics(make_stats(TRAIN), make_stats(TRAIN))  # type: ignore[arg-type]
    with pytest.raises(dv.InvalidStatisticsError, match="previous_statistics"):
        dv.validate_statistics(
            make_stats(TRAIN), schema, previous_statistics=anomalies_pb2.Anomalies()
        )  # type: ignore[arg-type]


def test_update_schema_accepts_what_it_saw(schema: schema_pb2.Schema) -> None:
    new = make_stats(
        {
            "x": [1, 2, None, 900],
            "city": ["a", "z", "a", "b"],
            "label": [0, 1, 1, 0],
            "n": [1.0] * 4,
        }
    )
    assert dv.validate_statistics(new, schema).anomaly_info
    updated = dv.update_schema(schema, new)
    assert not dv.validate_statistics(new, updated).anomaly_info
    assert list(dv.get_domain(updated, "city").value) == ["a", "b", "z"]
    assert dv.get_feature(updated, "n").type == schema_pb2.FLOAT
    assert schema != updated  # the input is left alone


def test_diff_regions_show_the_feature_before_and_after(schema: schema_pb2.Schema) -> None:
    stats = make_stats({"x": [1, None, 3, 4], "city": ["a"] * 4, "label": [0] * 4})
    info = dv.validate_statistics(stats, schema).anomaly_info["x"]
    changed = [r.changed for r in info.diff_regions if r.HasField("changed")]
    assert changed
    assert any("min_fraction" in line for c in changed for line in c.left_contents)
    assert any(
        "value_count" in line for r in info.diff_regions for line in r.added.contents
    ) or any("value_count" in line for c in changed for line in c.right_contents)


def test_severity_overrides(schema: schema_pb2.Schema) -> None:
    stats = make_stats({**TRAIN, "extra": [1, 2, 3, 4]})
    anomalies = dv.validate_statistics(
        stats, schema, severity_overrides={T.SCHEMA_NEW_COLUMN: T.WARNING}
    )
    assert anomalies.anomaly_info["extra"].severity == T.WARNING


def test_anomalies_proto_is_filled_as_tfdv_fills_it(schema: schema_pb2.Schema) -> None:
    anomalies = dv.validate_statistics(make_stats({**TRAIN, "x": [1.5, 2.0, 3.0, 4.0]}), schema)
    assert anomalies.baseline == schema
    assert anomalies.anomaly_name_format == anomalies_pb2.Anomalies.SERIALIZED_PATH
    info = anomalies.anomaly_info["x"]
    assert list(info.path.step) == ["x"]
    assert info.short_description == "Unexpected data type"
    assert info.reason[0].description == "Expected data of type: INT but got FLOAT"
    assert info.description.startswith("Expected data of type: INT but got FLOAT Suggested fix:")
    assert "type: INT -> FLOAT" in info.description


def test_deprecated_features_are_not_checked(schema: schema_pb2.Schema) -> None:
    dv.set_deprecated(schema, "x")
    stats = make_stats({"city": ["a"] * 4, "label": [0] * 4})
    assert not dv.validate_statistics(stats, schema).anomaly_info
