"""Beam sources and sinks: TestPipeline + assert_that, and parity with the plain readers."""

import glob

import pandas as pd
import pyarrow as pa
import pytest

# The Beam transforms are headwater-io[beam]: without that extra this module skips.
beam = pytest.importorskip("apache_beam")

from apache_beam.testing import test_pipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from headwater.io import (  # noqa: E402
    ReadCsv,
    ReadDataFrame,
    ReadParquet,
    ReadTFRecord,
    WriteParquet,
    WriteTFRecord,
    read_csv,
    read_parquet,
    read_tfrecord,
    write_parquet,
    write_tfrecord,
)


def _rows(batches):
    """Sorted rows of batches, for order-independent comparison."""
    table = pa.Table.from_batches(list(batches))
    return sorted(tuple(r.values()) for r in table.to_pylist())


def _to_rows(batch):
    return [tuple(r.values()) for r in batch.to_pylist()]


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv")
    for shard in range(3):
        lines = ["id,fare,company"]
        lines += [f"{shard * 100 + i},{i * 0.25},Co {i % 4}" for i in range(100)]
        lines[7] = f"{shard * 100 + 6},,"
        (root / f"part-{shard}.csv").write_text("\n".join(lines) + "\n")
    return root


def test_read_csv_in_beam_equals_the_plain_reader(csv_dir):
    expected = _rows(read_csv(csv_dir, batch_size=64))
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        rows = p | ReadCsv(csv_dir, batch_size=64) | beam.FlatMap(_to_rows)
        assert_that(rows, equal_to(expected))
    assert len(expected) == 300


def test_parquet_and_tfrecord_round_trip_through_beam_sinks(csv_dir, tmp_path):
    expected = _rows(read_csv(csv_dir))
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        batches = p | ReadCsv(csv_dir, batch_size=50)
        parquet_paths = batches | WriteParquet(str(tmp_path / "pq" / "data"), num_shards=2)
        tfrecord_paths = batches | WriteTFRecord(
            str(tmp_path / "tf" / "data_tfrecord"), num_shards=3
        )
        assert_that(
            parquet_paths | beam.Map(lambda s: s.rsplit("/", 1)[1]),
            equal_to(["data-00000-of-00002.parquet", "data-00001-of-00002.parquet"]),
            label="ParquetNames",
        )
        assert_that(
            tfrecord_paths | beam.combiners.Count.Globally(), equal_to([3]), label="TFRecordShards"
        )
    assert _rows(read_parquet(tmp_path / "pq")) == expected
    schema = pa.schema([("id", pa.int64()), ("fare", pa.float64()), ("company", pa.string())])
    assert _rows(read_tfrecord(tmp_path / "tf", schema=schema)) == expected
    assert not glob.glob(str(tmp_path / "**" / ".headwater-tmp-*"), recursive=True)


def test_beam_readers_equal_plain_readers_for_parquet_tfrecord_dataframe(tmp_path):
    batch = pa.RecordBatch.from_pydict(
        {"k": list(range(40)), "v": [[float(i)] * (i % 3) for i in range(40)]}
    )
    write_parquet([batch], str(tmp_path / "pq" / "d"), num_shards=1)
    write_tfrecord([batch.slice(0, 20), batch.slice(20)], str(tmp_path / "tf" / "d"), num_shards=2)
    expected = _rows([batch])
    df = pd.DataFrame({"k": list(range(40)), "v": [str(i) for i in range(40)]})
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        assert_that(
            p | "Pq" >> ReadParquet(tmp_path / "pq") | "PqRows" >> beam.FlatMap(_to_rows),
            equal_to(expected),
            label="Parquet",
        )
        tf_rows = (
            p
            | "Tf" >> ReadTFRecord(tmp_path / "tf", batch_size=7)
            | "TfRows"
            >> beam.FlatMap(
                lambda b: [(r["k"], [round(x, 3) for x in r["v"]]) for r in b.to_pylist()]
            )
        )
        assert_that(tf_rows, equal_to([(r[0], r[1]) for r in expected]), label="TFRecord")
        assert_that(
            p | "Df" >> ReadDataFrame(df, batch_size=16) | "DfRows" >> beam.FlatMap(_to_rows),
            equal_to([(i, str(i)) for i in range(40)]),
            label="DataFrame",
        )


def test_sink_writes_every_shard_even_without_batches(tmp_path):
    batch = pa.RecordBatch.from_pydict({"k": [1, 2], "s": ["a", "b"]})
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        _ = p | beam.Create([batch]) | WriteParquet(str(tmp_path / "d"), num_shards=3)
    shards = sorted(glob.glob(str(tmp_path / "d-*-of-00003.parquet")))
    assert len(shards) == 3
    assert [next(read_parquet(s)).schema.names for s in shards] == [["k", "s"]] * 3
    assert _rows(read_parquet(tmp_path)) == [(1, "a"), (2, "b")]


def test_record_batch_coder_round_trips_and_sizes_cheaply():
    from headwater.io import RecordBatchCoder

    batch = pa.RecordBatch.from_pydict({"k": [1, None], "l": [[1.5], []]})
    coder = RecordBatchCoder()
    assert coder.decode(coder.encode(batch)).equals(batch)
    assert coder.estimate_size(batch) == batch.nbytes


def test_sink_assembles_shards_from_many_parts_byte_for_byte_and_by_row_group(tmp_path):
    # The sinks write one part per bundle and shard, then join a shard's parts: gzip TFRecord
    # parts are concatenated (a multi-member gzip stream), Parquet parts copied row group by
    # row group. Here five parts, as five bundles would leave them.
    from headwater.io.beam_io import _assemble_parquet, _assemble_tfrecord
    from headwater.io.writers import write_parquet_shard, write_tfrecord_shard

    parts = [
        pa.RecordBatch.from_pydict({"k": list(range(i * 10, i * 10 + 10)), "s": [f"r{i}"] * 10})
        for i in range(5)
    ]
    tf_parts, pq_parts = [], []
    for i, batch in enumerate(parts):
        tf_parts.append(str(tmp_path / f"part-{i}.gz"))
        write_tfrecord_shard([batch], tf_parts[-1], "gzip")
        pq_parts.append(str(tmp_path / f"part-{i}.parquet"))
        write_parquet_shard([batch], pq_parts[-1], None)
    _assemble_tfrecord(tf_parts, str(tmp_path / "out" / "tf.gz"), "gzip")
    _assemble_parquet(pq_parts, str(tmp_path / "out" / "pq.parquet"), None)
    expected = _rows(parts)
    schema = parts[0].schema
    assert _rows(read_tfrecord(tmp_path / "out" / "tf.gz", schema=schema)) == expected
    assert _rows(read_parquet(tmp_path / "out" / "pq.parquet")) == expected
    import pyarrow.parquet as pq

    assert pq.ParquetFile(tmp_path / "out" / "pq.parquet").num_row_groups == 5
    # No part: an empty gzip stream (TFRecord) and an empty file with the columns (Parquet).
    _assemble_tfrecord([], str(tmp_path / "empty" / "tf.gz"), "gzip")
    _assemble_parquet([], str(tmp_path / "empty" / "pq.parquet"), schema)
    assert sum(b.num_rows for b in read_tfrecord(tmp_path / "empty" / "tf.gz", schema=schema)) == 0
    assert pq.read_table(tmp_path / "empty" / "pq.parquet").schema.names == ["k", "s"]


def test_tensorflow_reads_a_shard_assembled_from_gzip_parts(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from headwater.io.beam_io import _assemble_tfrecord
    from headwater.io.writers import write_tfrecord_shard

    tf_parts = []
    for i in range(3):
        tf_parts.append(str(tmp_path / f"part-{i}.gz"))
        batch = pa.RecordBatch.from_pydict({"k": list(range(i * 7, i * 7 + 7))})
        write_tfrecord_shard([batch], tf_parts[-1], "gzip")
    out = str(tmp_path / "data-00000-of-00001.gz")
    _assemble_tfrecord(tf_parts, out, "gzip")
    keys = []
    for record in tf.data.TFRecordDataset(out, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        keys.extend(example.features.feature["k"].int64_list.value)
    assert sorted(keys) == list(range(21))


class _SumAndCount(beam.CombineFn):
    """A CombineFn whose empty result is distinct: (0, 0)."""

    def create_accumulator(self):
        return (0, 0)

    def add_input(self, acc, value):
        return (acc[0] + value, acc[1] + 1)

    def merge_accumulators(self, accs):
        accs = list(accs)
        return (sum(a[0] for a in accs), sum(a[1] for a in accs))

    def extract_output(self, acc):
        return acc


def test_combine_globally_with_default_equals_beams_combine_globally():
    from headwater.io.beam_io import CombineGloballyWithDefault

    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        values = p | "Values" >> beam.Create(list(range(1, 101)))
        empty = p | "Empty" >> beam.Create([]).with_output_types(int)
        ours = values | "Ours" >> CombineGloballyWithDefault(_SumAndCount())
        beams = values | "Beams" >> beam.CombineGlobally(_SumAndCount())
        ours_empty = empty | "OursEmpty" >> CombineGloballyWithDefault(_SumAndCount())
        beams_empty = empty | "BeamsEmpty" >> beam.CombineGlobally(_SumAndCount())
        assert_that(ours, equal_to([(5050, 100)]), label="CheckOurs")
        assert_that(beams, equal_to([(5050, 100)]), label="CheckBeams")
        assert_that(ours_empty, equal_to([(0, 0)]), label="CheckOursEmpty")
        assert_that(beams_empty, equal_to([(0, 0)]), label="CheckBeamsEmpty")
