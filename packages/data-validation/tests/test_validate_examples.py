"""validate_examples_in_csv / _in_tfrecord name the anomalous rows and their values."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

import headwater.data_validation as dv
from headwater.io import write_tfrecord

T = anomalies_pb2.AnomalyInfo
SCHEMA = """
feature { name: "miles" type: FLOAT presence { min_fraction: 1.0 min_count: 1 }
          shape { dim { size: 1 } } float_domain { min: 0 disallow_nan: true } }
feature { name: "hour" type: INT int_domain { min: 0 max: 23 } presence { min_count: 1 } }
feature { name: "pay" type: BYTES domain: "pay" presence { min_count: 1 } }
feature { name: "tipped" type: INT bool_domain {} }
feature { name: "tips" type: FLOAT not_in_environment: "SERVING" presence { min_count: 1 } }
string_domain { name: "pay" value: "Cash" value: "Card" }
default_environment: "TRAINING"
default_environment: "SERVING"
"""
CSV = """miles,hour,pay,tipped,tips
1.5,3,Cash,0,0.0
unknown,4,Card,1,1.0
2.0,24,Bitcoin,0,0.0
,5,Cash,2,0.0
-1.0,7,Card,1,2.0
nan,-1,Cash,0,0.0
"""


@pytest.fixture
def schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA, schema_pb2.Schema())


def _found(result: dv.ExampleValidationResult) -> set[tuple[int, str, int, str]]:
    return {(e.row, e.feature, e.anomaly_type, e.value) for e in result.examples}


def test_csv_rows_and_values_are_named(tmp_path: Path, schema: schema_pb2.Schema) -> None:
    path = tmp_path / "trips.csv"
    path.write_text(CSV)
    result = dv.validate_examples_in_csv(path, schema)
    assert _found(result) == {
        (1, "miles", T.UNEXPECTED_DATA_TYPE, "unknown"),
        (2, "hour", T.INT_TYPE_BIG_INT, "24"),
        (2, "pay", T.ENUM_TYPE_UNEXPECTED_STRING_VALUES, "Bitcoin"),
        (3, "miles", T.FEATURE_TYPE_LOW_FRACTION_PRESENT, ""),
        (3, "tipped", T.BOOL_TYPE_BIG_INT, "2"),
        (4, "miles", T.FLOAT_TYPE_SMALL_FLOAT, "-1"),
        (5, "miles", T.FLOAT_TYPE_HAS_NAN, "nan"),
        (5, "hour", T.INT_TYPE_SMALL_INT, "-1"),
    }
    assert result.num_examples == 6
    assert result.rows() == [(str(path), r) for r in (1, 2, 3, 4, 5)]
    example = next(e for e in result.examples if e.feature == "pay")
    assert example.example == {
        "miles": "2.0",
        "hour": "24",
        "pay": "Bitcoin",
        "tipped": "0",
        "tips": "0.0",
    }  # schema columns are read as the text in the file
    info = result.anomalies.anomaly_info["pay"]
    assert info.reason[0].type == T.ENUM_TYPE_UNEXPECTED_STRING_VALUES
    assert "1 examples (16.7%), e.g. trips.csv row 2: 'Bitcoin'" in info.description


def test_environment_and_missing_and_new_columns(tmp_path: Path, schema: schema_pb2.Schema) -> None:
    path = tmp_path / "serving.csv"
    path.write_text("miles,hour,pay,extra\n1.0,3,Cash,x\n2.0,4,Card,y\n")
    serving = dv.validate_examples_in_csv(path, schema, environment="SERVING")
    assert serving.counts == {("extra", T.SCHEMA_NEW_COLUMN): 2}
    training = dv.validate_examples_in_csv(path, schema, environment="TRAINING")
    assert training.counts == {
        ("extra", T.SCHEMA_NEW_COLUMN): 2,
        ("tips", T.SCHEMA_MISSING_COLUMN): 2,
    }


def test_examples_listed_are_capped_but_counts_are_exact(
    tmp_path: Path, schema: schema_pb2.Schema
) -> None:
    path = tmp_path / "many.csv"
    path.write_text("miles,hour,pay,tipped,tips\n" + "1.0,3,Bitcoin,0,0.0\n" * 50)
    result = dv.validate_examples_in_csv(path, schema, max_examples_per_anomaly=4, batch_size=7)
    assert result.counts == {("pay", T.ENUM_TYPE_UNEXPECTED_STRING_VALUES): 50}
    assert [e.row for e in result.examples] == [0, 1, 2, 3]


def test_tfrecord_rows_and_values(tmp_path: Path, schema: schema_pb2.Schema) -> None:
    batch = pa.record_batch(
        {
            "miles": pa.array([[1.0], [2.0, 3.0], [-4.0]], pa.list_(pa.float32())),
            "hour": pa.array([3, 30, 4], pa.int64()),
            "pay": pa.array(["Cash", "Card", "Bitcoin"]),
            "tips": pa.array([0.5, 1.0, 0.0], pa.float32()),
        }
    )
    files = write_tfrecord([batch], str(tmp_path / "data"), num_shards=1)
    result = dv.validate_examples_in_tfrecord(files[0], schema)
    assert _found(result) == {
        (1, "miles", T.INVALID_FEATURE_SHAPE, "[2.0, 3.0]"),
        (1, "hour", T.INT_TYPE_BIG_INT, "30"),
        (2, "miles", T.FLOAT_TYPE_SMALL_FLOAT, "-4"),
        (2, "pay", T.ENUM_TYPE_UNEXPECTED_STRING_VALUES, "Bitcoin"),
    }


def test_wrong_column_type_in_tfrecord(tmp_path: Path, schema: schema_pb2.Schema) -> None:
    batch = pa.record_batch({"hour": pa.array(["three", "four"]), "pay": ["Cash", "Card"]})
    files = write_tfrecord([batch], str(tmp_path / "bad"), num_shards=1)
    result = dv.validate_examples_in_tfrecord(files[0], schema)
    assert result.counts[("hour", T.UNEXPECTED_DATA_TYPE)] == 2
    assert {e.value for e in result.examples if e.feature == "hour"} == {"three", "four"}


def test_result_renders_its_examples(tmp_path: Path, schema: schema_pb2.Schema) -> None:
    path = tmp_path / "trips.csv"
    path.write_text(CSV)
    result = dv.validate_examples_in_csv(path, schema)
    page = dv.visualize_anomalies(result, path=tmp_path / "rows.html").html
    assert '<table class="hw-table" id="examples">' in page
    assert "Bitcoin" in page
    assert "unknown" in page
    assert result._repr_html_().startswith("<iframe")
