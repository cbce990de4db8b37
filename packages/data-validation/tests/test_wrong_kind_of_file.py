"""A file of the wrong kind is refused by name (issue 19): statistics given as a schema and back.

Protobuf's wire format has no types: statistics parse as a Schema with one nameless feature, a
Schema as statistics with empty datasets. The loaders say what the file looks like instead.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

import headwater.data_validation as dv
from headwater.io import InputError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Statistics and their schema, each as a binary and a text proto."""
    out = tmp_path_factory.mktemp("kinds")
    stats = dv.generate_statistics(
        pa.record_batch({"a": [1, 2, 3], "b": ["x", "y", "x"], "c": [0.5, 1.5, 2.5]})
    )
    schema = dv.infer_schema(stats)
    dv.write_stats_binary(stats, out / "Split-train" / "FeatureStats.pb")
    dv.write_stats_text(stats, out / "stats.pbtxt")
    dv.write_schema_text(schema, out / "Schema" / "schema.pbtxt")
    (out / "schema.pb").write_bytes(schema.SerializeToString())
    return out, stats, schema


STATS_LOOK = "statistics (a DatasetFeatureStatisticsList of 1 dataset(s), 3 feature(s))"
SCHEMA_LOOK = "a schema (a Schema of 3 feature(s))"


def test_binary_statistics_are_not_a_schema(files) -> None:
    out, _, _ = files
    path = out / "Split-train" / "FeatureStats.pb"
    with pytest.raises(dv.SchemaError) as info:
        dv.load_schema(path)
    assert str(info.value) == (
        f"{path}: not a Schema, it looks like {STATS_LOOK}; "
        "expected a schema.pbtxt or a binary Schema proto"
    )


def test_text_statistics_are_not_a_schema(files) -> None:
    out, _, _ = files
    path = out / "stats.pbtxt"
    with pytest.raises(dv.SchemaError, match=rf"^{path}: not a text-format Schema proto "):
        dv.load_schema(path)
    with pytest.raises(dv.SchemaError) as info:
        dv.load_schema_text(path)
    assert f"it looks like {STATS_LOOK}" in str(info.value)


def test_a_statistics_directory_is_not_a_schema_artifact(files) -> None:
    out, _, _ = files
    with pytest.raises(dv.SchemaError) as info:
        dv.load_schema(out / "Split-train")
    assert str(info.value) == (
        f"{out / 'Split-train'}: directory holds no schema.pbtxt (a Schema artifact holds one), "
        "found ['FeatureStats.pb']"
    )


def test_a_schema_is_not_statistics(files) -> None:
    out, _, _ = files
    binary = out / "schema.pb"
    expected = "expected a DatasetFeatureStatisticsList (a FeatureStats.pb)"
    for load in (dv.load_statistics, dv.load_stats_binary):
        with pytest.raises(dv.StatisticsError) as info:
            load(binary)
        assert (
            str(info.value) == f"{binary}: not statistics, it looks like {SCHEMA_LOOK}; {expected}"
        )
    text = out / "Schema" / "schema.pbtxt"
    with pytest.raises(dv.StatisticsError) as info:
        dv.load_statistics(text)
    assert str(info.value) == (
        f"{text}: neither a binary nor a text DatasetFeatureStatisticsList, "
        f"it looks like {SCHEMA_LOOK}"
    )
    with pytest.raises(dv.StatisticsError) as info:
        dv.load_stats_text(text)
    assert f"it looks like {SCHEMA_LOOK}" in str(info.value)
    with pytest.raises(dv.StatisticsError, match=r"directory holds no FeatureStats\.pb"):
        dv.load_statistics(out / "Schema")


def test_the_right_kinds_still_load(files) -> None:
    out, stats, schema = files
    assert dv.load_schema(out / "Schema") == schema
    assert dv.load_schema(out / "schema.pb") == schema
    assert dv.load_statistics(out / "Split-train") == stats
    assert dv.load_statistics(out / "stats.pbtxt") == stats
    assert dv.load_stats_binary(out / "Split-train" / "FeatureStats.pb") == stats


def test_a_schema_with_a_nameless_feature_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "schema.pbtxt"
    path.write_text('feature { name: "a" type: INT }\nfeature { type: FLOAT }\n')
    with pytest.raises(dv.SchemaError) as info:
        dv.load_schema(path)
    assert str(info.value) == (
        f"{path}: not a valid Schema: 1 feature(s) without a name; "
        "expected a schema.pbtxt or a binary Schema proto"
    )


def test_a_newer_schema_with_unknown_fields_still_loads(tmp_path: Path) -> None:
    """Fields a newer tensorflow-metadata adds are not a reason to refuse a schema."""
    schema = schema_pb2.Schema(feature=[schema_pb2.Feature(name="a", type=schema_pb2.INT)])
    unknown_field_999 = b"\xba\x3e\x02hi"  # tag (999 << 3 | 2), length 2, "hi"
    path = tmp_path / "schema.pb"
    path.write_bytes(schema.SerializeToString() + unknown_field_999)
    loaded = dv.load_schema(path)
    assert [f.name for f in loaded.feature] == ["a"]


def test_a_csv_with_a_repeated_column_name_is_refused_by_statistics(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,a,b\n1,2,x\n3,4,y\n")
    with pytest.raises(InputError) as info:
        dv.generate_statistics_from_csv(str(path))
    assert (info.value.path, info.value.reason) == (str(path), "duplicate column names")
    assert info.value.found == "['a'] repeated in ['a', 'a', 'b']"


def test_batches_and_dataframes_with_a_repeated_name_are_refused() -> None:
    import pandas as pd

    table = pa.table(
        [pa.array([1, 2]), pa.array([3, 4]), pa.array(["x", "y"])], names=["a", "a", "b"]
    )
    with pytest.raises(dv.StatisticsError) as info:
        dv.generate_statistics(table)
    assert str(info.value) == (
        "features ['a'] appear more than once in the batch's columns ['a', 'a', 'b']; "
        "expected each feature once"
    )
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "b"])
    with pytest.raises(dv.StatisticsError) as info:
        dv.generate_statistics_from_dataframe(frame)
    assert str(info.value) == (
        "DataFrame columns ['b'] appear more than once in ['a', 'b', 'b']; "
        "expected each feature once"
    )
