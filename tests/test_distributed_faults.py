"""Faults on parallel Beam engines: a user function raising in a worker, a Dask worker killed.

A small custom component maps the rows 0..5 through `parse` from a user's module file (loaded
with `load_user_fn`, as Transform and Trainer load theirs) inside its Beam pipeline, and writes
what it got. The user's function runs in worker processes: the FnApiRunner's (multi-process)
or a Dask LocalCluster's (two processes on 127.0.0.1, started here and closed after).
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

import pytest

from headwater.orchestration import (
    ComponentFailedError,
    LocalDagRunner,
    Model,
    OutputArtifact,
    Parameter,
    Pipeline,
    beam_pipeline,
    component,
)
from headwater.orchestration.training.user_code import load_user_fn

pytestmark = pytest.mark.e2e

USER_MODULE = """import os


def parse(row):
    if row == 3 and os.environ.get("PARSE_FAILS", "1") == "1":
        raise ValueError(f"row {row}: cannot parse")
    return row * 10


def parse_or_die_once(row):
    marker = os.path.join(os.path.dirname(__file__), "killed")
    if row == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), 9)
    return row * 10
"""
RAISING_LINE = 6  # `raise ValueError(...)` in USER_MODULE


@component
def ParseRows(model: OutputArtifact[Model], module_file: Parameter[str], fn: Parameter[str]):
    """Map rows 0..5 through the user's function on the pipeline's runner; write the results."""
    import apache_beam as beam

    user_fn = load_user_fn(module_file, fn)

    def write(values: list[int]) -> None:
        with open(os.path.join(model.uri, "values.txt"), "w") as f:
            f.write(",".join(map(str, sorted(values))))

    with beam_pipeline() as p:
        _ = (
            p
            | "Rows" >> beam.Create(list(range(6)))
            | "Reshuffle" >> beam.Reshuffle()
            | "ParseWithUserFn" >> beam.Map(user_fn)
            | "Collect" >> beam.combiners.ToList()
            | "Write" >> beam.Map(write)
        )


@pytest.fixture(scope="module")
def dask_cluster() -> Any:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    try:
        yield cluster
    finally:
        cluster.close()


def _args(kind: str, cluster: Any) -> list[str]:
    if kind == "multi_process":
        return [
            "--runner=FnApiRunner",
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=2",
        ]
    return ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}"]


def _published(root: Path) -> list[str]:
    """Output directories published under the node (temporary ones start with a dot)."""
    out = root / "ParseRows" / "model"
    return (
        sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) if out.exists() else []
    )


def _module(tmp_path: Path) -> str:
    path = tmp_path / "user_parse.py"
    path.write_text(USER_MODULE)
    return str(path)


@pytest.mark.parametrize("kind", ["multi_process", "dask"])
def test_user_error_in_a_worker_names_component_transform_file_and_line(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cluster = request.getfixturevalue("dask_cluster") if kind == "dask" else None
    module = _module(tmp_path)
    node = ParseRows(module_file=module, fn="parse")
    pipeline = Pipeline(
        "faults", str(tmp_path / "root"), [node], beam_pipeline_args=_args(kind, cluster)
    )
    with pytest.raises(ComponentFailedError) as info:
        LocalDagRunner(quiet=True).run(pipeline)
    err = info.value
    shown = "".join(traceback.format_exception(err))
    assert "component 'ParseRows' failed" in str(err)
    assert "ParseWithUserFn" in str(err)
    assert "row 3: cannot parse" in str(err)
    assert f'File "{module}", line {RAISING_LINE}' in shown
    assert _published(tmp_path / "root") == []


def test_a_killed_dask_worker_is_retried_by_the_engine(dask_cluster: Any, tmp_path: Path) -> None:
    """The first attempt kills its worker (SIGKILL); Dask reruns the task on a live worker."""
    module = _module(tmp_path)
    node = ParseRows(module_file=module, fn="parse_or_die_once")
    root = tmp_path / "root"
    result = LocalDagRunner(quiet=True).run(
        Pipeline("faults", str(root), [node], beam_pipeline_args=_args("dask", dask_cluster))
    )
    assert (tmp_path / "killed").exists()
    values = Path(result.output("ParseRows", "model").uri, "values.txt").read_text()
    assert values == "0,10,20,30,40,50"


def test_a_killed_dask_worker_without_retries_publishes_nothing_and_the_rerun_succeeds(
    tmp_path: Path,
) -> None:
    """With Dask's retries off the job fails with Dask's KilledWorker, nothing is published;
    the rerun (the worker no longer dies) publishes the complete output."""
    import dask
    from distributed import LocalCluster

    module = _module(tmp_path)
    root = tmp_path / "root"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    try:
        args = _args("dask", cluster)
        node = ParseRows(module_file=module, fn="parse_or_die_once")
        with pytest.raises(ComponentFailedError, match=r"ParseRows.*KilledWorker"):
            LocalDagRunner(quiet=True).run(
                Pipeline("faults", str(root), [node], beam_pipeline_args=args)
            )
        assert _published(root) == []
        assert not [p for p in (root / "ParseRows" / "model").iterdir()]
        node = ParseRows(module_file=module, fn="parse_or_die_once")
        result = LocalDagRunner(quiet=True).run(
            Pipeline("faults", str(root), [node], beam_pipeline_args=args)
        )
    finally:
        cluster.close()
    values = Path(result.output("ParseRows", "model").uri, "values.txt").read_text()
    assert values == "0,10,20,30,40,50"
