"""One tiny dataset per anomaly type that triggers it (golden Anomalies), and one that does not.

Goldens live in `goldens/anomalies/<case>.pbtxt` (the Anomalies proto without its
`baseline` schema); regenerate them on purpose with `HW_UPDATE_GOLDENS=1`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from google.protobuf import text_format
from schema_fixtures import make_stats
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

import headwater.data_validation as dv

T = anomalies_pb2.AnomalyInfo
GOLDENS = Path(__file__).parent / "goldens" / "anomalies"
BASE = {
    "i": [1, 2, 3, 4, 5, 6],
    "b": [0, 1, 0, 1, 1, 0],
    "f": [1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
    "s": ["a", "b", "a", "c", "b", "a"],
    "flag": ["true", "false", "true", "true", "false", "true"],
    "fs": ["1.5", "2", "2.5", "3", "1", "0.5"],
    "label": [0, 1, 0, 1, 0, 1],
}
BASE_STATS = make_stats(BASE)
SchemaEdit = Callable[[schema_pb2.Schema], None]
StatsEdit = Callable[[statistics_pb2.DatasetFeatureStatisticsList], None]


def _with(**columns: object) -> dict[str, object]:
    out = dict(BASE)
    for name, column in columns.items():
        if column is None:
            out.pop(name)
        else:
            out[name] = column
    return out


def _feature(name: str) -> Callable[[schema_pb2.Schema], schema_pb2.Feature]:
    return lambda schema: dv.get_feature(schema, name)


@dataclass(frozen=True)
class Case:
    name: str
    type: int
    bad: dict[str, object]
    good: dict[str, object] = field(default_factory=lambda: BASE)
    schema_edit: SchemaEdit | None = None
    stats_edit: StatsEdit | None = None
    kwargs: dict[str, object] = field(default_factory=dict)
    dataset_level: bool = False
    good_kwargs: dict[str, object] | None = None
    types: dict[str, type] = field(default_factory=dict)


def _edit(*steps: SchemaEdit) -> SchemaEdit:
    def apply(schema: schema_pb2.Schema) -> None:
        for step in steps:
            step(schema)

    return apply


def _set(name: str, path: str, value: object) -> SchemaEdit:
    def apply(schema: schema_pb2.Schema) -> None:
        msg = dv.get_feature(schema, name)
        *parents, last = path.split(".")
        for part in parents:
            msg = getattr(msg, part)
        setattr(msg, last, value)

    return apply


def _clear(name: str, path: str) -> SchemaEdit:
    def apply(schema: schema_pb2.Schema) -> None:
        msg = dv.get_feature(schema, name)
        *parents, last = path.split(".")
        for part in parents:
            msg = getattr(msg, part)
        msg.ClearField(last)

    return apply


def _domain(name: str, kind: str) -> SchemaEdit:
    return lambda schema: getattr(dv.get_feature(schema, name), kind).SetInParent()


def _stats_type(name: str, new_type: int) -> StatsEdit:
    def apply(stats: statistics_pb2.DatasetFeatureStatisticsList) -> None:
        for feature in stats.datasets[0].features:
            if feature.path.step[0] == name:
                feature.type = new_type

    return apply


def _utf8(stats: statistics_pb2.DatasetFeatureStatisticsList) -> None:
    for feature in stats.datasets[0].features:
        if feature.path.step[0] == "s":
            feature.string_stats.invalid_utf8_count = 2


def _drift(metric: str, name: str, threshold: float) -> SchemaEdit:
    return lambda schema: dv.set_drift_comparator(schema, name, metric, threshold)


def _two_levels(schema: schema_pb2.Schema) -> None:
    counts = dv.get_feature(schema, "i").value_counts.value_count
    counts.add(min=1)
    counts.add(min=1)


SHIFTED = _with(s=["a", "a", "a", "a", "b", "c"], f=[3.0, 3.5, 4.0, 4.5, 5.0, 5.5])
FS = schema_pb2.FLOAT
STRUCT = statistics_pb2.FeatureNameStatistics.STRUCT
NO_SHAPE = _edit(_clear("i", "shape"), _set("i", "value_count.min", 1))

CASES = [
    Case("new_column", T.SCHEMA_NEW_COLUMN, _with(extra=[1, 2, 3, 4, 5, 6])),
    Case("missing_column", T.SCHEMA_MISSING_COLUMN, _with(f=None)),
    Case("not_present", T.FEATURE_TYPE_NOT_PRESENT, _with(f=[None] * 6)),
    Case(
        "unexpected_string",
        T.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
        _with(s=["a", "z", "a", "q", "b", "a"]),
    ),
    Case("unexpected_type", T.UNEXPECTED_DATA_TYPE, _with(i=[1.5, 2.0, 3.0, 4.0, 5.0, 6.0])),
    Case(
        "string_now_int",
        T.STRING_TYPE_NOW_INT,
        _with(s=[1, 2, 3, 1, 2, 3]),
        schema_edit=_clear("s", "domain"),
    ),
    Case(
        "string_now_float",
        T.STRING_TYPE_NOW_FLOAT,
        _with(s=[1.5, 2.0, 3.0, 1.0, 2.0, 3.0]),
        schema_edit=_clear("s", "domain"),
    ),
    Case("enum_int", T.ENUM_TYPE_INT_NOT_STRING, _with(s=[1, 2, 3, 1, 2, 3])),
    Case("enum_float", T.ENUM_TYPE_FLOAT_NOT_STRING, _with(s=[1.5, 2.0, 3.0, 1.0, 2.0, 3.0])),
    Case("enum_bytes", T.ENUM_TYPE_BYTES_NOT_STRING, _with(s=[b"\xff", b"b", b"a"] * 2)),
    Case("enum_invalid_utf8", T.ENUM_TYPE_INVALID_UTF8, BASE, stats_edit=_utf8),
    Case("bool_big_int", T.BOOL_TYPE_BIG_INT, _with(b=[0, 1, 2, 1, 1, 0])),
    Case("bool_small_int", T.BOOL_TYPE_SMALL_INT, _with(b=[0, 1, -1, 1, 1, 0])),
    Case(
        "bool_unexpected_string",
        T.BOOL_TYPE_UNEXPECTED_STRING,
        _with(flag=["true", "maybe", "true", "true", "false", "true"]),
    ),
    Case(
        "bool_unexpected_float",
        T.BOOL_TYPE_UNEXPECTED_FLOAT,
        _with(f=[0.0, 1.0, 0.5, 1.0, 0.0, 1.0]),
        good=_with(f=[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]),
        schema_edit=_domain("f", "bool_domain"),
    ),
    Case("bool_string_not_int", T.BOOL_TYPE_STRING_NOT_INT, _with(b=["0", "1"] * 3)),
    Case("bool_bytes_not_int", T.BOOL_TYPE_BYTES_NOT_INT, _with(b=[b"\x00", b"\x01"] * 3)),
    Case("bool_float_not_int", T.BOOL_TYPE_FLOAT_NOT_INT, _with(b=[0.0, 1.0] * 3)),
    Case("bool_int_not_string", T.BOOL_TYPE_INT_NOT_STRING, _with(flag=[0, 1] * 3)),
    Case("bool_float_not_string", T.BOOL_TYPE_FLOAT_NOT_STRING, _with(flag=[0.0, 1.0] * 3)),
    Case("bool_bytes_not_string", T.BOOL_TYPE_BYTES_NOT_STRING, _with(flag=[b"\xff", b"t"] * 3)),
    Case(
        "low_fraction_present",
        T.FEATURE_TYPE_LOW_FRACTION_PRESENT,
        _with(i=[1, None, 3, None, 5, 6]),
        schema_edit=NO_SHAPE,
    ),
    Case(
        "low_number_present",
        T.FEATURE_TYPE_LOW_NUMBER_PRESENT,
        BASE,
        good={k: v * 2 for k, v in BASE.items()},
        schema_edit=_set("i", "presence.min_count", 10),
    ),
    Case(
        "low_number_values",
        T.FEATURE_TYPE_LOW_NUMBER_VALUES,
        BASE,
        good=_with(i=[[1, 2]] * 6),
        schema_edit=_edit(_clear("i", "shape"), _set("i", "value_count.min", 2)),
    ),
    Case(
        "high_number_values",
        T.FEATURE_TYPE_HIGH_NUMBER_VALUES,
        _with(i=[[1, 2], 2, 3, 4, 5, 6]),
        schema_edit=_edit(NO_SHAPE, _set("i", "value_count.max", 1)),
    ),
    Case(
        "no_values",
        T.FEATURE_TYPE_NO_VALUES,
        _with(i=[[]] * 6),
        schema_edit=NO_SHAPE,
        types={"i": int},
    ),
    Case(
        "unexpected_repeated", T.FEATURE_TYPE_UNEXPECTED_REPEATED, _with(i=[[1, 2], 2, 3, 4, 5, 6])
    ),
    Case("invalid_shape", T.INVALID_FEATURE_SHAPE, _with(i=[[1, 2], [2, 3], [3, 4]] * 2)),
    Case("nestedness", T.VALUE_NESTEDNESS_MISMATCH, BASE, schema_edit=_two_levels, good=None),
    Case(
        "high_unique",
        T.FEATURE_TYPE_HIGH_UNIQUE,
        BASE,
        schema_edit=_set("s", "unique_constraints.max", 2),
        good=_with(s=["a", "b", "a", "b", "b", "a"]),
    ),
    Case(
        "low_unique",
        T.FEATURE_TYPE_LOW_UNIQUE,
        _with(s=["a", "b", "a", "b", "b", "a"]),
        schema_edit=_set("s", "unique_constraints.min", 3),
    ),
    Case(
        "no_unique",
        T.FEATURE_TYPE_NO_UNIQUE,
        BASE,
        schema_edit=_set("i", "unique_constraints.max", 2),
        good=None,
    ),  # type: ignore[arg-type]
    Case(
        "big_float",
        T.FLOAT_TYPE_BIG_FLOAT,
        BASE,
        schema_edit=_set("f", "float_domain.max", 3.5),
        good=_with(f=[1.5, 2.0, 2.5, 3.0, 3.5, 3.0]),
    ),
    Case(
        "small_float",
        T.FLOAT_TYPE_SMALL_FLOAT,
        BASE,
        schema_edit=_set("f", "float_domain.min", 2.0),
        good=_with(f=[2.5, 2.0, 2.5, 3.0, 3.5, 4.0]),
    ),
    Case(
        "has_nan",
        T.FLOAT_TYPE_HAS_NAN,
        _with(f=[1.5, float("nan"), 2.5, 3.0, 3.5, 4.0]),
        schema_edit=_set("f", "float_domain.disallow_nan", True),
    ),
    Case(
        "has_inf",
        T.FLOAT_TYPE_HAS_INF,
        _with(f=[1.5, float("inf"), 2.5, 3.0, 3.5, 4.0]),
        schema_edit=_set("f", "float_domain.disallow_inf", True),
    ),
    Case(
        "string_not_float",
        T.FLOAT_TYPE_STRING_NOT_FLOAT,
        _with(fs=["1.5", "x", "2.5", "3", "1", "0.5"]),
        schema_edit=_domain("fs", "float_domain"),
    ),
    Case(
        "not_float",
        T.FLOAT_TYPE_NOT_FLOAT,
        _with(f=[1, 2, 3, 4, 5, 6]),
        schema_edit=_domain("f", "float_domain"),
    ),
    Case(
        "float_non_string",
        T.FLOAT_TYPE_NON_STRING,
        _with(fs=[1.5, 2.0, 2.5, 3.0, 1.0, 0.5]),
        schema_edit=_domain("fs", "float_domain"),
    ),
    Case(
        "float_unknown_number",
        T.FLOAT_TYPE_UNKNOWN_TYPE_NUMBER,
        BASE,
        schema_edit=_domain("f", "float_domain"),
        stats_edit=_stats_type("f", STRUCT),
    ),
    Case(
        "embedding_shape",
        T.EMBEDDING_SHAPE_INVALID,
        BASE,
        schema_edit=_edit(
            _clear("f", "shape"),
            _set("f", "float_domain.is_embedding", True),
            _set("f", "float_domain.embedding_dim", 3),
        ),
        good=_with(f=[[1.0, 2.0, 3.0]] * 6),
    ),
    Case(
        "big_int",
        T.INT_TYPE_BIG_INT,
        BASE,
        schema_edit=_set("i", "int_domain.max", 5),
        good=_with(i=[1, 2, 3, 4, 5, 5]),
    ),
    Case(
        "small_int",
        T.INT_TYPE_SMALL_INT,
        BASE,
        schema_edit=_set("i", "int_domain.min", 2),
        good=_with(i=[2, 2, 3, 4, 5, 6]),
    ),
    Case(
        "not_int_string",
        T.INT_TYPE_NOT_INT_STRING,
        _with(fs=["1", "x", "2", "3", "1", "0"]),
        good=_with(fs=["1", "7", "2", "3", "1", "0"]),
        schema_edit=_domain("fs", "int_domain"),
    ),
    Case(
        "int_expected",
        T.INT_TYPE_INT_EXPECTED,
        _with(i=[1.5, 2.0, 3.0, 4.0, 5.0, 6.0]),
        schema_edit=_domain("i", "int_domain"),
    ),
    Case(
        "int_string_expected",
        T.INT_TYPE_STRING_EXPECTED,
        _with(fs=[1, 2, 3, 4, 5, 6]),
        good=_with(fs=["1", "7", "2", "3", "1", "0"]),
        schema_edit=_domain("fs", "int_domain"),
    ),
    Case(
        "int_not_string",
        T.INT_TYPE_NOT_STRING,
        _with(fs=[b"\xff", b"1"] * 3),
        good=_with(fs=["1", "7", "2", "3", "1", "0"]),
        schema_edit=_domain("fs", "int_domain"),
    ),
    Case(
        "int_unknown_number",
        T.INT_TYPE_UNKNOWN_TYPE_NUMBER,
        BASE,
        schema_edit=_domain("i", "int_domain"),
        stats_edit=_stats_type("i", STRUCT),
    ),
    Case(
        "domain_invalid_for_type",
        T.DOMAIN_INVALID_FOR_TYPE,
        BASE,
        good=None,  # type: ignore[arg-type]
        schema_edit=_domain("f", "int_domain"),
    ),
    Case(
        "missing_domain",
        T.INVALID_DOMAIN_SPECIFICATION,
        BASE,
        good=None,  # type: ignore[arg-type]
        schema_edit=_set("s", "domain", "nowhere"),
    ),
    Case(
        "invalid_value_count",
        T.INVALID_SCHEMA_SPECIFICATION,
        BASE,
        good=None,  # type: ignore[arg-type]
        schema_edit=_edit(
            NO_SHAPE, _set("i", "value_count.min", 3), _set("i", "value_count.max", 1)
        ),
    ),
    Case(
        "missing_type",
        T.FEATURE_MISSING_TYPE,
        BASE,
        good=None,  # type: ignore[arg-type]
        schema_edit=_clear("i", "type"),
    ),
    Case(
        "missing_name",
        T.FEATURE_MISSING_NAME,
        BASE,
        good=None,  # type: ignore[arg-type]
        schema_edit=lambda s: s.feature.add(type=schema_pb2.INT) and None,
    ),
    Case(
        "l_infty",
        T.COMPARATOR_L_INFTY_HIGH,
        SHIFTED,
        schema_edit=_drift("l_infinity", "s", 0.1),
        kwargs={"previous_statistics": BASE_STATS},
    ),
    Case(
        "jensen_shannon",
        T.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
        SHIFTED,
        schema_edit=_drift("jensen_shannon_divergence", "f", 0.1),
        kwargs={"previous_statistics": BASE_STATS},
    ),
    Case(
        "normalized_abs_difference",
        T.COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH,
        SHIFTED,
        schema_edit=_drift("normalized_abs_difference", "s", 0.05),
        kwargs={"previous_statistics": BASE_STATS},
    ),
    Case(
        "psi",
        T.CUSTOM_VALIDATION,
        SHIFTED,
        schema_edit=_drift("psi", "f", 0.2),
        kwargs={"previous_statistics": BASE_STATS},
    ),
    Case(
        "control_missing",
        T.COMPARATOR_CONTROL_DATA_MISSING,
        BASE,
        schema_edit=_drift("l_infinity", "s", 0.1),
        kwargs={"previous_statistics": make_stats(_with(s=None))},
        good=None,
    ),  # type: ignore[arg-type]
    Case(
        "treatment_missing",
        T.COMPARATOR_TREATMENT_DATA_MISSING,
        _with(s=None),
        schema_edit=_edit(
            _drift("l_infinity", "s", 0.1),
            _set("s", "presence.min_count", 0),
            _clear("s", "presence.min_fraction"),
        ),
        kwargs={"previous_statistics": BASE_STATS},
    ),
    Case(
        "stats_not_available",
        T.STATS_NOT_AVAILABLE,
        BASE,
        schema_edit=_drift("ks", "s", 0.1),
        kwargs={"previous_statistics": BASE_STATS},
        good=None,
    ),  # type: ignore[arg-type]
    Case(
        "training_serving_skew",
        T.SCHEMA_TRAINING_SERVING_SKEW,
        BASE,
        kwargs={"serving_statistics": make_stats(_with(f=None))},
        good_kwargs={"serving_statistics": BASE_STATS},
    ),
    Case(
        "low_num_examples_drift",
        T.COMPARATOR_LOW_NUM_EXAMPLES,
        {k: v[:3] for k, v in BASE.items()},
        schema_edit=lambda s: setattr(
            s.dataset_constraints.num_examples_drift_comparator, "min_fraction_threshold", 0.9
        ),
        kwargs={"previous_statistics": BASE_STATS},
        dataset_level=True,
    ),
    Case(
        "high_num_examples_version",
        T.COMPARATOR_HIGH_NUM_EXAMPLES,
        {k: v * 2 for k, v in BASE.items()},
        schema_edit=lambda s: setattr(
            s.dataset_constraints.num_examples_version_comparator, "max_fraction_threshold", 1.5
        ),
        kwargs={"previous_version_statistics": BASE_STATS},
        dataset_level=True,
    ),
    Case(
        "dataset_low",
        T.DATASET_LOW_NUM_EXAMPLES,
        BASE,
        dataset_level=True,
        good={k: v * 2 for k, v in BASE.items()},
        schema_edit=lambda s: setattr(s.dataset_constraints, "min_examples_count", 10),
    ),
    Case(
        "dataset_high",
        T.DATASET_HIGH_NUM_EXAMPLES,
        BASE,
        dataset_level=True,
        schema_edit=lambda s: setattr(s.dataset_constraints, "max_examples_count", 3),
        good={k: v[:3] for k, v in BASE.items()},
    ),
    Case("no_data_in_span", T.NO_DATA_IN_SPAN, {}, dataset_level=True),
]


def _run(case: Case, columns: dict[str, object], *, good: bool = False) -> anomalies_pb2.Anomalies:
    schema = dv.infer_schema(BASE_STATS)
    if case.schema_edit is not None:
        case.schema_edit(schema)
    stats = make_stats(columns, types=case.types) if columns else make_stats({}, num_examples=0)
    if case.stats_edit is not None and not good:
        case.stats_edit(stats)
    kwargs = case.good_kwargs if good and case.good_kwargs is not None else case.kwargs
    return dv.validate_statistics(stats, schema, **kwargs)  # type: ignore[arg-type]


def _types(anomalies: anomalies_pb2.Anomalies) -> set[int]:
    found = {r.type for info in anomalies.anomaly_info.values() for r in info.reason}
    found |= {r.type for r in anomalies.dataset_anomaly_info.reason}
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_anomaly_type_is_detected_as_golden(case: Case) -> None:
    anomalies = _run(case, case.bad)
    assert case.type in _types(anomalies)
    anomalies.ClearField("baseline")
    text = text_format.MessageToString(anomalies)
    golden = GOLDENS / f"{case.name}.pbtxt"
    if os.environ.get("HW_UPDATE_GOLDENS"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("case", [c for c in CASES if c.good is not None], ids=lambda c: c.name)
def test_data_that_fits_gives_no_anomaly(case: Case) -> None:
    anomalies = _run(case, case.good, good=True)
    assert case.type not in _types(anomalies)
    assert not anomalies.anomaly_info, text_format.MessageToString(anomalies.anomaly_info)
    assert not anomalies.HasField("dataset_anomaly_info")


def test_every_anomaly_carries_a_suggested_fix() -> None:
    for case in CASES:
        anomalies = _run(case, case.bad)
        infos = list(anomalies.anomaly_info.values())
        if anomalies.HasField("dataset_anomaly_info"):
            infos.append(anomalies.dataset_anomaly_info)
        for info in infos:
            assert "Suggested fix: " in info.description, case.name
            assert info.severity == T.ERROR
