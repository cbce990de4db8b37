"""infer_schema follows TFDV's rules (expected protos taken from TFDV 1.16 on the same data)."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from schema_fixtures import make_stats
from tensorflow_metadata.proto.v0 import schema_pb2

import headwater.data_validation as dv

COLUMNS = {
    "i_full": [1, 2, 3, 4, 5, 6],
    "i01": [0, 1, 0, 1, 1, 0],
    "f_some": [1.5, None, 2.5, 3.0, None, 4.0],
    "s_cat": ["a", "b", "a", "c", "b", "a"],
    "s_some": ["x", None, "y", "x", None, "x"],
}


def _schema(text: str) -> schema_pb2.Schema:
    return text_format.Parse(text, schema_pb2.Schema())


def _assert_proto_equal(actual: schema_pb2.Schema, expected: schema_pb2.Schema) -> None:
    assert text_format.MessageToString(actual) == text_format.MessageToString(expected)


UNIVALENT = "value_count { min: 1 max: 1 }"
ALWAYS = "presence { min_fraction: 1.0 min_count: 1 }"
SOMETIMES = "presence { min_count: 1 }"
SHAPE1 = "shape { dim { size: 1 } }"


def test_infer_schema_without_shapes_matches_tfdv() -> None:
    schema = dv.infer_schema(
        make_stats(COLUMNS), infer_feature_shape=False, max_string_domain_size=2
    )
    expected = _schema(f"""
        feature {{ name: "i_full" {UNIVALENT} type: INT {ALWAYS} }}
        feature {{ name: "i01" {UNIVALENT} type: INT bool_domain {{}} {ALWAYS} }}
        feature {{ name: "f_some" {UNIVALENT} type: FLOAT {SOMETIMES} }}
        feature {{ name: "s_cat" {UNIVALENT} type: BYTES {ALWAYS} }}
        feature {{ name: "s_some" {UNIVALENT} type: BYTES domain: "s_some" {SOMETIMES} }}
        string_domain {{ name: "s_some" value: "x" value: "y" }}
    """)
    _assert_proto_equal(schema, expected)


def test_infer_schema_with_shapes_matches_tfdv() -> None:
    schema = dv.infer_schema(make_stats(COLUMNS), infer_feature_shape=True)
    expected = _schema(f"""
        feature {{ name: "i_full" type: INT {ALWAYS} {SHAPE1} }}
        feature {{ name: "i01" type: INT bool_domain {{}} {ALWAYS} {SHAPE1} }}
        feature {{ name: "f_some" {UNIVALENT} type: FLOAT {SOMETIMES} }}
        feature {{ name: "s_cat" type: BYTES domain: "s_cat" {ALWAYS} {SHAPE1} }}
        feature {{ name: "s_some" {UNIVALENT} type: BYTES domain: "s_some" {SOMETIMES} }}
        string_domain {{ name: "s_cat" value: "a" value: "b" value: "c" }}
        string_domain {{ name: "s_some" value: "x" value: "y" }}
    """)
    _assert_proto_equal(schema, expected)


def test_variable_value_counts_give_min_one_and_fixed_counts_give_both() -> None:
    stats = make_stats({"var": [[1, 2], [3], [4, 5, 6]], "fixed": [[1, 2], [3, 4], [5, 6]]})
    schema = dv.infer_schema(stats, infer_feature_shape=False)
    var, fixed = dv.get_feature(schema, "var"), dv.get_feature(schema, "fixed")
    assert text_format.MessageToString(var.value_count, as_one_line=True) == "min: 1"
    assert text_format.MessageToString(fixed.value_count, as_one_line=True) == "min: 2 max: 2"
    shaped = dv.get_feature(dv.infer_schema(stats), "fixed")
    assert [d.size for d in shaped.shape.dim] == [2]


def test_feature_in_no_example_gets_min_count_zero_only() -> None:
    schema = dv.infer_schema(make_stats({"x": [1, 2], "empty": [None, None]}))
    empty = dv.get_feature(schema, "empty")
    assert text_format.MessageToString(empty, as_one_line=True) == (
        'name: "empty" type: FLOAT presence { min_count: 0 }'
    )


def test_boolean_strings_get_a_bool_domain_with_their_tokens() -> None:
    schema = dv.infer_schema(make_stats({"flag": ["true", "false", "true"], "one": ["0", "0"]}))
    flag = dv.get_feature(schema, "flag")
    assert flag.bool_domain.true_value == "true"
    assert flag.bool_domain.false_value == "false"
    assert dv.get_feature(schema, "one").bool_domain.false_value == "0"
    assert not schema.string_domain


def test_binary_values_get_no_domain() -> None:
    schema = dv.infer_schema(make_stats({"blob": [b"\xff\x00", b"\x01"]}))
    blob = dv.get_feature(schema, "blob")
    assert blob.type == schema_pb2.BYTES
    assert blob.WhichOneof("domain_info") is None


def test_int_with_values_outside_zero_one_gets_no_domain() -> None:
    schema = dv.infer_schema(make_stats({"n": [0, 1, 2], "neg": [-1, 0, 1]}))
    assert dv.get_feature(schema, "n").WhichOneof("domain_info") is None
    assert dv.get_feature(schema, "neg").WhichOneof("domain_info") is None


def test_string_domain_names_do_not_collide() -> None:
    schema = schema_pb2.Schema()
    schema.string_domain.add(name="s", value=["old"])
    from headwater.data_validation._stats_view import feature_views

    views = feature_views(make_stats({"s": ["a", "b"]}).datasets[0])
    from headwater.data_validation.schema_inference import infer_feature

    feature = infer_feature(views["s"], schema, infer_feature_shape=True, max_string_domain_size=9)
    assert feature.domain == "s2"
    assert [d.name for d in schema.string_domain] == ["s", "s2"]


def test_too_many_datasets_is_a_clear_error() -> None:
    stats = make_stats({"x": [1]})
    stats.datasets.add(name="slice_a", num_examples=1)
    stats.datasets[0].name = "slice_b"
    with pytest.raises(dv.InvalidStatisticsError, match="expected one dataset"):
        dv.infer_schema(stats)


def test_string_feature_without_values_gets_no_empty_domain() -> None:
    schema = dv.infer_schema(make_stats({"x": [1, 2], "e": [None, None]}, types={"e": str}))
    empty = dv.get_feature(schema, "e")
    assert empty.WhichOneof("domain_info") is None
    assert not schema.string_domain


def test_infer_schema_on_real_statistics_of_a_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"n": [1, 2, 3, 4], "f": [0.5, 1.5, None, 2.0], "c": ["u", "v", "u", "w"]})
    schema = dv.infer_schema(dv.generate_statistics_from_dataframe(frame))
    assert sorted(f.name for f in schema.feature) == ["c", "f", "n"]
    assert dv.get_feature(schema, "f").presence.min_fraction == 0.0
    assert list(dv.get_domain(schema, "c").value) == ["u", "v", "w"]
