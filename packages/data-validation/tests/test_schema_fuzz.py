"""Property: any schema (however wrong) against any statistics gives anomalies, never a crash.

Random schemas mix types, domains that do not fit them, contradictory presence / value
counts / environments / constraints, comparators and references to unknown domains.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_fixtures import make_stats
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

import headwater.data_validation as dv

NAMES = ["i", "f", "s", "l", "ghost", ""]
COLUMNS = {
    "i": [1, 2, None, 4],
    "f": [0.5, float("nan"), 2.0, float("inf")],
    "s": ["a", "b", None, "true"],
    "l": [[1, 2], [], None, [3]],
}
ENVS = ["TRAINING", "SERVING"]
METRICS = [
    "l_infinity",
    "jensen_shannon_divergence",
    "normalized_abs_difference",
    "psi",
    "ks",
    "wasserstein",
]
small_int = st.integers(min_value=-3, max_value=5)


@st.composite
def features(draw: st.DrawFn) -> schema_pb2.Feature:
    f = schema_pb2.Feature(name=draw(st.sampled_from(NAMES)))
    if draw(st.booleans()):
        f.type = draw(st.sampled_from([0, 1, 2, 3, 4]))
    if draw(st.booleans()):
        f.presence.min_fraction = draw(st.floats(min_value=-1, max_value=2))
    if draw(st.booleans()):
        f.presence.min_count = draw(small_int)
    shape = draw(st.sampled_from(["none", "shape", "value_count", "value_counts"]))
    if shape == "shape":
        for size in draw(st.lists(small_int, max_size=2)):
            f.shape.dim.add(size=size)
    elif shape == "value_count":
        f.value_count.min = draw(small_int)
        if draw(st.booleans()):
            f.value_count.max = draw(small_int)
    elif shape == "value_counts":
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            f.value_counts.value_count.add(min=draw(small_int))
    domain = draw(st.sampled_from(["none", "domain", "string", "int", "float", "bool", "struct"]))
    if domain == "domain":
        f.domain = draw(st.sampled_from(["s", "nowhere"]))
    elif domain == "string":
        f.string_domain.value.extend(draw(st.lists(st.sampled_from(["a", "b", "a"]))))
    elif domain == "int":
        f.int_domain.min, f.int_domain.max = draw(small_int), draw(small_int)
    elif domain == "float":
        f.float_domain.min = draw(st.floats(-5, 5))
        f.float_domain.disallow_nan = draw(st.booleans())
        f.float_domain.disallow_inf = draw(st.booleans())
        f.float_domain.is_embedding = draw(st.booleans())
        f.float_domain.embedding_dim = draw(small_int)
    elif domain == "bool":
        f.bool_domain.true_value = draw(st.sampled_from(["", "true", "x"]))
        f.bool_domain.false_value = draw(st.sampled_from(["", "false", "x"]))
    elif domain == "struct":
        f.struct_domain.SetInParent()
    if draw(st.booleans()):
        f.distribution_constraints.min_domain_mass = draw(st.floats(0, 1))
    if draw(st.booleans()):
        f.unique_constraints.min, f.unique_constraints.max = draw(small_int), draw(small_int)
    f.in_environment.extend(draw(st.lists(st.sampled_from(ENVS), max_size=2)))
    f.not_in_environment.extend(draw(st.lists(st.sampled_from(ENVS), max_size=2)))
    if draw(st.booleans()):
        f.lifecycle_stage = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]))
    for kind in ("drift", "skew"):
        if draw(st.booleans()):
            metric = draw(st.sampled_from(METRICS))
            threshold = draw(st.floats(0, 1))
            dv.drift.set_comparator(f, kind, dv.Comparator(metric, threshold))
    return f


@st.composite
def schemas(draw: st.DrawFn) -> schema_pb2.Schema:
    schema = schema_pb2.Schema()
    for f in draw(st.lists(features(), max_size=6)):
        schema.feature.append(f)
    if draw(st.booleans()):
        schema.string_domain.add(name="s", value=draw(st.lists(st.sampled_from(["a", "b"]))))
    schema.default_environment.extend(draw(st.lists(st.sampled_from(ENVS), max_size=2)))
    if draw(st.booleans()):
        schema.dataset_constraints.min_examples_count = draw(small_int)
        schema.dataset_constraints.max_examples_count = draw(small_int)
        schema.dataset_constraints.num_examples_drift_comparator.min_fraction_threshold = draw(
            st.floats(0, 2)
        )
    if draw(st.booleans()):
        schema.sparse_feature.add(name="sp").value_feature.name = draw(st.sampled_from(NAMES))
    return schema


STATS = make_stats(COLUMNS)
PREVIOUS = make_stats({"i": [3, 4, 5, 6], "s": ["b", "b", "c", "a"], "f": [1.0, 2.0, 3.0, 4.0]})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas(), environment=st.sampled_from([None, *ENVS]))
def test_any_schema_gives_anomalies_not_a_crash(
    schema: schema_pb2.Schema, environment: str | None
) -> None:
    if environment is not None and not any(
        environment in f.in_environment or environment in f.not_in_environment
        for f in schema.feature
    ):
        schema.default_environment.append(environment)
    report = dv.check_statistics(
        STATS, schema, environment, previous_statistics=PREVIOUS, serving_statistics=PREVIOUS
    )
    assert isinstance(report.anomalies, anomalies_pb2.Anomalies)
    for info in report.anomalies.anomaly_info.values():
        assert info.reason
        assert "Suggested fix: " in info.description
    dv.anomalies_view.anomalies_html(report.anomalies, drift=report.drift, changes=report.changes)
    dv.schema_view.schema_html(schema)
