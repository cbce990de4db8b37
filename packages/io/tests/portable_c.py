"""Run code in a child process whose C codec uses only portable C (no CRC32 / SHA instructions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_portable(code: str) -> Any:
    """The JSON the child `code` prints, run with HEADWATER_PORTABLE_C=1."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HEADWATER_PORTABLE_C": "1"},
    )
    return json.loads(out.stdout)
