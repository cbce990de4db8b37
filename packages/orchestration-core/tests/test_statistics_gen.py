"""StatisticsGen: TFX's FeatureStats.pb per split (equal to the plain statistics) and a view."""

from __future__ import annotations

import json
import os

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

import headwater.data_validation as dv
from headwater.orchestration import (
    CsvExampleGen,
    Importer,
    LocalDagRunner,
    Pipeline,
    Schema,
    StatisticsGen,
)

PENGUIN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "penguin", "data")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    schema_dir = root / "schema"
    schema_dir.mkdir()
    schema = schema_pb2.Schema()
    feature = schema.feature.add(name="species", type=schema_pb2.INT)
    feature.int_domain.is_categorical = True
    (schema_dir / "schema.pbtxt").write_text(str(schema))
    example_gen = CsvExampleGen(input_base=PENGUIN)
    importer = Importer(source_uri=str(schema_dir), artifact_type=Schema).with_id("schema_importer")
    all_splits = StatisticsGen(examples=example_gen.outputs["examples"])
    only_train = StatisticsGen(
        examples=example_gen.outputs["examples"],
        schema=importer.outputs["result"],
        exclude_splits=["eval"],
    ).with_id("train_stats")
    pipeline = Pipeline("stats", str(root), [example_gen, importer, all_splits, only_train])
    return LocalDagRunner(quiet=True).run(pipeline)


def test_every_split_gets_tfx_feature_stats_equal_to_the_plain_path(run) -> None:
    examples = run.output("CsvExampleGen", "examples")
    statistics = run.output("StatisticsGen", "statistics")
    assert json.loads(statistics.split_names) == ["train", "eval"]
    for name in ("train", "eval"):
        files = sorted(os.listdir(os.path.join(statistics.uri, f"Split-{name}")))
        assert files == ["FeatureStats.html", "FeatureStats.pb"]
        stats = statistics.read_split(name)
        plain = dv.generate_statistics(examples.split(name).read_batches())
        assert stats.datasets[0].num_examples == plain.datasets[0].num_examples > 0
        assert [f.path.step[0] for f in stats.datasets[0].features] == [
            f.path.step[0] for f in plain.datasets[0].features
        ]
        for got, want in zip(stats.datasets[0].features, plain.datasets[0].features, strict=True):
            if got.HasField("num_stats"):
                assert got.num_stats.mean == pytest.approx(want.num_stats.mean, rel=1e-12)
                got.num_stats.ClearField("mean")
                want.num_stats.ClearField("mean")
                got.num_stats.ClearField("std_dev")
                want.num_stats.ClearField("std_dev")
            assert got == want


def test_beam_driver_writes_the_same_statistics(run, tmp_path) -> None:
    """Naming a runner runs StatisticsGen on Beam; its statistics equal the in-memory driver's."""
    example_gen = CsvExampleGen(input_base=PENGUIN)
    stats = StatisticsGen(examples=example_gen.outputs["examples"])
    beam_run = LocalDagRunner(quiet=True).run(
        Pipeline(
            "stats_beam",
            str(tmp_path),
            [example_gen, stats],
            beam_pipeline_args=["--runner=FnApiRunner"],
        )
    )
    in_memory = run.output("StatisticsGen", "statistics")
    on_beam = beam_run.output("StatisticsGen", "statistics")
    for name in ("train", "eval"):
        got = on_beam.read_split(name).datasets[0]
        want = in_memory.read_split(name).datasets[0]
        assert got.num_examples == want.num_examples > 0
        for g, w in zip(got.features, want.features, strict=True):
            if g.HasField("num_stats"):
                assert g.num_stats.mean == pytest.approx(w.num_stats.mean, rel=1e-12)
                assert g.num_stats.std_dev == pytest.approx(w.num_stats.std_dev, rel=1e-9)
                for f in (g, w):
                    f.num_stats.ClearField("mean")
                    f.num_stats.ClearField("std_dev")
            assert g == w


def test_exclude_splits_and_schema_types(run) -> None:
    statistics = run.output("train_stats", "statistics")
    assert json.loads(statistics.split_names) == ["train"]
    assert not os.path.exists(os.path.join(statistics.uri, "Split-eval"))
    species = {f.path.step[0]: f for f in statistics.read_split("train").datasets[0].features}[
        "species"
    ]
    assert species.HasField("string_stats")
    assert species.string_stats.unique == 3
