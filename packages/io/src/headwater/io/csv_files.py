"""CSV files → RecordBatches, at pyarrow.csv speed and in bounded memory, with bad rows named.

A file is parsed a piece at a time, each piece by pyarrow on every core and cut at the end of a
row, so memory holds a few pieces whatever the file's size: the first piece is one block
(`BLOCK_SIZE`), the next ones double up to `PIECE_SIZE`. Types are inferred from the first block
of the first file (or given), by the parse of the first piece itself, and pinned for every later
piece and file.
pyarrow cannot say on which line a bad row is, so when it rejects one this module rescans the
file with the `csv` module to name the line, the column, what was expected and what was found.
Empty cells (quoted or not) are missing values. Column names must be distinct. A row longer than
a piece or a block (a field of megabytes) is read by growing them until the row fits (up to
`MAX_BLOCK_SIZE`), and the rescan lifts the csv module's field limit to the file's size.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import threading
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import IO, NoReturn

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from headwater.io import filesystems
from headwater.io.batching import Batches, rebatch, with_empty_fallback
from headwater.io.convention import check_names, normalize_type
from headwater.io.errors import InputError, SkippedRow, SkippedRows
from headwater.io.paths import resolve_files

__all__ = ["csv_schema", "read_csv", "read_csv_file"]

BLOCK_SIZE = 1 << 20
"""Bytes per block of the streaming reader (types are inferred from the first block)."""
PIECE_SIZE = max(8 << 20, (os.cpu_count() or 1) * (4 << 20))
"""Bytes of CSV text parsed at once, by every core (4 MiB each, 8 MiB at least).

Reading holds about two pieces as Arrow plus pyarrow's parse of one: memory depends on this,
not on the file. Smaller pieces cost speed (fewer blocks than cores); larger ones, memory.
"""
MAX_BLOCK_SIZE = (1 << 31) - 1
"""pyarrow's largest block: a row must fit in one block, so no row may be longer than this."""
_BLOCK_GROWTH = 4
_MIN_FIRST_BLOCK = 1 << 16
_FIELD_LIMIT_LOCK = threading.Lock()
_INT_RE = r"^[+-]?[0-9]+$"
_FLOAT_RE = r"(?i)^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)$"


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _pattern_for(t: pa.DataType) -> str:
    return _INT_RE if pa.types.is_integer(t) else _FLOAT_RE


def _options(
    column_names: Sequence[str] | None,
    column_types: Mapping[str, pa.DataType] | None,
    on_bad_row: list[str],
    skip: bool,
    block_size: int | None = None,
) -> dict[str, object]:
    def handler(row: pacsv.InvalidRow) -> str:
        on_bad_row.append(row.text)
        return "skip" if skip else "error"

    return {
        "read_options": pacsv.ReadOptions(
            block_size=block_size or BLOCK_SIZE,
            column_names=list(column_names) if column_names else None,
        ),
        "parse_options": pacsv.ParseOptions(invalid_row_handler=handler),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict(column_types or {}),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    }


def _open(
    path: str,
    column_names: Sequence[str] | None,
    column_types: Mapping[str, pa.DataType] | None,
    on_bad_row: list[str],
    skip: bool,
    block_size: int = BLOCK_SIZE,
) -> pacsv.CSVStreamingReader:
    options = _options(column_names, column_types, on_bad_row, skip, block_size)
    if filesystems.is_url(path):
        # The reader keeps the remote file open while it streams; it closes with the reader.
        return pacsv.open_csv(filesystems.open_input(path), **options)
    return pacsv.open_csv(path, **options)


def _open_text(path: str) -> IO[str]:
    """`path` as text for the csv module (undecodable bytes replaced; pyarrow names them)."""
    return io.TextIOWrapper(
        filesystems.open_input(path), newline="", encoding="utf-8", errors="replace"
    )


def _larger_block(path: str, block: int, exc: pa.ArrowInvalid) -> int:
    """The next block size to try after `exc`; re-raises `exc` unless a row outgrew the block."""
    if "straddl" not in str(exc):  # "straddling object straddles two block boundaries"
        raise exc
    limit = min(filesystems.size(path) + 1, MAX_BLOCK_SIZE)
    if block >= limit:
        raise InputError(
            "a row is longer than the largest block pyarrow can parse",
            path=path,
            expected=f"rows under {MAX_BLOCK_SIZE} bytes",
        ) from exc
    return min(block * _BLOCK_GROWTH, limit)


def _stream(
    path: str,
    column_names: Sequence[str] | None,
    column_types: Mapping[str, pa.DataType] | None,
    on_bad_row: list[str],
    skip: bool,
    block: int,
    skip_rows: int = 0,
) -> Iterator[pa.RecordBatch]:
    """Batches of `path` block by block after its first `skip_rows` rows.

    When a row outgrows the block, the file is reopened with larger blocks and the rows already
    passed are skipped, so every row is yielded once.
    """
    while True:
        seen = 0
        try:
            for batch in _open(path, column_names, column_types, on_bad_row, skip, block):
                seen += batch.num_rows
                if skip_rows >= batch.num_rows:
                    skip_rows -= batch.num_rows
                    continue
                batch, skip_rows = batch.slice(skip_rows), 0
                yield batch
            return
        except pa.ArrowInvalid as exc:
            block = _larger_block(path, block, exc)
            skip_rows = max(skip_rows, seen)


def _row_end(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Length of `data[start:end]` up to the end of its last complete row (0 if none), quotes
    respected.

    `start` is a row's start; a line end inside a quoted value (an odd number of quotes before
    it) does not end a row. Each byte is counted once; only text holding quotes is copied.
    """
    cut = data.rfind(b"\n", start, len(data) if end is None else end) + 1
    if cut == 0:
        return 0
    if data.find(b'"', start, cut) < 0:  # no quotes (the common case): none to count
        return cut - start
    text = bytes(memoryview(data)[start:cut])
    cut = len(text)
    odd = text.count(b'"') % 2
    while cut and odd:
        previous = text.rfind(b"\n", 0, cut - 1) + 1
        odd ^= text.count(b'"', previous, cut) % 2
        cut = previous
    return cut


def _one_row(data: bytes, cut: int) -> bool:
    """Whether `data[:cut]` (cut at a row end) holds a single row."""
    return _row_end(data, 0, cut - 1) == 0


def _piece_sizes() -> Iterator[int]:
    """Bytes to read for each piece: one block first, then doubling up to `PIECE_SIZE`.

    The first piece is one block long, so its parse is the type inference (and its batches
    reach the consumer early); later pieces grow so that every core gets blocks to parse.
    """
    size = BLOCK_SIZE
    yield size
    while True:
        size = min(PIECE_SIZE, size * 2)
        yield size


def _pieces(path: str, has_header: bool) -> Generator[pa.Buffer, None, None]:
    """The text of `path` in pieces sized by `_piece_sizes`, cut at row ends.

    A row longer than a piece makes the piece grow until the row fits; the first piece also
    grows until it holds a row after the header, so that types are inferred from values.
    """
    size = filesystems.size(path)
    offset = 0
    sizes = _piece_sizes()
    with filesystems.open_input(path) as f:
        piece_size = next(sizes)
        while offset < size:
            f.seek(offset)
            data = f.read(piece_size)
            if len(data) < piece_size and offset + len(data) < size:
                raise InputError(
                    "the file ended early: it was shortened while being read",
                    path=path,
                    byte_offset=offset,
                    expected=f"{size} bytes",
                )
            cut = len(data) if offset + len(data) >= size else _row_end(data)
            if cut == 0 or (offset == 0 and has_header and cut < len(data) and _one_row(data, cut)):
                piece_size *= 2
                continue
            yield pa.py_buffer(data).slice(0, cut)
            del data
            offset += cut
            piece_size = next(sizes)


def _parse_piece(
    path: str,
    text: pa.Buffer,
    column_names: Sequence[str] | None,
    column_types: Mapping[str, pa.DataType] | None,
    on_bad_row: list[str],
    skip: bool,
    block: int,
) -> tuple[pa.Table, int]:
    """(`text` parsed by pyarrow on every core, the block size used: grown if a row needed it)."""
    while True:
        options = _options(column_names, column_types, on_bad_row, skip, block)
        try:
            return pacsv.read_csv(pa.BufferReader(text), **options), block
        except pa.ArrowInvalid as exc:
            block = _larger_block(path, block, exc)


def _first_piece(
    path: str,
    pieces: Iterator[pa.Buffer],
    column_names: Sequence[str] | None,
    column_types: Mapping[str, pa.DataType] | None,
    on_bad_row: list[str],
    skip: bool,
) -> tuple[pa.Schema, pa.Table] | pa.ArrowInvalid:
    """(pinned schema, first piece parsed with it), the types inferred from the first piece.

    The first piece is one block long (`BLOCK_SIZE`), so the types come from the rows the
    documented rule names, and that parse is kept. pyarrow's error when it rejects the piece
    (a bad row, a value that cannot take a given type): the caller then probes the slow way,
    which names the row.
    """
    text = next(pieces)
    # pyarrow infers each column's type from all the blocks of a piece (a later block can widen
    # it), so the piece, one streaming block long, is parsed in smaller blocks on every core.
    block = max(_MIN_FIRST_BLOCK, -(-text.size // (4 * (os.cpu_count() or 1))))
    try:
        table, block = _parse_piece(path, text, column_names, column_types, on_bad_row, skip, block)
        check_names(table.schema.names, path=path)
        schema = pa.schema([(f.name, _csv_type(f.type)) for f in table.schema])
        if table.schema != schema:  # e.g. true/false or an empty column: reparse as pinned
            types = _types_for(schema)
            table, _ = _parse_piece(path, text, column_names, types, on_bad_row, skip, block)
    except pa.ArrowInvalid as exc:
        return exc
    return schema, table


def _read_pieces(
    path: str,
    pieces: Iterator[pa.Buffer],
    schema: pa.Schema,
    on_bad_row: list[str],
    skip: bool,
) -> Iterator[pa.RecordBatch]:
    """The pieces after the first, parsed one by one, each on every core in a few large blocks.

    Four blocks per core and piece keep every core busy while giving few, large chunks:
    batches are sliced from them without copying, except where a batch straddles two.
    These pieces have no header: they are read with the pinned names and types.
    """
    cores = os.cpu_count() or 1
    types = _types_for(schema)
    block = BLOCK_SIZE
    for text in pieces:
        block = max(block, -(-text.size // (4 * cores)))
        table, block = _parse_piece(path, text, schema.names, types, on_bad_row, skip, block)
        del text
        yield from table.to_batches()


@contextlib.contextmanager
def _field_limit(path: str) -> Iterator[None]:
    """The csv module's field limit raised to the size of `path` (no field is longer) meanwhile.

    The limit is process-wide: it is restored afterwards, under a lock shared by the rescans.
    """
    with _FIELD_LIMIT_LOCK:
        before = csv.field_size_limit()
        csv.field_size_limit(max(before, min(filesystems.size(path) + 1, MAX_BLOCK_SIZE)))
        try:
            yield
        finally:
            csv.field_size_limit(before)


def _bad_rows(
    path: str, schema: pa.Schema, has_header: bool, limit: int | None
) -> list[tuple[SkippedRow, InputError]]:
    """Rescan `path` with the csv module: every row pyarrow would reject, with the reason."""
    checks = [
        (j, f.name, f.type, re.compile(_pattern_for(f.type)))
        for j, f in enumerate(schema)
        if _is_numeric(f.type)
    ]
    found: list[tuple[SkippedRow, InputError]] = []
    with _field_limit(path), _open_text(path) as f:
        reader = csv.reader(f)
        if has_header:
            next(reader, None)
        line = reader.line_num
        for row in reader:
            first_line, line = line + 1, reader.line_num
            if not row:
                continue
            error = None
            if len(row) != len(schema):
                error = InputError(
                    "wrong number of fields",
                    path=path,
                    row=first_line,
                    expected=f"{len(schema)} fields",
                    found=f"{len(row)}",
                )
            else:
                for j, name, t, pattern in checks:
                    value = row[j]
                    if value and not (pattern.match(value) and _in_range(value, t)):
                        error = InputError(
                            "value is not a number of the column's type",
                            path=path,
                            row=first_line,
                            column=name,
                            expected=f"{t} (pass column_types to change it)",
                            found=repr(value[:80]),
                        )
                        break
            if error is not None:
                found.append((SkippedRow(path, first_line, str(error.reason)), error))
                if limit is not None and len(found) >= limit:
                    break
    return found


def _convert_checked(batch: pa.RecordBatch, schema: pa.Schema) -> tuple[pa.RecordBatch, int]:
    """`batch` (numeric columns read as text) converted to `schema`, bad rows dropped; # dropped."""
    keep = None
    for name, f in zip(batch.schema.names, schema, strict=True):
        if _is_numeric(f.type):
            ok = pc.fill_null(pc.match_substring_regex(batch[name], _pattern_for(f.type)), True)
            try:
                batch[name].filter(ok).cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                # Text the pattern lets through but Arrow cannot convert (e.g. an overflow).
                ok = pa.array([_converts(v, f.type) for v in batch[name].to_pylist()])
            keep = ok if keep is None else pc.and_(keep, ok)
    if keep is not None:
        batch = batch.filter(keep)
    arrays = [col.cast(f.type) for col, f in zip(batch.columns, schema, strict=True)]
    dropped = 0 if keep is None else len(keep) - batch.num_rows
    return pa.RecordBatch.from_arrays(arrays, schema=schema), dropped


def _in_range(value: str, t: pa.DataType) -> bool:
    return not pa.types.is_integer(t) or -(2**63) <= int(value) < 2**63


def _converts(value: str | None, t: pa.DataType) -> bool:
    try:
        pa.scalar(value, pa.string()).cast(t)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _csv_type(t: pa.DataType) -> pa.DataType:
    """The convention's type for a type pyarrow inferred from text (bool, dates stay text)."""
    return pa.string() if pa.types.is_boolean(t) else normalize_type(t)


def _types_for(schema: pa.Schema) -> dict[str, pa.DataType]:
    return {f.name: _csv_type(f.type) for f in schema}


def _probe(
    path: str,
    column_names: Sequence[str] | None,
    column_types: Mapping[str, pa.DataType] | None,
    bad_texts: list[str],
    skip_bad_rows: bool,
) -> tuple[pa.Schema, bool, int]:
    """(the file's pinned schema, whether values must be converted here as text, block size).

    Types come from `column_types`, else from pyarrow's inference on the first block; the block
    is grown until the first row fits in it. Repeated column names raise InputError.
    """
    if column_names is not None:
        check_names(column_names, path=path)
    block = BLOCK_SIZE
    while True:
        try:
            reader = _open(path, column_names, column_types, bad_texts, skip_bad_rows, block)
            check_names(reader.schema.names, path=path)
            schema = pa.schema([(f.name, _csv_type(f.type)) for f in reader.schema])
            return schema, False, block
        except pa.ArrowInvalid as exc:
            if "straddl" in str(exc):
                block = _larger_block(path, block, exc)
                continue
            # The first block holds a bad row (or a value that cannot take a given type).
            header = _header_schema(path, column_names, column_types)
            check_names(header.names, path=path)
            if not skip_bad_rows:
                _raise_located(path, header, column_names is None, exc)
            text_types = {name: pa.string() for name in (column_types or {})}
            reader = _open(path, column_names, text_types, bad_texts, skip_bad_rows, block)
            given = {n: normalize_type(t) for n, t in (column_types or {}).items()}
            fields = [(f.name, given.get(f.name, _csv_type(f.type))) for f in reader.schema]
            return pa.schema(fields), True, block


def csv_schema(
    path: str,
    *,
    column_names: Sequence[str] | None = None,
    column_types: Mapping[str, pa.DataType] | None = None,
) -> pa.Schema:
    """The schema `read_csv` pins for `path`, from its first block only (cheap)."""
    if filesystems.size(path) == 0:
        if column_names is None:
            raise InputError("empty file", path=path, expected="a header line with column names")
        check_names(column_names, path=path)
        return _header_schema(path, column_names, column_types)
    schema, _, _ = _probe(path, column_names, column_types, [], True)
    return schema


def read_csv_file(
    path: str,
    *,
    column_names: Sequence[str] | None,
    column_types: Mapping[str, pa.DataType] | None,
    skip_bad_rows: bool,
    skipped: SkippedRows,
    schema_out: list[pa.Schema] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Batches of one CSV file (as pyarrow cuts them); the pinned schema goes to `schema_out`."""
    has_header = column_names is None
    if filesystems.size(path) == 0:
        if has_header:
            raise InputError("empty file", path=path, expected="a header line with column names")
        assert column_names is not None
        check_names(column_names, path=path)
        types = column_types or {}
        schema = pa.schema([(n, normalize_type(types.get(n, pa.string()))) for n in column_names])
        if schema_out is not None:
            schema_out.append(schema)
        return
    if column_names is not None:
        check_names(column_names, path=path)
    bad_texts: list[str] = []
    pieces = _pieces(path, has_header)
    first = _first_piece(path, pieces, column_names, column_types, bad_texts, skip_bad_rows)
    block = BLOCK_SIZE
    if isinstance(first, pa.ArrowInvalid):  # a bad row in the first piece: probe the slow way
        pieces.close()
        bad_texts.clear()
        schema, text_mode, block = _probe(
            path, column_names, column_types, bad_texts, skip_bad_rows
        )
        if not text_mode:
            pieces = _pieces(path, has_header)
            pinned = {f.name: f.type for f in schema}
            first = _first_piece(path, pieces, column_names, pinned, bad_texts, skip_bad_rows)
            if isinstance(first, pa.ArrowInvalid):
                pieces.close()
                if not skip_bad_rows:
                    _raise_located(path, schema, has_header, first)
                text_mode = True
    else:
        schema, text_mode = first[0], False
    if schema_out is not None:
        schema_out.append(schema)
    if text_mode:
        yield from _read_as_text(path, column_names, schema, bad_texts, skip=0, block=block)
    else:
        assert not isinstance(first, pa.ArrowInvalid)
        batches = _chain_batches(
            first[1], _read_pieces(path, pieces, schema, bad_texts, skip_bad_rows)
        )
        del first  # the first piece is released batch by batch as it is yielded
        done = 0
        try:
            for batch in batches:
                done += batch.num_rows
                yield batch
        except pa.ArrowInvalid as exc:
            if not skip_bad_rows:
                _raise_located(path, schema, has_header, exc)
            # A value pyarrow cannot convert: reread as text from here and drop the bad rows.
            text_mode = True
            yield from _read_as_text(path, column_names, schema, bad_texts, skip=done, block=block)
    if bad_texts or text_mode:
        skipped.add([row for row, _ in _bad_rows(path, schema, has_header, limit=None)])


def _chain_batches(first: pa.Table, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The first piece's batches (released as they go), then the rest's."""
    batches = first.to_batches()
    del first
    while batches:
        yield batches.pop(0)
    yield from rest


def _read_as_text(
    path: str,
    column_names: Sequence[str] | None,
    schema: pa.Schema,
    bad_texts: list[str],
    skip: int,
    block: int,
) -> Iterator[pa.RecordBatch]:
    """Batches of `path` after its first `skip` good rows, converted here, bad values dropped."""
    text_types = {f.name: pa.string() for f in schema}
    for batch in _stream(path, column_names, text_types, bad_texts, True, block, skip_rows=skip):
        converted, _ = _convert_checked(batch, schema)
        yield converted


def _header_schema(
    path: str, column_names: Sequence[str] | None, column_types: Mapping[str, pa.DataType] | None
) -> pa.Schema:
    """Column names (from the header or given), typed as given or else as text."""
    if column_names is None:
        with _field_limit(path), _open_text(path) as f:
            column_names = next(csv.reader(f), [])
    types = column_types or {}
    return pa.schema([(n, normalize_type(types.get(n, pa.string()))) for n in column_names])


def _raise_located(path: str, schema: pa.Schema, has_header: bool, exc: Exception) -> NoReturn:
    """Raise an InputError naming the first bad row of `path`, found by rescanning it."""
    located = _bad_rows(path, schema, has_header, limit=1)
    if located:
        raise located[0][1] from exc
    raise InputError(f"cannot parse CSV ({exc})", path=path, expected="CSV text") from exc


def read_csv(
    pattern: str | os.PathLike[str],
    *,
    batch_size: int | None = 65536,
    column_names: Sequence[str] | None = None,
    column_types: Mapping[str, pa.DataType] | None = None,
    skip_bad_rows: bool = False,
) -> Batches:
    """RecordBatches of the CSV file(s) at `pattern` (a file, glob or directory).

    The first line holds the column names unless `column_names` is given (then the files have
    no header). Types are inferred from the first block of the first file unless given in
    `column_types`. Bad rows raise `InputError`, or with `skip_bad_rows` are skipped, logged and
    listed in the returned iterator's `.skipped`. Every batch but the last has `batch_size`
    rows; with `batch_size=None` the batches are those the parser cuts (sizes vary), which
    saves joining them.
    """
    files = resolve_files(pattern)
    skipped = SkippedRows()
    schemas: list[pa.Schema] = []

    def batches() -> Iterator[pa.RecordBatch]:
        types = column_types
        for path in files:
            for batch in read_csv_file(
                path,
                column_names=column_names,
                column_types=types,
                skip_bad_rows=skip_bad_rows,
                skipped=skipped,
                schema_out=schemas,
            ):
                if batch.schema.names != schemas[0].names:
                    raise InputError(
                        "columns differ from the first file's",
                        path=path,
                        expected=str(schemas[0].names),
                        found=str(batch.schema.names),
                    )
                yield batch
            if types is None and schemas:
                types = _types_for(schemas[0])

    cut = _as_parsed(batches()) if batch_size is None else rebatch(batches(), batch_size)
    return Batches(with_empty_fallback(cut, schemas), skipped)


def _as_parsed(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches that have rows, or the first one if none has (its columns are known)."""
    first_empty = None
    any_rows = False
    for batch in batches:
        if batch.num_rows:
            any_rows = True
            yield batch
        elif first_empty is None:
            first_empty = batch
    if not any_rows and first_empty is not None:
        yield first_empty
