"""push_model: TF Serving's version layout, atomic, increasing, never overwriting."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from headwater.pusher import PushError, latest_version, push_model


def _model(path, marker="a"):
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    with open(os.path.join(path, "saved_model.pb"), "w") as f:
        f.write(marker)
    with open(os.path.join(path, "variables", "variables.index"), "w") as f:
        f.write(marker * 3)
    return str(path)


def _tree(path):
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full) as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


def test_push_copies_the_model_into_a_unix_time_version(tmp_path):
    model = _model(tmp_path / "model")
    before = int(time.time())
    result = push_model(model, str(tmp_path / "serving"))
    assert before <= int(result.version) <= int(time.time())
    assert result.destination == str(tmp_path / "serving" / result.version)
    assert _tree(result.destination) == _tree(model)
    assert os.listdir(tmp_path / "serving") == [result.version]  # no temporary left
    assert latest_version(str(tmp_path / "serving")) == int(result.version)


def test_versions_always_increase_even_within_one_second(tmp_path):
    serving = str(tmp_path / "serving")
    models = [_model(tmp_path / f"m{i}", f"model {i}") for i in range(3)]
    versions = [int(push_model(m, serving).version) for m in models]
    assert versions == sorted(set(versions))
    future = int(time.time()) + 1000
    push_model(models[0], serving, version=future)
    assert int(push_model(models[1], serving).version) == future + 1


def test_the_same_model_again_reuses_the_newest_version(tmp_path):
    serving = str(tmp_path / "serving")
    first = push_model(_model(tmp_path / "a", "same"), serving)
    again = push_model(_model(tmp_path / "b", "same"), serving)
    assert again.reused
    assert (again.version, again.destination) == (first.version, first.destination)
    changed = push_model(_model(tmp_path / "c", "other"), serving)
    assert not changed.reused
    assert int(changed.version) > int(first.version)
    forced = push_model(_model(tmp_path / "d", "other"), serving, reuse_identical=False)
    assert int(forced.version) > int(changed.version)
    assert len(os.listdir(serving)) == 3


def test_an_existing_version_is_never_overwritten(tmp_path):
    serving = str(tmp_path / "serving")
    push_model(_model(tmp_path / "m1", "first"), serving, version=7)
    with pytest.raises(PushError, match="version 7 was pushed already"):
        push_model(_model(tmp_path / "m2", "second"), serving, version=7)
    with open(os.path.join(serving, "7", "saved_model.pb")) as f:
        assert f.read() == "first"


def test_not_a_saved_model_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PushError, match=r"empty: not a SavedModel"):
        push_model(str(tmp_path / "empty"), str(tmp_path / "serving"))
    assert latest_version(str(tmp_path / "serving")) is None


def test_the_version_appears_only_once_complete(tmp_path, monkeypatch):
    model = _model(tmp_path / "model")
    serving = str(tmp_path / "serving")
    seen = {}
    real_rename = os.rename

    def watching_rename(src, dst):
        seen["before"] = sorted(os.listdir(serving))
        seen["copied"] = _tree(src)
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", watching_rename)
    result = push_model(model, serving)
    # Until the rename, the model sat complete in a hidden directory a server ignores.
    assert len(seen["before"]) == 1
    assert seen["before"][0].startswith(".")
    assert seen["copied"] == _tree(model)
    assert os.listdir(serving) == [result.version]


def test_a_failed_copy_leaves_nothing_behind(tmp_path):
    model = _model(tmp_path / "model")
    os.symlink(tmp_path / "nowhere", os.path.join(model, "broken_link"))
    serving = str(tmp_path / "serving")
    with pytest.raises(shutil.Error):
        push_model(model, serving)
    assert os.listdir(serving) == []
