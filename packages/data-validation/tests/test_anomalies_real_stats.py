"""The golden cases again, with statistics from the library's generate_statistics: same anomalies.

The goldens use hand-built statistics (exact control); this proves the validator reads the
real statistics the same way.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from schema_fixtures import make_stats
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2
from test_anomalies_goldens import BASE, CASES, Case, _types

import headwater.data_validation as dv

_ARROW = {int: pa.int64(), float: pa.float64(), str: pa.string(), bytes: pa.binary()}


def _real_stats(
    columns: dict[str, object], types: dict[str, type]
) -> statistics_pb2.DatasetFeatureStatisticsList:
    if not columns:
        return make_stats({}, num_examples=0)
    arrays = {}
    for name, column in columns.items():
        values = list(column)  # type: ignore[call-overload]
        if any(isinstance(v, list) for v in values):
            values = [v if v is None or isinstance(v, list) else [v] for v in values]
        if name in types:
            kind = _ARROW[types[name]]
            is_list = any(isinstance(v, list) for v in values)
            arrays[name] = pa.array(values, pa.list_(kind) if is_list else kind)
        else:
            arrays[name] = pa.array(values)
    return dv.generate_statistics(pa.record_batch(arrays))


def _run(case: Case, columns: dict[str, object], stats_fn) -> anomalies_pb2.Anomalies:  # type: ignore[no-untyped-def]
    schema = dv.infer_schema(stats_fn(BASE, {}))
    if case.schema_edit is not None:
        case.schema_edit(schema)
    stats = stats_fn(columns, case.types)
    if case.stats_edit is not None:
        case.stats_edit(stats)
    kwargs = dict(case.kwargs)
    for key in ("previous_statistics", "serving_statistics", "previous_version_statistics"):
        if key in kwargs:  # rebuild the baselines with the same statistics code
            kwargs[key] = stats_fn(_columns_of(kwargs[key]), {})
    return dv.validate_statistics(stats, schema, **kwargs)  # type: ignore[arg-type]


def _columns_of(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, object]:
    names = {f.path.step[0] for f in stats.datasets[0].features}
    n = stats.datasets[0].num_examples
    return {k: list(v)[:n] for k, v in BASE.items() if k in names}  # type: ignore[call-overload]


# Binary columns: the statistics report them as STRING with `invalid_utf8_count`, as TFDV
# does, so these cases give ENUM_TYPE_INVALID_UTF8 instead (BYTES statistics are covered by the
# goldens).
BINARY = {"enum_bytes", "bool_bytes_not_int", "bool_bytes_not_string", "int_not_string"}


@pytest.mark.parametrize("case", [c for c in CASES if c.name not in BINARY], ids=lambda c: c.name)
def test_real_statistics_give_the_same_anomaly_types(case: Case) -> None:
    hand = _types(
        _run(
            case,
            case.bad,
            lambda c, t: make_stats(c, types=t) if c else make_stats({}, num_examples=0),
        )
    )
    real = _types(_run(case, case.bad, _real_stats))
    assert case.type in real
    assert real == hand
