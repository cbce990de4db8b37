"""User code in the cache key, and the CLI loading and running pipeline files."""

from __future__ import annotations

import dataclasses
import runpy
import textwrap

import pytest

from headwater.orchestration import LocalDagRunner
from headwater.orchestration.cli import load_pipeline, main
from headwater.orchestration.parameters import code_fingerprints, to_json

PIPELINE_FILE = '''
import os
from headwater.orchestration import Model, OutputArtifact, Parameter, Pipeline, component

def scale(x):
    return x * {factor}

@component
def Work(model: OutputArtifact[Model], fn: Parameter[object] = None) -> None:
    """Writes fn(2)."""
    if {crash}:
        raise RuntimeError("bug in Work")
    with open(os.path.join(model.uri, "out.txt"), "w") as f:
        f.write(str(fn(2)))

pipeline = Pipeline("user", ROOT, [Work(fn=scale)])
'''


def _write(path, root, *, factor=2, crash=False):
    text = PIPELINE_FILE.format(factor=factor, crash=crash).replace("ROOT", repr(str(root)))
    path.write_text(textwrap.dedent(text))


def _run_file(path):
    pipeline = runpy.run_path(str(path))["pipeline"]
    return LocalDagRunner(quiet=True).run(pipeline)


def test_editing_user_code_busts_the_cache(tmp_path):
    file = tmp_path / "user_pipeline.py"
    _write(file, tmp_path / "root")
    first = _run_file(file)
    assert _run_file(file).nodes[0].status == "CACHED"
    _write(file, tmp_path / "root", factor=5)
    changed = _run_file(file)
    assert changed.nodes[0].status == "COMPLETE"
    with open(f"{changed.output('Work', 'model').uri}/out.txt") as f:
        assert f.read() == "10"
    assert changed.output("Work", "model").id != first.output("Work", "model").id


def test_parameters_serialize_stably():
    @dataclasses.dataclass(frozen=True)
    class Options:
        rate: float = 0.5
        names: tuple[str, ...] = ("a", "b")

    assert to_json({"b": Options(), "a": {3, 1}}) == (
        '{"a":[1,3],"b":{"__dataclass__":"test_parameters_serialize_stably.<locals>.Options",'
        '"names":["a","b"],"rate":0.5}}'
    )
    assert to_json(len) == '"builtins:len"'


def test_code_fingerprint_of_py_path_follows_its_contents(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("A = 1\n")
    before = code_fingerprints(str(module))
    module.write_text("A = 2\n")
    assert code_fingerprints(str(module)) != before
    assert code_fingerprints("not_a_file.py") == []


def test_cli_runs_a_pipeline_file_and_reports_a_failure(tmp_path, capsys):
    file = tmp_path / "user_pipeline.py"
    _write(file, tmp_path / "root", crash=True)
    assert main(["--home", str(tmp_path / "home"), "pipeline", "run", str(file)]) == 1
    captured = capsys.readouterr()
    assert "Work  FAILED" in captured.out
    assert "RuntimeError: bug in Work" in captured.out
    assert "error: component 'Work' failed: RuntimeError: bug in Work" in captured.err
    _write(file, tmp_path / "root")
    assert main(["--home", str(tmp_path / "home"), "pipeline", "run", str(file)]) == 0
    assert "Work  ran" in capsys.readouterr().out
    assert main(["--home", str(tmp_path / "home"), "run", "list", "user"]) == 0
    listing = capsys.readouterr().out
    assert "FAILED" in listing
    assert "COMPLETE" in listing


def test_load_pipeline_needs_exactly_one(tmp_path):
    file = tmp_path / "none.py"
    file.write_text("x = 1\n")
    with pytest.raises(ValueError, match=r"expected one Pipeline .* found 0"):
        load_pipeline(str(file))
