"""pytest setup of headwater-data-validation's tests: the helper modules here are importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
