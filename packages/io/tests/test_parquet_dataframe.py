"""Parquet and pandas readers and the Parquet writer, brought to the Arrow convention."""

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.io import InputError, read_dataframe, read_parquet, write_parquet


def test_dataframe_columns_follow_the_convention():
    df = pd.DataFrame(
        {
            "i": np.array([1, 2, 3], np.int32),
            "b": [True, False, True],
            "f": [0.5, np.nan, 2.0],
            "s": ["a", None, "c"],
            "c": pd.Categorical(["x", "y", "x"]),
        },
        index=[10, 11, 12],
    )
    batches = list(read_dataframe(df, batch_size=2))
    assert [b.num_rows for b in batches] == [2, 1]
    table = pa.Table.from_batches(batches)
    assert table.schema == pa.schema(
        [
            ("i", pa.int64()),
            ("b", pa.int64()),
            ("f", pa.float64()),
            ("s", pa.string()),
            ("c", pa.string()),
        ]
    )
    assert table.column("s").to_pylist() == ["a", None, "c"]
    assert table.column("c").to_pylist() == ["x", "y", "x"]


def test_empty_dataframe_gives_its_columns():
    batches = list(read_dataframe(pd.DataFrame({"a": pd.Series([], dtype="int64")})))
    assert batches[0].num_rows == 0
    assert batches[0].schema.names == ["a"]


def test_parquet_round_trip_with_shards_and_columns(tmp_path):
    batch = pa.RecordBatch.from_pydict(
        {"a": pa.array([1, 2, 3], pa.int32()), "b": ["x", "y", None]}
    )
    paths = write_parquet([batch, batch], str(tmp_path / "data"), num_shards=2)
    assert [os.path.basename(p) for p in paths] == [
        "data-00000-of-00002.parquet",
        "data-00001-of-00002.parquet",
    ]
    table = pa.Table.from_batches(list(read_parquet(tmp_path)))
    assert table.schema == pa.schema([("a", pa.int64()), ("b", pa.string())])
    assert table.column("a").to_pylist() == [1, 2, 3, 1, 2, 3]
    only_b = list(read_parquet(tmp_path, columns=["b"]))
    assert only_b[0].schema.names == ["b"]


def test_parquet_with_no_rows_gives_its_columns(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), path)
    batches = list(read_parquet(path))
    assert len(batches) == 1
    assert batches[0].num_rows == 0
    assert batches[0].schema.names == ["a"]


def test_broken_parquet_is_named(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"broken\.parquet"):
        list(read_parquet(path))
    empty = tmp_path / "zero.parquet"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        list(read_parquet(empty))


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": [1]}), path)
    with pytest.raises(InputError, match="zz"):
        list(read_parquet(path, columns=["zz"]))


def test_failed_parquet_write_leaves_nothing(tmp_path):
    def batches():
        yield pa.RecordBatch.from_pydict({"a": [1]})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_parquet(batches(), str(tmp_path / "out" / "data"), num_shards=2)
    assert os.listdir(tmp_path / "out") == []
