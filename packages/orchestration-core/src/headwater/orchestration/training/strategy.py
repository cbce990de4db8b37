"""The tf.distribute strategy a `run_fn` trains under: all local GPUs when there are any.

Keras 3 on the TensorFlow backend honours `strategy.scope()` as TF's Keras did, so a TFX
module's `MirroredStrategy()` works unchanged; this helper only picks the sensible one.
"""

from __future__ import annotations

from typing import Any


def distribution_strategy() -> Any:
    """`MirroredStrategy` over the visible GPUs when there are any, else TF's default strategy."""
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
