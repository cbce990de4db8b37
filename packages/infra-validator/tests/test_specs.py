"""TFX's ServingSpec / ValidationSpec / RequestSpec: field names, TFX's JSON, defaults, refusals,
and which server each spec selects."""

from __future__ import annotations

import json
import shutil

import pytest

import headwater.infra_validator as iv
from headwater.infra_validator import (
    DockerRunner,
    HeadwaterModelServerRunner,
    LocalDockerConfig,
    RequestSpec,
    ServingSpec,
    TensorFlowServing,
    TensorFlowServingRequestSpec,
    ValidationSpec,
)


def test_tfx_json_with_camel_case_keys_is_read() -> None:
    # What json_format.MessageToJson writes for TFX's protos.
    serving = ServingSpec.from_json(
        '{"tensorflowServing": {"tags": ["2.19.1", "latest"], "imageName": "gcr.io/p/serving"},'
        ' "localDocker": {"hostIpAddress": "127.0.0.2"}, "modelName": "penguin"}'
    )
    assert serving.tensorflow_serving == TensorFlowServing(
        image_name="gcr.io/p/serving", tags=("2.19.1", "latest")
    )
    assert serving.local_docker == LocalDockerConfig(host_ip_address="127.0.0.2")
    assert serving.served_model_name == "penguin"
    assert serving.tensorflow_serving.images() == [
        "gcr.io/p/serving:2.19.1",
        "gcr.io/p/serving:latest",
    ]
    validation = ValidationSpec.from_json('{"maxLoadingTimeSeconds": 60, "numTries": 3}')
    assert (validation.max_loading_time_seconds, validation.num_tries) == (60, 3)
    request = RequestSpec.from_json(
        {
            "tensorflow_serving": {"signature_names": ["serving_default", "classify"]},
            "split_name": "eval",
            "num_examples": 3,
        }
    )
    assert request.signature_names == ("serving_default", "classify")
    assert request.tensorflow_serving == TensorFlowServingRequestSpec(
        tag_set=("serve",), signature_names=("serving_default", "classify")
    )
    assert (request.split_name, request.num_examples, request.protocol) == ("eval", 3, "grpc")


def test_proto3_zeros_and_empty_lists_mean_tfx_defaults() -> None:
    assert ValidationSpec.from_json({"max_loading_time_seconds": 0, "num_tries": 0}) == (
        ValidationSpec(max_loading_time_seconds=300, num_tries=5)
    )
    request = RequestSpec.from_json({"tensorflow_serving": {}, "num_examples": 0})
    assert request.signature_names == ("serving_default",)
    assert request.num_examples == 1
    assert RequestSpec().signature_names == ("serving_default",)
    assert TensorFlowServing().images() == ["tensorflow/serving:latest"]
    assert TensorFlowServing(digests=("sha256:abc",)).images() == ["tensorflow/serving@sha256:abc"]


def test_unknown_fields_and_impossible_specs_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"ValidationSpec has no field 'max_loading'"):
        ValidationSpec.from_json('{"max_loading": 3}')
    with pytest.raises(ValueError, match="kubernetes is not supported"):
        ServingSpec.from_json('{"tensorflow_serving": {}, "kubernetes": {}}')
    with pytest.raises(ValueError, match="needs a platform"):
        ServingSpec(tensorflow_serving=TensorFlowServing())
    with pytest.raises(ValueError, match="set tensorflow_serving"):
        ServingSpec(local_docker=LocalDockerConfig())
    with pytest.raises(ValueError, match="make_warmup is not supported"):
        RequestSpec(make_warmup=True)
    with pytest.raises(ValueError, match="protocol must be one of"):
        RequestSpec(protocol="http")
    with pytest.raises(ValueError, match="num_tries must be > 0"):
        ValidationSpec(num_tries=-1)
    with pytest.raises(ValueError, match="not valid JSON"):
        ServingSpec.from_json("{nope")


def test_specs_come_from_objects_dicts_json_text_and_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "request_spec.json"
    path.write_text(json.dumps({"num_examples": 4, "protocol": "rest"}))
    assert iv.as_request_spec(str(path)) == RequestSpec(num_examples=4, protocol="rest")
    assert iv.as_request_spec(None) is None
    assert iv.as_serving_spec(None) == ServingSpec()
    assert iv.as_validation_spec({"num_tries": 2}) == ValidationSpec(num_tries=2)
    spec = ValidationSpec(max_latency_p99_ms=50.0)
    assert iv.as_validation_spec(spec) is spec


def test_each_spec_selects_its_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (default,) = iv.runner_factories(ServingSpec())
    runner = default(str(tmp_path), "m")
    assert isinstance(runner, HeadwaterModelServerRunner)
    assert runner.command(8500, 8501)[1:] == [
        "-m",
        "headwater.model_server",
        "--port",
        "8500",
        "--rest_api_port",
        "8501",
        "--model_name",
        "m",
        "--model_base_path",
        str(tmp_path),
        "--host",
        "127.0.0.1",
    ]
    docker = ServingSpec(
        tensorflow_serving=TensorFlowServing(tags=("a", "b")), local_docker=LocalDockerConfig()
    )
    factories = iv.runner_factories(docker)
    assert [type(f(str(tmp_path), "m")) for f in factories] == [DockerRunner, DockerRunner]
    binary = ServingSpec.from_json('{"tensorflow_serving": {}, "local_binary": {}}')
    (make_binary,) = iv.runner_factories(binary)
    if shutil.which("tensorflow_model_server") is None:
        with pytest.raises(iv.ServerUnavailableError, match="no 'tensorflow_model_server' on PATH"):
            make_binary(str(tmp_path), "m")
    else:
        assert isinstance(make_binary(str(tmp_path), "m"), iv.TensorFlowModelServerRunner)


def test_a_server_that_cannot_run_here_is_not_blessed_with_the_reason(tmp_path) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("no_such_model_server") is not None:
        pytest.skip("a no_such_model_server binary exists")
    (tmp_path / "saved_model.pb").write_bytes(b"")  # never read: no server starts
    result = iv.validate_model(
        str(tmp_path),
        serving_spec={"tensorflow_serving": {}, "local_binary": {"binary": "no_such_model_server"}},
        validation_spec=ValidationSpec(num_tries=3),
    )
    assert not result.blessed
    assert (result.failed_step, result.tries) == ("start", 1)
    assert result.reason == (
        "the model server cannot run here: no 'no_such_model_server' on PATH: install "
        "TensorFlow Serving's binary, or use headwater-model-server (ServingSpec(), the default)"
    )


def test_without_a_docker_engine_the_image_is_not_blessed_with_the_reason(tmp_path) -> None:  # type: ignore[no-untyped-def]
    reason = iv.docker_unavailable_reason()
    if reason is None:
        pytest.skip("a Docker engine answers here: the image is tested in test_validate_model")
    (tmp_path / "saved_model.pb").write_bytes(b"")  # never read: no server starts
    result = iv.validate_model(
        str(tmp_path),
        serving_spec='{"tensorflow_serving": {"tags": ["2.19.1"]}, "local_docker": {}}',
        validation_spec=ValidationSpec(num_tries=3),
    )
    assert not result.blessed
    assert (result.failed_step, result.tries) == ("start", 1)
    assert result.reason == (
        f"the model server cannot run here: cannot run tensorflow/serving:2.19.1: {reason}"
    )


def test_a_directory_with_nothing_to_serve_fails_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "variables").mkdir()
    result = iv.validate_model(str(tmp_path), validation_spec=ValidationSpec(num_tries=3))
    assert not result.blessed
    assert (result.failed_step, result.tries, result.servers) == ("load", 1, ("not started",))
    assert result.reason == (
        f"{tmp_path} holds no SavedModel (saved_model.pb or saved_model.pbtxt) and no numeric "
        "version directories: there is nothing to serve"
    )
    with pytest.raises(FileNotFoundError, match="does not exist"):
        iv.validate_model(str(tmp_path / "nowhere"))
