"""Writes tf_keras_compiled_metadata.pb: the keras_metadata.pb of a small compiled tf_keras model.

Run with the TFX 1.16 environment's Python (tf_keras 2.16; tests/tfx_anchor/requirements.txt),
never the workspace's: `python make_tf_keras_metadata.py OUT_DIR`, then copy
OUT_DIR/keras_metadata.pb here. Only that file is kept: it records the compile settings.
"""

import sys

import numpy as np
import tf_keras as keras

inp = keras.Input(shape=(2,), name="x")
out = keras.layers.Dense(1, activation="sigmoid", name="p")(inp)
model = keras.Model(inp, out)
model.compile(
    optimizer="adam",
    loss="binary_crossentropy",
    metrics=[
        keras.metrics.AUC(name="auc"),
        "accuracy",
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
        keras.metrics.KLDivergence(name="kld"),  # no Headwater equivalent: a warning
    ],
    weighted_metrics=[keras.metrics.BinaryAccuracy(name="weighted_acc")],
)
model.fit(np.random.rand(8, 2), np.array([0, 1] * 4), epochs=1, verbose=0)
model.save(sys.argv[1])
