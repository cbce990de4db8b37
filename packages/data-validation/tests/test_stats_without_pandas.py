"""Statistics never import pandas (pyarrow does on its first numpy conversion) unless given a
DataFrame; the buffer conversions that avoid it agree with pyarrow's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import headwater.data_validation as dv
from headwater.data_validation._arrow_numpy import from_numpy, to_numpy

_CHILD = """
import json, sys
import pyarrow as pa
import headwater.data_validation as dv

csv = sys.argv[1]
plain = dv.generate_statistics_from_csv(csv)
table = pa.Table.from_batches(list(__import__("headwater.io").io.read_csv(csv)))
options = dv.StatsOptions(weight_feature="w", exact_unique_limit=4)
weighted = dv.generate_statistics(table, options)
slicer = dv.get_feature_value_slicer({"s": None, "n": [0, 3]})
sliced = dv.generate_statistics(table, dv.StatsOptions(slice_functions=[slicer]))
print(json.dumps({
    "pandas": "pandas" in sys.modules,
    "dataset": "pyarrow.dataset" in sys.modules,
    "plain": plain.SerializeToString(deterministic=True).hex(),
    "weighted": weighted.SerializeToString(deterministic=True).hex(),
    "slices": [d.name for d in sliced.datasets],
}))
"""


def _write_csv(path: Path) -> None:
    big = "x" * 1500  # over LARGE_STRING_BYTES: counted by a hash
    rows = ["n,f,s,w"]
    for i in range(300):
        f = "" if i % 7 == 0 else ("nan" if i % 11 == 0 else f"{(i * 37) % 101 / 4}")
        s = big + str(i % 3) if i % 5 == 0 else f"v{i % 13}"
        rows.append(f"{i * 1_000_003 % 9_999},{f},{s},{1 + i % 4}")
    path.write_text("\n".join(rows) + "\n")


def test_csv_and_table_statistics_do_not_import_pandas(tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    _write_csv(csv)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(csv)], capture_output=True, text=True, check=True
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["pandas"] is False
    assert child["dataset"] is False
    # The same statistics as in this process (where pandas may be loaded already).
    plain = dv.generate_statistics_from_csv(str(csv))
    assert bytes.fromhex(child["plain"]) == plain.SerializeToString(deterministic=True)
    assert plain.datasets[0].num_examples == 300
    table = pa.Table.from_batches(list(__import__("headwater.io").io.read_csv(str(csv))))
    weighted = dv.generate_statistics(
        table, dv.StatsOptions(weight_feature="w", exact_unique_limit=4)
    )
    assert bytes.fromhex(child["weighted"]) == weighted.SerializeToString(deterministic=True)
    lines = [line.split(",") for line in csv.read_text().splitlines()[1:]]
    expected = sorted({f"n_{n}_s_{s}" for n, _, s, _ in lines if n in ("0", "3")})
    assert child["slices"] == ["All Examples", *expected]
    assert len(expected) >= 1
    (feature,) = [f for f in weighted.datasets[0].features if f.path.step == ["s"]]
    assert feature.string_stats.weighted_string_stats.rank_histogram.buckets


_ARRAYS = [
    pa.array([3, -1, 7, 0], pa.int8()),
    pa.array([3, 1, 7, 0], pa.uint16()),
    pa.array([3, -1, 2**40, 0], pa.int64()),
    pa.array([2**63 + 5, 1], pa.uint64()),
    pa.array([1.5, -0.0, float("inf"), float("nan")], pa.float64()),
    pa.array([1.5, 2.25], pa.float32()),
    pa.array(np.array([1.5, 2.0], np.float16())),
    pa.array([True, False, True, True, False, True, False, False, True, True]),
    pa.array([1, None, 3], pa.int32()),  # nulls: pyarrow's own conversion
    pa.array([], pa.float64()),
    pa.array([], pa.bool_()),
]


@pytest.mark.parametrize("array", _ARRAYS, ids=lambda a: str(a.type))
def test_to_numpy_agrees_with_pyarrow_also_on_slices(array: pa.Array) -> None:
    for start in range(min(len(array), 3) + 1):
        part = array.slice(start)
        expected = part.to_numpy(zero_copy_only=False)
        got = to_numpy(part)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    chunked = pa.chunked_array([array, array.slice(1)], array.type)
    np.testing.assert_array_equal(to_numpy(chunked), chunked.to_numpy())


@pytest.mark.parametrize(
    "values",
    [np.array([1, -2, 3]), np.array([0.5, -1.25, 3.0, 0.0]), np.array([True, False, True] * 5)],
    ids=["int64", "float64", "bool"],
)
def test_from_numpy_agrees_with_pyarrow(values: np.ndarray) -> None:
    for part in (values, values[1:], values[::2]):  # offsets and strides
        got = from_numpy(part)
        expected = pa.array(part)
        assert got.type == expected.type
        assert got.equals(expected)
