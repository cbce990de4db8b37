"""The penguin chain on real parallel Beam engines gives the in-process run's artifacts.

One pipeline (CsvExampleGen, StatisticsGen, SchemaGen, Transform, Evaluator, BulkInferrer) runs
three times:
in process (the default, the reference), on Beam's FnApiRunner with two worker processes
(`--direct_running_mode=multi_processing --direct_num_workers=2`) and on a Dask
`distributed.LocalCluster` of two worker processes bound to 127.0.0.1 (`--runner=DaskRunner`).
Parallel runs write two shards per split. Tolerances: floats in statistics and metrics agree
to a relative 1e-9 (sums merged in another order), transformed float32 values to 1e-5.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import pyarrow as pa
import pytest

from headwater.orchestration import (
    BulkInferrer,
    CsvExampleGen,
    Importer,
    LocalDagRunner,
    Model,
    Pipeline,
    SchemaGen,
    StatisticsGen,
)
from headwater.orchestration.components.evaluator import Evaluator
from headwater.orchestration.components.transform import Transform

pytestmark = pytest.mark.e2e

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PENGUIN = os.path.join(REPO, "examples", "penguin")
MODEL_FEATURES = ["culmen_length_mm", "culmen_depth_mm"]
MULTI_PROCESS = [
    "--runner=FnApiRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=2",
]
EVAL_CONFIG = {
    "model_specs": [{"label_key": "species"}],
    "slicing_specs": [{}],
    "metrics_specs": [
        {
            "metrics": [
                {"class_name": "ExampleCount"},
                {"class_name": "SparseCategoricalAccuracy"},
                {"class_name": "MeanLabel"},
            ]
        }
    ],
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny untrained 3-class Keras model on two float features, seeded (deterministic)."""
    import keras

    from headwater.orchestration.training import export_serving_model

    keras.utils.set_random_seed(7)
    inputs = [keras.Input(shape=(1,), name=f) for f in MODEL_FEATURES]
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.concatenate(inputs))
    root = tmp_path_factory.mktemp("model")
    export_serving_model(keras.Model(inputs, out), root / "Format-Serving", label_key="species")
    return str(root)


def _run(root: str, beam_args: list[str], model_dir: str) -> Any:
    example_gen = CsvExampleGen(input_base=os.path.join(PENGUIN, "data"), num_shards=2)
    stats = StatisticsGen(examples=example_gen.outputs["examples"])
    schema = SchemaGen(statistics=stats.outputs["statistics"])
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema.outputs["schema"],
        module_file=os.path.join(PENGUIN, "penguin_preprocessing.py"),
        disable_analyzer_cache=True,
    )
    model = Importer(model_dir, Model).with_id("model")
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=model.outputs["result"],
        eval_config=EVAL_CONFIG,
    )
    inferrer = BulkInferrer(
        examples=example_gen.outputs["examples"],
        model=model.outputs["result"],
        output_columns=[*MODEL_FEATURES, "species"],
    )
    nodes = [example_gen, stats, schema, transform, model, evaluator, inferrer]
    pipeline = Pipeline("distributed", root, nodes, beam_pipeline_args=beam_args)
    return LocalDagRunner(quiet=True).run(pipeline)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, model_dir: str) -> Any:
    """The in-process run (no Beam options: the in-memory twins and the FnApiRunner)."""
    return _run(str(tmp_path_factory.mktemp("in_process")), [], model_dir)


@pytest.fixture(scope="module")
def dask_cluster() -> Any:
    """Two Dask worker processes and a scheduler on 127.0.0.1, closed after the module."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def multi_process(tmp_path_factory: pytest.TempPathFactory, model_dir: str) -> Any:
    return _run(str(tmp_path_factory.mktemp("multi_process")), MULTI_PROCESS, model_dir)


@pytest.fixture(scope="module")
def on_dask(tmp_path_factory: pytest.TempPathFactory, model_dir: str, dask_cluster: Any) -> Any:
    args = ["--runner=DaskRunner", f"--dask_client_address={dask_cluster.scheduler_address}"]
    return _run(str(tmp_path_factory.mktemp("dask")), args, model_dir)


@pytest.fixture(params=["multi_process", "on_dask"])
def parallel(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


def _rows(directory: str) -> list[str]:
    from headwater.io import read_tfrecord

    files = sorted(glob.glob(os.path.join(directory, "*")))
    table = pa.Table.from_batches([b for f in files for b in read_tfrecord(f)])
    return sorted(repr(sorted(row.items())) for row in table.to_pylist())


def _assert_close(got: Any, want: Any, rel: float, path: str = "") -> None:
    """Equal nested dicts/lists; floats equal to `rel` (relative), everything else exactly."""
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), path
        for key in want:
            _assert_close(got[key], want[key], rel, f"{path}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, rel, f"{path}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=rel, abs=1e-12), path
    else:
        assert got == want, path


def _stats_dict(artifact: Any, split: str) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(artifact.read_split(split))


def test_examples_are_the_same_rows_in_two_shards(reference: Any, parallel: Any) -> None:
    want = reference.output("CsvExampleGen", "examples")
    got = parallel.output("CsvExampleGen", "examples")
    for split in ("train", "eval"):
        assert len(got.split(split).files) == 2
        assert _rows(got.split_uri(split)) == _rows(want.split_uri(split))
    assert len(_rows(got.split_uri("train"))) + len(_rows(got.split_uri("eval"))) == 342


def test_statistics_and_schema_are_identical(reference: Any, parallel: Any) -> None:
    for split in ("train", "eval"):
        _assert_close(
            _stats_dict(parallel.output("StatisticsGen", "statistics"), split),
            _stats_dict(reference.output("StatisticsGen", "statistics"), split),
            rel=1e-9,
        )
    assert (
        parallel.output("SchemaGen", "schema").read()
        == reference.output("SchemaGen", "schema").read()
    )


def test_transform_graph_and_transformed_examples_agree(reference: Any, parallel: Any) -> None:
    import headwater.transform as tft
    from headwater.io import read_tfrecord

    want_graph = tft.TransformOutput(reference.output("Transform", "transform_graph").uri)
    got_graph = tft.TransformOutput(parallel.output("Transform", "transform_graph").uri)
    assert got_graph.transformed_metadata.schema == want_graph.transformed_metadata.schema
    for split in ("train", "eval"):
        tables = []
        for run in (parallel, reference):
            uri = run.output("Transform", "transformed_examples").split_uri(split)
            files = sorted(glob.glob(os.path.join(uri, "*")))
            table = pa.Table.from_batches([b for f in files for b in read_tfrecord(f)])
            tables.append(sorted(tuple(sorted(r.items())) for r in table.to_pylist()))
        got, want = tables
        assert len(got) == len(want) > 0
        for g, w in zip(got, want, strict=True):
            for (gk, gv), (wk, wv) in zip(g, w, strict=True):
                assert gk == wk
                assert gv == pytest.approx(wv, abs=1e-5)


def test_evaluation_metrics_are_identical(reference: Any, parallel: Any) -> None:
    import headwater.model_analysis as ma

    want = ma.load_eval_result(reference.output("Evaluator", "evaluation").uri).get().metrics
    got = ma.load_eval_result(parallel.output("Evaluator", "evaluation").uri).get().metrics
    assert want["example_count"] == got["example_count"] > 0
    _assert_close(dict(got), dict(want), rel=1e-9)


def test_bulk_inference_writes_the_same_prediction_logs_and_columns(
    reference: Any, parallel: Any
) -> None:
    import pyarrow.parquet as pq
    import tensorflow as tf

    got, want = (
        (
            run.output("BulkInferrer", "inference_result"),
            run.output("BulkInferrer", "output_examples"),
        )
        for run in (parallel, reference)
    )
    logs = []
    for result, _ in (got, want):
        paths = sorted(glob.glob(os.path.join(result.uri, "prediction_logs-*")))
        logs.append(
            sorted(r.numpy() for r in tf.data.TFRecordDataset(paths, compression_type="GZIP"))
        )
    assert len(logs[0]) == 342
    assert logs[0] == logs[1]  # byte for byte: the same model on the same rows
    for split in ("train", "eval"):
        tables = []
        for _, examples in (got, want):
            files = sorted(glob.glob(os.path.join(examples.split_uri(split), "*.parquet")))
            table = pa.concat_tables([pq.read_table(f) for f in files])
            tables.append(sorted(repr(sorted(r.items())) for r in table.to_pylist()))
        assert tables[0] == tables[1]


def test_dask_runs_leave_no_client_and_listen_on_loopback_only(
    on_dask: Any, dask_cluster: Any
) -> None:
    """Every Dask job closed its client; the scheduler and both workers listen on 127.0.0.1 (the
    worker processes' own sockets checked in the kernel's tables)."""
    import psutil

    # Left: the scheduler's own, and one per worker that read a side input (the worker's).
    clients = [c for c in dask_cluster.scheduler.clients if not c.startswith("Client-worker-")]
    assert clients == ["fire-and-forget"]
    addresses = [dask_cluster.scheduler_address, *dask_cluster.scheduler.workers]
    assert len(addresses) == 3
    assert all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
    pids = [w.process.pid for w in dask_cluster.workers.values()]
    for pid in pids:
        for conn in psutil.Process(pid).net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                assert conn.laddr.ip in ("127.0.0.1", "::1"), (pid, conn)


def test_multi_process_workers_are_stopped(multi_process: Any) -> None:
    """The FnApiRunner's worker processes are gone once the run returns."""
    import psutil

    alive = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    cmdlines = [" ".join(p.cmdline()) for p in alive]
    assert not [c for c in cmdlines if "sdk_worker" in c or "worker_pool" in c], cmdlines
