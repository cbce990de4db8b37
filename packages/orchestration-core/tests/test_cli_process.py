"""The `headwater` program's process-wide settings (the cyclic collector) stay out of callers'."""

from __future__ import annotations

import subprocess
import sys

from headwater.orchestration.cli import main

PROBE = """
import gc, sys
from headwater.orchestration.cli import main
before = gc.get_threshold()
sys.argv = ["headwater", "--home", sys.argv[1], "pipeline", "list"]
code = main()
print(code, before[0], gc.get_threshold()[0], gc.get_freeze_count() > 0)
"""


def test_the_program_collects_less_often_and_freezes_the_heap_before_exit(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)], check=True, capture_output=True, text=True
    )
    assert out.stdout.splitlines()[-1].split() == ["0", "700", "10000", "True"]


def test_main_called_with_arguments_leaves_the_collector_alone(tmp_path, capsys):
    import gc

    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert main(["--home", str(tmp_path), "pipeline", "list"]) == 0
    capsys.readouterr()
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
