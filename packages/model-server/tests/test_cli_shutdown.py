"""The command line as infra-validation starts it: TF Serving's flags, AVAILABLE, clean SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import grpc
import numpy as np
import pytest
from model_factory import push
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from headwater.io.processes import child_processes, free_port
from headwater.model_server.tensors import make_tensor_proto, tensor_proto_to_ndarray

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def wait_available(grpc_port: int, rest_port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait, like infra-validation does, until both protocols say version 1 is AVAILABLE."""
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "m"
    for _ in range(1200):
        assert proc.poll() is None, "server exited early"
        # A fresh channel per try: a channel that failed to connect backs off for seconds.
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            try:
                status = stub.GetModelStatus(request, timeout=5).model_version_status[0]
                if status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE:
                    break
            except grpc.RpcError:
                pass
        time.sleep(0.1)
    else:
        raise AssertionError("gRPC never reported AVAILABLE")
    with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/m", timeout=10) as r:
        assert json.loads(r.read())["model_version_status"][0]["state"] == "AVAILABLE"


def test_sigterm_lets_requests_in_flight_finish(templates: dict[int, str], tmp_path: Any) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    batching = tmp_path / "batching.config"
    # A 2 s batch timeout keeps the requests below in flight when SIGTERM arrives.
    batching.write_text(
        "max_batch_size { value: 64 }\n"
        "batch_timeout_micros { value: 2000000 }\n"
        "num_batch_threads { value: 1 }\n"
    )
    grpc_port, rest_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headwater.model_server",
            f"--port={grpc_port}",
            f"--rest_api_port={rest_port}",
            "--model_name=m",
            f"--model_base_path={base}",
            "--file_system_poll_wait_seconds=1",
            "--enable_batching",
            f"--batching_parameters_file={batching}",
            # Flags of tensorflow_model_server: applied, or accepted without effect.
            "--tensorflow_intra_op_parallelism=2",
            "--enable_model_warmup=true",
            "--rest_api_timeout_in_ms=30000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_available(grpc_port, rest_port, proc)
        assert child_processes(proc.pid) == {}
        results: dict[str, Any] = {}

        def rest_call() -> None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{rest_port}/v1/models/m:predict",
                data=json.dumps({"instances": [[1.0, 2.0]]}).encode(),
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                results["rest"] = json.loads(response.read())

        def grpc_call() -> None:
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "m"
                request.inputs["x"].CopyFrom(make_tensor_proto(np.array([[2, 2]], np.float32)))
                response = stub.Predict(request, timeout=60)
                results["grpc"] = tensor_proto_to_ndarray(response.outputs["y"]).tolist()

        calls = [threading.Thread(target=rest_call), threading.Thread(target=grpc_call)]
        for call in calls:
            call.start()
        time.sleep(0.8)
        proc.send_signal(signal.SIGTERM)
        for call in calls:
            call.join()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = proc.stdout.read().decode() if proc.stdout else ""
    assert results == {"rest": {"predictions": [{"version": 1, "y": 103.0}]}, "grpc": [104.0]}, log
    assert "signal received: stopping" in log
    assert "flags accepted without effect: --enable_model_warmup, --rest_api_timeout_in_ms" in log
    assert child_processes(proc.pid) == {}


def test_bad_flags_exit_with_status_2(tmp_path: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "headwater.model_server", "--port=0", "--rest_api_port=0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "nothing to serve: give --model_base_path" in result.stderr
