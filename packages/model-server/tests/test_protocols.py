"""Round trips over real sockets with TF Serving's own client stubs and its REST API.

One in-process server (module scope) serves model "m" with versions 1 and 2 (labels stable=1,
canary=2); every answer is checked against exact values the tiny models compute.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import grpc
import numpy as np
import pytest
from model_factory import push
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from headwater.model_server import ModelConfig, ModelServer, ServerOptions, VersionPolicy
from headwater.model_server.tensors import make_tensor_proto, tensor_proto_to_ndarray

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(templates: dict[int, str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = str(tmp_path_factory.mktemp("served") / "m")
    push(templates[1], base, 1)
    push(templates[2], base, 2)
    config = ModelConfig(
        name="m",
        base_path=base,
        version_policy=VersionPolicy(kind="specific", versions=(1, 2)),
        version_labels={"stable": 1, "canary": 2},
    )
    options = ServerOptions(
        models=[config],
        port=0,
        rest_api_port=0,
        max_body_bytes=4096,
        file_system_poll_wait_seconds=0,
    )
    with ModelServer(options) as running:
        yield running


@pytest.fixture(scope="module")
def stub(server: ModelServer) -> Any:
    with grpc.insecure_channel(server.grpc_address) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(server: ModelServer) -> Any:
    with grpc.insecure_channel(server.grpc_address) as channel:
        yield model_service_pb2_grpc.ModelServiceStub(channel)


def rest(server: ModelServer, path: str, body: Any = None) -> tuple[int, Any]:
    """(HTTP status, decoded JSON) of GET (body None) or POST."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(server.rest_url + path, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def examples(*rows: tuple[float, float]) -> Any:
    from tensorflow.core.example import example_pb2, feature_pb2

    out = []
    for row in rows:
        example = example_pb2.Example()
        example.features.feature["x"].CopyFrom(
            feature_pb2.Feature(float_list=feature_pb2.FloatList(value=list(row)))
        )
        out.append(example)
    return out


# -- REST ---------------------------------------------------------------------------------


def test_rest_status_lists_each_version(server: ModelServer) -> None:
    status, body = rest(server, "/v1/models/m")
    assert status == 200
    assert body == {
        "model_version_status": [
            {
                "version": v,
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for v in ("2", "1")
        ]
    }
    assert rest(server, "/v1/models/m/versions/1")[1]["model_version_status"][0]["version"] == "1"
    assert (
        rest(server, "/v1/models/m/labels/canary")[1]["model_version_status"][0]["version"] == "2"
    )


def test_rest_predict_row_and_columnar(server: ModelServer) -> None:
    assert rest(server, "/v1/models/m:predict", {"instances": [[1, 2], [3, 4.5]]}) == (
        200,
        {"predictions": [{"version": 2, "y": 203.0}, {"version": 2, "y": 207.5}]},
    )
    assert rest(server, "/v1/models/m/versions/1:predict", {"inputs": {"x": [[1, 2]]}}) == (
        200,
        {"outputs": {"version": [1], "y": [103.0]}},
    )
    assert rest(server, "/v1/models/m/labels/stable:predict", {"inputs": [[0.5, 0.25]]}) == (
        200,
        {"outputs": {"version": [1], "y": [100.75]}},
    )


def test_rest_predict_b64_and_bytes_outputs(server: ModelServer) -> None:
    body = {
        "signature_name": "double",
        "instances": [{"a": 1, "name": "hi"}, {"a": 21, "name": {"b64": "AAH/"}}],
    }
    assert rest(server, "/v1/models/m:predict", body) == (
        200,
        {
            "predictions": [
                {"b": 2, "name_bytes": {"b64": "aGk="}},
                {"b": 42, "name_bytes": {"b64": "AAH/"}},
            ]
        },
    )


def test_rest_classify_and_regress(server: ModelServer) -> None:
    body = {"signature_name": "classify", "examples": [{"x": [0.5, 0.25]}, {"x": [1.0, 2.0]}]}
    assert rest(server, "/v1/models/m:classify", body) == (
        200,
        {"results": [[["neg", 0.5], ["pos", 0.25]], [["neg", 1.0], ["pos", 2.0]]]},
    )
    body = {
        "signature_name": "regress",
        "context": {"x": [9.0, 9.0]},
        "examples": [{"x": [3, 0.5]}],
    }
    assert rest(server, "/v1/models/m/versions/1:regress", body) == (200, {"results": [3.5]})


def test_rest_metadata_describes_signatures(server: ModelServer) -> None:
    status, body = rest(server, "/v1/models/m/versions/1/metadata")
    assert status == 200
    assert body["model_spec"] == {"name": "m", "signature_name": "", "version": "1"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert sorted(defs) == ["classify", "double", "regress", "serving_default"]
    assert defs["classify"]["method_name"] == "tensorflow/serving/classify"
    assert defs["serving_default"]["inputs"]["x"] == {
        "name": "serving_default_x:0",  # the graph tensor, as TF Serving reports it
        "dtype": "DT_FLOAT",
        "tensor_shape": {"dim": [{"size": "-1"}, {"size": "2"}]},
    }


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/models/m:predict", b"{not json", 400, "JSON Parse error"),
        ("/v1/models/m:predict", b"[1, 2]", 400, "Is not object"),
        ("/v1/models/m:predict", {"instances": [{"z": [1, 2]}]}, 400, "alias not found"),
        ("/v1/models/m:predict", {"instances": [[1, 2, 3]]}, 400, "expects shape [-1, 2]"),
        ("/v1/models/m:predict", {"instances": [["a", "b"]]}, 400, "got strings"),
        ("/v1/models/m:predict", {"instances": [[1, 2], [3]]}, 400, "rectangular"),
        ("/v1/models/m:predict", {"foo": 1}, 400, "Missing 'inputs' or 'instances'"),
        ("/v1/models/m:predict", {"signature_name": "nope", "inputs": [[1, 2]]}, 400, '"nope"'),
        ("/v1/models/zz:predict", {"inputs": [[1, 2]]}, 404, "no model named 'zz'"),
        ("/v1/models/m/versions/7:predict", {"inputs": [[1, 2]]}, 404, "Specific(m, 7)"),
        ("/v1/models/m/labels/beta:predict", {"inputs": [[1, 2]]}, 400, "label: beta"),
        ("/v1/models/m:classify", {"examples": [{"x": [1, 2]}]}, 400, "method_name"),
        ("/v1/models/m:predict", {"inputs": [[1, 2]] * 1000}, 413, "too large"),
        ("/v1/nothing", {"inputs": 1}, 404, "Malformed request"),
    ],
)
def test_rest_bad_input_is_a_4xx_naming_the_problem(
    server: ModelServer, path: str, body: Any, status: int, fragment: str
) -> None:
    got_status, got = rest(server, path, body)
    assert (got_status, list(got)) == (status, ["error"])
    assert fragment in got["error"]
    assert "Traceback" not in got["error"]
    # ... and the server keeps serving.
    assert rest(server, "/v1/models/m:predict", {"inputs": [[1, 1]]})[0] == 200


def test_rest_status_of_unknown_model_and_version(server: ModelServer) -> None:
    assert rest(server, "/v1/models/zz")[0] == 404
    status, body = rest(server, "/v1/models/m/versions/9")
    assert (status, body) == (404, {"error": "Could not find version 9 of model m"})


def test_metrics_count_requests_in_prometheus_format(server: ModelServer) -> None:
    rest(server, "/v1/models/m:predict", {"inputs": [[1, 1]]})
    with urllib.request.urlopen(server.rest_url + "/monitoring/prometheus/metrics") as response:
        text = response.read().decode()
    assert 'headwater_model_server_model_events_total{event="loaded",model="m"} 2.0' in text
    assert (
        'headwater_model_server_requests_total{api="predict",model="m",protocol="rest",'
        'signature="serving_default",status="OK"}'
    ) in text
    assert "headwater_model_server_request_latency_seconds_bucket" in text


# -- gRPC ---------------------------------------------------------------------------------


def test_grpc_predict_with_tf_serving_stub(stub: Any) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].CopyFrom(make_tensor_proto(np.array([[1, 2], [3, 4]], dtype=np.float32)))
    response = stub.Predict(request, timeout=30)
    assert response.model_spec.name == "m"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    assert tensor_proto_to_ndarray(response.outputs["y"]).tolist() == [203.0, 207.0]
    assert tensor_proto_to_ndarray(response.outputs["version"]).tolist() == [2, 2]


def test_grpc_predict_accepts_tensorflow_made_protos(stub: Any) -> None:
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.model_spec.version_label = "stable"
    request.model_spec.signature_name = "double"
    request.inputs["a"].CopyFrom(tf.make_tensor_proto([5, 6], dtype=tf.int64))
    request.inputs["name"].CopyFrom(tf.make_tensor_proto([b"p", b"q"]))
    request.output_filter.append("b")
    response = stub.Predict(request, timeout=30)
    assert response.model_spec.version.value == 1
    assert list(response.outputs) == ["b"]
    assert tf.make_ndarray(response.outputs["b"]).tolist() == [10, 12]


def test_grpc_classify_regress_and_multi_inference(stub: Any) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "m"
    request.model_spec.signature_name = "classify"
    request.input.example_list.examples.extend(examples((0.5, 0.25)))
    result = stub.Classify(request, timeout=30).result
    assert [(c.label, c.score) for c in result.classifications[0].classes] == [
        ("neg", 0.5),
        ("pos", 0.25),
    ]
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "m"
    regress.model_spec.signature_name = "regress"
    regress.input.example_list_with_context.examples.extend(examples((3, 0.5), (1, 1)))
    response = stub.Regress(regress, timeout=30)
    assert [r.value for r in response.result.regressions] == [4.5, 2.0]
    assert response.model_spec.version.value == 2
    multi = inference_pb2.MultiInferenceRequest()
    multi.input.example_list.examples.extend(examples((2, 1)))
    task = multi.tasks.add(method_name="tensorflow/serving/classify")
    task.model_spec.name, task.model_spec.signature_name = "m", "classify"
    task = multi.tasks.add(method_name="tensorflow/serving/regress")
    task.model_spec.name, task.model_spec.signature_name = "m", "regress"
    results = stub.MultiInference(multi, timeout=30).results
    assert [c.score for c in results[0].classification_result.classifications[0].classes] == [2, 1]
    assert results[1].regression_result.regressions[0].value == 3.0


def test_grpc_metadata_and_status(stub: Any, model_stub: Any, templates: dict[int, str]) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "m"
    response = stub.GetModelMetadata(request, timeout=30)
    assert response.model_spec.version.value == 2
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert signatures.signature_def["regress"].method_name == "tensorflow/serving/regress"
    assert list(signatures.signature_def["double"].inputs) == ["a", "name"]
    # TensorInfo names are the SavedModel's graph tensors (read here from version 2's file).
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(templates[2], "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    for key, served in signatures.signature_def.items():
        on_disk = saved.meta_graphs[0].signature_def[key]
        for side in ("inputs", "outputs"):
            names = {k: v.name for k, v in getattr(served, side).items()}
            assert names == {k: v.name for k, v in getattr(on_disk, side).items()}
            assert all(":" in name for name in names.values()), names  # op:index, not keys
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "m"
    statuses = model_stub.GetModelStatus(status_request, timeout=30).model_version_status
    assert [(s.version, s.state, s.status.error_code) for s in statuses] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
    ]


@pytest.mark.parametrize(
    ("name", "version", "inputs", "code", "fragment"),
    [
        ("zz", None, {"x": [[1.0, 2.0]]}, grpc.StatusCode.NOT_FOUND, "no model named 'zz'"),
        ("m", 5, {"x": [[1.0, 2.0]]}, grpc.StatusCode.NOT_FOUND, "Specific(m, 5)"),
        ("m", None, {"q": [[1.0, 2.0]]}, grpc.StatusCode.INVALID_ARGUMENT, "alias not found"),
        ("m", None, {"x": [[1.0]]}, grpc.StatusCode.INVALID_ARGUMENT, "expects shape [-1, 2]"),
        ("m", None, {"x": [["a", "b"]]}, grpc.StatusCode.INVALID_ARGUMENT, "got strings"),
    ],
)
def test_grpc_bad_requests_get_tf_serving_codes(
    stub: Any, name: str, version: int | None, inputs: dict[str, Any], code: Any, fragment: str
) -> None:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(
            make_tensor_proto(
                np.array(value, dtype=object if isinstance(value[0][0], str) else np.float32)
            )
        )
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(request, timeout=30)
    assert caught.value.code() == code
    assert fragment in caught.value.details()


def test_grpc_reload_config_adds_a_model(
    server: ModelServer, model_stub: Any, templates: dict[int, str], tmp_path: Any
) -> None:
    from tensorflow_serving.config import model_server_config_pb2

    extra = os.path.join(str(tmp_path), "extra")
    push(templates[3], extra, 3)
    config = model_server_config_pb2.ModelServerConfig()
    current = server.manager.config("m")
    entry = config.model_config_list.config.add(name="m", base_path=current.base_path)
    entry.model_version_policy.specific.versions.extend([1, 2])
    entry.version_labels["stable"] = 1
    entry.version_labels["canary"] = 2
    config.model_config_list.config.add(name="extra", base_path=extra)
    request = model_management_pb2.ReloadConfigRequest(config=config)
    assert model_stub.HandleReloadConfigRequest(request, timeout=60).status.error_code == 0
    assert rest(server, "/v1/models/extra:predict", {"inputs": [[1, 1]]}) == (
        200,
        {"outputs": {"version": [3], "y": [302.0]}},
    )
    assert rest(server, "/v1/models/m/labels/stable:predict", {"inputs": [[1, 1]]})[0] == 200
