"""Penguin preprocessing for the Transform component (TFX's penguin_utils_keras, ported).

The four numeric features are z-scored into `<name>_xf`; the label `species` is kept as
`species_xf`, as TFX's penguin example names them.
"""

import headwater.transform as tft

FEATURE_KEYS = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
LABEL_KEY = "species"


def transformed_name(key: str) -> str:
    """The name of a transformed feature."""
    return key + "_xf"


def preprocessing_fn(inputs):
    """Z-score the numeric features; pass the label through."""
    outputs = {}
    for key in FEATURE_KEYS:
        outputs[transformed_name(key)] = tft.scale_to_z_score(inputs[key])
    outputs[transformed_name(LABEL_KEY)] = inputs[LABEL_KEY]
    return outputs
