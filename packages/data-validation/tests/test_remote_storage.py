"""Statistics, schema and their files on s3:// URLs: a real S3-compatible server (moto's) on
loopback, from the root conftest's `s3_bucket` fixture. The same data read from local files is
the reference."""

from __future__ import annotations

import fsspec
import numpy as np
import pytest

import headwater.data_validation as dv


def _upload_csv(bucket: str, local_dir) -> None:
    rng = np.random.default_rng(5)
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    for shard in range(2):
        lines = ["fare,trips,company"]
        lines += [
            f"{rng.gamma(2.0, 4.0):.2f},{rng.integers(0, 9)},{rng.choice(['Flash', 'Sun', 'Blue'])}"
            for _ in range(400)
        ]
        text = ("\n".join(lines) + "\n").encode()
        (local_dir / f"part-{shard}.csv").write_bytes(text)
        fs.pipe_file(f"{bucket}/csv/part-{shard}.csv", text)


def test_statistics_and_schema_from_and_to_s3(s3_bucket, tmp_path):
    _upload_csv(s3_bucket, tmp_path)
    expected = dv.generate_statistics_from_csv(str(tmp_path / "part-*.csv"))
    stats = dv.generate_statistics_from_csv(f"s3://{s3_bucket}/csv/part-*.csv")
    assert stats == expected
    assert stats.datasets[0].num_examples == 800

    out = f"s3://{s3_bucket}/statistics/Split-train"
    dv.write_stats_binary(stats, f"{out}/FeatureStats.pb")
    assert dv.load_statistics(out) == expected  # a Split-* directory: its FeatureStats.pb

    schema = dv.infer_schema(stats)
    dv.write_schema_text(schema, f"s3://{s3_bucket}/schema/schema.pbtxt")
    assert dv.load_schema(f"s3://{s3_bucket}/schema") == schema
    fs = fsspec.filesystem("s3", use_listings_cache=False)
    assert sorted(fs.find(s3_bucket)) == [
        f"{s3_bucket}/csv/part-0.csv",
        f"{s3_bucket}/csv/part-1.csv",
        f"{s3_bucket}/schema/schema.pbtxt",
        f"{s3_bucket}/statistics/Split-train/FeatureStats.pb",
    ]


def test_missing_statistics_url_is_named(s3_bucket):
    url = f"s3://{s3_bucket}/nothing/FeatureStats.pb"
    with pytest.raises(FileNotFoundError, match=url):
        dv.load_statistics(url)
    with pytest.raises(dv.SchemaError, match="schema file not found"):
        dv.load_schema(f"s3://{s3_bucket}/nothing/schema.pbtxt")


def test_beam_statistics_of_s3_csv_equal_the_plain_ones(s3_bucket, tmp_path):
    beam = pytest.importorskip("apache_beam")
    pytest.importorskip("boto3")  # Beam's S3 filesystem (apache-beam[aws])
    from headwater.io import ReadCsv

    _upload_csv(s3_bucket, tmp_path)
    expected = dv.generate_statistics_from_csv(str(tmp_path / "part-*.csv"))
    out = f"s3://{s3_bucket}/beam/FeatureStats.pb"
    with beam.Pipeline("DirectRunner") as p:
        _ = (
            p
            | ReadCsv(f"s3://{s3_bucket}/csv/part-*.csv")
            | dv.GenerateStatistics()
            | beam.Map(dv.write_stats_binary, out)
        )
    got = dv.load_statistics(out)
    assert got.datasets[0].num_examples == 800
    features = {f.path.step[0]: f for f in got.datasets[0].features}
    want = {f.path.step[0]: f for f in expected.datasets[0].features}
    assert sorted(features) == ["company", "fare", "trips"]
    for name, feature in want.items():
        # Sums may round differently with Beam's grouping of batches; counts may not.
        if feature.HasField("num_stats"):
            assert features[name].num_stats.num_zeros == feature.num_stats.num_zeros
            assert features[name].num_stats.max == feature.num_stats.max
            assert features[name].num_stats.mean == pytest.approx(feature.num_stats.mean)
        else:
            assert features[name].string_stats.unique == feature.string_stats.unique
