"""A keras-tuner worker process: `python -m headwater.orchestration.training.tuning_worker SPEC`.

Started by `tuning.search` with keras-tuner's `KERASTUNER_*` variables set; it builds the
tuner from the user's `tuner_fn` (so the tuner talks to the chief oracle) and runs trials
until the oracle says stop.
"""

from __future__ import annotations

import json
import sys

from headwater.orchestration.training.data_accessor import DataAccessor
from headwater.orchestration.training.fn_args import FnArgs
from headwater.orchestration.training.user_code import UserCodeError, call_user_fn, load_user_fn


def main(spec_path: str) -> int:
    """Run one worker from the JSON spec the chief wrote; 0 on success."""
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    user_fn = spec["user_fn"]
    try:
        tuner_fn = load_user_fn(user_fn["module_file"], user_fn["fn_name"], user_fn["fn_path"])
        fn_args = FnArgs(**spec["fn_args"], data_accessor=DataAccessor())
        result = call_user_fn(tuner_fn, fn_args)
        result.tuner.search(**result.fit_kwargs)
    except UserCodeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
