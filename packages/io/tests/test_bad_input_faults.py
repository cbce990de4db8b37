"""Hostile inputs found by probing (issue 19): repeated names, huge CSV fields, nested Parquet.

Each reader refuses what no tf.Example can hold with an InputError naming the file and column,
or reads it; never a raw csv / Arrow error without a location.
"""

import csv

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.io import InputError, csv_files, read_csv, read_dataframe, read_parquet
from headwater.io.csv_files import csv_schema

BIG = 3 << 20
"""A field of 3 MiB: over the csv module's default limit (128 KiB) and pyarrow's 1 MiB block."""


@pytest.fixture(params=["one_piece", "small_pieces"])
def reading_mode(request, monkeypatch):
    """Run with the file in one piece and in pieces of 64 KiB (fields span many pieces)."""
    if request.param == "small_pieces":
        monkeypatch.setattr(csv_files, "PIECE_SIZE", 1 << 16)
    return request.param


def _table(batches):
    return pa.Table.from_batches(list(batches))


# Repeated column names ------------------------------------------------------------------------


def test_csv_header_with_a_repeated_name_is_refused(tmp_path, reading_mode):
    path = tmp_path / "dup.csv"
    path.write_text("a,a,b,b,c\n1,2,x,y,3\n")
    with pytest.raises(InputError) as info:
        list(read_csv(path))
    assert info.value.path == str(path)
    assert info.value.found == "['a', 'b'] repeated in ['a', 'a', 'b', 'b', 'c']"
    assert str(info.value) == (
        f"{path}: duplicate column names; expected each column name once, "
        "found ['a', 'b'] repeated in ['a', 'a', 'b', 'b', 'c']"
    )


def test_csv_schema_refuses_a_repeated_header_name(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(InputError, match="duplicate column names"):
        csv_schema(str(path))


def test_csv_repeated_name_is_refused_even_when_the_first_block_has_a_bad_row(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,a\n1,2\n3\n")
    with pytest.raises(InputError, match="duplicate column names"):
        list(read_csv(path))


def test_given_column_names_must_be_distinct(tmp_path, reading_mode):
    path = tmp_path / "noheader.csv"
    path.write_text("1,2\n")
    with pytest.raises(InputError, match=r"found \['x'\] repeated in \['x', 'x'\]"):
        list(read_csv(path, column_names=["x", "x"]))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="duplicate column names"):
        list(read_csv(empty, column_names=["x", "x"]))


def test_parquet_with_a_repeated_column_name_is_refused(tmp_path):
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), path)
    with pytest.raises(InputError) as info:
        list(read_parquet(path))
    assert info.value.path == str(path)
    assert info.value.found == "['a'] repeated in ['a', 'a']"


def test_dataframe_with_a_repeated_column_name_is_refused():
    df = pd.DataFrame([[1, 2, 3]], columns=["a", "a", "b"])
    with pytest.raises(InputError) as info:
        list(read_dataframe(df))
    assert info.value.found == "['a'] repeated in ['a', 'a', 'b']"


def test_beam_readers_refuse_repeated_names(tmp_path):
    pytest.importorskip("apache_beam")  # the beam extra
    from apache_beam.testing.test_pipeline import TestPipeline

    from headwater.io import ReadCsv, ReadParquet

    path = tmp_path / "dup.csv"
    path.write_text("a,a\n1,2\n")
    with pytest.raises(InputError, match="duplicate column names"):
        ReadCsv(str(path))
    with (
        pytest.raises(InputError, match="duplicate column names"),
        TestPipeline(runner="FnApiRunner") as p,
    ):
        _ = p | ReadCsv(str(path), column_types={"a": pa.int64()})
    pq_path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), pq_path)
    with (
        pytest.raises(InputError, match="duplicate column names"),
        TestPipeline(runner="FnApiRunner") as p,
    ):
        _ = p | ReadParquet(str(pq_path))


# CSV fields larger than a block or the csv module's limit ---------------------------------------


def test_a_field_larger_than_the_csv_limit_is_read_in_the_first_row(tmp_path, reading_mode):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n1," + "x" * BIG + "\n2,y\n")
    table = _table(read_csv(path))
    assert table.column("a").to_pylist() == [1, 2]
    assert [len(v) for v in table.column("b").to_pylist()] == [BIG, 1]


def test_a_field_larger_than_a_block_is_read_after_many_rows(tmp_path, reading_mode):
    path = tmp_path / "big.csv"
    rows = "".join(f"{i},y\n" for i in range(200_000))  # ~2 MB: several blocks before the field
    path.write_text("a,b\n" + rows + '-1,"' + "z" * BIG + '"\n-2,w\n')
    table = _table(read_csv(path, batch_size=1 << 20))
    a = table.column("a").to_pylist()
    assert a == [*range(200_000), -1, -2]
    assert len(table.column("b")[200_000].as_py()) == BIG
    assert table.column("b")[200_001].as_py() == "w"


def test_a_bad_row_after_a_huge_field_is_located(tmp_path, reading_mode):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n1," + "x" * BIG + "\n2,y\nthree,z\n")
    types = {"a": pa.int64()}  # the grown first block holds "three": inference would say text
    with pytest.raises(InputError) as info:
        list(read_csv(path, column_types=types))
    assert (info.value.path, info.value.row, info.value.column) == (str(path), 4, "a")
    skipped = read_csv(path, column_types=types, skip_bad_rows=True)
    assert _table(skipped).column("a").to_pylist() == [1, 2]
    assert [(r.row, r.reason) for r in skipped.skipped.rows] == [
        (4, "value is not a number of the column's type")
    ]


def test_the_csv_modules_field_limit_is_left_as_it_was(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n1," + "x" * BIG + "\nbad,y\n")
    before = csv.field_size_limit()
    with pytest.raises(InputError):
        list(read_csv(path, column_types={"a": pa.int64()}))
    assert csv.field_size_limit() == before


def test_beam_reads_a_huge_field(tmp_path):
    pytest.importorskip("apache_beam")  # the beam extra
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from headwater.io import ReadCsv

    path = tmp_path / "big.csv"
    path.write_text("a,b\n1," + "x" * BIG + "\n2,y\n")
    with TestPipeline(runner="FnApiRunner") as p:
        sizes = p | ReadCsv(str(path)) | "Sizes" >> pa_sizes()
        assert_that(sizes, equal_to([(1, BIG), (2, 1)]))


def pa_sizes():
    """(a, len(b)) of every row of every batch."""
    import apache_beam as beam

    return beam.FlatMap(
        lambda b: list(zip(b["a"].to_pylist(), [len(v) for v in b["b"].to_pylist()], strict=True))
    )


# Nested Parquet columns -----------------------------------------------------------------------


def _nested_file(tmp_path, column, array):
    path = tmp_path / f"{column}.parquet"
    pq.write_table(pa.table({"ok": pa.array([1, 2]), column: array}), path)
    return path


@pytest.mark.parametrize(
    ("column", "array", "type_text"),
    [
        ("nested", pa.array([[[1]], [[2, 3]]]), "list<element: list<element: int64>>"),
        ("record", pa.array([{"x": 1}, {"x": 2}]), "struct<x: int64>"),
        (
            "mapping",
            pa.array([[("k", 1)], [("j", 2)]], pa.map_(pa.string(), pa.int64())),
            "map<string, int64 ('mapping')>",
        ),
        ("records", pa.array([[{"x": 1}], []]), "list<element: struct<x: int64>>"),
    ],
)
def test_nested_parquet_columns_are_refused_by_name(tmp_path, column, array, type_text):
    path = _nested_file(tmp_path, column, array)
    with pytest.raises(InputError) as info:
        list(read_parquet(path))
    assert (info.value.path, info.value.column) == (str(path), column)
    assert info.value.found == type_text
    assert info.value.expected == (
        "a primitive or a list of primitives (a tf.Example feature); "
        "read the other columns with columns=[...]"
    )


def test_a_nested_column_left_out_with_columns_does_not_matter(tmp_path):
    path = _nested_file(tmp_path, "record", pa.array([{"x": 1}, {"x": 2}]))
    assert _table(read_parquet(path, columns=["ok"])).to_pydict() == {"ok": [1, 2]}


def test_one_level_of_list_is_a_multivalent_feature(tmp_path):
    path = tmp_path / "lists.parquet"
    table = pa.table(
        {
            "ints": pa.array([[1, 2], None], pa.large_list(pa.int32())),
            "words": pa.array([["a"], []]),
            "fixed": pa.array([[1.5, 2.5], [3.5, 4.5]], pa.list_(pa.float32(), 2)),
        }
    )
    pq.write_table(table, path)
    result = _table(read_parquet(path))
    assert result.schema == pa.schema(
        [
            ("ints", pa.list_(pa.int64())),
            ("words", pa.list_(pa.string())),
            ("fixed", pa.list_(pa.float32())),
        ]
    )
    assert result.to_pydict() == {
        "ints": [[1, 2], None],
        "words": [["a"], []],
        "fixed": [[1.5, 2.5], [3.5, 4.5]],
    }


def test_a_dataframe_with_nested_values_is_refused_by_column():
    df = pd.DataFrame({"ok": [1, 2], "record": [{"x": 1}, {"x": 2}]})
    with pytest.raises(InputError) as info:
        list(read_dataframe(df))
    assert (info.value.column, info.value.found) == ("record", "struct<x: int64>")
