"""A Keras layer that applies a saved transform, so a served model takes raw features."""

from __future__ import annotations

from typing import Any

import keras


class TransformFeaturesLayer(keras.layers.Layer):
    """Transform a dict of raw feature tensors with a `TransformOutput`'s saved graph."""

    def __init__(self, transform_output: Any, **kwargs: Any) -> None:
        super().__init__(trainable=False, **kwargs)
        self._transform_output = transform_output
        # Tracked so that saving a model with this layer keeps the tables and assets.
        self.transform_module = transform_output._loaded

    def call(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self._transform_output.transform_raw_features(inputs)
