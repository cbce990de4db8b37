"""Hostile pushes found by probing (issue 19): a destination that is a file, concurrent pushes.

The races run real processes released together, all aiming at one version, and check that every
model lands complete in its own version, or that an explicit version is claimed exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from headwater.io import HeadwaterError
from headwater.pusher import PushError, push_model

FAR_FUTURE = 4_000_000_000
"""A version above any Unix time: every push then aims at FAR_FUTURE + 1, whatever the clock."""

_PUSHER = """
import json, os, sys, time
from headwater.pusher import PushError, push_model
model, serving, go, version = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.001)
try:
    r = push_model(model, serving, version=int(version) if version else None)
    print(json.dumps({"version": r.version, "reused": r.reused}))
except PushError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def _model(path: Path, marker: str) -> str:
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_text(marker)
    # A few hundred KB so the copies overlap: every process reads the newest version first.
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(marker.encode() * 50_000)
    return str(path)


def _marker(version_dir: Path) -> str:
    return (version_dir / "saved_model.pb").read_text()


def _race(tmp_path: Path, models: list[str], serving: str, version: int | None) -> list[dict]:
    """Run one push per model in its own process, released at once; their results."""
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PUSHER, m, serving, str(go), str(version or "")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in models
    ]
    time.sleep(1.0)  # let the interpreters start and import; the go file releases them together
    go.write_text("")
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_a_destination_that_is_a_file_is_named(tmp_path: Path) -> None:
    model = _model(tmp_path / "model", "m")
    target = tmp_path / "serving"
    target.write_text("not a directory")
    with pytest.raises(PushError) as info:
        push_model(model, str(target))
    assert str(info.value) == (
        f"{target}: push destination is not a directory: {target} is a file; "
        "expected a directory holding model versions (or a path that does not exist yet)"
    )
    below = target / "penguin"
    with pytest.raises(PushError) as info:
        push_model(model, str(below))
    assert str(info.value).startswith(f"{below}: push destination is not a directory: {target}")
    assert isinstance(info.value, HeadwaterError)
    assert target.read_text() == "not a directory"


def test_a_file_named_like_the_next_version_is_stepped_over(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    serving.mkdir()
    (serving / str(FAR_FUTURE)).mkdir()
    (serving / str(FAR_FUTURE + 1)).write_text("a stray file, not a version")
    result = push_model(_model(tmp_path / "model", "m"), str(serving))
    assert result.version == str(FAR_FUTURE + 2)
    assert (serving / str(FAR_FUTURE + 1)).read_text() == "a stray file, not a version"


def test_concurrent_pushes_of_different_models_each_get_a_version(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    (serving / str(FAR_FUTURE)).mkdir(parents=True)
    models = [_model(tmp_path / f"m{i}", f"model {i}") for i in range(6)]
    results = _race(tmp_path, models, str(serving), None)
    versions = sorted(int(r["version"]) for r in results)
    assert versions == list(range(FAR_FUTURE + 1, FAR_FUTURE + 7))
    assert not any(r["reused"] for r in results)
    # Each model is complete in exactly the version its push reported.
    for i, r in enumerate(results):
        assert _marker(serving / r["version"]) == f"model {i}"
        data = serving / r["version"] / "variables" / "variables.data-00000-of-00001"
        assert data.read_bytes() == f"model {i}".encode() * 50_000
    assert sorted(os.listdir(serving)) == [str(v) for v in [FAR_FUTURE, *versions]]


def test_concurrent_pushes_of_one_explicit_version_claim_it_once(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    models = [_model(tmp_path / f"m{i}", f"model {i}") for i in range(4)]
    results = _race(tmp_path, models, str(serving), 7)
    won = [i for i, r in enumerate(results) if "version" in r]
    assert len(won) == 1
    assert _marker(serving / "7") == f"model {won[0]}"
    for i, r in enumerate(results):
        if i != won[0]:
            assert (
                r["error"]
                == f"{serving / '7'}: version 7 was pushed already; versions are immutable"
            )
    assert os.listdir(serving) == ["7"]


def test_concurrent_pushes_of_one_model_share_its_version(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    (serving / str(FAR_FUTURE)).mkdir(parents=True)
    models = [_model(tmp_path / f"m{i}", "the same model") for i in range(4)]
    results = _race(tmp_path, models, str(serving), None)
    assert {r["version"] for r in results} == {str(FAR_FUTURE + 1)}
    assert sorted(r["reused"] for r in results) == [False, True, True, True]
    assert sorted(os.listdir(serving)) == [str(FAR_FUTURE), str(FAR_FUTURE + 1)]
