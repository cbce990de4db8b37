"""One preprocessing_fn, written against TFT's API, that both Headwater and TFT 1.16 analyze in
tests/test_tfx_artifacts.py (`tft` is `headwater.transform` on one side, `tensorflow_transform`
on the other)."""

from typing import Any

RAW_ROWS = [
    {"x": 1.0, "c": "a", "t": ["u", "v"], "label": 0},
    {"x": 2.5, "c": "b", "t": [], "label": 1},
    {"x": 3.0, "c": "a", "t": ["u"], "label": 0},
    {"x": 10.0, "c": "c", "t": ["w", "u", "v"], "label": 1},
    {"x": -4.0, "c": "a", "t": ["v"], "label": 1},
    {"x": 7.5, "c": "b", "t": ["u"], "label": 0},
]
"""Rows both sides analyze."""

APPLY_ROWS = [
    {"x": 2.0, "c": "b", "t": ["u", "q"], "label": 1},
    {"x": 100.0, "c": "never-seen", "t": ["w"], "label": 0},
    {"x": -7.0, "c": "a", "t": [], "label": 0},
]
"""Rows both sides transform with the saved graph (one with unseen values)."""


def feature_spec(tf: Any) -> dict[str, Any]:
    return {
        "x": tf.io.FixedLenFeature([], tf.float32),
        "c": tf.io.FixedLenFeature([], tf.string),
        "t": tf.io.VarLenFeature(tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }


def make_preprocessing_fn(tft: Any) -> Any:
    def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
        return {
            "x_z": tft.scale_to_z_score(inputs["x"]),
            "x_01": tft.scale_to_0_1(inputs["x"]),
            "c_id": tft.compute_and_apply_vocabulary(inputs["c"], vocab_filename="c_vocab"),
            "t_id": tft.compute_and_apply_vocabulary(inputs["t"], num_oov_buckets=1),
            "label": inputs["label"],
        }

    return preprocessing_fn
