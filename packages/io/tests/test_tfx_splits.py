"""Every row lands in the split TFX 1.16's CsvExampleGen / ImportExampleGen put it in.

goldens/tfx_splits/ holds a CSV and a TFRecord file and, per output config, the row ids TFX's
CsvExampleGen / ImportExampleGen sent to each split (recorded by make_tfx_splits.py in the TFX
anchor venv).
"""

import json
from pathlib import Path

import pytest

from headwater.io import assign_splits, read_csv, read_tfrecord, read_tfrecord_parts

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


IMPORT_CASES = json.loads((GOLDENS / "import_splits.json").read_text())


def _ids(parts_iter):
    got: dict[str, list[int]] = {}
    for parts in parts_iter:
        for name, part in parts.items():
            got.setdefault(name, []).extend(part.column("id").to_pylist())
    return {k: sorted(v) for k, v in got.items()}


def test_tfrecords_split_by_their_raw_bytes_as_tfx_import_example_gen():
    golden = IMPORT_CASES["records_2_1"]
    parts = read_tfrecord_parts(GOLDENS / "records.tfrecord.gz", golden["splits"], batch_size=50)
    assert _ids(parts) == golden["ids"]


def test_tfrecords_split_by_a_partition_feature_as_tfx():
    golden = IMPORT_CASES["tag_1_1"]
    batches = read_tfrecord(GOLDENS / "records.tfrecord.gz")
    parts = (assign_splits(b, golden["splits"], key=golden["partition_feature"]) for b in batches)
    assert _ids(parts) == golden["ids"]


def test_beam_read_tfrecord_parts_splits_like_the_plain_reader(tmp_path):
    pytest.importorskip("apache_beam")  # the beam extra
    import apache_beam as beam

    from headwater.io import ReadTFRecordParts

    golden = IMPORT_CASES["records_2_1"]
    out = {name: tmp_path / name for name in golden["splits"]}
    with beam.Pipeline(runner="FnApiRunner") as p:
        parts = p | ReadTFRecordParts(GOLDENS / "records.tfrecord.gz", golden["splits"])
        for name, path in out.items():
            _ = (
                parts[name]
                | f"Ids[{name}]" >> beam.FlatMap(lambda b: b.column("id").to_pylist())
                | f"All[{name}]" >> beam.combiners.ToList()
                | f"Write[{name}]" >> beam.Map(lambda ids, p: p.write_text(json.dumps(ids)), path)
            )
    assert {n: sorted(json.loads(p.read_text())) for n, p in out.items()} == golden["ids"]
