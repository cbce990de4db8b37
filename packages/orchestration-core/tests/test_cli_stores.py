"""The CLI on stores it must only read, files that are not stores, and broken pipeline files."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest

from headwater.orchestration.cli import main

_PIPELINE = textwrap.dedent(
    """
    import os
    from headwater.orchestration import Model, OutputArtifact, Pipeline, component

    @component
    def Step(model: OutputArtifact[Model]) -> None:
        open(os.path.join(model.uri, "ok.txt"), "w").close()

    pipeline = Pipeline("ro", {root!r}, [Step()])
    """
)


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _cli(args, capsys):
    capsys.readouterr()
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_listing_a_sqlite_file_that_is_not_a_store_refuses_it_and_changes_nothing(tmp_path, capsys):
    path = str(tmp_path / "other.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    before = _digest(path)
    status, _, err = _cli(["pipeline", "list", "--metadata", path], capsys)
    assert status == 1
    assert err == (
        f"error: {path} is not an ML Metadata store: it lacks ML Metadata's tables Artifact, "
        "Context, Event, Execution, MLMDEnv, Type (found notes); nothing was changed\n"
    )
    assert _digest(path) == before
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("notes",)]


def test_a_file_that_is_not_sqlite_is_refused(tmp_path, capsys):
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database\n" * 100)
    status, _, err = _cli(["run", "list", "p", "--metadata", str(path)], capsys)
    assert status == 1
    assert err.startswith(f"error: {path} is not an ML Metadata store: SQLite cannot read it")
    assert path.read_text() == "not a database\n" * 100


def _read_only_command(args):
    """`args` run so that file permissions bind (root drops its override capabilities)."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", *args]


def _headwater(args, home):
    command = _read_only_command([sys.executable, "-m", "headwater.orchestration.cli", *args])
    env = {**os.environ, "HEADWATER_HOME": str(home)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_a_read_only_root_is_read_and_refused_for_runs_with_a_clear_error(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "home"))
    root = tmp_path / "root"
    pipeline_file = tmp_path / "pipeline.py"
    pipeline_file.write_text(_PIPELINE.format(root=str(root)))
    assert _cli(["pipeline", "run", str(pipeline_file)], capsys)[0] == 0
    store = root / "metadata.sqlite"
    before = {p: _digest(root / p) for p in os.listdir(root) if (root / p).is_file()}
    read_only = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP
    for dirpath, _, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(dirpath, name), stat.S_IRUSR | stat.S_IRGRP)
        os.chmod(dirpath, read_only)
    try:
        listed = _headwater(["run", "list", "ro", "--metadata", str(store)], tmp_path / "home")
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split() == ["run", "id", "state", "took", "executions"]
        assert [line.split()[1] for line in lines[1:]] == ["COMPLETE"]
        ran = _headwater(["pipeline", "run", str(pipeline_file)], tmp_path / "home")
        assert ran.returncode == 1
        assert ran.stderr.startswith(
            f"error: pipeline root {root} cannot hold this run's outputs: Permission denied"
        ), ran.stderr
        assert "Traceback" not in ran.stderr
        after = {p: _digest(root / p) for p in os.listdir(root) if (root / p).is_file()}
        assert after == before
    finally:
        for dirpath, _, _ in os.walk(root):
            os.chmod(dirpath, stat.S_IRWXU)


def test_a_syntax_error_in_the_pipeline_file_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "home"))
    path = tmp_path / "broken.py"
    path.write_text("from headwater.orchestration import Pipeline\n\npipeline = Pipeline(\n")
    status, _, err = _cli(["pipeline", "run", str(path)], capsys)
    assert status == 1
    first = err.splitlines()[0]
    assert first == (
        f"error: loading pipeline file {path} at {path}:3: SyntaxError: '(' was never closed"
    )
    assert "Traceback (user code):" in err
    assert "runpy" not in err
