"""Settings shared by every package's tests.

`tools/check` (and so CI) sets HYPOTHESIS_PROFILE=ci: the same examples on every run, so a
landing is never decided by a lucky draw. A plain `pytest` explores new examples each run.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
