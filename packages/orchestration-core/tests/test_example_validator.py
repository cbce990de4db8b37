"""SchemaGen, ImportSchemaGen and ExampleValidator in a real pipeline on the penguin CSV."""

from __future__ import annotations

import json
import os

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

import headwater.data_validation as dv
from headwater.orchestration import (
    ComponentFailedError,
    CsvExampleGen,
    ExampleStatistics,
    ExampleValidator,
    Importer,
    ImportSchemaGen,
    LocalDagRunner,
    Pipeline,
    SchemaGen,
    StatisticsGen,
)

PENGUIN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "penguin", "data")
T = anomalies_pb2.AnomalyInfo
USER_SCHEMA = """
feature { name: "species" type: INT int_domain { min: 0 max: 1 } }
feature { name: "body_mass_g" type: FLOAT drift_comparator { jensen_shannon_divergence {
          threshold: 0.5 } } }
feature { name: "culmen_length_mm" type: FLOAT }
feature { name: "culmen_depth_mm" type: FLOAT }
feature { name: "flipper_length_mm" type: FLOAT }
"""


def _imported_statistics(folder) -> Importer:
    """Statistics of the whole penguin CSV (plain path), imported as a one-split artifact."""
    split = folder / "Split-train"
    split.mkdir(parents=True)
    stats = dv.generate_statistics_from_csv(os.path.join(PENGUIN, "penguins_processed.csv"))
    dv.write_stats_binary(stats, str(split / "FeatureStats.pb"))
    return Importer(
        source_uri=str(folder),
        artifact_type=ExampleStatistics,
        properties={"split_names": json.dumps(["train"])},
    ).with_id("previous_statistics")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("validator")
    user_schema = root / "user_schema.pbtxt"
    user_schema.write_text(USER_SCHEMA)
    example_gen = CsvExampleGen(input_base=PENGUIN)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"])
    validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    imported = ImportSchemaGen(schema_file=str(user_schema))
    previous = _imported_statistics(root / "previous")
    strict = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=imported.outputs["schema"],
        previous_statistics=previous.outputs["result"],
        exclude_splits=["eval"],
    ).with_id("strict_validator")
    nodes = [example_gen, statistics_gen, schema_gen, validator, imported, previous, strict]
    return LocalDagRunner(quiet=True).run(Pipeline("validator", str(root), nodes))


def test_schema_gen_writes_only_schema_pbtxt_inferred_from_the_splits(run) -> None:
    schema = run.output("SchemaGen", "schema")
    assert os.listdir(schema.uri) == ["schema.pbtxt"]
    inferred = schema.read()
    statistics = run.output("StatisticsGen", "statistics")
    expected = dv.update_schema(
        dv.infer_schema(statistics.read_split("train")),
        statistics.read_split("eval"),
        infer_feature_shape=True,
    )
    assert inferred == expected
    species = dv.get_feature(inferred, "species")
    assert species.type == schema_pb2.INT
    assert [d.size for d in species.shape.dim] == [1]


def test_validator_writes_tfx_schema_diff_per_split_and_blesses(run) -> None:
    anomalies = run.output("ExampleValidator", "anomalies")
    assert json.loads(anomalies.split_names) == ["train", "eval"]
    for split in ("train", "eval"):
        files = sorted(os.listdir(os.path.join(anomalies.uri, f"Split-{split}")))
        assert files == ["SchemaDiff.html", "SchemaDiff.pb"]
        with open(os.path.join(anomalies.uri, f"Split-{split}", "SchemaDiff.pb"), "rb") as f:
            parsed = anomalies_pb2.Anomalies.FromString(f.read())
        assert parsed == anomalies.read_split(split)
        assert not parsed.anomaly_info
        assert parsed.baseline == run.output("SchemaGen", "schema").read()
    assert json.loads(anomalies.custom_properties["blessed"]) == {"train": 1, "eval": 1}


def test_imported_schema_finds_anomalies_and_measures_drift(run) -> None:
    imported = run.output("ImportSchemaGen", "schema")
    with open(imported.file) as f:
        assert f.read() == USER_SCHEMA
    anomalies = run.output("strict_validator", "anomalies")
    assert json.loads(anomalies.split_names) == ["train"]
    train = anomalies.read_split("train")
    assert [r.type for r in train.anomaly_info["species"].reason] == [T.INT_TYPE_BIG_INT]
    assert "int_domain.max: 1 -> 2" in train.anomaly_info["species"].description
    (measured,) = train.drift_skew_info
    assert measured.path.step == ["body_mass_g"]
    expected = dv.check_statistics(
        run.output("StatisticsGen", "statistics").read_split("train"),
        imported.read(),
        previous_statistics=run.output("previous_statistics", "result").read_split("train"),
    ).drift
    assert [(r.metric, r.value) for r in expected] == [
        ("jensen_shannon_divergence", measured.drift_measurements[0].value)
    ]
    assert 0 < measured.drift_measurements[0].value < 0.5
    assert json.loads(anomalies.custom_properties["blessed"]) == {"train": 0}


def test_fail_on_error_stops_the_run_naming_the_feature(tmp_path) -> None:
    user_schema = tmp_path / "schema.pbtxt"
    user_schema.write_text(USER_SCHEMA)
    statistics = _imported_statistics(tmp_path / "stats")
    imported = ImportSchemaGen(schema_file=str(user_schema))
    validator = ExampleValidator(
        statistics=statistics.outputs["result"],
        schema=imported.outputs["schema"],
        fail_on_error=True,
    )
    pipeline = Pipeline("failing", str(tmp_path / "root"), [statistics, imported, validator])
    with pytest.raises(ComponentFailedError, match="ExampleValidator") as info:
        LocalDagRunner(quiet=True).run(pipeline)
    cause = info.value.__cause__
    assert isinstance(cause, dv.AnomaliesFoundError)
    assert "species: Out-of-range values" in str(cause)
    assert "split 'train'" in str(cause)


def test_import_schema_gen_rejects_a_bad_file_naming_it(tmp_path) -> None:
    bad = tmp_path / "bad.pbtxt"
    bad.write_text('feature { name: "x" typo: INT }')
    pipeline = Pipeline("bad", str(tmp_path / "root"), [ImportSchemaGen(schema_file=str(bad))])
    with pytest.raises(ComponentFailedError, match=r"bad\.pbtxt"):
        LocalDagRunner(quiet=True).run(pipeline)
    assert text_format.Parse(USER_SCHEMA, schema_pb2.Schema()).feature
