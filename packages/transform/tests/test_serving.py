"""No skew: the saved graph, loaded in a fresh process with only TensorFlow, transforms
serialized tf.Examples one by one exactly as the analysis transformed the batch."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

SERVE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    serve = model.signatures["serving_default"]
    records = json.load(open(sys.argv[2]))
    rows = []
    for hex_record in records:
        out = serve(examples=tf.constant([bytes.fromhex(hex_record)]))
        row = {}
        for name, value in out.items():
            if isinstance(value, tf.SparseTensor):
                row[name] = value.values.numpy().tolist()
            else:
                row[name] = value.numpy()[0].tolist()
        rows.append(row)
    assert not any(m.startswith("headwater") for m in sys.modules), "headwater was imported"
    json.dump(rows, open(sys.argv[3], "w"))
    """
)


def _example(row: dict) -> bytes:
    import tensorflow as tf

    def floats(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    feature = {
        "x": floats([row["x"]]),
        "w": floats([row["w"]]),
        "s": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row["s"].encode()])),
        "k": tf.train.Feature(int64_list=tf.train.Int64List(value=[row["k"]])),
        "tags": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[t.encode() for t in row["tags"]])
        ),
        "vals": floats(row["vals"]),
    }
    if row["opt"] is not None:
        feature["opt"] = floats([row["opt"]])
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def served(batches, analyzed, tmp_path_factory):
    """Serving outputs, one request per row, from a fresh Python process."""
    _, output = analyzed
    rows = pa.Table.from_batches(batches).slice(0, 60).to_pylist()
    unseen = dict(rows[0], s="never-seen", k=99, tags=["purple"])
    records = [_example(r).hex() for r in [*rows, unseen]]
    work = tmp_path_factory.mktemp("serve")
    (work / "records.json").write_text(json.dumps(records))
    (work / "serve.py").write_text(SERVE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            sys.executable,
            str(work / "serve.py"),
            output.transform_savedmodel_dir,
            str(work / "records.json"),
            str(work / "out.json"),
        ],
        check=True,
        env=env,
        cwd=str(work),
        timeout=300,
    )
    served_rows = json.loads((work / "out.json").read_text())
    return served_rows[:-1], served_rows[-1]


def _same(a, b) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def test_every_output_is_identical_at_serving(analyzed, served):
    table, _ = analyzed
    served_rows, _ = served
    batch_rows = table.slice(0, len(served_rows)).to_pylist()
    mismatches = []
    for i, (want, got) in enumerate(zip(batch_rows, served_rows, strict=True)):
        for name, value in want.items():
            if isinstance(value, float):
                value = float(np.float32(value))
            if isinstance(value, list):
                value = [float(np.float32(v)) if isinstance(v, float) else v for v in value]
            if not _same(value, got[name]):
                mismatches.append((i, name, value, got[name]))
    assert not mismatches, mismatches[:10]
    assert set(served_rows[0]) == set(batch_rows[0])


def test_unseen_values_at_serving_map_to_oov_or_default(analyzed, served):
    _, output = analyzed
    _, unseen = served
    size = output.vocabulary_size_by_name("s_vocab")
    assert size <= unseen["s_id"] < size + 2
    assert unseen["s_top"] == -1
    assert unseen["k_id"] == -1
    assert unseen["tags_id"] == [-1]


def _small_fn(inputs):
    import headwater.transform as tft

    return {
        "x_xf": tft.scale_to_z_score(inputs["x"]),
        "s_xf": tft.compute_and_apply_vocabulary(inputs["s"], num_oov_buckets=1),
        "label": inputs["k"],
    }


def test_keras_model_with_transform_layer_saves_and_serves_without_the_graph_dir(batches, tmp_path):
    import shutil

    import keras
    import tensorflow as tf

    import headwater.transform as tft

    from .conftest import feature_spec

    spec = {k: v for k, v in feature_spec().items() if k in ("x", "s", "k")}
    output = tft.analyze_dataset(batches, spec, _small_fn, str(tmp_path / "tg"))
    layer = output.transform_features_layer()
    inputs = {
        "x_xf": keras.Input(shape=(), dtype="float32", name="x_xf"),
        "s_xf": keras.Input(shape=(), dtype="int64", name="s_xf"),
    }
    joined = keras.layers.Concatenate()(
        [
            keras.layers.Reshape((1,))(inputs["x_xf"]),
            keras.layers.Reshape((1,))(keras.ops.cast(inputs["s_xf"], "float32")),
        ]
    )
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones")(joined))
    model.tft_layer = layer
    serving_spec = {k: v for k, v in spec.items() if k != "k"}  # no label at serving

    @tf.function
    def serve(examples):
        features = layer(tf.io.parse_example(examples, serving_spec))
        assert "label" not in features  # depends on the absent label: left out
        return model({"x_xf": features["x_xf"], "s_xf": features["s_xf"]})

    signature = serve.get_concrete_function(tf.TensorSpec([None], tf.string, name="examples"))
    row = pa.Table.from_batches(batches).slice(0, 1).to_pylist()[0]
    record = tf.constant([_example(dict(row, s="unseen"))])
    before = signature(record).numpy()
    tf.saved_model.save(model, str(tmp_path / "model"), signatures={"serving_default": signature})
    shutil.rmtree(tmp_path / "tg")
    reloaded = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    after = next(iter(reloaded(examples=record).values())).numpy()
    np.testing.assert_array_equal(before, after)
    x = pa.Table.from_batches(batches).column("x").to_numpy().astype(np.float64)
    oov_bucket = 4  # vocabulary: apple, banana, cherry, date ('' is dropped); 'unseen' -> 4
    want = (row["x"] - x.mean()) / x.std() + oov_bucket
    np.testing.assert_allclose(after[0, 0], want, rtol=1e-4)
