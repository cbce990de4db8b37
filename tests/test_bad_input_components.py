"""Components inherit io's refusals (issue 19): a repeated CSV column name, a huge field.

CsvExampleGen kept only the last of two `a` columns, and StatisticsGen of the same file crashed
with `ValueError: Value out of range: -2`; both now fail with io's InputError naming the file
and the names, on the plain and the Beam path. A field of megabytes is read, not refused.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import headwater.io as hio
from headwater.orchestration import (
    ComponentFailedError,
    CsvExampleGen,
    LocalDagRunner,
    Pipeline,
)


def _run(root, *nodes):
    return LocalDagRunner(quiet=True).run(Pipeline("bad-input", str(root), list(nodes)))


@pytest.mark.parametrize("use_beam", [False, True])
def test_csv_example_gen_refuses_a_repeated_column_name(tmp_path, use_beam) -> None:
    data = tmp_path / "in" / "dup.csv"
    data.parent.mkdir()
    data.write_text("a,a,b\n1,2,x\n3,4,y\n")
    with pytest.raises(ComponentFailedError) as err:
        _run(tmp_path / "root", CsvExampleGen(input_base=str(data.parent), use_beam=use_beam))
    cause = err.value.cause
    assert isinstance(cause, hio.InputError)
    assert (cause.path, cause.reason) == (str(data), "duplicate column names")
    assert cause.found == "['a'] repeated in ['a', 'a', 'b']"


def test_csv_example_gen_reads_a_field_of_megabytes(tmp_path) -> None:
    data = tmp_path / "in" / "big.csv"
    data.parent.mkdir()
    big = "x" * (3 << 20)
    data.write_text("id,text\n" + "".join(f"{i},{big if i == 5 else 'y'}\n" for i in range(12)))
    result = _run(tmp_path / "root", CsvExampleGen(input_base=str(data.parent)))
    examples = result.output("CsvExampleGen", "examples")
    rows = {}
    for split in ("train", "eval"):
        table = pa.Table.from_batches(list(examples.split(split).read_batches()))
        rows.update(
            zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True)
        )
    assert sorted(rows) == list(range(12))
    assert rows[5] == big
    assert {rows[i] for i in range(12) if i != 5} == {"y"}
