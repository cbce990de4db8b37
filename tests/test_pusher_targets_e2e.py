"""End to end: the penguin pipeline's model pushed as SavedModel, TFLite and TF.js to S3.

The README's penguin pipeline up to its Trainer, then a Pusher with all three targets into a
bucket of a real S3-compatible server (moto's, on 127.0.0.1): the TFLite and TF.js twins are
checked against the SavedModel on the eval split before anything is published, and the
PushedModel records each target's location and parity figures. A second Pusher asks for a
parity the float16 model cannot meet: nothing is pushed, and the reason gives the numbers.
"""

from __future__ import annotations

import runpy
import uuid
from pathlib import Path

import pytest

from headwater.orchestration import EvalArgs, LocalDagRunner, Pipeline, Pusher, TrainArgs, Trainer
from headwater.pusher import ToolingError, complete_versions, converter_python, node_verifier

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1800)]

PENGUIN = Path(__file__).resolve().parent.parent / "examples" / "penguin"


@pytest.fixture(scope="module")
def s3(s3_server):
    """An s3fs client with one fresh bucket on the root conftest's moto server (127.0.0.1)."""
    import s3fs

    options = {
        "key": "testing",
        "secret": "testing",
        "endpoint_url": s3_server,
        "client_kwargs": {"region_name": "eu-west-1"},
        "skip_instance_cache": True,
    }
    fs = s3fs.S3FileSystem(**options)
    bucket = f"serving-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    return fs, bucket, options


@pytest.fixture(scope="module")
def run(s3, tmp_path_factory):
    try:
        converter_python()
        node_verifier()
    except ToolingError as exc:
        pytest.skip(f"TF.js tooling cannot be installed here (registry unreachable?): {exc}")
    fs, bucket, options = s3
    root = tmp_path_factory.mktemp("penguin_push")
    readme = runpy.run_path(str(PENGUIN / "pipeline.py"))["create_pipeline"](str(root))
    nodes = {node.id: node for node in readme.components}
    transform = nodes["Transform"]
    trainer = Trainer(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        module_file=str(PENGUIN / "penguin_keras.py"),
        train_args=TrainArgs(num_steps=30),
        eval_args=EvalArgs(num_steps=5),
    )
    examples = nodes["CsvExampleGen"].outputs["examples"]
    pusher = Pusher(
        model=trainer.outputs["model"],
        examples=examples,
        push_destination={
            "filesystem": {"base_directory": f"s3://{bucket}/penguin"},
            "storage_options": options,
        },
        targets=["saved_model", "tflite", "tfjs"],
    )
    strict = Pusher(
        model=trainer.outputs["model"],
        examples=examples,
        push_destination=str(root / "strict"),
        targets=[
            "saved_model",
            {"format": "tflite", "quantization": "float16", "tolerance": {"atol": 0, "rtol": 0}},
        ],
    ).with_id("StrictPusher")
    upstream = [nodes[n] for n in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform")]
    pipeline = Pipeline(
        "penguin_push",
        str(root / "pipeline"),
        [*upstream, trainer, pusher, strict],
        enable_cache=False,
        beam_pipeline_args=readme.beam_pipeline_args,
    )
    result = LocalDagRunner(quiet=True).run(pipeline)
    return result, fs, bucket, root


def test_the_penguin_model_is_pushed_to_all_three_targets(run):
    result, fs, bucket, _ = run
    pushed = result.output("Pusher", "pushed_model")
    props = pushed.custom_properties
    assert props["pushed"] == 1
    version = props["pushed_version"]
    assert props["pushed_destination"] == f"s3://{bucket}/penguin/{version}"
    assert complete_versions(fs, f"{bucket}/penguin") == [int(version)]
    for fmt, file in (("tflite", "model.tflite"), ("tfjs", "model.json")):
        assert props[f"{fmt}_pushed"] == 1
        location = props[f"{fmt}_location"]
        assert location.startswith(f"s3://{bucket}/penguin/{fmt}/")
        assert fs.exists(f"{location[len('s3://') :]}/{file}")
        assert props[f"{fmt}_signature"] == "serving_raw"
        assert props[f"{fmt}_parity_examples"] > 50
        assert props[f"{fmt}_max_abs_diff"] <= 1e-4
    assert props["tflite_select_tf_ops"] == 0
    for fmt in ("tflite", "tfjs"):
        print(
            f"penguin {fmt}: conversion {props[f'{fmt}_conversion_seconds']:.2f} s, "
            f"verification {props[f'{fmt}_verification_seconds']:.2f} s, "
            f"max |diff| {props[f'{fmt}_max_abs_diff']:.3g}"
        )


def test_a_parity_the_model_cannot_meet_pushes_nothing_and_says_why(run):
    result, _, _, root = run
    refused = result.output("StrictPusher", "pushed_model")
    assert refused.custom_properties["pushed"] == 0
    reason = refused.not_pushed_reason()
    assert reason.startswith("tflite: parity check failed: ")
    assert "beyond tolerance atol=0 rtol=0" in reason
    assert refused.custom_properties["tflite_max_abs_diff"] > 0
    assert not (root / "strict").exists()
