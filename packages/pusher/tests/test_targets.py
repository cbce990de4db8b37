"""push_targets: SavedModel, TFLite and TF.js converted, verified, then published, or none."""

from __future__ import annotations

import json
import os

import pytest
from pusher_models import examples, save_classifier

from headwater.pusher import (
    Destination,
    PushError,
    TFLiteOptions,
    TFLiteTarget,
    Tolerance,
    ToolingError,
    complete_versions,
    converter_python,
    node_verifier,
    push_targets,
    target_from_config,
)

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return save_classifier(str(tmp_path_factory.mktemp("classifier") / "model"))


@pytest.fixture(scope="module")
def tfjs_tooling():
    try:
        return converter_python(), node_verifier()
    except ToolingError as exc:
        pytest.skip(f"TF.js tooling cannot be installed here (registry unreachable?): {exc}")


@pytest.mark.integration
def test_all_three_targets_land_on_s3_with_parity_figures(
    saved_model, tfjs_tooling, bucket, tmp_path
):
    destination, fs, name = bucket
    report = push_targets(
        saved_model,
        destination(),
        targets=("saved_model", "tflite", "tfjs"),
        examples=examples(),
    )
    assert report.pushed, report.reason
    base = f"{name}/penguin"
    saved, tflite, tfjs = (report.result(f) for f in ("saved_model", "tflite", "tfjs"))
    assert saved.location == f"s3://{base}/{saved.version}"
    assert tflite.location == f"s3://{base}/tflite/{tflite.version}"
    assert tfjs.location == f"s3://{base}/tfjs/{tfjs.version}"
    assert complete_versions(fs, f"{base}/tflite") == [int(tflite.version)]
    fs.invalidate_cache()
    assert fs.exists(f"{base}/tflite/{tflite.version}/model.tflite")
    assert fs.exists(f"{base}/tfjs/{tfjs.version}/model.json")
    conversion = json.loads(fs.cat_file(f"{base}/tflite/{tflite.version}/conversion.json"))
    assert (conversion["signature_name"], conversion["select_tf_ops"]) == ("serving_raw", False)
    props = tflite.properties()
    assert props["tflite_pushed"] == 1
    assert props["tflite_parity_examples"] == 16
    assert props["tflite_max_abs_diff"] < 1e-5
    assert props["tflite_signature"] == "serving_raw"
    assert report.result("tfjs").properties()["tfjs_max_abs_diff"] < 1e-5
    # The same model again: nothing copied anywhere.
    again = push_targets(
        saved_model, destination(), targets=("saved_model", "tflite"), examples=examples()
    )
    assert again.result("saved_model").reused
    assert again.result("saved_model").version == saved.version


def test_a_parity_failure_publishes_nothing_and_says_by_how_much(saved_model, tmp_path):
    strict = TFLiteTarget(
        options=TFLiteOptions(quantization="float16", tolerance=Tolerance(atol=0.0, rtol=0.0))
    )
    serving = str(tmp_path / "serving")
    report = push_targets(
        saved_model, serving, targets=("saved_model", strict), examples=examples()
    )
    assert not report.pushed
    assert report.reason.startswith("tflite: parity check failed: 16 examples, max |diff| "), (
        report.reason
    )
    assert "beyond tolerance atol=0 rtol=0" in report.reason
    assert report.result("tflite").parity.max_abs_diff > 0
    assert not os.path.exists(serving)  # the SavedModel was held back too
    # Within a stated tolerance, the rerun succeeds.
    loose = {
        "format": "tflite",
        "quantization": "float16",
        "tolerance": {"atol": 0.01, "rtol": 0.01},
    }
    rerun = push_targets(saved_model, serving, targets=("saved_model", loose), examples=examples())
    assert rerun.pushed, rerun.reason
    assert sorted(os.listdir(serving)) == sorted([rerun.result("saved_model").version, "tflite"])


def test_a_model_that_cannot_be_converted_is_not_pushed(saved_model, tmp_path):
    serving = str(tmp_path / "serving")
    target = {"format": "tflite", "signature_name": "serving_default", "allow_select_tf_ops": False}
    report = push_targets(
        saved_model, serving, targets=("saved_model", target), examples=examples()
    )
    assert not report.pushed
    assert "cannot be converted to TFLite" in report.reason
    assert "ParseExample" in report.reason
    assert not os.path.exists(serving)


def test_converted_targets_need_examples(saved_model, tmp_path):
    with pytest.raises(PushError, match=r"targets \['tflite'\] need examples"):
        push_targets(saved_model, str(tmp_path / "s"), targets=("tflite",))


def test_target_configs_are_checked():
    assert target_from_config("tfjs").format == "tfjs"
    with pytest.raises(ValueError, match="a push target is one of"):
        target_from_config("onnx")
    with pytest.raises(ValueError, match="quantization must be one of"):
        target_from_config({"format": "tflite", "quantization": "int4"})


@pytest.mark.integration
def test_unwritable_bucket_fails_clearly_and_leaves_old_versions(saved_model, bucket, s3_server):
    destination, fs, name = bucket
    first = push_targets(saved_model, destination(), targets=("saved_model",))
    assert first.pushed
    missing = Destination(
        url=f"s3://{name}-gone/penguin", storage_options=destination().storage_options
    )
    with pytest.raises(PushError, match=r"-gone/penguin: cannot push to the destination"):
        push_targets(saved_model, missing, targets=("saved_model",))
    assert complete_versions(fs, f"{name}/penguin") == [int(first.result("saved_model").version)]


def test_retention_runs_after_a_successful_push(tmp_path):
    from headwater.pusher import RetentionPolicy

    serving = str(tmp_path / "serving")
    versions = []
    for i in range(3):
        model = tmp_path / f"m{i}"
        (model / "variables").mkdir(parents=True)
        (model / "saved_model.pb").write_text(f"model {i}")
        report = push_targets(
            str(model), serving, retention=RetentionPolicy(keep_newest=2, pinned_versions=())
        )
        versions.append(report.result("saved_model").version)
    assert sorted(os.listdir(serving)) == sorted(versions[1:])
