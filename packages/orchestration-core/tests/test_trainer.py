"""Trainer: a run_fn module trains on Examples, saves a SavedModel both signatures agree on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from headwater.io import encode_examples, write_tfrecord
from headwater.orchestration import (
    ComponentFailedError,
    Examples,
    Importer,
    LocalDagRunner,
    Model,
    Pipeline,
)
from headwater.orchestration.components.trainer import Trainer
from headwater.orchestration.training import EvalArgs, TrainArgs

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.timeout(300)

FEATURES = ["a", "b", "c"]
CENTERS = np.array([[0.0, 0.0, 50.0], [4.0, 0.0, 55.0], [0.0, 4.0, 60.0]])

MODULE = """
import keras
import numpy as np

from headwater.orchestration.training import (
    FnArgs, TensorFlowDatasetOptions, export_serving_model
)

FEATURES = ["a", "b", "c"]


def run_fn(fn_args: FnArgs) -> None:
    options = TensorFlowDatasetOptions(batch_size=32, label_key="label", shuffle_seed=0)
    train = fn_args.data_accessor.tf_dataset_factory(fn_args.train_files, options)
    evaluation = fn_args.data_accessor.tf_dataset_factory(fn_args.eval_files, options)
    keras.utils.set_random_seed(0)
    inputs = [keras.Input(shape=(1,), name=f) for f in FEATURES]
    norm = keras.layers.Normalization()
    norm.adapt(train.map(lambda x, y: keras.ops.concatenate([x[f] for f in FEATURES], 1)).take(4))
    hidden = keras.layers.Dense(8, activation="relu")(norm(keras.layers.concatenate(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train, steps_per_epoch=fn_args.train_steps, validation_data=evaluation,
              validation_steps=fn_args.eval_steps, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir)])
    export_serving_model(model, fn_args.serving_model_dir, label_key="label")
"""

WARM_MODULE = MODULE.replace(
    "export_serving_model\n)", "export_serving_model, warm_start\n)"
).replace(
    "    model.fit(",
    "    warm_start(model, fn_args.base_model)\n"
    "    return export_serving_model(model, fn_args.serving_model_dir, label_key='label')\n"
    "    model.fit(",
)

FAILING_MODULE = """
def run_fn(fn_args):
    steps = fn_args.train_steps
    raise ValueError(f"no model for {steps} steps")
"""

PREDICT = """
import json, sys
import numpy as np
import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
examples = [bytes.fromhex(h) for h in json.loads(sys.argv[2])]
raw = {k: tf.constant(v, tf.float32) for k, v in json.loads(sys.argv[3]).items()}
by_example = model.signatures["serving_default"](examples=tf.constant(examples))["output_0"]
by_raw = model.signatures["serving_raw"](**raw)["output_0"]
print(json.dumps({"examples": by_example.numpy().tolist(), "raw": by_raw.numpy().tolist()}))
"""


def _split(n: int, seed: int) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    values = CENTERS[label] + rng.normal(scale=0.7, size=(n, 3))
    columns = {f: pa.array(values[:, i], pa.float32()) for i, f in enumerate(FEATURES)}
    return pa.RecordBatch.from_pydict({**columns, "label": pa.array(label, pa.int64())})


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("examples")
    for name, n, seed in [("train", 600, 1), ("eval", 200, 2)]:
        os.makedirs(root / f"Split-{name}")
        write_tfrecord([_split(n, seed)], str(root / f"Split-{name}" / "data_tfrecord"))
    return str(root)


def _pipeline(
    root: Path, examples_dir: str, module: str, base_model: str | None = None
) -> Pipeline:
    module_file = root / "module.py"
    module_file.write_text(module)
    examples = Importer(
        examples_dir, Examples, properties={"split_names": json.dumps(["train", "eval"])}
    )
    nodes = [examples]
    if base_model is not None:
        nodes.append(Importer(base_model, Model).with_id("base_model"))
    trainer = Trainer(
        examples=examples.outputs["result"],
        base_model=nodes[-1].outputs["result"] if base_model is not None else None,
        module_file=str(module_file),
        train_args=TrainArgs(num_steps=60),
        eval_args=EvalArgs(num_steps=5),
    )
    return Pipeline("trainer-test", str(root / "pipeline"), [*nodes, trainer])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, examples_dir: str) -> dict[str, str]:
    root = tmp_path_factory.mktemp("trainer")
    result = LocalDagRunner(quiet=True).run(_pipeline(root, examples_dir, MODULE))
    return {
        "model": result.output("Trainer", "model").uri,
        "model_run": result.output("Trainer", "model_run").uri,
    }


def test_model_is_saved_under_format_serving_with_logs(trained: dict[str, str]) -> None:
    serving = Path(trained["model"]) / "Format-Serving"
    assert (serving / "saved_model.pb").is_file()
    assert (serving / "variables").is_dir()
    events = list(Path(trained["model_run"]).rglob("events.out.tfevents.*"))
    assert events, "TensorBoard logs are in the ModelRun artifact"


def test_fresh_process_predicts_the_same_from_examples_and_raw_features(
    trained: dict[str, str],
) -> None:
    batch = _split(200, seed=3)
    records = encode_examples(batch.drop_columns(["label"]))
    raw = {f: batch.column(f).to_numpy().reshape(-1, 1).tolist() for f in FEATURES}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            PREDICT,
            str(Path(trained["model"]) / "Format-Serving"),
            json.dumps([r.hex() for r in records]),
            json.dumps(raw),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    by_example, by_raw = np.array(got["examples"]), np.array(got["raw"])
    np.testing.assert_allclose(by_example, by_raw, rtol=1e-6)
    accuracy = np.mean(by_example.argmax(axis=1) == batch.column("label").to_numpy())
    assert accuracy > 0.9


def test_a_failing_run_fn_names_the_users_file_and_line(tmp_path: Path, examples_dir: str) -> None:
    with pytest.raises(ComponentFailedError) as info:
        LocalDagRunner(quiet=True).run(_pipeline(tmp_path, examples_dir, FAILING_MODULE))
    message = str(info.value)
    first_line = message.splitlines()[0]
    assert f"{tmp_path / 'module.py'}:4" in first_line
    assert "ValueError: no model for 60 steps" in first_line
    assert 'raise ValueError(f"no model for {steps} steps")' in message
    assert not (tmp_path / "pipeline" / "Trainer" / "model").exists() or not any(
        p.name.isdigit() for p in (tmp_path / "pipeline" / "Trainer" / "model").iterdir()
    )


def test_base_model_warm_starts_the_weights(
    tmp_path: Path, examples_dir: str, trained: dict[str, str]
) -> None:
    import tensorflow as tf

    result = LocalDagRunner(out=None).run(
        _pipeline(tmp_path, examples_dir, WARM_MODULE, base_model=trained["model"])
    )
    warm = (
        Path(result.output("Trainer", "model").uri) / "Format-Serving" / "variables" / "variables"
    )
    base = Path(trained["model"]) / "Format-Serving" / "variables" / "variables"
    kernels = [
        n
        for n, _ in tf.train.list_variables(str(base))
        if n.endswith("_kernel/.ATTRIBUTES/VARIABLE_VALUE")
    ]
    assert len(kernels) == 2
    for name in kernels:
        np.testing.assert_array_equal(
            tf.train.load_variable(str(warm), name), tf.train.load_variable(str(base), name)
        )
