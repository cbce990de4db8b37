"""Warm-start a Keras model from a previous Model artifact's SavedModel (`fn_args.base_model`).

The SavedModel's `variables/` checkpoint is read into a freshly built model of the same
architecture through `tf.train.Checkpoint`, so layer weights carry over; optimizer state in
the checkpoint is ignored.
"""

from __future__ import annotations

import os
from typing import Any

from headwater.io import InputError


def warm_start(model: Any, base_model_dir: str | os.PathLike[str]) -> None:
    """Load the weights saved at `base_model_dir` (a SavedModel) into `model`."""
    import tensorflow as tf

    checkpoint = os.path.join(os.fspath(base_model_dir), "variables", "variables")
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise FileNotFoundError(
            f"base model {base_model_dir} has no variables/ checkpoint: not a SavedModel"
        )
    status = tf.train.Checkpoint(root=model).read(checkpoint)
    try:
        status.assert_existing_objects_matched()
    except AssertionError as exc:
        raise InputError(
            f"base model {base_model_dir} does not match the model being trained "
            f"(build the same architecture to warm-start): {exc}"
        ) from exc
    status.expect_partial()
