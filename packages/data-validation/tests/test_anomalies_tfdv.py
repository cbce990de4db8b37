"""On TFDV 1.16's own statistics, Headwater reports TFDV's anomalies with TFDV's words.

`goldens/tfdv/<case>/` holds what TFDV computed (statistics, schema, anomalies), recorded by
`goldens/tfdv/make_tfdv_goldens.py`. Headwater may add reasons (the specific types TFDV does
not detect) and appends "Suggested fix: ..." to each anomaly's description; every reason TFDV
gives must be there, with the same type, short description and description.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

import headwater.data_validation as dv

ROOT = Path(__file__).parent / "goldens" / "tfdv"
CASES = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
# Where Headwater knowingly differs from TFDV 1.16.
DIFFERENT = {
    # TFDV checks max_examples_count only when min_examples_count is set too.
    "max_examples": "DATASET_HIGH_NUM_EXAMPLES found by Headwater only",
    # TFDV reads an unset unique_constraints.max as 0 ("no more than 0 unique values").
    "unique": "no FEATURE_TYPE_HIGH_UNIQUE for 's' against an unset max",
}


def _stats(path: Path) -> statistics_pb2.DatasetFeatureStatisticsList | None:
    if not path.exists():
        return None
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())


def _reasons(info: anomalies_pb2.AnomalyInfo) -> list[tuple[str, str, str]]:
    return [(T.Type.Name(r.type), r.short_description, r.description) for r in info.reason]


def _matches(want: tuple[str, str, str], got: list[tuple[str, str, str]]) -> bool:
    """TFDV's reason is among ours (TFDV leaves some descriptions empty; Headwater fills them,
    and appends both sample sizes to comparator sentences)."""
    return any(
        g[:2] == want[:2] and (not want[2] or g[2] == want[2] or g[2].startswith(want[2]))
        for g in got
    )


T = anomalies_pb2.AnomalyInfo


@pytest.mark.parametrize("case", CASES)
def test_same_anomalies_as_tfdv(case: str) -> None:
    folder = ROOT / case
    tfdv = text_format.Parse((folder / "anomalies.pbtxt").read_text(), anomalies_pb2.Anomalies())
    schema = text_format.Parse((folder / "schema.pbtxt").read_text(), schema_pb2.Schema())
    environment = (folder / "args.txt").read_text().strip() or None
    ours = dv.validate_statistics(
        _stats(folder / "stats.pb"),
        schema,
        environment,
        previous_statistics=_stats(folder / "previous.pb"),
        serving_statistics=_stats(folder / "serving.pb"),
    )
    if case == "max_examples":
        assert not tfdv.anomaly_info
        assert not tfdv.HasField("dataset_anomaly_info")
        assert ours.dataset_anomaly_info.reason[0].type == T.DATASET_HIGH_NUM_EXAMPLES
        return
    if case == "unique":
        quirk = tfdv.anomaly_info["s"].reason[1]
        assert quirk.description == "Expected no more than 0 unique values but found 3."
        assert [r.type for r in ours.anomaly_info["s"].reason] == [T.FEATURE_TYPE_LOW_UNIQUE]
        del tfdv.anomaly_info["s"].reason[1]
        tfdv.anomaly_info["s"].short_description = "Low number of unique values"
        tfdv.anomaly_info["s"].description = tfdv.anomaly_info["s"].reason[0].description
    assert sorted(ours.anomaly_info) == sorted(tfdv.anomaly_info)
    for name, expected in tfdv.anomaly_info.items():
        got = ours.anomaly_info[name]
        missing = [r for r in _reasons(expected) if not _matches(r, _reasons(got))]
        assert not missing, (name, missing, _reasons(got))
        assert got.severity == expected.severity
        assert list(got.path.step) == list(expected.path.step)
        if len(got.reason) == len(expected.reason):
            assert got.short_description == expected.short_description
        if all(r.description for r in expected.reason):
            assert got.description.startswith(expected.description.rstrip())
    assert ours.HasField("dataset_anomaly_info") == tfdv.HasField("dataset_anomaly_info")
    assert _reasons(ours.dataset_anomaly_info) == _reasons(tfdv.dataset_anomaly_info)
    assert len(ours.drift_skew_info) == len(tfdv.drift_skew_info)
    for got_info, want_info in zip(ours.drift_skew_info, tfdv.drift_skew_info, strict=True):
        assert got_info.path == want_info.path
        for got_m, want_m in (
            *zip(got_info.drift_measurements, want_info.drift_measurements, strict=True),
            *zip(got_info.skew_measurements, want_info.skew_measurements, strict=True),
        ):
            assert got_m.type == want_m.type
            assert got_m.threshold == want_m.threshold
            assert got_m.value == pytest.approx(want_m.value, rel=1e-9)
