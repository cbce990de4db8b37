"""Tuner: keras-tuner searches from a tuner_fn module; best hyperparameters as TFX writes them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from headwater.io import write_tfrecord
from headwater.orchestration import (
    EvalArgs,
    Examples,
    Importer,
    LocalDagRunner,
    Pipeline,
    TrainArgs,
    TuneArgs,
    Tuner,
)

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.timeout(300)

MODULE = """
import keras
import keras_tuner

from headwater.orchestration import FnArgs, TensorFlowDatasetOptions, TunerFnResult

TUNERS = {
    "random": lambda build, **kw: keras_tuner.RandomSearch(build, **kw),
    "bayesian": lambda build, **kw: keras_tuner.BayesianOptimization(build, **kw),
    "hyperband": lambda build, **kw: keras_tuner.Hyperband(
        build, max_epochs=2, factor=2, hyperband_iterations=1,
        **{k: v for k, v in kw.items() if k != "max_trials"}),
}


def build(hp):
    inputs = [keras.Input(shape=(1,), name=f) for f in ("a", "b")]
    x = keras.layers.concatenate(inputs)
    x = keras.layers.Dense(hp.Int("units", 2, 8, step=2), activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [0.1, 0.001])),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    options = TensorFlowDatasetOptions(batch_size=16, label_key="label", shuffle_seed=0)
    train = fn_args.data_accessor.tf_dataset_factory(fn_args.train_files, options)
    evaluation = fn_args.data_accessor.tf_dataset_factory(fn_args.eval_files, options)
    config = fn_args.custom_config
    tuner = TUNERS[config["tuner"]](
        build, max_trials=config["max_trials"], objective="val_accuracy",
        directory=fn_args.working_dir, project_name="test", seed=1)
    return TunerFnResult(tuner, {
        "x": train, "validation_data": evaluation, "steps_per_epoch": fn_args.train_steps,
        "validation_steps": fn_args.eval_steps, "epochs": config.get("epochs", 1), "verbose": 0})
"""


@pytest.fixture(scope="module")
def examples_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("examples")
    rng = np.random.default_rng(0)
    for name, n in [("train", 400), ("eval", 100)]:
        label = rng.integers(0, 2, n)
        a = label * 3.0 + rng.normal(size=n)
        b = rng.normal(size=n)
        batch = pa.RecordBatch.from_pydict(
            {
                "a": pa.array(a, pa.float32()),
                "b": pa.array(b, pa.float32()),
                "label": pa.array(label, pa.int64()),
            }
        )
        os.makedirs(root / f"Split-{name}")
        write_tfrecord([batch], str(root / f"Split-{name}" / "data_tfrecord"))
    return str(root)


def _tune(root: Path, examples_dir: str, config: dict, tune_args: TuneArgs) -> dict[str, str]:
    module_file = root / "tuner_module.py"
    module_file.write_text(MODULE)
    examples = Importer(
        examples_dir, Examples, properties={"split_names": json.dumps(["train", "eval"])}
    )
    tuner = Tuner(
        examples=examples.outputs["result"],
        module_file=str(module_file),
        train_args=TrainArgs(num_steps=10),
        eval_args=EvalArgs(num_steps=3),
        tune_args=tune_args,
        custom_config=config,
    )
    result = LocalDagRunner(out=None).run(
        Pipeline("tuner-test", str(root / "pipeline"), [examples, tuner])
    )
    return {
        "best": result.output("Tuner", "best_hyperparameters").uri,
        "trials": result.output("Tuner", "tuner_results").uri,
    }


@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_best_hyperparameters_are_the_best_trials(
    tmp_path: Path, examples_dir: str, kind: str
) -> None:
    out = _tune(tmp_path, examples_dir, {"tuner": kind, "max_trials": 2}, TuneArgs())
    best = json.loads((Path(out["best"]) / "best_hyperparameters.txt").read_text())
    trials = json.loads((Path(out["trials"]) / "tuner_results.json").read_text())
    completed = [t for t in trials if t["status"] == "COMPLETED"]
    assert completed
    if kind != "hyperband":
        assert len(trials) == 2
    assert [t["score"] for t in completed] == sorted((t["score"] for t in completed), reverse=True)
    assert {"units", "learning_rate"} <= set(best["values"])
    for name, value in completed[0]["hyperparameters"].items():
        assert best["values"][name] == value
    assert {p["class_name"] for p in best["space"]} == {"Int", "Choice"}
    for trial in trials:
        assert (Path(out["trials"]) / f"trial_{trial['trial_id']}.json").is_file()


def test_time_budget_stops_the_search_and_keeps_completed_trials(
    tmp_path: Path, examples_dir: str
) -> None:
    config = {"tuner": "random", "max_trials": 200, "epochs": 1000}
    out = _tune(tmp_path, examples_dir, config, TuneArgs(time_budget_s=4))
    trials = json.loads((Path(out["trials"]) / "tuner_results.json").read_text())
    assert 1 <= len(trials) < 200
    assert (Path(out["best"]) / "best_hyperparameters.txt").is_file()


def test_a_failing_worker_fails_the_component_with_its_log(
    tmp_path: Path, examples_dir: str
) -> None:
    from headwater.orchestration import ComponentFailedError

    failing = (  # fails before importing keras, so the workers end fast
        "import os\n"
        "if os.environ.get('KERASTUNER_TUNER_ID', '').startswith('tuner'):\n"
        "    raise RuntimeError('worker cannot start')\n"
    ) + MODULE
    module_file = tmp_path / "tuner_module.py"
    module_file.write_text(failing)
    line = failing.splitlines().index("    raise RuntimeError('worker cannot start')") + 1
    examples = Importer(
        examples_dir, Examples, properties={"split_names": json.dumps(["train", "eval"])}
    )
    tuner = Tuner(
        examples=examples.outputs["result"],
        module_file=str(module_file),
        tune_args=TuneArgs(num_parallel_trials=2),
        custom_config={"tuner": "random", "max_trials": 2},
    )
    with pytest.raises(ComponentFailedError) as info:
        LocalDagRunner(out=None).run(
            Pipeline("tuner-fail", str(tmp_path / "pipeline"), [examples, tuner])
        )
    message = str(info.value)
    assert "tuning worker tuner" in message
    assert "exited with code 1" in message
    assert f"{module_file}:{line}: RuntimeError: worker cannot start" in message
