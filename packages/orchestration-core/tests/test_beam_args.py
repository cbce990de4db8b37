"""beam_pipeline_args: pipeline-wide, overridable per node, reaching every Beam-using component."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pytest

from headwater.orchestration import (
    CsvExampleGen,
    ImportExampleGen,
    LocalDagRunner,
    Pipeline,
    SchemaGen,
    StatisticsGen,
)
from headwater.orchestration.components.transform import Transform
from headwater.orchestration.context import (
    ExecutionContext,
    execution_context,
    merge_beam_pipeline_args,
    option_value,
    prefer_beam,
    resolve_runner_aliases,
    runner_name,
    wants_parallel_beam,
)
from headwater.orchestration.errors import WiringError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..", "..")
PENGUIN = os.path.join(REPO, "examples", "penguin")
SRC = os.path.join(HERE, "..", "src", "headwater", "orchestration")
RECORDING = "--runner=beam_recording_runner.RecordingRunner"


def test_a_node_option_replaces_the_pipelines_and_the_rest_is_kept() -> None:
    base = ["--runner=DaskRunner", "--dask_client_address", "tcp://127.0.0.1:1", "--job_name=p"]
    got = merge_beam_pipeline_args(base, ["--runner=FnApiRunner", "--job_name", "n"])
    assert got == [
        "--dask_client_address",
        "tcp://127.0.0.1:1",
        "--runner=FnApiRunner",
        "--job_name",
        "n",
    ]
    assert merge_beam_pipeline_args(base, []) == base
    assert merge_beam_pipeline_args([], ["--x=1"]) == ["--x=1"]


def test_option_values_and_runner_names_are_read_in_both_spellings() -> None:
    assert option_value(["--job_name", "a", "--job_name=b"], "job_name") == "b"
    assert option_value(["--job_name=a"], "runner") is None
    assert runner_name([]) == "FnApiRunner"
    assert runner_name(["--runner", "DaskRunner"]) == "DaskRunner"
    assert runner_name(["--runner=apache_beam.runners.dask.dask_runner.DaskRunner"]) == "DaskRunner"


@pytest.mark.parametrize(
    ("args", "parallel"),
    [
        ([], False),
        (["--runner=FnApiRunner"], False),
        (["--runner=DirectRunner", "--direct_num_workers=1"], False),
        (["--direct_num_workers=2"], True),
        (["--direct_running_mode=multi_processing"], True),
        (["--runner=DaskRunner"], True),
        (["--runner", "PortableRunner", "--job_endpoint=localhost:8099"], True),
        (["--runner=FlinkRunner"], True),
        (["--runner=SparkRunner"], True),
        (["--runner=DataflowRunner"], True),
    ],
)
def test_parallel_beam_is_recognized(args: list[str], parallel: bool) -> None:
    assert wants_parallel_beam(args) is parallel


@pytest.mark.parametrize(
    "args",
    [
        ["--runner=DaskRunner"],
        ["--runner=FlinkRunner"],
        ["--runner=DataflowRunner"],
        ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    ],
)
def test_small_input_never_skips_beam_when_a_parallel_runner_is_asked_for(
    args: list[str], tmp_path: Path
) -> None:
    small = tmp_path / "one_row.csv"
    small.write_text("a\n1\n")
    ctx = ExecutionContext("p", str(tmp_path), "run", "node", None, tuple(args))
    with execution_context(ctx):
        assert prefer_beam([str(small)])
    ctx = ExecutionContext("p", str(tmp_path), "run", "node", None, ())
    with execution_context(ctx):
        assert not prefer_beam([str(small)])


def test_dask_runner_name_maps_to_headwaters_fixed_runner() -> None:
    fixed = "headwater.orchestration.dask_runner.DaskRunner"
    assert resolve_runner_aliases(["--runner=DaskRunner", "--x"]) == [f"--runner={fixed}", "--x"]
    assert resolve_runner_aliases(["--runner", "DaskRunner"]) == ["--runner", fixed]
    assert resolve_runner_aliases(["--runner=FnApiRunner"]) == ["--runner=FnApiRunner"]


def test_node_beam_args_must_be_a_list() -> None:
    node = StatisticsGen(examples=CsvExampleGen(input_base=PENGUIN).outputs["examples"])
    with pytest.raises(WiringError, match="list of strings"):
        node.with_beam_pipeline_args("--runner=FnApiRunner")  # type: ignore[arg-type]


def test_no_component_builds_a_beam_pipeline_but_through_beam_pipeline() -> None:
    """Every Beam pipeline in orchestration is made by context.beam_pipeline(), which applies
    the node's beam_pipeline_args: Evaluator and BulkInferrer included."""
    users = []
    for dirpath, _, names in os.walk(SRC):
        for name in names:
            # BeamDagRunner's own pipeline orchestrates the nodes: it takes the orchestrator's
            # Beam options (beam_orchestrator_args), not a node's.
            if not name.endswith(".py") or name in ("context.py", "beam_dag_runner.py"):
                continue
            text = Path(dirpath, name).read_text()
            assert not re.search(r"beam\.Pipeline\(|TestPipeline\(", text), name
            if "beam_pipeline()" in text:
                users.append(name)
    assert {
        "evaluator.py",
        "bulk_inferrer.py",
        "statistics_gen.py",
        "transform.py",
        "example_gen_beam.py",
    } <= set(users)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, dict, bytes]]:
    """One run on the recording runner: pipeline-wide job_name, StatisticsGen overriding it."""
    import sys

    from headwater.io import write_tfrecord

    sys.path.insert(0, HERE)
    try:
        import beam_recording_runner as rec

        imported = tmp_path_factory.mktemp("import_base")
        write_tfrecord(
            [pa.RecordBatch.from_pydict({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})],
            str(imported / "data.tfrecord"),
        )
        example_gen = CsvExampleGen(input_base=os.path.join(PENGUIN, "data"))
        import_gen = ImportExampleGen(input_base=str(imported))
        stats = StatisticsGen(examples=example_gen.outputs["examples"]).with_beam_pipeline_args(
            ["--job_name=stats-only"]
        )
        schema = SchemaGen(statistics=stats.outputs["statistics"])
        transform = Transform(
            examples=example_gen.outputs["examples"],
            schema=schema.outputs["schema"],
            module_file=os.path.join(PENGUIN, "penguin_preprocessing.py"),
            disable_statistics=True,
            disable_analyzer_cache=True,
        )
        pipeline = Pipeline(
            "beam_args",
            str(tmp_path_factory.mktemp("beam_args")),
            [example_gen, import_gen, stats, schema, transform],
            beam_pipeline_args=[RECORDING, "--job_name=pipeline-wide"],
        )
        rec.SEEN.clear()
        LocalDagRunner(quiet=True).run(pipeline)
        return list(rec.SEEN)
    finally:
        sys.path.remove(HERE)


def test_every_beam_component_runs_with_the_pipelines_args(recorded) -> None:
    """CsvExampleGen and ImportExampleGen (plain path asked for: a non-local runner moves them
    to Beam), StatisticsGen (tiny input, still Beam) and Transform all ran on the named runner."""
    nodes = [node for node, _, _ in recorded]
    assert nodes == ["CsvExampleGen", "ImportExampleGen", "StatisticsGen", "Transform"]
    jobs = {node: opts["job_name"] for node, opts, _ in recorded}
    assert jobs == {
        "CsvExampleGen": "pipeline-wide",
        "ImportExampleGen": "pipeline-wide",
        "StatisticsGen": "stats-only",
        "Transform": "pipeline-wide",
    }
    assert all(opts["runner"] == RECORDING.split("=", 1)[1] for _, opts, _ in recorded)


UNPICKLE = """
import collections, sys
from apache_beam.internal import pickler
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

PARDO = common_urns.primitives.PAR_DO.urn
COMBINES = {common_urns.composites.COMBINE_PER_KEY.urn, common_urns.composites.COMBINE_GLOBALLY.urn,
            common_urns.combine_components.COMBINE_GROUPED_VALUES.urn}
counts = collections.Counter()
for path in sys.argv[1:]:
    proto = beam_runner_api_pb2.Pipeline.FromString(open(path, "rb").read())
    for t in proto.components.transforms.values():
        if t.spec.urn == PARDO:
            fn = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).do_fn
            kind = "dofn"
        elif t.spec.urn in COMBINES:
            fn = beam_runner_api_pb2.CombinePayload.FromString(t.spec.payload).combine_fn
            kind = "combinefn"
        else:
            continue
        if fn.urn == "beam:dofn:pickled_python_info:v1" or fn.urn.endswith("pickled_python:v1"):
            obj = pickler.loads(fn.payload)
            assert obj is not None, (path, t.unique_name)
            counts[kind] += 1
print(counts["dofn"], counts["combinefn"])
"""


def test_every_dofn_and_combiner_unpickles_in_a_fresh_interpreter(recorded, tmp_path) -> None:
    """What a remote worker does (Flink, Spark, Dataflow, Dask): unpickle each component's
    DoFns and CombineFns in a new process that never ran the driver (no --save_main_session)."""
    import subprocess
    import sys

    paths = []
    for i, (node, _, proto) in enumerate(recorded):
        path = tmp_path / f"{i}-{node}.pb"
        path.write_bytes(proto)
        paths.append(str(path))
    done = subprocess.run(
        [sys.executable, "-c", UNPICKLE, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    dofns, combinefns = map(int, done.stdout.split()[-2:])
    assert dofns >= 10
    assert combinefns >= 1


DOCUMENTED = {  # docs/scaling.md: the options for each engine that cannot run here
    "PortableRunner": [
        "--runner=PortableRunner",
        "--job_endpoint=jobserver:8099",
        "--artifact_endpoint=jobserver:8098",
        "--environment_type=DOCKER",
        "--environment_config=registry/headwater-beam:0.1.0",
    ],
    "FlinkRunner": [
        "--runner=FlinkRunner",
        "--flink_master=flink:8081",
        "--flink_version=1.20",
        "--environment_type=EXTERNAL",
        "--environment_config=localhost:50000",
    ],
    "SparkRunner": [
        "--runner=SparkRunner",
        "--spark_master_url=spark://spark:7077",
        "--environment_type=DOCKER",
        "--environment_config=registry/headwater-beam:0.1.0",
    ],
    "DataflowRunner": [
        "--runner=DataflowRunner",
        "--project=my-project-1",
        "--region=europe-west1",
        "--temp_location=gs://my-bucket/tmp",
        "--staging_location=gs://my-bucket/staging",
        "--sdk_container_image=europe-west1-docker.pkg.dev/my-project-1/beam/headwater-beam:0.1.0",
    ],
    "DaskRunner": ["--runner=DaskRunner", "--dask_client_address=tcp://127.0.0.1:8786"],
}


@pytest.mark.parametrize("runner", sorted(DOCUMENTED))
def test_documented_engine_options_build_a_pipeline_for_that_runner(runner: str) -> None:
    """beam_pipeline() accepts each documented option set and picks that runner (nothing runs:
    the job servers are not reachable from here)."""
    from headwater.orchestration import beam_pipeline

    pipeline = beam_pipeline(DOCUMENTED[runner])
    assert type(pipeline.runner).__name__ == runner
    options = pipeline.options.get_all_options(drop_default=True)
    for arg in DOCUMENTED[runner][1:]:
        name, value = arg.removeprefix("--").split("=", 1)
        key = {"dask_client_address": "address"}.get(name, name)
        assert options[key] == value, name
    assert wants_parallel_beam(DOCUMENTED[runner])
