"""Lets the tests import the helpers that sit next to them (evaluation_views)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
