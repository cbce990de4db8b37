"""Components inherit the libraries' refusals (issue 19): repeated CSV names, statistics as schema.

CsvExampleGen kept only the last of two `a` columns, and StatisticsGen of the same file crashed
with `ValueError: Value out of range: -2`; both now fail with io's InputError naming the file
and the names, on the plain and the Beam path. A field of megabytes is read, not refused.
ImportSchemaGen took a statistics file as a schema of one nameless feature; it now fails naming
the file and what it looks like.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

import headwater.data_validation as dv
import headwater.io as hio
from headwater.orchestration import (
    ComponentFailedError,
    CsvExampleGen,
    ImportSchemaGen,
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


def test_import_schema_gen_refuses_a_statistics_file(tmp_path) -> None:
    stats = dv.generate_statistics(pa.record_batch({"a": [1, 2], "b": ["x", "y"]}))
    path = tmp_path / "FeatureStats.pb"
    dv.write_stats_binary(stats, path)
    with pytest.raises(ComponentFailedError) as err:
        _run(tmp_path / "root", ImportSchemaGen(schema_file=str(path)))
    cause = err.value.cause
    assert isinstance(cause, dv.SchemaError)
    assert str(cause) == (
        f"{path}: not a Schema, it looks like statistics (a DatasetFeatureStatisticsList of "
        "1 dataset(s), 2 feature(s)); expected a schema.pbtxt or a binary Schema proto"
    )
