"""Readers, writers, Beam sources and sinks on URLs: a real S3 server (moto's) on loopback.

The `s3_bucket` fixture (root conftest.py) starts moto's server on 127.0.0.1 once per session and
points every S3 client at it through the AWS_* variables: fsspec's s3fs outside Beam, Beam's own
S3 filesystem (boto3) inside it. gs:// goes through the same code (fsspec, Beam's FileSystems)
but has no emulator to test against here.
"""

from __future__ import annotations

import importlib.util

import fsspec
import pyarrow as pa
import pytest

from headwater.io import (
    InputNotFoundError,
    filesystems,
    read_csv,
    read_parquet,
    read_tfrecord,
    resolve_files,
    write_atomic,
    write_parquet,
    write_tfrecord,
)
from headwater.io.extras import MissingExtraError


def _table(n: int = 300) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "fare": pa.array([i * 0.25 for i in range(n)], pa.float64()),
            "company": pa.array([f"Co {i % 4}" for i in range(n)], pa.string()),
        }
    )


def _keys(bucket: str) -> list[str]:
    """Every object key in `bucket`, listed afresh."""
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    return sorted(p.split("/", 1)[1] for p in fs.find(bucket))


def _rows(batches) -> list[dict]:
    return pa.Table.from_batches(list(batches)).sort_by("id").to_pylist()


def test_parquet_shards_written_to_s3_read_back_by_glob_and_directory(s3_bucket):
    table = _table()
    paths = write_parquet(
        table.to_batches(max_chunksize=50), f"s3://{s3_bucket}/pq/data", num_shards=3
    )
    assert paths == [f"s3://{s3_bucket}/pq/data-{i:05d}-of-00003.parquet" for i in range(3)]
    # Only the three shards: the temporary keys they were uploaded under are gone.
    assert _keys(s3_bucket) == [f"pq/data-{i:05d}-of-00003.parquet" for i in range(3)]
    assert resolve_files(f"s3://{s3_bucket}/pq/data-*.parquet") == paths
    assert resolve_files(f"s3://{s3_bucket}/pq") == paths
    assert _rows(read_parquet(f"s3://{s3_bucket}/pq/data-*.parquet")) == table.to_pylist()
    assert _rows(read_parquet(f"s3://{s3_bucket}/pq/", columns=["id"])) == [
        {"id": i} for i in range(300)
    ]


@pytest.mark.parametrize("compression", ["gzip", None])
def test_tfrecord_on_s3_is_byte_identical_to_local(s3_bucket, tmp_path, compression):
    batches = _table().to_batches(max_chunksize=64)
    local = write_tfrecord(batches, str(tmp_path / "data"), num_shards=2, compression=compression)
    remote = write_tfrecord(
        batches, f"s3://{s3_bucket}/tf/data", num_shards=2, compression=compression
    )
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    for lp, rp in zip(local, remote, strict=True):
        assert rp.endswith(lp.rsplit("/", 1)[-1])
        with open(lp, "rb") as f:
            assert fs.cat_file(rp) == f.read()
    got = _rows(read_tfrecord(f"s3://{s3_bucket}/tf/data-*"))
    assert got == _rows(read_tfrecord(str(tmp_path / "data-*")))
    assert [r["id"] for r in got] == list(range(300))


def test_csv_glob_on_s3_reads_as_the_same_files_locally(s3_bucket, tmp_path):
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    for shard in range(3):
        lines = ["id,fare,company"]
        lines += [f"{shard * 100 + i},{i * 0.5},Co {i % 3}" for i in range(100)]
        text = ("\n".join(lines) + "\n").encode()
        (tmp_path / f"part-{shard}.csv").write_bytes(text)
        fs.pipe_file(f"{s3_bucket}/csv/part-{shard}.csv", text)
    fs.pipe_file(f"{s3_bucket}/csv/_SUCCESS", b"")  # hidden in a directory listing
    expected = _rows(read_csv(str(tmp_path / "part-*.csv")))
    assert len(expected) == 300
    assert _rows(read_csv(f"s3://{s3_bucket}/csv/part-*.csv", batch_size=70)) == expected
    assert _rows(read_csv(f"s3://{s3_bucket}/csv")) == expected


def test_bad_csv_row_on_s3_is_named_by_url_and_line(s3_bucket):
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    fs.pipe_file(f"{s3_bucket}/bad.csv", b"a,b\n1,2\n3,x\n")
    with pytest.raises(Exception, match=r"bad\.csv") as info:
        list(read_csv(f"s3://{s3_bucket}/bad.csv", column_types={"a": pa.int64(), "b": pa.int64()}))
    assert f"s3://{s3_bucket}/bad.csv" in str(info.value)
    assert "3" in str(info.value)  # line 3


def test_failed_write_leaves_no_object_behind(s3_bucket):
    def batches():
        yield from _table(100).to_batches(max_chunksize=10)[:3]
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        write_parquet(batches(), f"s3://{s3_bucket}/out/data", num_shards=2)
    with pytest.raises(RuntimeError, match="producer failed"):
        write_tfrecord(batches(), f"s3://{s3_bucket}/out/data", num_shards=2)
    assert _keys(s3_bucket) == []


def test_write_atomic_replaces_an_object_whole(s3_bucket):
    url = f"s3://{s3_bucket}/stats/FeatureStats.pb"
    write_atomic(url, b"first")
    write_atomic(url, b"second version")
    assert filesystems.read_bytes(url) == b"second version"
    assert _keys(s3_bucket) == ["stats/FeatureStats.pb"]


def test_missing_object_and_missing_bucket_are_named(s3_bucket):
    missing = f"s3://{s3_bucket}/nothing/here.parquet"
    with pytest.raises(InputNotFoundError, match="no such file") as info:
        read_parquet(missing)
    assert info.value.path == missing
    with pytest.raises(InputNotFoundError, match="pattern matches no file") as info:
        read_tfrecord(f"s3://{s3_bucket}/nothing/*.gz")
    assert missing.rsplit("/", 1)[0] in str(info.value)
    url = "s3://no-such-bucket-headwater/data/*.csv"
    with pytest.raises(
        InputNotFoundError, match="bucket 'no-such-bucket-headwater' does not exist"
    ):
        read_csv(url)
    with pytest.raises(InputNotFoundError, match="does not exist") as info:
        read_parquet("s3://no-such-bucket-headwater/data.parquet")
    assert info.value.path == "s3://no-such-bucket-headwater/data.parquet"


def test_other_fsspec_urls_take_the_same_path():
    table = _table(40)
    paths = write_parquet(table.to_batches(), "memory://headwater-test/pq/data", num_shards=2)
    assert _rows(read_parquet("memory://headwater-test/pq/data-*.parquet")) == table.to_pylist()
    fsspec.filesystem("memory").rm("/headwater-test", recursive=True)
    assert len(paths) == 2


def test_unknown_scheme_and_missing_backend_are_clear_errors():
    with pytest.raises(InputNotFoundError, match="unknown URL scheme nosuch://"):
        read_csv("nosuch://bucket/data.csv")
    for scheme, module, hint in [
        ("gs", "gcsfs", r"pip install 'headwater-io\[gcs\]'"),
        ("abfs", "adlfs", r"install the fsspec backend of abfs://"),
    ]:
        if importlib.util.find_spec(module) is not None:
            continue  # installed here: nothing is missing
        with pytest.raises(MissingExtraError, match=hint) as info:
            read_csv(f"{scheme}://bucket/data.csv")
        assert f"{scheme}://bucket/data.csv" in str(info.value)


# Beam on the DirectRunner ---------------------------------------------------------------------


def test_beam_reads_and_writes_s3_through_its_filesystems(s3_bucket, tmp_path):
    beam = pytest.importorskip("apache_beam")
    pytest.importorskip("boto3")  # Beam's S3 filesystem (apache-beam[aws])
    from apache_beam.testing.util import assert_that, equal_to

    from headwater.io import ReadCsv, ReadParquet, ReadTFRecord, WriteParquet, WriteTFRecord

    fs = fsspec.filesystem("s3", use_listings_cache=False)
    for shard in range(2):
        lines = ["id,fare"] + [f"{shard * 50 + i},{i * 0.5}" for i in range(50)]
        fs.pipe_file(f"{s3_bucket}/in/part-{shard}.csv", ("\n".join(lines) + "\n").encode())
    expected = [(i, (i % 50) * 0.5) for i in range(100)]

    with beam.Pipeline("DirectRunner") as p:
        batches = p | ReadCsv(f"s3://{s3_bucket}/in/part-*.csv", batch_size=30)
        written_tf = batches | WriteTFRecord(f"s3://{s3_bucket}/out/tf", num_shards=2)
        written_pq = batches | "Pq" >> WriteParquet(f"s3://{s3_bucket}/out/pq", num_shards=1)
        assert_that(
            written_tf,
            equal_to([f"s3://{s3_bucket}/out/tf-{i:05d}-of-00002.gz" for i in range(2)]),
            label="TfPaths",
        )
        assert_that(
            written_pq,
            equal_to([f"s3://{s3_bucket}/out/pq-00000-of-00001.parquet"]),
            label="PqPaths",
        )

    assert [k for k in _keys(s3_bucket) if k.startswith("out/")] == [
        "out/pq-00000-of-00001.parquet",
        *(f"out/tf-{i:05d}-of-00002.gz" for i in range(2)),
    ]
    rows = _rows(read_tfrecord(f"s3://{s3_bucket}/out/tf-*"))
    assert [(r["id"], r["fare"]) for r in rows] == expected

    def pairs(batch):
        return [(r["id"], r["fare"]) for r in batch.to_pylist()]

    with beam.Pipeline("DirectRunner") as p:
        from_pq = p | ReadParquet(f"s3://{s3_bucket}/out/pq-*.parquet") | beam.FlatMap(pairs)
        from_tf = (
            p
            | "Tf" >> ReadTFRecord(f"s3://{s3_bucket}/out/tf-*")
            | "TfPairs" >> beam.FlatMap(pairs)
        )
        assert_that(from_pq, equal_to(expected), label="Pq")
        assert_that(from_tf, equal_to(expected), label="Tf")


def test_beam_source_names_a_missing_url(s3_bucket):
    pytest.importorskip("apache_beam")
    pytest.importorskip("boto3")
    from headwater.io import ReadParquet

    url = f"s3://{s3_bucket}/absent/*.parquet"
    with pytest.raises(InputNotFoundError, match="pattern matches no file") as info:
        ReadParquet(url)
    assert info.value.path == url


def test_empty_objects_through_beams_filesystems(s3_bucket):
    # Beam's S3 uploader cannot complete an upload of no part; an empty file is one empty PUT.
    pytest.importorskip("apache_beam")
    pytest.importorskip("boto3")
    with filesystems.using_beam():
        write_atomic(f"s3://{s3_bucket}/empty/plots.tfrecord", b"")
        write_atomic(f"s3://{s3_bucket}/empty/one.bin", b"1")
        assert filesystems.read_bytes(f"s3://{s3_bucket}/empty/plots.tfrecord") == b""
    assert filesystems.read_bytes(f"s3://{s3_bucket}/empty/one.bin") == b"1"
    assert _keys(s3_bucket) == ["empty/one.bin", "empty/plots.tfrecord"]
