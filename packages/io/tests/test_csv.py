"""read_csv: headers, quoting, missing values, types, bad rows named or skipped and reported."""

import logging

import pyarrow as pa
import pytest

from headwater.io import InputError, InputNotFoundError, csv_files, read_csv


@pytest.fixture(autouse=True, params=["one_piece", "small_pieces"])
def reading_mode(request, monkeypatch):
    """Every test runs with the file in one piece and in pieces of a row or two."""
    if request.param == "small_pieces":
        monkeypatch.setattr(csv_files, "PIECE_SIZE", 7)
    return request.param


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _table(batches):
    return pa.Table.from_batches(list(batches))


def test_header_quotes_and_empty_cells(tmp_path):
    path = _write(tmp_path, 'a,b,c\n1,"x, y",2.5\n,"",\n3,plain,-1\n')
    table = _table(read_csv(path))
    assert table.schema == pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.float64())])
    assert table.to_pydict() == {
        "a": [1, None, 3],
        "b": ["x, y", None, "plain"],
        "c": [2.5, None, -1.0],
    }


def test_given_names_mean_no_header(tmp_path):
    path = _write(tmp_path, "1,x\n2,y\n")
    table = _table(read_csv(path, column_names=["n", "s"]))
    assert table.to_pydict() == {"n": [1, 2], "s": ["x", "y"]}


def test_given_types_win_over_inference(tmp_path):
    path = _write(tmp_path, "a,b\n1,2\n3,4\n")
    table = _table(read_csv(path, column_types={"a": pa.float32(), "b": pa.string()}))
    assert table.schema == pa.schema([("a", pa.float32()), ("b", pa.string())])
    assert table.column("b").to_pylist() == ["2", "4"]


def test_text_like_types_stay_strings(tmp_path):
    path = _write(tmp_path, "flag,day,none\ntrue,2020-01-01,\nfalse,2020-01-02,\n")
    table = _table(read_csv(path))
    assert table.schema == pa.schema(
        [("flag", pa.string()), ("day", pa.string()), ("none", pa.string())]
    )
    assert table.column("day").to_pylist() == ["2020-01-01", "2020-01-02"]


def test_batches_have_the_requested_size(tmp_path):
    path = _write(tmp_path, "a\n" + "".join(f"{i}\n" for i in range(1000)))
    sizes = [b.num_rows for b in read_csv(path, batch_size=300)]
    assert sizes == [300, 300, 300, 100]


def test_glob_and_directory_read_every_shard_in_order(tmp_path):
    _write(tmp_path, "a\n1\n2\n", "part-0.csv")
    _write(tmp_path, "a\n3\n", "part-1.csv")
    assert _table(read_csv(tmp_path / "part-*.csv")).column("a").to_pylist() == [1, 2, 3]
    assert _table(read_csv(tmp_path)).column("a").to_pylist() == [1, 2, 3]


def test_later_files_keep_the_first_files_types(tmp_path):
    _write(tmp_path, "a\n1\n", "part-0.csv")
    _write(tmp_path, "a\n\n", "part-1.csv")
    table = _table(read_csv(tmp_path))
    assert table.schema == pa.schema([("a", pa.int64())])


def test_missing_path_is_named(tmp_path):
    with pytest.raises(InputNotFoundError, match=r"nope\.csv") as info:
        read_csv(tmp_path / "nope.csv")
    assert isinstance(info.value, FileNotFoundError)


def test_empty_file_is_an_error_naming_it(tmp_path):
    path = _write(tmp_path, "")
    with pytest.raises(InputError, match="empty file") as info:
        list(read_csv(path))
    assert info.value.path == str(path)


def test_header_only_gives_an_empty_batch_with_the_columns(tmp_path):
    path = _write(tmp_path, "a,b\n")
    batches = list(read_csv(path))
    assert len(batches) == 1
    assert batches[0].num_rows == 0
    assert batches[0].schema.names == ["a", "b"]


@pytest.mark.parametrize(
    ("line", "found"), [("4,5,6", "3"), ("4", "1")], ids=["too_many", "too_few"]
)
def test_wrong_field_count_names_the_line(tmp_path, line, found):
    path = _write(tmp_path, f"a,b\n1,2\n2,3\n{line}\n5,6\n")
    with pytest.raises(InputError, match="row 4") as info:
        list(read_csv(path))
    assert info.value.row == 4
    assert info.value.expected == "2 fields"
    assert info.value.found == found


def test_non_numeric_value_names_line_column_and_value(tmp_path):
    path = _write(tmp_path, "a,b\n1,2\n3,x7\n")
    with pytest.raises(InputError) as info:
        list(read_csv(path, column_types={"b": pa.int64()}))
    error = info.value
    assert (error.path, error.row, error.column) == (str(path), 3, "b")
    assert "int64" in error.expected
    assert "x7" in error.found


def test_non_numeric_value_after_the_first_block(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "BLOCK_SIZE", 1 << 12)
    rows = "".join(f"{i},{i}\n" for i in range(3000))
    path = _write(tmp_path, f"a,b\n{rows}9,oops\n")
    with pytest.raises(InputError, match="oops") as info:
        list(read_csv(path))
    assert info.value.row == 3002
    assert info.value.column == "b"


def test_skip_bad_values_after_the_first_block(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "BLOCK_SIZE", 1 << 12)
    rows = [f"{i},{i}" for i in range(3000)]
    rows[2500] = "2500,oops"
    path = _write(tmp_path, "a,b\n" + "\n".join(rows) + "\n")
    reader = read_csv(path, skip_bad_rows=True, batch_size=1000)
    table = _table(reader)
    assert table.column("a").to_pylist() == [i for i in range(3000) if i != 2500]
    assert table.schema.field("b").type == pa.int64()
    assert [r.row for r in reader.skipped.rows] == [2502]


def test_skip_bad_rows_skips_reports_and_logs(tmp_path, caplog):
    path = _write(tmp_path, "a,b\n1,2\n1,2,3\n4,x\n5,6\n7\n")
    reader = read_csv(path, column_types={"b": pa.int64()}, skip_bad_rows=True)
    with caplog.at_level(logging.WARNING, logger="headwater.io"):
        table = _table(reader)
    assert table.to_pydict() == {"a": [1, 5], "b": [2, 6]}
    assert [(r.path, r.row) for r in reader.skipped.rows] == [
        (str(path), 3),
        (str(path), 4),
        (str(path), 6),
    ]
    assert len(reader.skipped) == 3
    assert "Skipped 3 bad row(s)" in caplog.text


def test_corrupt_taxi_rows_are_all_accounted_for(tmp_path):
    path = tmp_path / "taxi.csv"
    lines = ["trip_id,fare,company"]
    lines += [f"{i},{i * 0.5},Co {i % 3}" for i in range(1000)]
    lines[100] = "99,abc,Co 1"
    lines[200] = "199,1.0"
    path.write_text("\n".join(lines) + "\n")
    reader = read_csv(path, column_types={"fare": pa.float64()}, skip_bad_rows=True)
    table = _table(reader)
    assert table.num_rows + len(reader.skipped) == 1000
    assert [r.row for r in reader.skipped.rows] == [101, 201]


def test_skip_drops_values_arrow_cannot_convert(tmp_path):
    path = _write(tmp_path, "a,b\n1,2\n2,99999999999999999999\n3,4\n")
    reader = read_csv(path, column_types={"b": pa.int64()}, skip_bad_rows=True)
    assert _table(reader).column("a").to_pylist() == [1, 3]
    assert [r.row for r in reader.skipped.rows] == [3]
