"""LocalDagRunner against a real SQLite ML Metadata store: records, cache, failures, queries."""

from __future__ import annotations

import io
import json
import os

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import (
    Channel,
    ComponentFailedError,
    Importer,
    InputArtifact,
    LatestArtifactStrategy,
    LatestBlessedModelStrategy,
    LocalDagRunner,
    MetadataStore,
    Model,
    ModelBlessing,
    OutputArtifact,
    Parameter,
    Pipeline,
    Resolver,
    Schema,
    beam_pipeline,
    component,
    current_context,
    latest_artifacts,
    lineage,
    pipeline_runs,
    run_artifacts,
)


@component
def Train(
    model: OutputArtifact[Model], steps: Parameter[int] = 3, fail_if: Parameter[str] = ""
) -> None:
    """Writes steps to model/steps.txt; fails if the `fail_if` file is missing (a 'bug')."""
    if fail_if and not os.path.exists(fail_if):
        raise ValueError(f"training data {fail_if} is missing")
    with open(os.path.join(model.uri, "steps.txt"), "w") as f:
        f.write(str(steps))


@component
def Bless(
    model: InputArtifact[Model],
    blessing: OutputArtifact[ModelBlessing],
    schema: InputArtifact[Schema] | None = None,
    threshold: Parameter[int] = 2,
) -> None:
    """BLESSED when the model trained more than `threshold` steps."""
    with open(os.path.join(model.uri, "steps.txt")) as f:
        ok = int(f.read()) > threshold
    open(os.path.join(blessing.uri, "BLESSED" if ok else "NOT_BLESSED"), "w").close()
    blessing.custom_properties["blessed"] = int(ok)
    blessing.custom_properties["current_model_id"] = model.id or 0
    blessing.custom_properties["has_schema"] = int(schema is not None)


def _pipeline(root, *, steps=3, threshold=2, fail_if="", enable_cache=True, extra=()):
    train = Train(steps=steps, fail_if=fail_if)
    bless = Bless(model=train.outputs["model"], threshold=threshold)
    return Pipeline("unit", str(root), [train, bless, *extra], enable_cache=enable_cache)


def _run(pipeline):
    return LocalDagRunner(quiet=True).run(pipeline)


def _store(root):
    return MetadataStore(_pipeline(root).connection_config())


def test_run_records_contexts_executions_events_and_files(tmp_path):
    result = _run(_pipeline(tmp_path))
    store = _store(tmp_path)
    assert [n.status for n in result.nodes] == ["COMPLETE", "COMPLETE"]
    model = result.output("Train", "model")
    assert model.uri == os.path.join(
        str(tmp_path), "Train", "model", str(result.node("Train").execution_id)
    )
    with open(os.path.join(model.uri, "steps.txt")) as f:
        assert f.read() == "3"
    blessing = result.output("Bless", "blessing")
    assert os.listdir(blessing.uri) == ["BLESSED"]

    s = store.store
    assert [c.name for c in s.get_contexts_by_type("pipeline")] == ["unit"]
    assert [c.name for c in s.get_contexts_by_type("pipeline_run")] == [result.run_id]
    assert sorted(c.name for c in s.get_contexts_by_type("node")) == ["unit.Bless", "unit.Train"]
    executions = s.get_executions()
    assert [e.last_known_state for e in executions] == [mlmd.Execution.COMPLETE] * 2
    train_exec = executions[0]
    assert train_exec.custom_properties["steps"].int_value == 3
    assert len(train_exec.custom_properties["cache_key"].string_value) == 64
    events = s.get_events_by_execution_ids([e.id for e in executions])
    summary = sorted((e.execution_id, e.type, e.path.steps[0].key, e.artifact_id) for e in events)
    assert summary == [
        (executions[0].id, mlmd.Event.OUTPUT, "model", model.id),
        (executions[1].id, mlmd.Event.INPUT, "model", model.id),
        (executions[1].id, mlmd.Event.OUTPUT, "blessing", blessing.id),
    ]
    protos = s.get_artifacts()
    assert [a.state for a in protos] == [mlmd.Artifact.LIVE] * 2
    assert protos[1].custom_properties["blessed"].int_value == 1
    # Every artifact and execution is attributed to the pipeline, run and node contexts.
    run_ctx = s.get_context_by_type_and_name("pipeline_run", result.run_id)
    assert len(s.get_artifacts_by_context(run_ctx.id)) == 2
    assert len(s.get_executions_by_context(run_ctx.id)) == 2


def test_second_run_is_fully_cached_and_reuses_artifacts(tmp_path):
    first = _run(_pipeline(tmp_path))
    second = _run(_pipeline(tmp_path))
    assert [n.status for n in second.nodes] == ["CACHED", "CACHED"]
    assert second.output("Bless", "blessing").id == first.output("Bless", "blessing").id
    s = _store(tmp_path).store
    states = [e.last_known_state for e in s.get_executions()]
    assert states == [mlmd.Execution.COMPLETE] * 2 + [mlmd.Execution.CACHED] * 2
    assert len(s.get_artifacts()) == 2
    cached_bless = s.get_executions()[3]
    kinds = sorted(e.type for e in s.get_events_by_execution_ids([cached_bless.id]))
    assert kinds == [mlmd.Event.INPUT, mlmd.Event.OUTPUT]


def test_changed_parameter_reruns_only_affected_nodes(tmp_path):
    _run(_pipeline(tmp_path))
    result = _run(_pipeline(tmp_path, threshold=5))
    assert [n.status for n in result.nodes] == ["CACHED", "COMPLETE"]
    assert os.listdir(result.output("Bless", "blessing").uri) == ["NOT_BLESSED"]
    result = _run(_pipeline(tmp_path, steps=9, threshold=5))
    assert [n.status for n in result.nodes] == ["COMPLETE", "COMPLETE"]


def test_enable_cache_false_forces_a_run(tmp_path):
    _run(_pipeline(tmp_path))
    assert [n.status for n in _run(_pipeline(tmp_path, enable_cache=False)).nodes] == [
        "COMPLETE",
        "COMPLETE",
    ]
    pipeline = _pipeline(tmp_path)
    pipeline.node("Bless").with_cache(False)
    assert [n.status for n in _run(pipeline).nodes] == ["CACHED", "COMPLETE"]


def test_failure_leaves_no_live_output_and_fixed_rerun_resumes(tmp_path):
    data = tmp_path / "train.csv"
    _run(_pipeline(tmp_path / "root"))  # an earlier good run
    before = _store(tmp_path / "root").store.get_artifacts()
    out = io.StringIO()
    with pytest.raises(
        ComponentFailedError, match=r"'Train' failed: ValueError: training data"
    ) as err:
        LocalDagRunner(out=out).run(_pipeline(tmp_path / "root", fail_if=str(data)))
    assert isinstance(err.value.cause, ValueError)
    assert "Train  FAILED" in out.getvalue()
    assert "test_runner.py" in out.getvalue()  # points at the user's line
    s = _store(tmp_path / "root").store
    failed = s.get_executions_by_id([err.value.execution_id])[0]
    assert failed.last_known_state == mlmd.Execution.FAILED
    assert "training data" in failed.custom_properties["error"].string_value
    # No new artifact, no temporary directory left, earlier artifacts intact.
    assert s.get_artifacts() == before
    assert sorted(os.listdir(tmp_path / "root" / "Train" / "model")) == ["1"]
    with open(tmp_path / "root" / "Train" / "model" / "1" / "steps.txt") as f:
        assert f.read() == "3"
    data.write_text("x")
    result = _run(_pipeline(tmp_path / "root", fail_if=str(data)))
    assert [n.status for n in result.nodes] == ["COMPLETE", "COMPLETE"]
    assert all(
        a.state == mlmd.Artifact.LIVE for a in _store(tmp_path / "root").store.get_artifacts()
    )


def test_beam_pipeline_gets_the_pipeline_args(tmp_path):
    seen = {}

    @component
    def UsesBeam(model: OutputArtifact[Model]) -> None:
        """Counts with Beam."""
        import apache_beam as beam
        from apache_beam.testing.util import assert_that, equal_to

        ctx = current_context()
        assert ctx is not None
        seen["args"] = list(ctx.beam_pipeline_args)
        with beam_pipeline() as p:
            assert_that(p | beam.Create([1, 2, 3]) | beam.CombineGlobally(sum), equal_to([6]))
        seen["options"] = p.options.get_all_options()
        seen["runner"] = type(p.runner).__name__

    pipeline = Pipeline(
        "beam", str(tmp_path), [UsesBeam()], beam_pipeline_args=["--direct_num_workers=1"]
    )
    _run(pipeline)
    assert seen["args"] == ["--direct_num_workers=1"]
    assert seen["options"]["direct_num_workers"] == 1
    assert seen["runner"] == "FnApiRunner"  # in-process: no Prism, no socket (context.with_runner)


def test_importer_and_resolvers(tmp_path):
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    (schema_dir / "schema.pbtxt").write_text('feature { name: "x" type: INT }\n')
    importer = Importer(str(schema_dir), Schema).with_id("import_schema")
    first = _run(_pipeline(tmp_path / "root", extra=[importer]))
    imported = first.output("import_schema", "result")
    assert imported.uri == str(schema_dir)
    assert 'name: "x"' in str(imported.read())
    # Not reimported: the same artifact comes back.
    again = _run(
        _pipeline(
            tmp_path / "root", extra=[Importer(str(schema_dir), Schema).with_id("import_schema")]
        )
    )
    assert again.output("import_schema", "result").id == imported.id

    latest = Resolver(LatestArtifactStrategy, model=Channel(type=Model)).with_id("latest_model")
    blessed = Resolver(
        LatestBlessedModelStrategy,
        model=Channel(type=Model),
        model_blessing=Channel(type=ModelBlessing),
    ).with_id("blessed")
    # A run that trains an unblessed model (threshold 5 > 4 steps).
    result = _run(_pipeline(tmp_path / "root", steps=4, threshold=5, extra=[latest, blessed]))
    first_model = first.output("Train", "model")
    new_model = result.output("Train", "model")
    assert result.node("latest_model").outputs["model"][0].id in {first_model.id, new_model.id}
    assert result.node("blessed").outputs["model"][0].id == first_model.id  # the blessed one

    store = _store(tmp_path / "root")
    assert [m.id for m in latest_artifacts(store, "unit", Model)] == [new_model.id, first_model.id]
    info = lineage(store, first_model.id)
    assert info.producer is not None
    assert info.producer.node_id == "Train"
    assert info.producer.run_id == first.run_id
    assert {c.node_id for c in info.consumers} >= {"Bless", "blessed"}
    assert [c.node_id for c in info.reused_by] == ["Train"]  # the cached second run
    runs = pipeline_runs(store, "unit")
    assert [r.run_id for r in runs] == [first.run_id, again.run_id, result.run_id]
    # The second run's components were all cached (its importer only looked its artifact up).
    assert [r.state for r in runs] == ["COMPLETE", "CACHED", "COMPLETE"]
    outputs = [
        (a.node_id, a.key) for a in run_artifacts(store, first.run_id) if a.direction == "output"
    ]
    assert outputs == [("Train", "model"), ("Bless", "blessing"), ("import_schema", "result")]


def test_split_names_are_recorded_as_json(tmp_path):
    from headwater.orchestration import Examples

    @component
    def Splits(examples: OutputArtifact[Examples]) -> None:
        """Two empty splits."""
        examples.split_uri("train")
        examples.split_uri("eval")

    result = _run(Pipeline("splits", str(tmp_path), [Splits()]))
    examples = result.output("Splits", "examples")
    assert examples.split_names == '["train", "eval"]'
    assert [s.name for s in examples.splits(exclude=["eval"])] == ["train"]
    proto = _store(tmp_path).store.get_artifacts_by_id([examples.id])[0]
    assert json.loads(proto.properties["split_names"].string_value) == ["train", "eval"]


@pytest.mark.parametrize("payload_format", ["FORMAT_TF_EXAMPLE", "FORMAT_PARQUET"])
def test_examples_write_split_round_trips(tmp_path, payload_format):
    import pyarrow as pa

    from headwater.orchestration import Examples

    batch = pa.RecordBatch.from_pydict(
        {"x": pa.array([1, 2, 3], pa.int64()), "s": pa.array(["a", None, "c"])}
    )

    @component
    def Write(examples: OutputArtifact[Examples], fmt: Parameter[str]) -> None:
        """One split written through the helper."""
        files = examples.write_split("train", [batch, batch], payload_format=fmt)
        assert len(files) == 1

    result = _run(Pipeline("ws", str(tmp_path), [Write(fmt=payload_format)]))
    examples = result.output("Write", "examples")
    assert examples.split_names == '["train"]'
    assert examples.payload_format == payload_format
    [split] = examples.splits()
    suffix = ".gz" if payload_format == "FORMAT_TF_EXAMPLE" else ".parquet"
    assert [os.path.basename(f) for f in split.files] == [
        f"data_{'tfrecord' if suffix == '.gz' else 'parquet'}-00000-of-00001{suffix}"
    ]
    table = pa.Table.from_batches(list(split.read_batches()))
    assert table.column("x").to_pylist() == [1, 2, 3, 1, 2, 3]
    assert table.column("s").to_pylist() == ["a", None, "c", "a", None, "c"]


def test_required_input_left_empty_by_a_resolver_fails_the_component(tmp_path):
    nothing = Resolver(LatestArtifactStrategy, model=Channel(type=Model)).with_id("none_yet")
    bless = Bless(model=nothing.outputs["model"])
    with pytest.raises(ComponentFailedError, match=r"'Bless'.*required input 'model' resolved"):
        _run(Pipeline("empty", str(tmp_path), [bless]))
    states = sorted(e.last_known_state for e in _store(tmp_path).store.get_executions())
    assert states == [mlmd.Execution.COMPLETE, mlmd.Execution.FAILED]  # Resolver, Bless


@component
def Compare(
    model: InputArtifact[Model],
    baseline_model: InputArtifact[Model],
    blessing: OutputArtifact[ModelBlessing],
) -> None:
    """Blesses when the candidate is the baseline (the case of a cached candidate)."""
    blessing.custom_properties["blessed"] = int(model.id == baseline_model.id)


def test_one_artifact_wired_to_two_inputs_is_recorded_once(tmp_path):
    train = Train()
    compare = Compare(model=train.outputs["model"], baseline_model=train.outputs["model"])
    _run(Pipeline("twice", str(tmp_path), [train, compare]))
    store = _store(tmp_path).store
    model_id = store.get_artifacts_by_type("Model")[0].id
    [execution] = store.get_executions_by_type("Compare")
    events = store.get_events_by_execution_ids([execution.id])
    inputs = [e for e in events if e.type == mlmd.Event.INPUT]
    assert [(e.artifact_id, e.path.steps[0].key) for e in inputs] == [(model_id, "model")]
    [blessing] = store.get_artifacts_by_type("ModelBlessing")
    assert blessing.custom_properties["blessed"].int_value == 1
