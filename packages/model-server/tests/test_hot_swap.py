"""Reliability: versions pushed and deleted under load, half-written and corrupt versions, warm-up.

Requests go over real sockets on 127.0.0.1 with TF Serving's gRPC stub and REST; loops are
bounded and stop by themselves.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import grpc
import numpy as np
import pytest
from model_factory import push
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc

from headwater.model_server import (
    BatchingOptions,
    ModelConfig,
    ModelServer,
    ServerOptions,
    VersionPolicy,
)
from headwater.model_server.tensors import make_tensor_proto, tensor_proto_to_ndarray

pytestmark = pytest.mark.integration


def wait_for(condition: Any, what: str, attempts: int = 600) -> None:
    """Poll `condition` every 50 ms, at most `attempts` times."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def rest_predict(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def grpc_request(x: list[list[float]]) -> Any:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].CopyFrom(make_tensor_proto(np.array(x, dtype=np.float32)))
    return request


def test_pushes_and_a_deletion_under_load_fail_no_request(
    templates: dict[int, str], tmp_path: Any
) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    options = ServerOptions(
        models=[
            ModelConfig(name="m", base_path=base, version_policy=VersionPolicy(num_versions=2))
        ],
        port=0,
        rest_api_port=0,
        file_system_poll_wait_seconds=0.1,
        batching=BatchingOptions(max_batch_size=32, num_batch_threads=2),
    )
    answers: list[tuple[str, int, float, int | None]] = []
    failures: list[str] = []
    done = threading.Event()

    def rest_client(url: str) -> None:
        for _ in range(5000):
            if done.is_set():
                return
            try:
                status, body = rest_predict(url, {"instances": [[1.0, 2.0]]})
            except Exception as exc:
                failures.append(f"REST {type(exc).__name__}: {exc}")
                continue
            if status != 200:
                failures.append(f"REST {status}: {body}")
            else:
                row = body["predictions"][0]
                answers.append(("rest", row["version"], row["y"], None))

    def grpc_client(address: str) -> None:
        with grpc.insecure_channel(address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            for _ in range(5000):
                if done.is_set():
                    return
                try:
                    response = stub.Predict(grpc_request([[1.0, 2.0]]), timeout=30)
                except grpc.RpcError as exc:
                    failures.append(f"gRPC {exc.code()}: {exc.details()}")
                    continue
                version = int(tensor_proto_to_ndarray(response.outputs["version"])[0])
                y = float(tensor_proto_to_ndarray(response.outputs["y"])[0])
                answers.append(("grpc", version, y, response.model_spec.version.value))

    with ModelServer(options) as server:
        url = server.rest_url + "/v1/models/m:predict"
        clients = [threading.Thread(target=rest_client, args=(url,)) for _ in range(2)]
        clients += [
            threading.Thread(target=grpc_client, args=(server.grpc_address,)) for _ in range(2)
        ]
        for client in clients:
            client.start()
        try:
            wait_for(lambda: len(answers) >= 20, "first answers")
            for version in (2, 3, 4):
                push(templates[version], base, version)
                wait_for(
                    lambda v=version: server.manager.available_versions()["m"][-1] == v,
                    f"version {version} to serve",
                )
                seen = len(answers)
                wait_for(lambda s=seen: len(answers) >= s + 20, "answers after the swap")
            # Deleting 3 makes 2 one of the latest two on disk again: TF Serving reloads it.
            shutil.rmtree(os.path.join(base, "3"))
            wait_for(lambda: server.manager.available_versions()["m"] == [2, 4], "3 to unload")
            seen = len(answers)
            wait_for(lambda: len(answers) >= seen + 20, "answers after the deletion")
        finally:
            done.set()
            for client in clients:
                client.join()
        statuses = {s.version: s.state for s in server.manager.statuses("m")}
    assert failures == []
    for protocol, version, y, reported in answers:
        assert version in (1, 2, 3, 4), (protocol, version)
        assert y == 3.0 + 100 * version, (protocol, version, y)
        assert reported in (None, version)
    assert {v for _p, v, _y, _r in answers} >= {1, 4}
    assert statuses == {4: "AVAILABLE", 3: "END", 2: "AVAILABLE", 1: "END"}


@pytest.fixture
def server_of(tmp_path: Any) -> Any:
    """Start a server on base path tmp/m (no watcher: the test polls) and stop it afterwards."""
    servers: list[ModelServer] = []

    def start(**kwargs: Any) -> ModelServer:
        config = ModelConfig(name="m", base_path=str(tmp_path / "m"), **kwargs)
        server = ModelServer(
            ServerOptions(models=[config], port=0, rest_api_port=0, file_system_poll_wait_seconds=0)
        )
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def test_half_written_version_is_skipped_then_loaded(
    server_of: Any, templates: dict[int, str], tmp_path: Any, caplog: Any
) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    server = server_of()
    partial = os.path.join(base, "2")
    os.makedirs(partial)
    shutil.copy(os.path.join(templates[2], "saved_model.pb"), partial)
    with caplog.at_level(logging.WARNING, logger="headwater.model_server.manager"):
        server.manager.poll()
    assert "skipping version 2" in caplog.text
    assert "variables" in caplog.text
    assert server.manager.available_versions()["m"] == [1]
    assert [s.version for s in server.manager.statuses("m")] == [1]
    url = server.rest_url + "/v1/models/m:predict"
    assert rest_predict(url, {"inputs": [[1.0, 1.0]]}) == (
        200,
        {"outputs": {"version": [1], "y": [102.0]}},
    )
    shutil.copytree(os.path.join(templates[2], "variables"), os.path.join(partial, "variables"))
    server.manager.poll()
    assert server.manager.available_versions()["m"] == [2]
    assert rest_predict(url, {"inputs": [[1.0, 1.0]]})[1]["outputs"]["version"] == [2]


def test_corrupt_version_is_not_loaded_and_previous_keeps_serving(
    server_of: Any, templates: dict[int, str], tmp_path: Any
) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    server = server_of()
    corrupt = os.path.join(base, ".2.staging")
    shutil.copytree(templates[2], corrupt)
    with open(os.path.join(corrupt, "saved_model.pb"), "wb") as f:
        f.write(b"\x0a\xff\xff\xff not a SavedModel")
    os.rename(corrupt, os.path.join(base, "2"))
    server.manager.poll()
    statuses = server.manager.statuses("m")
    assert [(s.version, s.state) for s in statuses] == [(2, "END"), (1, "AVAILABLE")]
    assert statuses[0].error_code == "UNKNOWN"
    assert "Failed to load version 2" in statuses[0].error_message
    assert "corrupt saved_model.pb" in statuses[0].error_message
    status_url = server.rest_url + "/v1/models/m/versions/2"
    with urllib.request.urlopen(status_url) as response:
        body = json.loads(response.read())
    assert body["model_version_status"][0]["status"]["error_code"] == "UNKNOWN"
    assert "corrupt saved_model.pb" in body["model_version_status"][0]["status"]["error_message"]
    url = server.rest_url + "/v1/models/m:predict"
    assert rest_predict(url, {"inputs": [[1.0, 1.0]]}) == (
        200,
        {"outputs": {"version": [1], "y": [102.0]}},
    )
    server.manager.poll()  # unchanged files are not retried
    assert server.manager.statuses("m")[0].state == "END"


def write_warmup(version_dir: str, inputs: dict[str, np.ndarray]) -> None:
    """assets.extra/tf_serving_warmup_requests with one logged PredictRequest."""
    import tensorflow as tf

    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.model_spec.name = "m"
    for key, value in inputs.items():
        log.predict_log.request.inputs[key].CopyFrom(make_tensor_proto(value))
    os.makedirs(os.path.join(version_dir, "assets.extra"), exist_ok=True)
    path = os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(log.SerializeToString())


def test_warmup_requests_gate_availability(
    server_of: Any, templates: dict[int, str], tmp_path: Any
) -> None:
    base = str(tmp_path / "m")
    staging = str(tmp_path / "staging")
    shutil.copytree(templates[1], staging)
    write_warmup(staging, {"x": np.array([[1, 2]], dtype=np.float32)})
    os.makedirs(base)
    os.rename(staging, os.path.join(base, "1"))
    server = server_of()
    assert server.manager.available_versions()["m"] == [1]
    shutil.copytree(templates[2], staging)
    write_warmup(staging, {"wrong": np.array([[1, 2]], dtype=np.float32)})
    os.rename(staging, os.path.join(base, "2"))
    server.manager.poll()
    failed = server.manager.statuses("m", 2)[0]
    assert failed.state == "END"
    assert failed.error_code == "INVALID_ARGUMENT"
    assert "warm-up request 0" in failed.error_message
    assert "alias not found" in failed.error_message
    assert server.manager.available_versions()["m"] == [1]


def test_empty_base_path_waits_for_a_first_version(
    server_of: Any, templates: dict[int, str], tmp_path: Any, caplog: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="headwater.model_server.manager"):
        server = server_of()
    assert "no version under" in caplog.text
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server.rest_url + "/v1/models/m")
    assert caught.value.code == 404
    assert "Could not find any versions of model m" in json.loads(caught.value.read())["error"]
    status, body = rest_predict(server.rest_url + "/v1/models/m:predict", {"inputs": [[1.0, 1.0]]})
    assert status == 404
    assert "no version of 'm' is AVAILABLE yet" in body["error"]
    push(templates[1], str(tmp_path / "m"), 1)
    server.manager.poll()
    assert rest_predict(server.rest_url + "/v1/models/m:predict", {"inputs": [[1.0, 1.0]]}) == (
        200,
        {"outputs": {"version": [1], "y": [102.0]}},
    )
