"""CsvExampleGen / ImportExampleGen: splits, payloads, spans and versions, errors, cache."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import headwater.io as hio
from headwater.orchestration import (
    FORMAT_PARQUET,
    ComponentFailedError,
    CsvExampleGen,
    ImportExampleGen,
    InputConfig,
    LocalDagRunner,
    OutputConfig,
    Pipeline,
    RangeConfig,
)
from headwater.orchestration.example_gen import as_input_config, resolve_input

PENGUIN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "penguin", "data")


def _run(root, *nodes):
    return LocalDagRunner(quiet=True).run(Pipeline("gen", str(root), list(nodes)))


def _rows(examples, split):
    table = pa.Table.from_batches(list(examples.split(split).read_batches()))
    return sorted(
        map(
            tuple,
            zip(*[table.column(c).to_pylist() for c in sorted(table.column_names)], strict=True),
        )
    )


def _csv(path, rows, header="id,key,value"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


@pytest.fixture(scope="module")
def penguin_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("penguin")
    return _run(root, CsvExampleGen(input_base=PENGUIN))


def test_csv_hash_split_writes_tfx_layout_and_properties(penguin_run):
    examples = penguin_run.output("CsvExampleGen", "examples")
    assert json.loads(examples.split_names) == ["train", "eval"]
    assert examples.span == 0
    assert examples.custom_properties["payload_format"] == "FORMAT_TF_EXAMPLE"
    for split in ("train", "eval"):
        assert os.listdir(os.path.join(examples.uri, f"Split-{split}")) == [
            "data_tfrecord-00000-of-00001.gz"
        ]
    source = pa.Table.from_batches(
        list(hio.read_csv(os.path.join(PENGUIN, "penguins_processed.csv")))
    )
    train, evaluation = _rows(examples, "train"), _rows(examples, "eval")
    assert len(train) + len(evaluation) == source.num_rows == 342
    # Ratio 2:1 by hash: each split within a few rows of its share.
    assert abs(len(train) - 228) < 25
    # tf.Example stores floats as float32.
    columns = [
        source.column(c).cast(pa.float32())
        if pa.types.is_floating(source.column(c).type)
        else source.column(c)
        for c in sorted(source.column_names)
    ]
    whole = sorted(map(tuple, zip(*[c.to_pylist() for c in columns], strict=True)))
    assert sorted(train + evaluation) == whole


def test_split_is_deterministic_and_partition_feature_keeps_keys_together(tmp_path):
    rows = [(i, f"k{i % 7}", i * 0.5) for i in range(300)]
    _csv(tmp_path / "in" / "data.csv", rows)
    out = OutputConfig(splits={"a": 1, "b": 1, "c": 1}, partition_feature="key")
    first = _run(tmp_path / "r1", CsvExampleGen(input_base=str(tmp_path / "in"), output_config=out))
    again = _run(tmp_path / "r2", CsvExampleGen(input_base=str(tmp_path / "in"), output_config=out))
    e1, e2 = first.output("CsvExampleGen", "examples"), again.output("CsvExampleGen", "examples")
    keys_per_split = {}
    for split in ("a", "b", "c"):
        assert _rows(e1, split) == _rows(e2, split)
        keys_per_split[split] = {r[1] for r in _rows(e1, split)}
    all_keys = [k for keys in keys_per_split.values() for k in keys]
    assert sorted(all_keys) == sorted({f"k{i}" for i in range(7)})  # no key in two splits


def test_named_input_splits_and_parquet_payload(tmp_path):
    _csv(tmp_path / "in" / "train" / "part1.csv", [(1, "a", 1.0), (2, "b", 2.0)])
    _csv(tmp_path / "in" / "train" / "part2.csv", [(3, "c", 3.0)])
    _csv(tmp_path / "in" / "test" / "x.csv", [(9, "z", 9.0)])
    gen = CsvExampleGen(
        input_base=str(tmp_path / "in"),
        input_config={"train": "train/*.csv", "test": "test/*"},
        payload_format=FORMAT_PARQUET,
    )
    examples = _run(tmp_path / "root", gen).output("CsvExampleGen", "examples")
    assert json.loads(examples.split_names) == ["train", "test"]
    assert examples.custom_properties["payload_format"] == FORMAT_PARQUET
    [train_file] = examples.split("train").files
    assert os.path.basename(train_file) == "data_parquet-00000-of-00001.parquet"
    assert pq.read_table(train_file).column("id").to_pylist() == [1, 2, 3]
    assert _rows(examples, "test") == [(9, "z", 9.0)]


def test_spans_versions_dates_and_ranges(tmp_path):
    for span, version in [(1, 1), (2, 1), (2, 3), (10, 1)]:
        _csv(
            tmp_path / f"span-{span}" / f"v{version}" / "d.csv", [(span * 100 + version, "k", 0.0)]
        )
    config = InputConfig(splits={"single_split": "span-{SPAN}/v{VERSION}/*.csv"})
    latest = resolve_input(str(tmp_path), config)
    assert (latest.span, latest.version) == (10, 1)
    ranged = resolve_input(str(tmp_path), config, RangeConfig(start_span=1, end_span=2))
    assert ranged.span == 2
    assert [os.path.relpath(p, tmp_path) for p in ranged.files["single_split"]] == [
        "span-1/v1/d.csv",
        "span-2/v3/d.csv",
    ]
    with pytest.raises(FileNotFoundError, match=r"no files for span\(s\) \[3, 4\]"):
        resolve_input(str(tmp_path), config, RangeConfig(start_span=2, end_span=4))
    _csv(tmp_path / "days" / "2024-01-02.csv", [(1, "k", 0.0)])
    _csv(tmp_path / "days" / "2024-03-01.csv", [(2, "k", 0.0)])
    dated = resolve_input(str(tmp_path / "days"), as_input_config("{YYYY}-{MM}-{DD}.csv"))
    assert dated.span == 19783  # days from 1970-01-01 to 2024-03-01
    assert dated.files["single_split"] == [str(tmp_path / "days" / "2024-03-01.csv")]


def test_span_and_version_are_recorded(tmp_path):
    _csv(tmp_path / "span-3" / "v2" / "d.csv", [(1, "k", 0.0), (2, "k", 1.0)])
    gen = CsvExampleGen(input_base=str(tmp_path), input_config="span-{SPAN}/v{VERSION}/*.csv")
    examples = _run(tmp_path / "root", gen).output("CsvExampleGen", "examples")
    assert (examples.span, examples.version) == (3, 2)


def test_splits_disagreeing_on_latest_span_is_an_error(tmp_path):
    _csv(tmp_path / "train-2.csv", [(1, "k", 0.0)])
    _csv(tmp_path / "eval-1.csv", [(1, "k", 0.0)])
    config = InputConfig(splits={"train": "train-{SPAN}.csv", "eval": "eval-{SPAN}.csv"})
    with pytest.raises(ValueError, match=r"disagree on the latest span: \{'train': 2, 'eval': 1\}"):
        resolve_input(str(tmp_path), config)


def test_missing_and_bad_input_fail_the_component_with_the_io_error(tmp_path):
    with pytest.raises(ComponentFailedError, match=r"CsvExampleGen.*no file matches pattern"):
        _run(tmp_path / "root", CsvExampleGen(input_base=str(tmp_path / "nothing")))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "d.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(ComponentFailedError) as err:
        _run(tmp_path / "root", CsvExampleGen(input_base=str(tmp_path / "bad")))
    assert isinstance(err.value.cause, hio.InputError)
    assert "d.csv" in str(err.value)


def test_changed_input_file_busts_the_cache(tmp_path):
    _csv(tmp_path / "in" / "d.csv", [(1, "k", 0.0)])
    first = _run(tmp_path / "root", CsvExampleGen(input_base=str(tmp_path / "in")))
    assert (
        _run(tmp_path / "root", CsvExampleGen(input_base=str(tmp_path / "in"))).nodes[0].status
        == "CACHED"
    )
    _csv(tmp_path / "in" / "d.csv", [(1, "k", 0.0), (2, "k", 5.0)])
    third = _run(tmp_path / "root", CsvExampleGen(input_base=str(tmp_path / "in")))
    assert third.nodes[0].status == "COMPLETE"
    assert (
        third.output("CsvExampleGen", "examples").id != first.output("CsvExampleGen", "examples").id
    )


def test_import_example_gen_reads_tfrecords_and_parquet(tmp_path, penguin_run):
    examples = penguin_run.output("CsvExampleGen", "examples")
    gen = ImportExampleGen(
        input_base=examples.uri,
        input_config={"train": "Split-train/*", "eval": "Split-eval/*"},
    )
    imported = _run(tmp_path / "root", gen).output("ImportExampleGen", "examples")
    assert imported.custom_properties["payload_format"] == "FORMAT_TF_EXAMPLE"
    assert _rows(imported, "eval") == _rows(examples, "eval")
    table = pa.Table.from_batches(list(examples.split("train").read_batches()))
    (tmp_path / "pq").mkdir()
    pq.write_table(table, tmp_path / "pq" / "all.parquet")
    # Split again 1:1 (with the same 2:1 as the CsvExampleGen every row would hash to train).
    parquet_gen = ImportExampleGen(
        input_base=str(tmp_path / "pq"), output_config={"a": 1, "b": 1}
    ).with_id("FromParquet")
    from_parquet = _run(tmp_path / "root", parquet_gen).output("FromParquet", "examples")
    assert from_parquet.custom_properties["payload_format"] == FORMAT_PARQUET
    assert _rows(from_parquet, "a")
    assert _rows(from_parquet, "b")
    assert sorted(_rows(from_parquet, "a") + _rows(from_parquet, "b")) == _rows(examples, "train")


def test_beam_path_equals_plain_path(tmp_path):
    rows = [(i, f"k{i % 11}", i * 0.25) for i in range(500)]
    _csv(tmp_path / "in" / "a.csv", rows[:300])
    _csv(tmp_path / "in" / "b.csv", rows[300:])
    out = OutputConfig(splits={"train": 3, "eval": 1}, partition_feature="key")
    plain = CsvExampleGen(input_base=str(tmp_path / "in"), output_config=out)
    beam = CsvExampleGen(
        input_base=str(tmp_path / "in"), output_config=out, use_beam=True, num_shards=2
    ).with_id("BeamGen")
    result = _run(tmp_path / "root", plain, beam)
    e_plain = result.output("CsvExampleGen", "examples")
    e_beam = result.output("BeamGen", "examples")
    assert e_beam.split_names == e_plain.split_names == '["train", "eval"]'
    for split in ("train", "eval"):
        assert _rows(e_beam, split) == _rows(e_plain, split)
    assert [os.path.basename(f) for f in e_beam.split("train").files] == [
        "data_tfrecord-00000-of-00002.gz",
        "data_tfrecord-00001-of-00002.gz",
    ]
    assert sum(len(_rows(e_beam, s)) for s in ("train", "eval")) == 500


TFX_GOLDENS = os.path.join(
    os.path.dirname(__file__), "..", "..", "io", "tests", "goldens", "tfx_splits"
)


@pytest.mark.parametrize("use_beam", [False, True])
def test_import_example_gen_splits_tf_examples_as_tfx_does(tmp_path, use_beam):
    """TFX 1.16's ImportExampleGen split these records (features in varying order) so."""
    with open(os.path.join(TFX_GOLDENS, "import_splits.json")) as f:
        golden = json.load(f)["records_2_1"]
    (tmp_path / "in").mkdir()
    with open(os.path.join(TFX_GOLDENS, "records.tfrecord.gz"), "rb") as src:
        (tmp_path / "in" / "records.tfrecord.gz").write_bytes(src.read())
    gen = ImportExampleGen(
        input_base=str(tmp_path / "in"), output_config=golden["splits"], use_beam=use_beam
    )
    examples = _run(tmp_path / "root", gen).output("ImportExampleGen", "examples")
    for name, ids in golden["ids"].items():
        table = pa.Table.from_batches(list(examples.split(name).read_batches()))
        assert sorted(table.column("id").to_pylist()) == ids
