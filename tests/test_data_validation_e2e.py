"""End to end: the penguin pipeline's SchemaGen and ExampleValidator; bad data stops a run."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

import headwater.data_validation as dv
from headwater.orchestration import (
    ComponentFailedError,
    CsvExampleGen,
    ExampleValidator,
    ImportSchemaGen,
    LocalDagRunner,
    Pipeline,
    StatisticsGen,
)

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUIN_FILE = os.path.join(REPO, "examples", "penguin", "pipeline.py")
PENGUIN_CSV = os.path.join(REPO, "examples", "penguin", "data", "penguins_processed.csv")
T = anomalies_pb2.AnomalyInfo


def _penguin_module():
    spec = importlib.util.spec_from_file_location("penguin_pipeline", PENGUIN_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_penguin_pipeline_infers_a_schema_the_data_satisfies(tmp_path) -> None:
    pipeline = _penguin_module().create_pipeline(str(tmp_path / "root"))
    run = LocalDagRunner(quiet=True).run(pipeline)
    schema = run.output("SchemaGen", "schema")
    assert sorted(f.name for f in schema.read().feature) == [
        "body_mass_g",
        "culmen_depth_mm",
        "culmen_length_mm",
        "flipper_length_mm",
        "species",
    ]
    anomalies = run.output("ExampleValidator", "anomalies")
    for split in json.loads(anomalies.split_names):
        assert not anomalies.read_split(split).anomaly_info
    assert json.loads(anomalies.custom_properties["blessed"]) == {"train": 1, "eval": 1}


def test_bad_new_data_stops_the_run_and_names_the_fix(tmp_path) -> None:
    good_schema = tmp_path / "schema"
    good_schema.mkdir()
    curated = dv.infer_schema(dv.generate_statistics_from_csv(PENGUIN_CSV))
    dv.set_domain(curated, "species", schema_pb2.IntDomain(min=0, max=2))
    dv.write_schema_text(curated, good_schema / "schema.pbtxt")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(PENGUIN_CSV, data / "penguins.csv")
    with open(data / "penguins.csv", "a") as f:
        f.write("7,39.1,18.7,181,3750\n" * 40)  # a species the schema never saw
    example_gen = CsvExampleGen(input_base=str(data))
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    schema = ImportSchemaGen(schema_file=str(good_schema / "schema.pbtxt"))
    validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema.outputs["schema"],
        fail_on_error=True,
    )
    nodes = [example_gen, statistics_gen, schema, validator]
    with pytest.raises(ComponentFailedError) as info:
        LocalDagRunner(quiet=True).run(Pipeline("bad", str(tmp_path / "root"), nodes))
    cause = info.value.__cause__
    assert isinstance(cause, dv.AnomaliesFoundError)
    species = cause.anomalies.anomaly_info["species"]
    assert [r.type for r in species.reason] == [T.INT_TYPE_BIG_INT]
    assert "int_domain.max: 2 -> 7" in str(cause)
