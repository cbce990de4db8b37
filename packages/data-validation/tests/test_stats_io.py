"""Statistics written as binary or text protos read back equal; bad files say so."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import headwater.data_validation as dv


@pytest.fixture(scope="module")
def stats():
    return dv.generate_statistics(pa.record_batch({"a": [1, 2, 3], "b": ["x", "y", "x"]}))


def test_binary_round_trip(tmp_path: Path, stats) -> None:
    path = tmp_path / "Split-train" / "FeatureStats.pb"
    dv.write_stats_binary(stats, path)
    assert dv.load_stats_binary(path) == stats
    assert dv.load_statistics(path.parent) == stats
    assert [p.name for p in path.parent.iterdir()] == ["FeatureStats.pb"]


def test_text_round_trip(tmp_path: Path, stats) -> None:
    path = tmp_path / "stats.pbtxt"
    dv.write_stats_text(stats, path)
    assert dv.load_stats_text(path) == stats
    assert dv.load_statistics(path) == stats


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.pb"
    path.write_bytes(b"\xff\xfe not a proto")
    with pytest.raises(dv.StatisticsError, match=r"junk\.pb"):
        dv.load_statistics(path)


def test_csv_and_parquet_readers_give_the_same_statistics(tmp_path: Path) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pa.table({"a": [1, 2, 3, 4], "b": ["x", "y", "x", "z"], "c": [0.5, 1.5, None, 2.0]})
    pcsv.write_csv(table, tmp_path / "data.csv")
    pq.write_table(table, tmp_path / "data.parquet")
    from_csv = dv.generate_statistics_from_csv(str(tmp_path / "data.csv"))
    from_parquet = dv.generate_statistics_from_parquet(str(tmp_path / "data.parquet"))
    assert from_csv == from_parquet == dv.generate_statistics(table)


def test_reader_errors_surface_from_the_read_ahead_thread(tmp_path: Path) -> None:
    import threading

    from headwater.io import InputError

    path = tmp_path / "broken.csv"
    path.write_text("a,b\n1,2\n3\n4,5\n")
    before = threading.active_count()
    with pytest.raises(InputError, match=r"broken\.csv"):
        dv.generate_statistics_from_csv(str(path))
    assert threading.active_count() == before
    stats = dv.generate_statistics_from_csv(str(path), skip_bad_rows=True)
    assert stats.datasets[0].num_examples == 2
