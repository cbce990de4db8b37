"""validate_model against real headwater-model-server processes on 127.0.0.1, no mocks.

One shared server answers the query-level cases (exact answers over both protocols, NaN, a
rejecting signature, an unknown signature, the latency bound, a model never AVAILABLE); the
cases that need their own server (a healthy model end to end, a corrupt SavedModel) start one
each. After every server: no process left, ports released.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
from canary_models import X1, X2
from server_checks import assert_released

import headwater.infra_validator as iv
from headwater.infra_validator import (
    DEFAULT_MODEL_NAME,
    HeadwaterModelServerRunner,
    Mode,
    RequestSpec,
    RunningServer,
    TensorFlowServingRequestSpec,
    ValidationSpec,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("headwater.model_server.__main__") is None,
        reason="headwater-model-server is not installed (no `python -m headwater.model_server`)",
    ),
]


def spec(*signatures: str, num_examples: int = 2, protocol: str = "grpc") -> RequestSpec:
    return RequestSpec(
        tensorflow_serving=TensorFlowServingRequestSpec(signature_names=signatures),
        num_examples=num_examples,
        protocol=protocol,
    )


class Recording:
    """Runner factory that keeps the runners validate_model made, to check what they left."""

    def __init__(self) -> None:
        self.runners: list[HeadwaterModelServerRunner] = []

    def __call__(self, base_path: str, model_name: str) -> HeadwaterModelServerRunner:
        runner = HeadwaterModelServerRunner(base_path, model_name)
        self.runners.append(runner)
        return runner


@pytest.fixture(scope="module")
def shared_server(
    canary_model: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HeadwaterModelServerRunner]:
    base = tmp_path_factory.mktemp("shared") / DEFAULT_MODEL_NAME
    shutil.copytree(canary_model, base / "1")
    runner = HeadwaterModelServerRunner(str(base), DEFAULT_MODEL_NAME)
    runner.start()
    try:
        runner.wait_until_running(max_loading_time_s=120, max_start_time_s=180)
        yield runner
    finally:
        runner.stop()
        runner.cleanup()
    assert_released(runner)


def on(server: HeadwaterModelServerRunner) -> list[iv.RunnerFactory]:
    return [lambda base, name: RunningServer(server.endpoint)]


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_every_kind_of_call_is_answered_exactly(
    shared_server: HeadwaterModelServerRunner, examples: pa.RecordBatch, protocol: str
) -> None:
    client = iv.make_client(protocol, shared_server.endpoint, timeout=30)
    try:
        signatures = client.signatures()
        requests = iv.build_requests(
            signatures, ["serving_default", "raw", "classify", "regress"], examples.slice(0, 2)
        )
        answers = [client.call(r) for r in requests]
        for request, answer in zip(requests, answers, strict=True):
            assert (
                iv.check_answer(
                    request,
                    signatures[request.signature_name],
                    answer,
                    exact_dtypes=client.exact_dtypes,
                )
                is None
            )
    finally:
        client.close()
    x1, x2 = np.float32(X1[:2]), np.float32(X2[:2])
    score = 2.0 * x1 + x2
    f32 = np.float32
    if protocol == "rest":  # the lone output of "raw" comes back unnamed
        answers[2] = {"score": answers[2][""]}
        answers[3] = {"score": answers[3][""]}
    for i in range(2):
        assert answers[i]["score"].astype(f32).tolist() == [score[i]]
        assert answers[i]["positive"].tolist() == [int(x1[i] > 0)]
        assert answers[2 + i]["score"].astype(f32).tolist() == [score[i]]
        assert answers[4 + i]["classes"].tolist() == [["neg", "pos"]]
        assert answers[4 + i]["scores"].astype(f32).tolist() == [[-x1[i], x1[i]]]
        assert answers[6 + i]["outputs"].astype(f32).tolist() == [x1[i] - x2[i]]


def test_a_healthy_model_on_a_running_server_is_blessed_over_rest(
    shared_server: HeadwaterModelServerRunner, canary_model: str, examples: pa.RecordBatch
) -> None:
    result = iv.validate_model(
        canary_model,
        examples=examples,
        request_spec=spec(
            "serving_default", "raw", "classify", "regress", num_examples=3, protocol="rest"
        ),
        runners=on(shared_server),
    )
    assert result.blessed, result.report()
    assert (result.failed_step, result.mode, result.protocol) == (None, Mode.LOAD_AND_QUERY, "rest")
    assert len(result.latencies_ms) == 12
    assert result.reason == "the model loaded; 12 request(s) answered as the signatures declare"


def test_nan_outputs_are_not_blessed(
    shared_server: HeadwaterModelServerRunner, canary_model: str, examples: pa.RecordBatch
) -> None:
    result = iv.validate_model(
        canary_model, examples=examples, request_spec=spec("nan"), runners=on(shared_server)
    )
    assert not result.blessed
    assert result.failed_step == "requests"
    assert result.reason == (
        "the answer of signature 'nan' is wrong: output 'score': NaN in the answer "
        "(first at index (0,), 1 in all)"
    )
    assert result.failing_request is not None
    assert result.failing_request.startswith("predict 'nan' (example 0): ")
    assert result.tries == 1  # a model's NaN is not retried


def test_a_signature_that_rejects_the_requests_is_not_blessed(
    shared_server: HeadwaterModelServerRunner, canary_model: str, examples: pa.RecordBatch
) -> None:
    result = iv.validate_model(
        canary_model,
        examples=examples,
        request_spec=spec("serving_default", "needs_age"),
        validation_spec=ValidationSpec(num_tries=3),
        runners=on(shared_server),
    )
    assert not result.blessed
    assert result.failed_step == "requests"
    assert result.reason.startswith(
        "the server rejected a predict request to signature 'needs_age': Predict: INVALID_ARGUMENT"
    )
    assert "age" in result.reason
    assert result.failing_request is not None
    assert result.failing_request.startswith("predict 'needs_age' (example 0): ")
    assert len(result.latencies_ms) == 2  # serving_default's two requests passed first
    assert result.tries == 1


def test_an_unknown_signature_is_not_blessed_and_the_served_ones_are_named(
    shared_server: HeadwaterModelServerRunner, canary_model: str, examples: pa.RecordBatch
) -> None:
    result = iv.validate_model(
        canary_model, examples=examples, request_spec=spec("predict"), runners=on(shared_server)
    )
    assert not result.blessed
    assert result.reason == (
        "cannot build canary requests: the served model has no signature 'predict' (its "
        "signatures: classify, nan, needs_age, raw, regress, serving_default); fix "
        "RequestSpec.tensorflow_serving.signature_names"
    )


def test_a_latency_bound_exceeded_is_tried_again_then_not_blessed(
    shared_server: HeadwaterModelServerRunner, canary_model: str, examples: pa.RecordBatch
) -> None:
    result = iv.validate_model(
        canary_model,
        examples=examples,
        request_spec=spec("raw"),
        validation_spec=ValidationSpec(num_tries=2, max_latency_p99_ms=1e-6),
        runners=on(shared_server),
    )
    assert not result.blessed
    assert result.tries == 2
    assert result.failed_step == "requests"
    assert result.reason.startswith("p99 latency ")
    assert result.reason.endswith(" ms exceeds ValidationSpec.max_latency_p99_ms 1e-06 ms")


def test_a_healthy_model_is_blessed_with_its_latencies(
    canary_model: str, examples: pa.RecordBatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    recording = Recording()
    result = iv.validate_model(
        canary_model,
        examples=examples,
        request_spec=spec("serving_default", num_examples=5),
        validation_spec=ValidationSpec(num_tries=1, max_loading_time_seconds=120),
        runners=[recording],
    )
    (runner,) = recording.runners
    assert_released(runner)
    assert result.blessed, result.report()
    assert [(s.name, s.ok) for s in result.steps] == [
        ("start", True),
        ("load", True),
        ("requests", True),
        ("stop", True),
    ]
    assert len(result.latencies_ms) == 5
    assert result.latency_p50_ms is not None
    assert result.latency_p99_ms is not None
    assert 0 < result.latency_p50_ms <= result.latency_p99_ms <= max(result.latencies_ms)
    assert set(result.step_seconds()) == {"start", "load", "requests", "stop"}
    assert "AVAILABLE" in result.server_log_tail
    marker = iv.write_blessing(result, str(tmp_path))
    assert os.path.basename(marker) == iv.BLESSED_FILE
    report = (tmp_path / iv.REPORT_FILE).read_text()
    assert report.startswith(f"Infra validation of {canary_model}: INFRA_BLESSED\n")
    assert "Latency: 5 requests, p50 " in report


def test_a_corrupt_savedmodel_is_not_blessed_and_not_retried(corrupt_model: str) -> None:
    recording = Recording()
    result = iv.validate_model(
        corrupt_model, validation_spec=ValidationSpec(num_tries=3), runners=[recording]
    )
    (runner,) = recording.runners
    assert_released(runner)
    assert not result.blessed
    assert (result.mode, result.failed_step, result.tries) == (Mode.LOAD_ONLY, "load", 1)
    assert result.reason.startswith(
        f"the server could not load model '{DEFAULT_MODEL_NAME}': version 1: "
    )
    assert "saved_model.pb" in result.reason
    assert "not loaded" in result.server_log_tail


def test_a_server_that_never_becomes_ready_is_not_blessed(
    shared_server: HeadwaterModelServerRunner, canary_model: str
) -> None:
    # The shared server answers, but never has a model "absent" AVAILABLE: the same as a server
    # whose base path never gets a complete version.
    absent = dataclasses.replace(shared_server.endpoint, model_name="absent")
    result = iv.validate_model(
        canary_model,
        validation_spec=ValidationSpec(num_tries=1, max_loading_time_seconds=2),
        runners=[lambda base, name: RunningServer(absent)],
    )
    assert not result.blessed
    assert result.failed_step == "load"
    assert result.reason.startswith(
        "model 'absent' was not AVAILABLE within 2 s of the server answering "
        "(ValidationSpec.max_loading_time_seconds); last status: HTTP 404"
    )


@pytest.mark.skipif(
    shutil.which("tensorflow_model_server") is None,
    reason="no tensorflow_model_server on PATH (TF Serving's binary is not installable here)",
)
def test_the_tensorflow_model_server_binary_blesses_a_healthy_model(
    canary_model: str, examples: pa.RecordBatch
) -> None:
    result = iv.validate_model(
        canary_model,
        examples=examples,
        serving_spec={"tensorflow_serving": {}, "local_binary": {}},
        request_spec=spec("serving_default", "classify"),
        validation_spec=ValidationSpec(num_tries=1),
    )
    assert result.blessed, result.report()


@pytest.mark.skipif(
    iv.docker_unavailable_reason() is not None,
    reason=f"no Docker engine: {iv.docker_unavailable_reason()}",
)
def test_the_tensorflow_serving_image_blesses_a_healthy_model(
    canary_model: str, examples: pa.RecordBatch
) -> None:
    result = iv.validate_model(
        canary_model,
        examples=examples,
        serving_spec={"tensorflow_serving": {"tags": ["latest"]}, "local_docker": {}},
        request_spec=spec("serving_default", "classify"),
        validation_spec=ValidationSpec(num_tries=1),
    )
    assert result.blessed, result.report()


def test_the_in_process_server_blesses_a_healthy_model_and_frees_its_ports(
    canary_model: str, examples: pa.RecordBatch
) -> None:
    made: list[iv.InProcessModelServerRunner] = []

    def factory(base_path: str, model_name: str) -> iv.InProcessModelServerRunner:
        made.append(iv.InProcessModelServerRunner(base_path, model_name))
        return made[-1]

    serving = iv.ServingSpec(headwater_model_server=iv.HeadwaterModelServer(in_process=True))
    assert type(iv.runner_factories(serving)[0]("/m", "m")) is iv.InProcessModelServerRunner
    result = iv.validate_model(
        canary_model,
        examples=examples,
        request_spec=spec("serving_default", "classify", num_examples=3),
        runners=[factory],
    )
    assert result.blessed, result.report()
    assert len(result.latencies_ms) == 6
    endpoint = made[0].endpoint
    for port in (endpoint.grpc_port, endpoint.rest_port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            assert probe.connect_ex((endpoint.host, port)) != 0, f"port {port} still listens"


KILLED_PARENT = """
import sys, time
import headwater.infra_validator as iv
runner = iv.HeadwaterModelServerRunner(sys.argv[1], "m")
runner.start()
print(runner.pid, flush=True)
time.sleep(600)
"""


def test_a_server_does_not_outlive_a_killed_validating_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    group = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)  # no finally, no atexit: only the watchdog is left
    parent.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
