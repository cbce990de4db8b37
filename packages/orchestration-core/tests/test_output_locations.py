"""Output locations: never shared by two artifacts, never overwritten, whichever store publishes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from ml_metadata.proto import metadata_store_pb2 as mlmd

from headwater.orchestration import (
    LocalDagRunner,
    MetadataStore,
    Model,
    OutputArtifact,
    Parameter,
    Pipeline,
    component,
    pipeline_runs,
    sqlite_metadata_connection_config,
)


@component
def Train(model: OutputArtifact[Model], steps: Parameter[int] = 3) -> None:
    """Writes `steps` to model/steps.txt."""
    with open(os.path.join(model.uri, "steps.txt"), "w") as f:
        f.write(str(steps))


def _pipeline(root, metadata, steps):
    config = sqlite_metadata_connection_config(str(metadata))
    return Pipeline("unit", str(root), [Train(steps=steps)], metadata_connection_config=config)


def _read_steps(uri):
    with open(os.path.join(uri, "steps.txt")) as f:
        return f.read()


def test_two_stores_on_one_root_never_share_or_overwrite_an_output(tmp_path):
    root = tmp_path / "root"
    first = LocalDagRunner(quiet=True).run(_pipeline(root, tmp_path / "a.sqlite", steps=3))
    # A second store hands out the same execution ids on the same root.
    second = LocalDagRunner(quiet=True).run(_pipeline(root, tmp_path / "b.sqlite", steps=7))
    a_model = first.output("Train", "model")
    b_model = second.output("Train", "model")
    assert first.node("Train").execution_id == second.node("Train").execution_id == 1
    assert a_model.uri == str(root / "Train" / "model" / "1")
    assert b_model.uri == str(root / "Train" / "model" / "1-2")
    assert _read_steps(a_model.uri) == "3"
    assert _read_steps(b_model.uri) == "7"
    # The first store still answers from its cache with its own, intact files.
    again = LocalDagRunner(quiet=True).run(_pipeline(root, tmp_path / "a.sqlite", steps=3))
    assert again.node("Train").status == "CACHED"
    assert again.output("Train", "model").uri == a_model.uri
    assert _read_steps(a_model.uri) == "3"
    assert sorted(os.listdir(root / "Train" / "model")) == ["1", "1-2"]


def test_publishing_never_removes_an_existing_directory(tmp_path):
    root = tmp_path / "root"
    taken = root / "Train" / "model"
    for name in ("1", "1-2"):
        (taken / name).mkdir(parents=True)
        (taken / name / "steps.txt").write_text(f"someone else's {name}")
    result = LocalDagRunner(quiet=True).run(_pipeline(root, tmp_path / "m.sqlite", steps=5))
    assert result.output("Train", "model").uri == str(taken / "1-3")
    assert _read_steps(taken / "1") == "someone else's 1"
    assert _read_steps(taken / "1-2") == "someone else's 1-2"
    assert _read_steps(taken / "1-3") == "5"
    [artifact] = MetadataStore(
        sqlite_metadata_connection_config(str(tmp_path / "m.sqlite"))
    ).store.get_artifacts()
    assert artifact.uri == str(taken / "1-3")


_CHILD = textwrap.dedent(
    """
    import os, sys
    from headwater.orchestration import (
        LocalDagRunner, Model, OutputArtifact, Parameter, Pipeline, component,
        sqlite_metadata_connection_config,
    )

    @component
    def Train(model: OutputArtifact[Model], steps: Parameter[int] = 3) -> None:
        with open(os.path.join(model.uri, "steps.txt"), "w") as f:
            f.write(str(steps))

    worker = int(sys.argv[1])
    config = sqlite_metadata_connection_config(sys.argv[3])
    pipeline = Pipeline(
        "unit", sys.argv[2], [Train(steps=worker)], metadata_connection_config=config
    )
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    sys.stdin.readline()  # every worker publishes at about the same time
    print(LocalDagRunner(quiet=True).run(pipeline).output("Train", "model").uri)
    """
)


def _run_concurrently(tmp_path, root, stores):
    """Run the child pipeline in one process per store path, all at once; their model URIs."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    children = [
        subprocess.Popen(
            [sys.executable, str(script), str(w), root, store],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w, store in enumerate(stores)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = [child.communicate(timeout=300) for child in children]
    assert [child.returncode for child in children] == [0] * len(stores), results
    return [out.strip() for out, _ in results]


def test_concurrent_processes_with_their_own_stores_publish_to_distinct_locations(tmp_path):
    root = str(tmp_path / "root")
    uris = _run_concurrently(tmp_path, root, [str(tmp_path / f"{w}.sqlite") for w in range(4)])
    model_dir = os.path.join(root, "Train", "model")
    assert sorted(uris) == [os.path.join(model_dir, n) for n in ("1", "1-2", "1-3", "1-4")]
    assert [_read_steps(uri) for uri in uris] == ["0", "1", "2", "3"]
    assert sorted(os.listdir(model_dir)) == ["1", "1-2", "1-3", "1-4"]


def test_concurrent_runs_on_one_sqlite_store_all_complete_with_their_own_outputs(tmp_path):
    root = str(tmp_path / "root")
    store_path = str(tmp_path / "shared.sqlite")
    uris = _run_concurrently(tmp_path, root, [store_path] * 4)
    assert [_read_steps(uri) for uri in uris] == ["0", "1", "2", "3"]
    assert len(set(uris)) == 4
    store = MetadataStore(sqlite_metadata_connection_config(store_path))
    runs = pipeline_runs(store, "unit")
    assert [run.state for run in runs] == ["COMPLETE"] * 4
    live = store.store.get_artifacts()
    assert sorted(a.uri for a in live) == sorted(uris)
    assert {a.state for a in live} == {mlmd.Artifact.LIVE}
