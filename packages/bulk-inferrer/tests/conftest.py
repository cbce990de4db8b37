"""Lets tests import the small SavedModels built next to them (bulk_inferrer_models)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
