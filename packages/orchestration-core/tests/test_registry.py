"""The CLI's registry of SQLite stores under concurrent runs: 8 processes, no crash, no loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from headwater.orchestration.errors import MetadataError
from headwater.orchestration.registry import register_store, registered_stores, registry_path

PROCESSES = 8
ENTRIES = 25

_CHILD = textwrap.dedent(
    """
    import sys
    from headwater.orchestration.registry import register_store

    worker = int(sys.argv[1])
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    sys.stdin.readline()  # every worker starts writing at once
    for i in range({entries}):
        register_store(f"p{{worker}}_{{i}}", f"/stores/{{worker}}/{{i}}.sqlite")
    """
)


def test_concurrent_processes_keep_every_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path))
    env = {**os.environ, "HEADWATER_HOME": str(tmp_path)}
    code = _CHILD.format(entries=ENTRIES)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(w)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    errors = [child.communicate(timeout=300)[1] for child in children]
    assert [child.returncode for child in children] == [0] * PROCESSES, errors
    expected = {
        f"p{w}_{i}": f"/stores/{w}/{i}.sqlite" for w in range(PROCESSES) for i in range(ENTRIES)
    }
    assert registered_stores() == expected
    with open(registry_path()) as f:
        assert json.load(f) == expected
    assert sorted(os.listdir(tmp_path)) == ["pipelines.json", "pipelines.json.lock"]


def test_a_corrupt_registry_is_a_clear_error_and_the_next_run_rewrites_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path))
    (tmp_path / "pipelines.json").write_text('{"a": "/x.sqlite"')
    with pytest.raises(MetadataError, match=r"pipelines.json: not valid JSON"):
        registered_stores()
    register_store("b", "/y.sqlite")
    assert registered_stores() == {"b": "/y.sqlite"}
