"""read_csv parses a file piece by piece: cut at row ends only, memory bounded by the pieces."""

import os

import pyarrow as pa
import pytest

from headwater.io import InputError, csv_files, read_csv


@pytest.mark.parametrize("piece_size", [1, 5, 16, 1 << 20])
def test_pieces_never_cut_a_quoted_line_end(tmp_path, monkeypatch, piece_size):
    monkeypatch.setattr(csv_files, "PIECE_SIZE", piece_size)
    path = tmp_path / "quoted.csv"
    path.write_bytes(
        b'id,text\r\n1,"two\nlines"\r\n2,"a ""quoted""\n\n""x"""\r\n3,plain\r\n4,"end\n"'
    )
    table = pa.Table.from_batches(list(read_csv(path)))
    assert table.to_pydict() == {
        "id": [1, 2, 3, 4],
        "text": ["two\nlines", 'a "quoted"\n\n"x"', "plain", "end\n"],
    }


@pytest.mark.parametrize("piece_size", [1, 3, 1 << 20])
def test_pieces_keep_the_header_types_and_given_names(tmp_path, monkeypatch, piece_size):
    monkeypatch.setattr(csv_files, "PIECE_SIZE", piece_size)
    path = tmp_path / "data.csv"
    path.write_text("n,x\n" + "".join(f"{i},{i / 2}\n" for i in range(50)))
    table = pa.Table.from_batches(list(read_csv(path, batch_size=7)))
    assert table.schema == pa.schema([("n", pa.int64()), ("x", pa.float64())])
    assert table.column("n").to_pylist() == list(range(50))
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("".join(f"{i},s{i}\n" for i in range(20)))
    table = pa.Table.from_batches(list(read_csv(headerless, column_names=["n", "s"])))
    assert table.to_pydict() == {"n": list(range(20)), "s": [f"s{i}" for i in range(20)]}


def test_reading_holds_a_few_pieces_not_the_file(tmp_path, monkeypatch):
    """Arrow memory while reading stays near a few pieces, far below the file's parsed size."""
    monkeypatch.setattr(csv_files, "PIECE_SIZE", 1 << 20)
    path = tmp_path / "big.csv"
    row = "".join(f"{i},{i * 0.25},word{i % 97}\n" for i in range(100_000))
    path.write_text("a,b,c\n" + row * 4)  # ~10 MiB of text, ~10 MiB as Arrow
    before = pa.total_allocated_bytes()
    peak = rows = 0
    for batch in read_csv(path, batch_size=8192):
        rows += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - before)
    whole = pa.Table.from_batches(list(read_csv(path))).nbytes
    assert rows == 400_000
    assert whole > 9 << 20
    assert peak < 4 << 20, peak  # two 1 MiB pieces as Arrow, and the batch being built


def test_types_come_from_the_whole_first_block_parsed_in_smaller_blocks(tmp_path, monkeypatch):
    """The first piece (one BLOCK_SIZE) is parsed in several blocks; its types cover all of it."""
    monkeypatch.setattr(csv_files, "BLOCK_SIZE", 1 << 14)
    monkeypatch.setattr(csv_files, "_MIN_FIRST_BLOCK", 1 << 10)
    rows = [f"{i},{i}" for i in range(3000)]  # ~20 KiB: the first 16 KiB block ends near row 1900
    rows[1500] = "1500,1500.5"  # in the first block's last sub-block: the column becomes float
    rows[2500] = "2500,2500.5"  # after the first block: a float in a pinned int column
    path = tmp_path / "data.csv"
    path.write_text("a,b\n" + "\n".join(rows[:2000]) + "\n")
    table = pa.Table.from_batches(list(read_csv(path, batch_size=500)))
    assert table.schema == pa.schema([("a", pa.int64()), ("b", pa.float64())])
    assert table.column("b").to_pylist() == [1500.5 if i == 1500 else float(i) for i in range(2000)]
    path.write_text(
        "a,b\n" + "\n".join(r if i != 1500 else "1500,1500" for i, r in enumerate(rows))
    )
    with pytest.raises(InputError, match=r"2500\.5") as info:
        list(read_csv(path))
    assert (info.value.row, info.value.column) == (2502, "b")


def test_a_file_shortened_while_being_read_is_an_input_error(tmp_path, monkeypatch):
    """A file cut short between its size check and its read: an error naming it, not a hang."""
    monkeypatch.setattr(csv_files, "BLOCK_SIZE", 1 << 12)
    monkeypatch.setattr(csv_files, "PIECE_SIZE", 1 << 13)
    path = tmp_path / "shrinking.csv"
    path.write_text("a,b\n" + "".join(f"{i},x{i % 7}\n" for i in range(5_000)))
    pieces = csv_files._pieces(str(path), has_header=True)
    next(pieces)
    os.truncate(path, 1 << 12)
    with pytest.raises(InputError, match="shortened while being read") as info:
        list(pieces)
    assert info.value.path == str(path)
