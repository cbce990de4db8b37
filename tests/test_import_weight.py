"""Importing a library's public API pulls no heavy framework it does not need yet.

Beam and TensorFlow cost about 1 s and 3 s of CPU to import; a library loads them where they
are used (its Beam transforms, its model loading), never at `import headwater.<lib>`. The
libraries are imported one after another in one fresh interpreter, noting after each which
heavy modules are loaded: modules only accumulate, so the first library after which one shows
up is the one that imported it.
"""

import json
import subprocess
import sys

LIBRARIES = [
    "io",
    "data_validation",
    "transform",
    "model_analysis",
    "bulk_inferrer",
    "pusher",
    "model_server",
    "infra_validator",
]
HEAVY = ["apache_beam", "tensorflow", "keras"]

_PROBE = """
import importlib, json, sys
seen = {}
for lib in %(libs)r:
    module = importlib.import_module("headwater." + lib)
    assert module.__all__, lib
    seen[lib] = sorted(m for m in %(heavy)r if m in sys.modules)
import headwater.transform as tft
from headwater.transform import AnalyzeAndTransformDataset
from headwater.transform.beam import AnalyzeAndTransformDataset as direct
seen["transform Beam names"] = [AnalyzeAndTransformDataset is direct,
                                all(hasattr(tft, n) for n in tft.__all__),
                                "apache_beam" in sys.modules]
print(json.dumps(seen))
"""


def test_library_imports_load_no_beam_or_tensorflow() -> None:
    code = _PROBE % {"libs": LIBRARIES, "heavy": HEAVY}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert {lib: seen[lib] for lib in LIBRARIES} == {lib: [] for lib in LIBRARIES}
    # The Beam transforms stay importable from the package; Beam loads on their first use.
    assert seen["transform Beam names"] == [True, True, True]
