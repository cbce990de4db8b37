"""pytest plugin of tools/matrix.py --ci: run only the test modules named in HEADWATER_MATRIX_RUN.

Every module is still collected (imported), so one that needs what the environment lacks fails;
the others' tests are deselected. HEADWATER_MATRIX_RUN is a comma-separated list of module names
(`test_tfrecord,test_c_abi`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect every test outside the named modules."""
    wanted = {m for m in os.environ.get("HEADWATER_MATRIX_RUN", "").split(",") if m}
    if not wanted:
        return
    keep = [i for i in items if Path(str(i.path)).stem in wanted]
    dropped = [i for i in items if Path(str(i.path)).stem not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
