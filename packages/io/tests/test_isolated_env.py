"""Isolated tool environments: made once per lock file under the cache, reused, never half-made."""

from __future__ import annotations

import subprocess

import pytest

from headwater.io.isolated_env import IsolatedEnvError, isolated_env_dir, isolated_python


def test_an_environment_is_made_once_per_lock_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADWATER_CACHE_DIR", str(tmp_path / "cache"))
    lock = tmp_path / "requirements.txt"
    lock.write_text("# nothing to install\n")
    python = isolated_python("empty", lock)
    env = isolated_env_dir("empty", lock)
    assert python == str(env / "bin" / "python")
    assert env.parent == tmp_path / "cache"
    assert env.name.startswith("empty-")
    assert (env / ".complete").read_text() == "ok\n"
    argv = [python, "-c", "import sys; print(sys.prefix)"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(env)
    (env / "marker").write_text("kept")
    assert isolated_python("empty", lock) == python  # reused, not made again
    assert (env / "marker").read_text() == "kept"
    lock.write_text("# another lock, another environment\n")
    assert isolated_env_dir("empty", lock) != env


def test_a_failed_install_names_the_environment_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADWATER_CACHE_DIR", str(tmp_path / "cache"))
    lock = tmp_path / "requirements.txt"
    missing = tmp_path / "missing-1.0-py3-none-any.whl"
    lock.write_text(f"missing @ file://{missing} --hash=sha256:{'0' * 64}\n")
    with pytest.raises(IsolatedEnvError, match="creating the test tool environment") as caught:
        isolated_python("broken", lock, description="test tool")
    assert "failed (exit" in str(caught.value)
    assert not isolated_env_dir("broken", lock).exists()
