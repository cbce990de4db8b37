"""`python -m headwater.model_server`: the same as the `headwater-model-server` command."""

import sys

from headwater.model_server.cli import main

sys.exit(main())
