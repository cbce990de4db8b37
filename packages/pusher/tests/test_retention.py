"""Retention: keep the newest N versions, never a pinned one (a list or TF Serving's config)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from headwater.pusher import (
    PushError,
    RetentionPolicy,
    apply_retention,
    complete_versions,
    pinned_versions_from_model_config,
    push_model,
    push_to,
)


def _model(path: Path, marker: str) -> str:
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_text(marker)
    (path / "variables" / "variables.index").write_text(marker * 2)
    return str(path)


def _local_versions(tmp_path: Path, count: int) -> tuple[str, list[int]]:
    serving = str(tmp_path / "serving")
    for i in range(count):
        push_model(_model(tmp_path / f"m{i}", f"model {i}"), serving, version=10 + i)
    return serving, [10 + i for i in range(count)]


def test_retention_is_off_by_default(tmp_path):
    serving, versions = _local_versions(tmp_path, 4)
    assert apply_retention(serving, RetentionPolicy()) == []
    assert sorted(int(n) for n in os.listdir(serving)) == versions


def test_keep_newest_deletes_older_versions_but_not_pinned_ones(tmp_path):
    serving, _ = _local_versions(tmp_path, 5)  # 10..14
    deleted = apply_retention(serving, RetentionPolicy(keep_newest=2, pinned_versions=(11,)))
    assert deleted == [10, 12]
    assert sorted(os.listdir(serving)) == ["11", "13", "14"]  # nothing hidden left behind


def test_tf_serving_model_config_pins_specific_and_labelled_versions(tmp_path):
    serving, _ = _local_versions(tmp_path, 6)  # 10..15
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list {\n"
        "  config { name: 'other' base_path: '/srv/other' model_platform: 'tensorflow'\n"
        "    model_version_policy { specific { versions: 12 } } }\n"
        f"  config {{ name: 'penguin' base_path: '{serving}/' model_platform: 'tensorflow'\n"
        "    model_version_policy { specific { versions: 10 versions: 11 } }\n"
        "    version_labels { key: 'canary' value: 12 } }\n"
        "}\n"
    )
    policy = RetentionPolicy(keep_newest=1, model_config_file=str(config))
    assert apply_retention(serving, policy) == [13, 14]
    assert sorted(os.listdir(serving)) == ["10", "11", "12", "15"]


def test_latest_policy_pins_the_newest_num_versions(tmp_path):
    config = tmp_path / "models.config"
    config.write_text(
        "model_config_list { config { name: 'p' base_path: '/srv/p'\n"
        "  model_version_policy { latest { num_versions: 3 } } } }\n"
    )
    assert pinned_versions_from_model_config(str(config), "/srv/p", [1, 5, 3, 9]) == {9, 5, 3}


def test_model_config_without_the_destination_is_an_error(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'p' base_path: '/srv/p' } }\n")
    with pytest.raises(PushError, match=r"no model with base_path '/srv/q'; base paths are"):
        pinned_versions_from_model_config(str(config), "/srv/q")
    config.write_text("model_config_list { config { nme: 'p' } }\n")
    with pytest.raises(PushError, match="cannot read the TF Serving model config"):
        pinned_versions_from_model_config(str(config), "/srv/p")


def test_keep_newest_must_be_positive():
    with pytest.raises(ValueError, match="keep_newest must be >= 1"):
        RetentionPolicy(keep_newest=0)


@pytest.mark.integration
def test_retention_on_s3_removes_marker_and_files(bucket, tmp_path):
    destination, fs, name = bucket
    pushed = [
        int(push_to(_model(tmp_path / f"m{i}", f"model {i}"), destination()).version)
        for i in range(4)
    ]
    oldest = pushed[0]
    deleted = apply_retention(
        destination(), RetentionPolicy(keep_newest=2, pinned_versions=(oldest,))
    )
    assert deleted == [pushed[1]]
    base = f"{name}/penguin"
    assert complete_versions(fs, base) == [pushed[0], pushed[2], pushed[3]]
    fs.invalidate_cache()
    assert not fs.exists(f"{base}/{pushed[1]}/saved_model.pb")
