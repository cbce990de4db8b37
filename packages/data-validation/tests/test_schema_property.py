"""Property: data validated against the schema inferred from its own statistics has no anomaly.

Statistics come from the library's real `generate_statistics`; the same data is also checked
row by row (`validate_examples`), which must agree.
"""

from __future__ import annotations

import math

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headwater.data_validation as dv

_WORDS = st.sampled_from(["a", "b", "c", "true", "false", "", "Zürich", "x" * 30, "0", "1"])


@st.composite
def tables(draw: st.DrawFn) -> pa.RecordBatch:
    n = draw(st.integers(min_value=1, max_value=40))

    def column(values: st.SearchStrategy[object], nullable: bool) -> list[object]:
        cell = st.one_of(st.none(), values) if nullable else values
        return draw(st.lists(cell, min_size=n, max_size=n))

    ints = st.integers(min_value=-(2**40), max_value=2**40)
    small = st.integers(min_value=0, max_value=1)
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    columns: dict[str, pa.Array] = {
        "i": pa.array(column(ints, draw(st.booleans())), pa.int64()),
        "bit": pa.array(column(small, draw(st.booleans())), pa.int64()),
        "f": pa.array(column(floats, draw(st.booleans())), pa.float64()),
        "s": pa.array(column(_WORDS, draw(st.booleans())), pa.string()),
        "li": pa.array(
            column(st.lists(ints, min_size=0, max_size=3), draw(st.booleans())),
            pa.list_(pa.int64()),
        ),
        "ls": pa.array(
            column(st.lists(_WORDS, min_size=1, max_size=2), draw(st.booleans())),
            pa.list_(pa.string()),
        ),
    }
    return pa.record_batch(columns)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=tables(), shape=st.booleans(), domain_size=st.integers(min_value=0, max_value=12))
def test_data_satisfies_the_schema_inferred_from_it(
    batch: pa.RecordBatch, shape: bool, domain_size: int
) -> None:
    stats = dv.generate_statistics(batch)
    schema = dv.infer_schema(stats, infer_feature_shape=shape, max_string_domain_size=domain_size)
    anomalies = dv.validate_statistics(stats, schema)
    assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)
    assert not anomalies.HasField("dataset_anomaly_info")
    rows = dv.validate_examples([("memory", [batch])], schema)
    assert rows.counts == {}, rows.examples[:3]
    assert dv.update_schema(schema, stats) == schema


@settings(max_examples=25, deadline=None)
@given(batch=tables())
def test_update_schema_accepts_any_second_dataset(batch: pa.RecordBatch) -> None:
    first = dv.generate_statistics(batch.slice(0, math.ceil(batch.num_rows / 2)))
    second = dv.generate_statistics(batch)
    updated = dv.update_schema(dv.infer_schema(first), second)
    anomalies = dv.validate_statistics(second, updated)
    assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)


def test_only_empty_strings_validate_against_their_inferred_bool_domain() -> None:
    """ "" is a true-like token: the inferred BoolDomain sets only true_value (hypothesis found)."""
    batch = pa.record_batch({"ls": pa.array([[""], [""]], pa.list_(pa.string()))})
    stats = dv.generate_statistics(batch)
    schema = dv.infer_schema(stats)
    domain = schema.feature[0].bool_domain
    assert domain.HasField("true_value")
    assert not domain.HasField("false_value")
    assert not dv.validate_statistics(stats, schema).anomaly_info
