"""assign_splits puts every row in the split TFX 1.16's CsvExampleGen put it in.

goldens/tfx_splits/ holds a CSV and, per output config, the row ids TFX sent to each split
(recorded by make_tfx_splits.py in the TFX anchor venv).
"""

import json
from pathlib import Path

import pytest

from headwater.io import assign_splits, read_csv

GOLDENS = Path(__file__).parent / "goldens" / "tfx_splits"
CASES = json.loads((GOLDENS / "splits.json").read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_rows_land_in_the_split_tfx_chose(case):
    golden = CASES[case]
    batches = list(read_csv(GOLDENS / "data.csv", batch_size=64))
    got: dict[str, list[int]] = {name: [] for name in golden["splits"]}
    for batch in batches:
        parts = assign_splits(batch, golden["splits"], key=golden["partition_feature"])
        for name, part in parts.items():
            got[name] += part.column("id").to_pylist()
    assert {k: sorted(v) for k, v in got.items()} == golden["ids"]
