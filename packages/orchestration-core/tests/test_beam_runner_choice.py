"""Beam runner choice: in-process by default, nothing listens beyond loopback, nothing fetched."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from headwater.orchestration.context import DEFAULT_RUNNER, with_runner

HERE = os.path.dirname(os.path.abspath(__file__))
PENGUIN = os.path.join(HERE, "..", "..", "..", "examples", "penguin", "data")
PRISM_URL_PART = "prism"


def test_default_runner_is_added_only_when_no_runner_is_named():
    assert DEFAULT_RUNNER == "FnApiRunner"
    assert with_runner([]) == ["--runner=FnApiRunner"]
    assert with_runner(["--direct_num_workers=2"]) == [
        "--runner=FnApiRunner",
        "--direct_num_workers=2",
    ]
    assert with_runner(["--runner=DirectRunner", "--x=1"]) == ["--runner=DirectRunner", "--x=1"]
    assert with_runner(["--runner", "FlinkRunner"]) == ["--runner", "FlinkRunner"]


def _probe(tmp_path, name: str, *beam_args: str) -> dict:
    """Run CsvExampleGen on Beam in a fresh interpreter whose home is empty; its report."""
    home = tmp_path / f"home-{name}"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "HEADWATER_HOME": str(home / "headwater")}
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "beam_network_probe.py"),
            str(tmp_path / f"root-{name}"),
            PENGUIN,
            *beam_args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("beam-probe")
    return {
        "default": _probe(tmp, "default"),
        "direct": _probe(tmp, "direct", "--runner=DirectRunner"),
    }


def test_a_beam_component_by_default_listens_on_nothing_and_fetches_nothing(reports):
    report = reports["default"]
    assert report == {
        "rows": 342,
        "events": [],
        "listening": [],
        "prism_imported": False,
        "beam_cache_created": False,
    }


def test_the_probe_sees_beams_direct_runner_reach_out_when_a_user_names_it(reports):
    # A user's explicit --runner wins; on Beam 2.77 the DirectRunner tries Prism: it binds a
    # worker pool on all interfaces and asks the internet for a binary (refused by the probe),
    # then falls back and still produces the examples. This is what the default now avoids.
    report = reports["direct"]
    assert report["rows"] == 342
    assert report["prism_imported"] is True
    assert report["beam_cache_created"] is True
    assert [e[0] for e in report["events"]] == ["urllib.Request"]
    assert PRISM_URL_PART in report["events"][0][1]
    assert report["listening"], "the Prism worker pool listened beyond loopback"
