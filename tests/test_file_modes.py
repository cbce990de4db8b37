"""Files the libraries write get the mode a plain open() would give them under the process umask
(0644 under umask 022), not mkstemp's 0600, so other users and serving containers can read them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

import headwater.data_validation as dv
from headwater.io import umask_file_mode, write_atomic
from headwater.model_analysis import EvalConfig, EvalResult, ValidationResult, write_eval_result


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _written(tmp_path: Path) -> list[Path]:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.add(name="train", num_examples=3)
    schema = schema_pb2.Schema()
    schema.feature.add(name="x", type=schema_pb2.INT)
    dv.write_stats_binary(stats, tmp_path / "stats" / "FeatureStats.pb")
    dv.write_stats_text(stats, tmp_path / "stats" / "stats.pbtxt")
    dv.write_schema_text(schema, tmp_path / "schema" / "schema.pbtxt")
    dv.write_anomalies_text(anomalies_pb2.Anomalies(), tmp_path / "anomalies" / "a.pbtxt")
    write_eval_result(
        EvalResult(
            eval_config=EvalConfig(), slices=(), validation=ValidationResult(validation_ok=True)
        ),
        tmp_path / "eval",
    )
    write_atomic(tmp_path / "io" / "blob.bin", b"x")
    return sorted(p for p in tmp_path.rglob("*") if p.is_file())


def test_every_writer_uses_the_umask(tmp_path: Path, umask: int) -> None:
    files = _written(tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in files}
    assert {
        "stats/FeatureStats.pb",
        "stats/stats.pbtxt",
        "schema/schema.pbtxt",
        "anomalies/a.pbtxt",
        "io/blob.bin",
    } <= names
    # Headwater's JSON files and TFMA's own (eval_config.json, metrics/plots/validations).
    assert {n for n in names if n.startswith("eval/")} == {
        "eval/headwater_eval_config.json",
        "eval/headwater_metrics.json",
        "eval/headwater_plots.json",
        "eval/headwater_validations.json",
        "eval/eval_config.json",
        "eval/metrics-00000-of-00001.tfrecord",
        "eval/plots-00000-of-00001.tfrecord",
        "eval/validations-00000-of-00001.tfrecord",
    }
    expected = {0o022: 0o644, 0o027: 0o640, 0o077: 0o600}[umask]
    assert umask_file_mode() == expected
    assert {
        p.relative_to(tmp_path).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in files
    } == {n: oct(expected) for n in names}
    # No temporary file is left behind.
    assert not [n for n in names if Path(n).name.startswith(".")]
