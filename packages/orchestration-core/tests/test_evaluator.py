"""Evaluator: Examples + Model (+ baseline) -> ModelEvaluation files and a TFX blessing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import headwater.model_analysis as ma
from headwater.io import write_tfrecord
from headwater.orchestration import Examples, Importer, LocalDagRunner, Model, Pipeline
from headwater.orchestration.components.evaluator import Evaluator

FEATURES = ["x1", "x2"]


def _batch(n: int, seed: int) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    label = ((x[:, 0] + x[:, 1] + rng.normal(0, 0.3, n)) > 0).astype(np.int64)
    colour = rng.choice(["red", "blue"], n)
    return pa.RecordBatch.from_pydict(
        {"x1": x[:, 0], "x2": x[:, 1], "colour": colour, "label": label}
    )


def _save_model(path: Path, train: bool) -> None:
    """A tiny Keras classifier, trained (candidate) or left at its random init (baseline)."""
    import keras

    from headwater.orchestration.training import export_serving_model

    keras.utils.set_random_seed(3)
    inputs = [keras.Input(shape=(1,), name=f) for f in FEATURES]
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.concatenate(inputs))
    model = keras.Model(inputs, out)
    if train:
        batch = _batch(400, seed=1)
        x = {f: batch.column(f).to_numpy().reshape(-1, 1) for f in FEATURES}
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss="binary_crossentropy")
        model.fit(x, batch.column("label").to_numpy(), epochs=5, batch_size=64, verbose=0)
    export_serving_model(model, path / "Format-Serving", label_key="label")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("evaluator_inputs")
    (root / "examples" / "Split-eval").mkdir(parents=True)
    write_tfrecord([_batch(500, seed=2)], str(root / "examples" / "Split-eval" / "data"))
    _save_model(root / "candidate", train=True)
    _save_model(root / "baseline", train=False)
    return {k: str(root / k) for k in ("examples", "candidate", "baseline")}


CONFIG = {
    "model_specs": [{"label_key": "label"}],
    "slicing_specs": [{}, {"feature_keys": ["colour"]}],
    "metrics_specs": [
        {
            "metrics": [
                {"class_name": "ExampleCount"},
                {
                    "class_name": "AUC",
                    "threshold": {
                        "value_threshold": {"lower_bound": 0.7},
                        "change_threshold": {"direction": "HIGHER_IS_BETTER", "absolute": -1e-10},
                    },
                },
            ]
        }
    ],
}


def _run(root: Path, inputs: dict[str, str], config, baseline: str | None, beam_args=()):
    examples = Importer(
        inputs["examples"], Examples, properties={"split_names": json.dumps(["eval"])}
    ).with_id("examples")
    model = Importer(inputs["candidate"], Model).with_id("model")
    nodes = [examples, model]
    kwargs = {}
    if baseline is not None:
        base = Importer(inputs[baseline], Model).with_id("baseline")
        nodes.append(base)
        kwargs["baseline_model"] = base.outputs["result"]
    evaluator = Evaluator(
        examples=examples.outputs["result"],
        model=model.outputs["result"],
        eval_config=config,
        **kwargs,
    )
    pipeline = Pipeline(
        "evaluator-test",
        str(root),
        [*nodes, evaluator],
        enable_cache=False,
        beam_pipeline_args=list(beam_args),
    )
    result = LocalDagRunner(quiet=True).run(pipeline)
    return result.output("Evaluator", "evaluation"), result.output("Evaluator", "blessing")


def test_first_run_blesses_without_baseline_and_second_validates_against_it(
    tmp_path: Path, inputs: dict[str, str]
) -> None:
    evaluation, blessing = _run(tmp_path / "first", inputs, CONFIG, baseline=None)
    result = ma.load_eval_result(evaluation.uri)
    assert result.get().metrics["example_count"] == 500
    assert result.get().metrics["auc"] > 0.9
    assert {s.slice_name for s in result.slices} == {"Overall", "colour=blue", "colour=red"}
    statuses = [o.status for o in result.validation.outcomes]
    assert statuses == [ma.ThresholdStatus.PASSED, ma.ThresholdStatus.SKIPPED]
    assert (Path(blessing.uri) / "BLESSED").is_file()
    assert blessing.custom_properties["blessed"] == 1
    assert blessing.custom_properties["current_model"].startswith(inputs["candidate"])

    # Naming a runner runs the Beam driver (the first run took the in-memory one).
    evaluation, blessing = _run(
        tmp_path / "second",
        inputs,
        CONFIG,
        baseline="baseline",
        beam_args=["--runner=FnApiRunner"],
    )
    result = ma.load_eval_result(evaluation.uri)
    cand, base = result.get(model_name="candidate"), result.get(model_name="baseline")
    assert cand.metrics["auc"] > base.metrics["auc"]
    change = [o for o in result.validation.outcomes if o.kind == "change"]
    assert [o.status for o in change] == [ma.ThresholdStatus.PASSED]
    assert (Path(blessing.uri) / "BLESSED").is_file()
    assert blessing.custom_properties["baseline_model"].startswith(inputs["baseline"])


def test_a_failing_threshold_writes_not_blessed(tmp_path: Path, inputs: dict[str, str]) -> None:
    strict = json.loads(json.dumps(CONFIG))
    strict["metrics_specs"][0]["metrics"][1]["threshold"]["value_threshold"]["lower_bound"] = 0.999
    _, blessing = _run(tmp_path, inputs, strict, baseline=None)
    marker = Path(blessing.uri) / "NOT_BLESSED"
    assert marker.is_file()
    assert not (Path(blessing.uri) / "BLESSED").exists()
    assert "FAILED auc on Overall" in marker.read_text()
    assert blessing.custom_properties["blessed"] == 0
