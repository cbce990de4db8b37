"""Lets the cross-package tests import the helpers that sit next to them (mlmd_servers)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
